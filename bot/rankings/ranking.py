"""Rankings, the `#排名` and `#积分排名` data (product spec §5). Plain functions over a
session; they never commit. Progress figures come from `bot.progress`, points from
`bot.points`.

Ranking the direct sub-units of a unit on one task:
- by lead over 序时进度, then by completion — the whole percentages the chat shows, so
  an order can always be read off the lines; units equal on both share a rank (并列)
  and are listed by name;
- a unit behind schedule (lead < 0) is 滞后; the units on the last rank are 末位, when
  there is more than one rank (a lone unit, or all tied, is not last).
Without a task, and with several tasks set, `#排名` gives a composite (综合) ranking:
each sub-unit's completion (capped at 100 %: overshooting one task does not make up for
another) and schedule averaged over the tasks it has targets for, ranked the same way.

Bulletins store the outcome of each ranking they publish (`BulletinRank`), so that a
unit last in several bulletins running is named with its streak; a skipped bulletin (a
holiday week, downtime) does not break a streak.
A unit whose newest report is older than the reporting week (`report_week`) is 本周未报:
its figure is still ranked, marked with the date it dates from, and gets no forecast.
A forecast comes from the pace of the last two weeks (`report_history`): the figure
gained since two weeks before the bulletin's date, extrapolated to the target. When
the unit's first report falls within those two weeks (or the target started then), the
pace is measured from the target's start instead; at least a week is needed to judge.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot.config import Config
from bot.models.core import OrgUnit
from bot.models.rankings import BulletinRank
from bot.org import names_of, unit_label
from bot.points import VillageActivity, village_activity
from bot.progress import (
    Figures,
    find_task,
    measure,
    pct,
    sub_unit_figures,
    task_names,
    tasks_with_targets,
)
from bot.rankings.kinds import month_bounds

# Levels where #排名 / #积分排名 work.
RANKING_LEVELS = ("市", "县", "乡")
PACE_WINDOW = timedelta(days=14)
MIN_PACE_DAYS = 7
MAX_STREAK = 104  # bulletins looked back on
COMPOSITE = "综合"
# A long points ranking shows its head and its tail.
POINTS_HEAD, POINTS_TAIL, POINTS_ALL = 10, 5, 20


# -- ranking -----------------------------------------------------------------------


def report_week(on: date) -> date:
    """The Monday of the reporting week judged on `on`: the calendar week of the day
    before, so that a Monday bulletin (周一 08:30, before anyone reports) judges the week
    just ended; a report on `on` itself also counts."""
    prev = on - timedelta(days=1)
    return prev - timedelta(days=prev.weekday())


def stale_since(fig: Figures) -> date | None:
    """The date of the figure when the unit has reported, but not this reporting week
    (本周未报); None when its figure is current, or when it never reported (未报送)."""
    if fig.reported_on is None or fig.reported_on >= report_week(fig.on):
        return None
    return fig.reported_on


@dataclass(frozen=True)
class Entry:
    """One sub-unit's standing: one task's figures, or a composite of several tasks."""

    unit: OrgUnit
    completion_pct: int
    schedule_pct: int
    lead_pct: int
    fig: Figures | None = None  # the task's figures (None in the composite)
    tasks: int = 1  # tasks averaged in the composite
    # 本周未报: the date of the newest figure, when none is from this reporting week.
    stale_on: date | None = None

    @property
    def reported(self) -> bool:
        return self.fig is None or self.fig.reported_units > 0


@dataclass(frozen=True)
class Ranked:
    rank: int
    entry: Entry
    last: bool  # 末位

    @property
    def unit(self) -> OrgUnit:
        return self.entry.unit

    @property
    def behind(self) -> bool:  # 滞后
        return self.entry.lead_pct < 0


def _key(e: Entry) -> tuple[int, int]:
    return (-e.lead_pct, -e.completion_pct)


def rank(entries: Iterable[Entry]) -> list[Ranked]:
    """Best first, as the module doc says: competition ranks (1, 2, 2, 4)."""
    ordered = sorted(entries, key=lambda e: (*_key(e), e.unit.name, e.unit.id or 0))
    ranks: list[int] = []
    for i, e in enumerate(ordered):
        ranks.append(ranks[-1] if i and _key(e) == _key(ordered[i - 1]) else i + 1)
    has_last = len(set(ranks)) > 1
    return [Ranked(r, e, has_last and r == ranks[-1]) for r, e in zip(ranks, ordered, strict=True)]


def task_ranking(session: Session, scope: OrgUnit, task: str, on: date) -> list[Ranked]:
    """The direct sub-units of `scope` with a target for `task`, ranked on `on`."""
    return rank(
        Entry(u, f.completion_pct, f.schedule_pct, f.lead_pct, f, stale_on=stale_since(f))
        for u, f in sub_unit_figures(session, scope, task, on)
    )


def composite_ranking(session: Session, scope: OrgUnit, tasks: Sequence[str], on: date
                      ) -> list[Ranked]:
    return composite_of([task_ranking(session, scope, task, on) for task in tasks])


def composite_of(rankings: Iterable[Sequence[Ranked]]) -> list[Ranked]:
    """The composite ranking of the units in these task rankings (one per task)."""
    figs: dict[int, list[Figures]] = defaultdict(list)
    units: dict[int, OrgUnit] = {}
    for ranked in rankings:
        for r in ranked:
            assert r.entry.fig is not None  # a task ranking's entries carry figures
            figs[r.unit.id or 0].append(r.entry.fig)
            units[r.unit.id or 0] = r.unit
    return rank(composite_entry(units[uid], fs) for uid, fs in figs.items())


def composite_entry(unit: OrgUnit, figs: Sequence[Figures]) -> Entry:
    """The unit's completion (each task capped at 100 %) and schedule averaged over its
    tasks, exactly, then rounded like any other percentage. It is 本周未报 when none of
    its tasks has a figure from this reporting week (dated by the newest)."""
    n = len(figs)
    c = pct(sum((min(f.exact_completion, Fraction(1)) for f in figs), Fraction(0)) / n)
    s = pct(sum((f.exact_schedule for f in figs), Fraction(0)) / n)
    stale = [d for d in map(stale_since, figs) if d is not None]
    stale_on = max(stale) if len(stale) == n else None
    return Entry(unit, c, s, c - s, None, n, stale_on)


def common_schedule(ranked: Sequence[Ranked]) -> int | None:
    """The 序时进度 every unit shares, if they do (then lines need not repeat it)."""
    values = {r.entry.schedule_pct for r in ranked}
    return values.pop() if len(values) == 1 else None


# -- #排名 ------------------------------------------------------------------------------


class UnknownTask(Exception):
    def __init__(self, typed: str, known: str) -> None:
        super().__init__(typed)
        self.typed, self.known = typed, known  # as typed; the task names, listed


class NothingToRank(Exception):
    """No sub-unit of the scope has a target (for `task`, when one was named)."""

    def __init__(self, scope: str, task: str | None = None) -> None:
        super().__init__(scope)
        self.scope, self.task = scope, task


@dataclass(frozen=True)
class Standing:
    """The answer to #排名: one task's ranking, or the composite of several."""

    scope: str  # the scope's name
    on: date
    tasks: list[str]
    ranked: list[Ranked]
    measure: str = ""  # the task's unit word ('' in the composite)
    composite: bool = False


