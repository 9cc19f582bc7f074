"""Reading the ledger: balances, a household's entries, top households, points
activity per village, the week's entries for the 公示. And what #查分, #明细, #代查 and
#积分榜 show, as result objects for `bot.points.wording`.

Balances are sums over the ledger, never a stored column:
- 余额 (`Balance.total`): ACTIVE and FROZEN rows whose `effective_at` has come;
- 可兑换 (`Balance.redeemable`): that, less the frozen awards (a frozen deduction keeps
  counting: an objection never makes more points spendable);
- 待生效 (`Balance.upcoming`): awards still in their publicity period;
- 待确认 (`Balance.awaiting`): awards waiting for a second evaluator, not yet expired.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, true, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.config import Config
from bot.models.core import Household, OrgUnit, Person, Room
from bot.models.points import (
    AWARD,
    CANCELLED,
    COUNTED,
    DEDUCT,
    EXPIRED,
    FROZEN,
    PENDING,
    PointEntry,
)
from bot.models.types import UTCDateTime
from bot.org import EVALUATOR, KEEPER, Roles, household_of, rooms_of
from bot.orgcache import OrgView, instance
from bot.points.errors import NotAllowed, PointsError
from bot.points.policy import period_start
from bot.points.targets import Target, household_below, household_for
from bot.points.wording import claim_hint

RECENT = 5  # entries shown by #查分 and #代查
DETAIL_MAX = 50  # entries shown by #明细


@dataclass(frozen=True)
class Balance:
    total: int  # 余额
    redeemable: int  # 可兑换
    frozen: int  # frozen awards, not redeemable
    upcoming: int  # awards in publicity (待生效)
    upcoming_from: datetime | None  # when the first of them becomes effective
    awaiting: int  # awards waiting for a second evaluator (待确认)


@functools.cache
def _balance_query() -> Any:
    # Built once: constructing these statements costs more than running them.
    return select(func.coalesce(func.sum(PointEntry.delta), 0)).where(
        PointEntry.household_id == bindparam("hid"),
        col(PointEntry.status).in_(COUNTED),
        col(PointEntry.effective_at) <= bindparam("now", type_=UTCDateTime()),
    )


@functools.cache
def _detail_queries() -> tuple[Any, Any]:
    now = bindparam("now", type_=UTCDateTime())
    eff = col(PointEntry.effective_at) <= now
    delta = col(PointEntry.delta)
    sums = select(
        func.coalesce(func.sum(case((eff, delta), else_=0)), 0),
        func.coalesce(func.sum(case((and_(eff, col(PointEntry.status) == FROZEN, delta > 0),
                                     delta), else_=0)), 0),
        func.coalesce(func.sum(case((eff, 0), else_=delta)), 0),
        type_coerce(func.min(case((eff, None), else_=col(PointEntry.effective_at))), UTCDateTime()),
    ).where(PointEntry.household_id == bindparam("hid"), col(PointEntry.status).in_(COUNTED))
    awaiting = select(func.coalesce(func.sum(delta), 0)).where(
        PointEntry.household_id == bindparam("hid"),
        PointEntry.status == PENDING,
        col(PointEntry.created_at) > bindparam("since", type_=UTCDateTime()),
    )
    return sums, awaiting


def balance(session: Session, household_id: int, now: datetime) -> int:
    """A household's balance (余额) at `now`: the sum of its effective ledger rows
    (ACTIVE and FROZEN rows whose effective time has come). Index-only."""
    return int(session.exec(_balance_query(), params={"hid": household_id, "now": now}).one())


def balance_detail(session: Session, household_id: int, now: datetime,
                   expiry: timedelta = timedelta(hours=72)) -> Balance:
    """`balance` with what is frozen, in publicity and awaiting confirmation (pending
    awards younger than `expiry`)."""
    sums, awaiting_q = _detail_queries()
    total, frozen, upcoming, first = session.exec(
        sums, params={"hid": household_id, "now": now}
    ).one()
    awaiting = session.exec(awaiting_q, params={"hid": household_id, "since": now - expiry}).one()
    return Balance(int(total), int(total) - int(frozen), int(frozen), int(upcoming), first,
                   int(awaiting))


def entries_of(session: Session, household_id: int, *, since: datetime | None = None,
               limit: int = 5) -> list[PointEntry]:
    """The household's newest entries (newest first), cancelled and expired ones too."""
    q = select(PointEntry).where(PointEntry.household_id == household_id)
    if since is not None:
        q = q.where(col(PointEntry.created_at) >= since)
    return list(session.exec(q.order_by(col(PointEntry.id).desc()).limit(limit)).all())


