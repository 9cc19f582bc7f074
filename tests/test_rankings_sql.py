"""The rankings' SQL against a straightforward Python computation on random data, on
SQLite and PostgreSQL: a task's figures per sub-unit (targets on any level, reports
withdrawn or dated after the day), the villages' points activity, and a household's
balance (#查分) as the plain sum of its ledger rows."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlmodel import Session, select

from bot.db import Database
from bot.models.core import Household, OrgUnit
from bot.models.points import ACTIVE, AWARD, CANCELLED, COUNTED, DEDUCT, FROZEN, PointEntry
from bot.models.progress import Report, Target
from bot.org import create_unit
from bot.points import balance, village_activity
from bot.progress import sub_unit_figures
from bot.progress.figures import Leaf, aggregate
from tests.conftest import START

ON = date(2019, 6, 3)
_names = itertools.count()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    d.create_schema()
    yield d
    d.close()


def _tree(s: Session, shape: list[list[int]]) -> tuple[OrgUnit, list[OrgUnit]]:
    """A fresh county (unique names: examples share the database) with towns of
    villages: `shape[t]` lists, per village of town t, nothing but its presence."""
    n = next(_names)
    county = create_unit(s, f"县{n}", "县", None, START)
    units = [county]
    for t, villages in enumerate(shape):
        town = create_unit(s, f"乡{n}-{t}", "乡", county, START)
        units.append(town)
        for v in range(len(villages)):
            units.append(create_unit(s, f"村{n}-{t}-{v}", "村", town, START))
    return county, units


# -- a task's figures per sub-unit ---------------------------------------------------------

targets_st = st.lists(st.tuples(st.integers(0, 30), st.integers(1, 50), st.integers(-40, 10),
                                st.integers(1, 60)), max_size=12)
reports_st = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 80), st.integers(-20, 3),
                                st.booleans()), max_size=30)
shape_st = st.lists(st.lists(st.just(0), min_size=0, max_size=4), min_size=1, max_size=4)


def _by_python(targets: list[Target], reports: list[Report], units: dict[int, OrgUnit],
               scope: OrgUnit) -> dict[int, object]:
    """The module doc of `bot.progress.rollup`, literally: reporting units are those
    with a target and no target on a unit below; the newest report not withdrawn and
    dated by ON counts; sub-units' leaves are aggregated."""
    below = {t.unit_id for t in targets
             if any(units[o.unit_id].path.startswith(units[t.unit_id].path)
                    and o.unit_id != t.unit_id for o in targets)}
    newest: dict[int, Report] = {}
    for r in sorted(reports, key=lambda r: r.id or 0):
        if r.withdrawn_at is None and r.report_date <= ON:
            newest[r.unit_id] = r
    groups: dict[int, list[Leaf]] = defaultdict(list)
    for t in targets:
        u = units[t.unit_id]
        if t.unit_id in below or u.parent_id is None:
            continue
        sub = next(a for a in units.values()
                   if a.parent_id == scope.id and u.path.startswith(a.path))
        r = newest.get(t.unit_id)
        groups[sub.id or 0].append(Leaf(t.unit_id, u.path, t.amount, t.start, t.deadline,
                                        r.figure if r else 0, r.report_date if r else None))
    out = {}
    for sub, leaves in groups.items():
        fig = aggregate(leaves, ON)
        if fig is not None:
            out[sub] = fig
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shape_st, targets=targets_st, reports=reports_st)
def test_task_figures_match_a_plain_computation(db: Database, shape, targets, reports) -> None:
    def go(s: Session) -> None:
        county, units = _tree(s, shape)
        # Targets on any unit of the tree but the county (towns too: their villages'
        # targets then make them roll up), one per unit.
        seen: set[int] = set()
        rows = []
        for k, amount, start, days in targets:
            u = units[1 + k % (len(units) - 1)]
            if u.id in seen:
                continue
            seen.add(u.id or 0)
            rows.append({"unit_id": u.id, "task": "危房改造", "amount": amount,
                         "start": ON + timedelta(days=start),
                         "deadline": ON + timedelta(days=start + days), "set_by": "t",
                         "set_at": START})
        if rows:
            s.execute(insert(Target), rows)
        reps = [{"unit_id": units[1 + k % (len(units) - 1)].id, "task": "危房改造",
                 "figure": figure, "report_date": ON + timedelta(days=day),
                 "reported_at": START, "reporter_id": "t",
                 "withdrawn_at": START if withdrawn else None}
                for k, figure, day, withdrawn in reports]
        if reps:
            s.execute(insert(Report), reps)
        by_id = {u.id or 0: u for u in units}
        want = _by_python(
            list(s.exec(select(Target).where(Target.unit_id.in_(by_id))).all()),  # type: ignore[attr-defined]
            list(s.exec(select(Report).where(Report.unit_id.in_(by_id))).all()),  # type: ignore[attr-defined]
            by_id, county)
        got = {u.id: f for u, f in sub_unit_figures(s, county, "危房改造", ON)}
        assert got == want
        # In the order the sub-units were created.
        assert list(got) == sorted(got)

    db.run_sync(go)