def standing(session: Session, config: Config, scope: OrgUnit, on: date, task: str | None,
             composite: bool = False) -> Standing:
    """`#排名 [任务]`: the named task's ranking; without one, the only task with targets,
    or the composite of them all (also when `composite` is asked for). Each task is
    ranked once."""
    if task is not None:
        found = find_task(config, task)
        if found is None:
            raise UnknownTask(task, task_names(config))
        rankings = {found.name: task_ranking(session, scope, found.name, on)}
    else:
        every = {t: task_ranking(session, scope, t, on)
                 for t in tasks_with_targets(session, scope, config)}
        rankings = {t: r for t, r in every.items() if r}
        if not rankings:
            raise NothingToRank(scope.name)
    tasks = list(rankings)
    if len(tasks) == 1 and not composite:
        ranked = rankings[tasks[0]]
        if not ranked:
            raise NothingToRank(scope.name, tasks[0])
        return Standing(scope.name, on, tasks, ranked, measure(config, tasks[0]))
    ranked = composite_of(rankings.values())
    if not ranked:
        raise NothingToRank(scope.name)
    return Standing(scope.name, on, tasks, ranked, composite=True)


# -- forecasts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    finish: date | None  # None: no progress in the window
    overdue_days: int  # days past the deadline (at `finish`, or already, without one)
    window_days: int


def figure_on(history: Sequence[tuple[date, int]], when: date) -> int:
    """The figure at the end of `when` in a `report_history` (0 before the first)."""
    figure = 0
    for d, f in history:
        if d > when:
            break
        figure = f
    return figure