def count_since(session: Session, household_id: int, since: datetime) -> int:
    q = select(func.count()).select_from(PointEntry).where(
        PointEntry.household_id == household_id, col(PointEntry.created_at) >= since
    )
    return int(session.exec(q).one())


def reversals_of(session: Session, ids: Iterable[int | None]) -> dict[int, int]:
    """For each of these entries that has been reversed: the reversing entry's id."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.exec(
        select(PointEntry.reverses_id, PointEntry.id).where(col(PointEntry.reverses_id).in_(wanted))
    ).all()
    return {int(r): int(i) for r, i in rows if r is not None and i is not None}


@dataclass(frozen=True)
class Ranked:
    household: Household
    points: int


def top_households(session: Session, village: OrgUnit, n: int = 10, *,
                   since: datetime | None = None, until: datetime | None = None) -> list[Ranked]:
    """The village's top `n` households by points earned (awards less deductions,
    reversals netted; redemptions do not lower a rank), optionally within
    [since, until). Households at zero or below are left out. Index-only scan of
    `ix_point_village`."""
    total = func.sum(PointEntry.delta)
    q = select(PointEntry.household_id, total).where(
        PointEntry.unit_id == village.id,
        col(PointEntry.kind).in_((AWARD, DEDUCT)),
        col(PointEntry.status).in_(COUNTED),
    )
    if since is not None:
        q = q.where(col(PointEntry.created_at) >= since)
    if until is not None:
        q = q.where(col(PointEntry.created_at) < until)
    q = q.group_by(col(PointEntry.household_id)).having(total > 0)
    rows = session.exec(q.order_by(total.desc(), col(PointEntry.household_id)).limit(n)).all()
    households = {h.id: h for h in session.exec(
        select(Household).where(col(Household.id).in_([r[0] for r in rows]))
    ).all()}
    return [Ranked(households[hid], int(pts)) for hid, pts in rows]


@dataclass(frozen=True)
class VillageActivity:
    village: OrgUnit
    awarded: int  # points awarded in the period (reversed awards netted out)
    deducted: int  # points deducted (a positive number)
    households: int  # households registered in the village
    per_household: float  # awarded / households (0 without households)


def village_activity(session: Session, unit: OrgUnit, start: datetime, end: datetime
                     ) -> list[VillageActivity]:
    """Points activity of every village in `unit`'s subtree within [start, end): points
    awarded, deducted, households, and points awarded per household; best first (by
    points per household, then awarded, then name). For #积分排名 and the bulletins."""
    # One statement: the villages, each with its sums over the period (the covering
    # index `ix_point_period`) and its household count.
    ids = select(OrgUnit.id).where(col(OrgUnit.path).startswith(unit.path), OrgUnit.level == "村")
    delta, kind = col(PointEntry.delta), col(PointEntry.kind)
    sums = (
        select(col(PointEntry.unit_id).label("uid"),
               func.sum(case((kind == AWARD, delta), else_=0)).label("awarded"),
               func.sum(case((kind == DEDUCT, delta), else_=0)).label("deducted"))
        .where(col(PointEntry.created_at) >= start, col(PointEntry.created_at) < end,
               kind.in_((AWARD, DEDUCT)), col(PointEntry.status).in_(COUNTED),
               col(PointEntry.unit_id).in_(ids))
        .group_by(col(PointEntry.unit_id))
        .subquery()
    )
    counts = (
        select(col(Household.unit_id).label("uid"), func.count().label("n"))
        .where(col(Household.unit_id).in_(ids))
        .group_by(col(Household.unit_id))
        .subquery()
    )
    rows = session.exec(
        select(OrgUnit, sums.c.awarded, sums.c.deducted, counts.c.n)
        .outerjoin(sums, sums.c.uid == OrgUnit.id)
        .outerjoin(counts, counts.c.uid == OrgUnit.id)
        .where(col(OrgUnit.path).startswith(unit.path), OrgUnit.level == "村")
    ).all()
    out = []
    for v, awarded, deducted, n in rows:
        awarded, hh = int(awarded or 0), int(n or 0)
        out.append(VillageActivity(v, awarded, -int(deducted or 0), hh,
                                   awarded / hh if hh else 0.0))
    out.sort(key=lambda a: (-a.per_household, -a.awarded, a.village.name))
    return out


def week_entries(session: Session, start: datetime, end: datetime, after_id: int | None = None
                 ) -> dict[int, list[tuple[PointEntry, str]]]:
    """Entries created in (start, end] (or, with `after_id`, every entry after that one
    created by `end`), by village id, each with its household's name, in order;
    cancelled and expired ones left out. For the weekly 公示."""
    since = col(PointEntry.id) > after_id if after_id is not None else col(PointEntry.created_at) > start
    rows = session.exec(
        select(PointEntry, Household.name)
        .join(Household, col(Household.id) == col(PointEntry.household_id))
        .where(since, col(PointEntry.created_at) <= end,
               col(PointEntry.status).not_in((CANCELLED, EXPIRED)))
        .order_by(col(PointEntry.unit_id), col(PointEntry.id))
    ).all()
    out: dict[int, list[tuple[PointEntry, str]]] = {}
    for entry, name in rows:
        out.setdefault(entry.unit_id, []).append((entry, name))
    return out