# -- the villages' points activity and a household's balance -------------------------------

entries_st = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from([AWARD, DEDUCT, "redeem"]),
              st.integers(1, 60), st.sampled_from([ACTIVE, FROZEN, CANCELLED]),
              st.integers(-40, 40)),
    max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shape_st, households=st.lists(st.integers(0, 3), min_size=1, max_size=12),
       entries=entries_st)
def test_points_activity_and_balance_match_the_ledger(db: Database, shape, households,
                                                      entries) -> None:
    start = datetime(2019, 6, 1, tzinfo=START.tzinfo)
    end = datetime(2019, 7, 1, tzinfo=START.tzinfo)

    def go(s: Session) -> None:
        county, units = _tree(s, shape)
        villages = [u for u in units if u.level == "村"]
        if not villages:
            assert village_activity(s, county, start, end) == []
            return
        hhs = []
        for i, k in enumerate(households):
            hh = Household(unit_id=villages[k % len(villages)].id or 0, name=f"户{i}",
                           created_at=START)
            s.add(hh)
            hhs.append(hh)
        s.flush()
        rows = []
        for k, kind, amount, status, hours in entries:
            hh = hhs[k % len(hhs)]
            when = START + timedelta(hours=hours * 24)
            rows.append({"household_id": hh.id, "unit_id": hh.unit_id, "kind": kind,
                         "delta": -amount if kind != AWARD else amount, "reason": "t",
                         "actor_id": "t", "created_at": when, "effective_at": when,
                         "status": status})
        if rows:
            s.execute(insert(PointEntry), rows)
        # By hand: sums over the period per village, households per village.
        awarded: dict[int, int] = defaultdict(int)
        deducted: dict[int, int] = defaultdict(int)
        for r in rows:
            if start <= r["created_at"] < end and r["status"] in COUNTED:
                if r["kind"] == AWARD:
                    awarded[r["unit_id"]] += r["delta"]
                elif r["kind"] == DEDUCT:
                    deducted[r["unit_id"]] -= r["delta"]
        count = defaultdict(int)
        for hh in hhs:
            count[hh.unit_id] += 1
        want = sorted(
            ((v.name, awarded[v.id or 0], deducted[v.id or 0], count[v.id or 0],
              awarded[v.id or 0] / count[v.id or 0] if count[v.id or 0] else 0.0)
             for v in villages),
            key=lambda a: (-a[4], -a[1], a[0]))
        got = [(a.village.name, a.awarded, a.deducted, a.households, a.per_household)
               for a in village_activity(s, county, start, end)]
        assert got == want
        # #查分's balance is the ledger's sum of the effective, counted rows.
        now = START + timedelta(days=10)
        for hh in hhs:
            plain = sum(r["delta"] for r in rows if r["household_id"] == hh.id
                        and r["status"] in COUNTED and r["effective_at"] <= now)
            assert balance(s, hh.id or 0, now) == plain

    db.run_sync(go)