def forecast(history: Sequence[tuple[date, int]], fig: Figures, on: date) -> Forecast | None:
    """Where the recent pace leads, if it misses the deadline; None when on course,
    done, or with less than a week to judge by."""
    if fig.done >= fig.target:
        return None
    since = max(on - PACE_WINDOW, fig.start)
    if not any(d <= since for d, _ in history):
        # The first report falls in the window: it holds all the work since the start.
        since = fig.start
    days = (on - since).days
    if days < MIN_PACE_DAYS:
        return None
    gained = fig.done - figure_on(history, since)
    if gained <= 0:
        return Forecast(None, max(0, (on - fig.deadline).days), days)
    finish = on + timedelta(days=math.ceil((fig.target - fig.done) * days / gained))
    if finish <= fig.deadline:
        return None
    return Forecast(finish, (finish - fig.deadline).days, days)


# -- bulletin outcomes and streaks ---------------------------------------------------


def record_outcome(session: Session, kind: str, period: date, scope: OrgUnit, task: str,
                   ranked: Sequence[Ranked], now: datetime) -> None:
    """Store a published ranking (replacing one stored for the same period)."""
    session.execute(
        delete(BulletinRank).where(
            col(BulletinRank.kind) == kind, col(BulletinRank.scope_id) == scope.id,
            col(BulletinRank.task) == task, col(BulletinRank.period) == period,
        )
    )
    for r in ranked:
        e = r.entry
        session.add(BulletinRank(
            kind=kind, period=period, scope_id=scope.id or 0, task=task, unit_id=r.unit.id or 0,
            rank=r.rank, last=r.last, behind=r.behind, done=e.fig.done if e.fig else 0,
            target=e.fig.target if e.fig else 0, completion_pct=e.completion_pct,
            schedule_pct=e.schedule_pct, lead_pct=e.lead_pct, created_at=now,
        ))
    session.flush()


def last_streak(session: Session, kind: str, scope_id: int, task: str, unit_id: int,
                period: date) -> int:
    """How many stored bulletins of this ranking in a row, up to `period`, named the
    unit last (0 if the one of `period` did not)."""
    periods = session.exec(
        select(col(BulletinRank.period))
        .where(BulletinRank.kind == kind, BulletinRank.scope_id == scope_id,
               BulletinRank.task == task, col(BulletinRank.period) <= period)
        .distinct()
        .order_by(col(BulletinRank.period).desc())
        .limit(MAX_STREAK)
    ).all()
    if not periods:
        return 0
    mine: dict[date, bool] = dict(session.exec(
        select(col(BulletinRank.period), col(BulletinRank.last))
        .where(BulletinRank.kind == kind, BulletinRank.scope_id == scope_id,
               BulletinRank.task == task, BulletinRank.unit_id == unit_id,
               col(BulletinRank.period) <= period, col(BulletinRank.period) >= periods[-1])
    ).all())
    n = 0
    for p in periods:
        if not mine.get(p):
            break
        n += 1
    return n


# -- points ranking ----------------------------------------------------------------


def points_ranking(session: Session, scope: OrgUnit, start: datetime, end: datetime
                   ) -> list[tuple[int, VillageActivity]]:
    """The villages of `scope` by points awarded per household in [start, end), with
    competition ranks (equal per-household points and awards share a rank)."""
    acts = village_activity(session, scope, start, end)
    out: list[tuple[int, VillageActivity]] = []
    for i, a in enumerate(acts):
        prev = acts[i - 1] if i else None
        same = prev is not None and (prev.per_household, prev.awarded) == (a.per_household, a.awarded)
        out.append((out[-1][0] if same else i + 1, a))
    return out


class NoVillages(Exception):
    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


@dataclass(frozen=True)
class PointsStanding:
    """The answer to #积分排名: the villages of the month so far, with their labels."""

    scope: str  # the scope's name
    first: date  # the month's 1st
    today: date
    rows: list[tuple[int, VillageActivity]]  # (rank, activity), best first
    labels: dict[int, str]  # village id → its label under the scope (the rows shown)

    @property
    def shown(self) -> list[tuple[int, VillageActivity]]:
        """The rows listed: all, or a long ranking's head and tail."""
        if len(self.rows) <= POINTS_ALL:
            return self.rows
        return self.rows[:POINTS_HEAD] + self.rows[-POINTS_TAIL:]


def points_standing(session: Session, config: Config, scope: OrgUnit, today: date
                    ) -> PointsStanding:
    """`#积分排名`: the villages of `scope` by points per household this month."""
    first = today.replace(day=1)
    rows = points_ranking(session, scope, *month_bounds(first, config))
    if not rows:
        raise NoVillages(scope.name)
    ps = PointsStanding(scope.name, first, today, rows, {})
    # Labels for the rows shown only (a city has thousands of villages).
    names = names_of(session, [a.village for _, a in ps.shown])
    ps.labels.update({a.village.id or 0: unit_label(a.village, names, scope) for _, a in ps.shown})
    return ps