# -- what the commands and the 公示 show ------------------------------------------------


def _expiry(config: Config) -> timedelta:
    return timedelta(hours=config.points.pending_expiry_hours)


def whose(session: Session, target: Target | None, person: Person, roles: Roles,
          room_id: str | None, unit: OrgUnit | None, now: datetime,
          org: OrgView | None = None) -> Household:
    """The household #查分 or #明细 asks about: the sender's own, or (for an evaluator
    or keeper, in that village's group) the one named. `org`: the per-process cache."""
    own = household_of(session, person) if org is None else _household_of(session, org, person)
    if target is None:
        if own is None:
            n = person.name or person.id
            # Someone named as the head of an unclaimed household: how to claim it
            # (never linked by name: the phone on file is the proof). Imported here:
            # bot.points.claim reads balances from this module.
            from bot.points.claim import claimable_head

            head = (claimable_head(session, person, unit)
                    if unit is not None and unit.level == "村" else None)
            if head is not None:
                raise PointsError(f"您还没有绑定到户。{claim_hint(head)}")
            raise PointsError(f"您还没有登记到户。请村干部帮您登记，例：#登记 @{n} 户 {n}家")
        return own
    if room_id is None or unit is None or unit.level != "村":
        raise PointsError("查别户的积分请在那户所在村的群里发送")
    hh = household_for(session, target, unit, room_id=room_id, unit=unit, now=now, org=org)
    if (own is None or hh.id != own.id) and not roles.has(EVALUATOR, KEEPER):
        raise NotAllowed("查看别户的积分需要评议员或超市管理员权限；查自己家请发送：#查分")
    return hh


@dataclass(frozen=True)
class Card:
    """A household's balance and recent entries (#查分, #代查)."""

    household: Household
    village: OrgUnit | None
    parent: OrgUnit | None  # the village's town
    balance: Balance
    recent: list[PointEntry]  # newest first
    reversed_by: dict[int, int]
    now: datetime
    expiry: timedelta


def _household_of(session: Session, org: OrgView, person: Person) -> Household | None:
    """`household_of`, from the per-process cache (a transient copy)."""
    if person.household_id is None:
        return None
    hid = person.household_id
    t = Household.__table__  # type: ignore[attr-defined]

    def load() -> Household | None:
        r = session.execute(sa_select(t).where(t.c.id == hid)).mappings().first()
        return instance(Household, r) if r is not None else None

    return org.get(("household", hid), load)


@functools.cache
def _card_query() -> Any:
    """`balance_detail`, the newest RECENT entries and which of them were reversed, in
    one statement: one row per entry (newest first), each with the sums; one row of
    sums and no entry for a household without entries."""
    sums, awaiting = _detail_queries()
    s, a = sums.subquery("s"), awaiting.subquery("a")
    e, r = PointEntry.__table__.alias("e"), PointEntry.__table__.alias("r")  # type: ignore[attr-defined]
    reversed_by = sa_select(r.c.id).where(r.c.reverses_id == e.c.id).scalar_subquery()
    recent = (sa_select(e, reversed_by.label("reversed_by"))
              .where(e.c.household_id == bindparam("hid"))
              .order_by(e.c.id.desc()).limit(RECENT).subquery("recent"))
    return (sa_select(*s.c, *a.c, *recent.c)
            .select_from(s.join(a, true()).outerjoin(recent, true()))
            .order_by(recent.c.id.desc()))


_ENTRY_COLUMNS = tuple(c.name for c in PointEntry.__table__.c)  # type: ignore[attr-defined]


def _card_read(session: Session, household_id: int, now: datetime, expiry: timedelta
               ) -> tuple[Balance, list[PointEntry], dict[int, int]]:
    # On the connection: a Core select needs none of the ORM's statement handling (its
    # autoflush is kept: nothing pending is missed).
    session.flush()
    rows = session.connection().execute(_card_query(), {"hid": household_id, "now": now,
                                                        "since": now - expiry}).all()
    total, frozen, upcoming, first, awaiting = rows[0][:5]
    bal = Balance(int(total), int(total) - int(frozen), int(frozen), int(upcoming), first,
                  int(awaiting))
    recent: list[PointEntry] = []
    reversed_by: dict[int, int] = {}
    n = len(_ENTRY_COLUMNS)
    for row in rows:
        values = row[5:5 + n]
        if values[0] is None:  # no entries: the outer join's empty side
            continue
        entry = instance(PointEntry, dict(zip(_ENTRY_COLUMNS, values, strict=True)))
        recent.append(entry)
        if row[5 + n] is not None:
            reversed_by[int(values[0])] = int(row[5 + n])
    return bal, recent, reversed_by


def _card(session: Session, hh: Household, now: datetime, config: Config,
          org: OrgView | None = None) -> Card:
    assert hh.id is not None
    if org is None:
        village = session.get(OrgUnit, hh.unit_id)
        parent = session.get(OrgUnit, village.parent_id) if village and village.parent_id else None
    else:  # from the cache: transient copies
        village = org.unit(hh.unit_id)
        parent = org.unit(village.parent_id) if village and village.parent_id else None
    bal, recent, reversed_by = _card_read(session, hh.id, now, _expiry(config))
    return Card(hh, village, parent, bal, recent, reversed_by, now, _expiry(config))


def household_card(session: Session, target: Target | None, person: Person, roles: Roles,
                   room_id: str | None, unit: OrgUnit | None, now: datetime, config: Config,
                   org: OrgView | None = None) -> Card:
    """#查分. `org`: the per-process cache (households, units)."""
    hh = whose(session, target, person, roles, room_id, unit, now, org)
    return _card(session, hh, now, config, org)


def slip(session: Session, village_word: str | None, target: Target, room_id: str | None,
         unit: OrgUnit, now: datetime, config: Config) -> Card:
    """#代查: the card of a household below the group's unit."""
    hh = household_below(session, village_word, target, room_id=room_id, unit=unit, now=now)
    return _card(session, hh, now, config)


@dataclass(frozen=True)
class Detail:
    """A household's entries this year (#明细)."""

    household: Household
    year: int
    entries: list[PointEntry]  # oldest first, the newest DETAIL_MAX
    total: int  # entries this year
    balance: Balance
    reversed_by: dict[int, int]
    now: datetime
    expiry: timedelta


def household_detail(session: Session, target: Target | None, person: Person, roles: Roles,
                     room_id: str | None, unit: OrgUnit | None, now: datetime, config: Config
                     ) -> Detail:
    """#明细."""
    hh = whose(session, target, person, roles, room_id, unit, now)
    assert hh.id is not None
    since = period_start("year", now, config.zone)
    entries = entries_of(session, hh.id, since=since, limit=DETAIL_MAX)
    total = count_since(session, hh.id, since) if entries else 0
    rev = reversals_of(session, [e.id for e in entries])
    return Detail(hh, now.astimezone(config.zone).year, list(reversed(entries)), total,
                  balance_detail(session, hh.id, now, _expiry(config)), rev, now, _expiry(config))


@dataclass(frozen=True)
class Board:
    """A village's top households in a period (#积分榜)."""

    village: OrgUnit
    period: str  # "year", "month" or "all"
    ranked: list[Ranked]


class NotAVillage(PointsError):
    """#积分榜 outside a village's group."""


def board(session: Session, village: OrgUnit, period: str, now: datetime, config: Config
          ) -> Board:
    """#积分榜: the village's top ten in the year, the month or ever."""
    if village.level != "村":
        raise NotAVillage("#积分榜 是本村的十佳榜，请在村的群里发送；各村比较请用 #积分排名")
    since = None if period == "all" else period_start(period, now, config.zone)
    return Board(village, period, top_households(session, village, 10, since=since))


@dataclass(frozen=True)
class VillageWeek:
    """A village's entries for the 公示, and the groups to post them in."""

    village: OrgUnit
    rooms: list[Room]
    rows: list[tuple[PointEntry, str]]  # entry, household name
    reversed_by: dict[int, int]


@dataclass(frozen=True)
class Publicity:
    villages: list[VillageWeek]  # villages with entries and groups only
    last_id: int | None  # the newest entry published (or before), to remember


def publicity(session: Session, start: datetime, end: datetime, last_id: int | None
              ) -> Publicity:
    """The weekly 公示: entries after `last_id` (or, the first time, created in
    (start, end]) by village, and the newest entry id to remember for next time."""
    by_village = week_entries(session, start, end, last_id)
    newest = max((e.id or 0 for rows in by_village.values() for e, _ in rows), default=None)
    remember = max(newest or 0, last_id or 0) if newest is not None or last_id is None else None
    out = []
    for village_id, rows in by_village.items():
        village = session.get(OrgUnit, village_id)
        rooms = rooms_of(session, [village]) if village else []
        if not rooms or village is None:
            continue
        out.append(VillageWeek(village, list(rooms), rows,
                               reversals_of(session, [e.id for e, _ in rows])))
    return Publicity(out, remember)
