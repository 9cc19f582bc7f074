"""Progress against targets and the time-proportional schedule (序时进度).

Plain functions over a session; they never commit. Other areas (rankings, bulletins, the
dashboard) read progress only through the public functions here: `find_task`,
`unit_figures`, `sub_unit_figures`, `unreported_units`, `report_history`,
`tasks_with_targets`.

The arithmetic (PRODUCT.md §3), with dates in the config's zone:
- completion = done / target;
- schedule (序时进度) = elapsed days / planned days clamped to [0, 1], where elapsed =
  the date measured on − start and planned = deadline − start, in calendar days;
- lead = completion − schedule, in percentage points.
Percentages are shown rounded half up to whole numbers, and the lead shown is the
difference of the two percentages shown, so a reply always adds up.

Roll-up: the units that report a task are those with a target for it and no unit below
them with one (the "reporting units"). A unit's figures are the sum of the done and the
targets of the reporting units in its subtree; its schedule is the target-weighted mean
of theirs (the amount due by now over the total target), which is simply the common
schedule when they share start and deadline. A target set on a unit above them (a
county's quota) is kept and reminded of, but does not enter its figures once any unit
below it has a target for the same task: then its figure is the sum of its sub-units.
"""

from __future__ import annotations

import calendar
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.calendar import week_start
from bot.config import Config, TaskConfig
from bot.models.core import OrgUnit
from bot.models.progress import Report, Target
from bot.org import CADRE, HQ, names_of, people_with_role, unit_label
from bot.text import numerals_to_digits, parse_date, simplify

WITHDRAW_WINDOW = timedelta(hours=24)
# A run of this many reports with the same figure is pointed out to the supervisors.
UNCHANGED_RUN = 3
FLAG_HEAD = "【数据核实】"


class ProgressError(Exception):
    """A report or target that cannot be accepted; the message is the reply."""


# -- tasks -------------------------------------------------------------------------


def find_task(config: Config, word: str) -> TaskConfig | None:
    """The configured task called `word` by name or alias (Traditional or Simplified)."""
    w = simplify(word)
    for task in config.tasks:
        if w == simplify(task.name) or any(w == simplify(a) for a in task.aliases):
            return task
    return None


def task_names(config: Config) -> str:
    return "、".join(t.name for t in config.tasks)


def measure(config: Config, task_name: str) -> str:
    task = find_task(config, task_name)
    return task.unit if task else ""


# -- arithmetic --------------------------------------------------------------------


def schedule_fraction(start: date, deadline: date, on: date) -> Fraction:
    """序时进度 on `on`: elapsed / planned calendar days, clamped to [0, 1]."""
    planned = (deadline - start).days
    elapsed = (on - start).days
    if planned <= 0:
        return Fraction(1 if elapsed >= planned else 0)
    return min(Fraction(1), max(Fraction(0), Fraction(elapsed, planned)))


def pct(x: Fraction) -> int:
    """A fraction as a whole percentage, rounded half up (0.845 → 85)."""
    return math.floor(x * 100 + Fraction(1, 2))


@dataclass(frozen=True)
class Figures:
    """A unit's progress on one task on one date.

    `exact_completion` and `exact_schedule` are exact fractions (84/100 is 84 %;
    completion may exceed 1); `completion`, `schedule` and `lead` (completion − schedule
    in percentage points) are them as floats. The `*_pct` fields are what the chat
    shows: whole percentages rounded half up, and `lead_pct = completion_pct − schedule_pct`.
    """

    done: int
    target: int
    exact_completion: Fraction
    exact_schedule: Fraction
    completion_pct: int
    schedule_pct: int
    lead_pct: int
    start: date  # the earliest start of the targets counted
    deadline: date  # the latest deadline of the targets counted
    on: date  # the date measured on
    reported_on: date | None  # the newest report counted, if any
    units: int  # reporting units counted (1 for a village)
    reported_units: int  # of them, those with a report by `on`

    @property
    def completion(self) -> float:
        return float(self.exact_completion)

    @property
    def schedule(self) -> float:
        return float(self.exact_schedule)

    @property
    def lead(self) -> float:
        return float((self.exact_completion - self.exact_schedule) * 100)


@dataclass(frozen=True)
class _Leaf:
    unit_id: int
    path: str
    amount: int
    start: date
    deadline: date
    done: int
    reported_on: date | None


def _aggregate(leaves: Sequence[_Leaf], on: date) -> Figures | None:
    target = sum(leaf.amount for leaf in leaves)
    if not leaves or target <= 0:
        return None
    done = sum(leaf.done for leaf in leaves)
    # Amount due by `on`, summed per plan period (the leaves mostly share one).
    by_period: dict[tuple[date, date], int] = defaultdict(int)
    for leaf in leaves:
        by_period[(leaf.start, leaf.deadline)] += leaf.amount
    due = sum(amount * schedule_fraction(s, d, on) for (s, d), amount in by_period.items())
    completion = Fraction(done, target)
    schedule = Fraction(due) / target
    reported = [leaf.reported_on for leaf in leaves if leaf.reported_on is not None]
    c, s = pct(completion), pct(schedule)
    return Figures(
        done=done, target=target, exact_completion=completion, exact_schedule=schedule,
        completion_pct=c, schedule_pct=s,
        lead_pct=c - s, start=min(leaf.start for leaf in leaves),
        deadline=max(leaf.deadline for leaf in leaves), on=on,
        reported_on=max(reported) if reported else None, units=len(leaves),
        reported_units=len(reported),
    )  # fmt: skip


def _path_ids(path: str) -> list[int]:
    return [int(p) for p in path.strip("/").split("/") if p]


def _in_subtree(column: Any, unit: OrgUnit) -> Any:
    """`column IN (the ids of the unit's subtree)`: a semi-join the planners handle well
    on both backends, with the per-unit indexes doing the rest."""
    return col(column).in_(select(OrgUnit.id).where(col(OrgUnit.path).startswith(unit.path)))


class _T(NamedTuple):
    """A target as the roll-up needs it (plain columns: no ORM objects for 3,000 rows)."""

    unit_id: int
    task: str
    amount: int
    start: date
    deadline: date
    path: str


def _targets_in(session: Session, unit: OrgUnit, task: str | None) -> list[_T]:
    q = (
        sa_select(col(Target.unit_id), col(Target.task), col(Target.amount),
                  col(Target.start), col(Target.deadline), col(OrgUnit.path))
        .join(OrgUnit, col(OrgUnit.id) == col(Target.unit_id))
        .where(col(OrgUnit.path).startswith(unit.path))
    )  # fmt: skip
    if task is not None:
        q = q.where(col(Target.task) == task)
    return [_T(*row) for row in session.execute(q.order_by(col(Target.id))).all()]


def _reporting(targets: Iterable[_T]) -> list[_T]:
    """The targets of reporting units: those with no target below them (per task)."""
    targets = list(targets)
    inner: set[tuple[str, int]] = set()
    for t in targets:
        for a in _path_ids(t.path)[:-1]:
            inner.add((t.task, a))
    return [t for t in targets if (t.task, t.unit_id) not in inner]


def _latest(
    session: Session, unit: OrgUnit, task: str | None, on: date | None = None
) -> dict[tuple[int, str], tuple[int, date]]:
    """(figure, report date) of the newest report not withdrawn (by `on`, if given), per
    (unit, task) in the subtree."""
    newest = (
        select(func.max(Report.id))
        .where(_in_subtree(Report.unit_id, unit), col(Report.withdrawn_at).is_(None))
        .group_by(col(Report.unit_id), col(Report.task))
    )
    if task is not None:
        newest = newest.where(Report.task == task)
    if on is not None:
        newest = newest.where(col(Report.report_date) <= on)
    rows = session.exec(
        select(
            col(Report.unit_id), col(Report.task), col(Report.figure), col(Report.report_date)
        ).where(col(Report.id).in_(newest))
    ).all()
    return {(u, t): (f, d) for u, t, f, d in rows}


def _leaves(session: Session, unit: OrgUnit, task: str, on: date) -> list[_Leaf]:
    targets = _reporting(_targets_in(session, unit, task))
    latest = _latest(session, unit, task, on) if targets else {}
    out = []
    for t in targets:
        figure, reported = latest.get((t.unit_id, task), (0, None))
        out.append(_Leaf(t.unit_id, t.path, t.amount, t.start, t.deadline, figure, reported))
    return out


def unit_figures(session: Session, unit: OrgUnit, task_name: str, on: date) -> Figures | None:
    """The unit's progress on `task_name` as of the local date `on` (reports made on or
    before it; the schedule measured on it). Above the reporting units, the roll-up of
    the module doc. None when neither the unit nor any unit below it has a target."""
    return _aggregate(_leaves(session, unit, task_name, on), on)


def sub_unit_figures(
    session: Session, unit: OrgUnit, task_name: str, on: date
) -> list[tuple[OrgUnit, Figures]]:
    """Figures of each direct sub-unit that has a target for the task in its subtree,
    in the order the sub-units were created. Empty for a reporting unit itself."""
    depth = len(_path_ids(unit.path))
    groups: dict[int, list[_Leaf]] = defaultdict(list)
    for leaf in _leaves(session, unit, task_name, on):
        ids = _path_ids(leaf.path)
        if len(ids) > depth:
            groups[ids[depth]].append(leaf)
    if not groups:
        return []
    subs = session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(list(groups)))).all()
    out = []
    for sub in sorted(subs, key=lambda u: u.id or 0):
        fig = _aggregate(groups[sub.id or 0], on)
        if fig is not None:
            out.append((sub, fig))
    return out


def tasks_with_targets(session: Session, unit: OrgUnit, config: Config | None = None) -> list[str]:
    """Names of the tasks with a target on the unit or below it; in the config's order
    when given, else in the order first set."""
    q = (
        select(col(Target.task), func.min(Target.id))
        .where(_in_subtree(Target.unit_id, unit))
        .group_by(col(Target.task))
        .order_by(func.min(Target.id))
    )
    names = [task for task, _ in session.exec(q).all()]
    if config is not None:
        order = {t.name: i for i, t in enumerate(config.tasks)}
        names.sort(key=lambda n: order.get(n, len(order)))
    return names


def report_history(session: Session, unit: OrgUnit, task_name: str) -> list[tuple[date, int]]:
    """The unit's figure over time: (date, figure at the end of that day), oldest first,
    one entry per day with a report; rolled up above the reporting units (the sum of
    their newest figures on each day). Withdrawn reports are left out."""
    leaf_ids = {t.unit_id for t in _reporting(_targets_in(session, unit, task_name))}
    if not leaf_ids:
        return []
    rows = session.exec(
        select(col(Report.unit_id), col(Report.report_date), col(Report.figure))
        .where(_in_subtree(Report.unit_id, unit), Report.task == task_name,
               col(Report.withdrawn_at).is_(None))
        .order_by(col(Report.id))
    ).all()  # fmt: skip
    current: dict[int, int] = {}
    history: dict[date, int] = {}
    for unit_id, day, figure in rows:
        if unit_id in leaf_ids:
            current[unit_id] = figure
            history[day] = sum(current.values())
    return sorted(history.items())


# -- targets -----------------------------------------------------------------------

_MONTH_END = re.compile(r"^(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?:底|末)$")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_day(word: str, today: date) -> date | None:
    """A date as people write it: `bot.text.parse_date` ('6月30日', '2019-06-30'), and
    also '6月底', '月底', '年底'."""
    w = numerals_to_digits(simplify(word))
    if w in ("年底", "年末"):
        return date(today.year, 12, 31)
    if w in ("月底", "月末"):
        return _month_end(today.year, today.month)
    m = _MONTH_END.match(w)
    if m:
        year, month = int(m.group("y") or today.year), int(m.group("m"))
        if not 1 <= month <= 12:
            return None
        d = _month_end(year, month)
        if not m.group("y") and (today - d).days > 183:
            d = _month_end(year + 1, month)
        return d
    return parse_date(w, today)


def get_target(session: Session, unit_id: int, task: str) -> Target | None:
    return session.exec(
        select(Target).where(Target.unit_id == unit_id, Target.task == task)
    ).first()


def has_targets_below(session: Session, unit: OrgUnit, task: str) -> bool:
    q = (
        select(Target.id)
        .join(OrgUnit, col(OrgUnit.id) == col(Target.unit_id))
        .where(Target.task == task, col(OrgUnit.path).startswith(unit.path),
               OrgUnit.id != unit.id)
        .limit(1)
    )  # fmt: skip
    return session.exec(q).first() is not None


@dataclass(frozen=True)
class TargetChange:
    target: Target
    previous: tuple[int, date, date] | None  # amount, start, deadline before, if replaced


def set_target(
    session: Session, unit: OrgUnit, task: str, amount: int, start: date | None,
    deadline: date, by: str, now: datetime, zone: ZoneInfo,
) -> TargetChange:  # fmt: skip
    """Set or replace the unit's target. Without a start: today for a new target; a
    replaced target whose deadline has not passed keeps its start (an amendment)."""
    today = now.astimezone(zone).date()
    if amount <= 0:
        raise ProgressError("目标数要大于 0")
    existing = get_target(session, unit.id or 0, task)
    if start is None:
        amending = existing is not None and existing.deadline >= today
        start = existing.start if existing is not None and amending else today
    if deadline < today:
        raise ProgressError(f"截止日期 {day(deadline)} 已经过了")
    if deadline <= start:
        raise ProgressError(f"截止日期（{day(deadline)}）要晚于开始日期（{day(start)}）")
    if existing is None:
        target = Target(unit_id=unit.id or 0, task=task, amount=amount, start=start,
                        deadline=deadline, set_by=by, set_at=now)  # fmt: skip
        session.add(target)
        session.flush()
        return TargetChange(target, None)
    previous = (existing.amount, existing.start, existing.deadline)
    existing.amount, existing.start, existing.deadline = amount, start, deadline
    existing.set_by, existing.set_at = by, now
    session.flush()
    return TargetChange(existing, previous)


def who_sets_targets(session: Session, unit: OrgUnit, limit: int = 3) -> list[str]:
    """Names of people who may set this unit's target: HQ, or cadres above it."""
    people = list(people_with_role(session, unit, HQ))
    if unit.parent_id is not None:
        parent = session.get(OrgUnit, unit.parent_id)
        if parent is not None:
            people += people_with_role(session, parent, CADRE)
    names: list[str] = []
    for p in people:
        if p.name and p.name not in names:
            names.append(p.name)
    return names[:limit]


# -- reports -----------------------------------------------------------------------


def latest_report(session: Session, unit_id: int, task: str) -> Report | None:
    return session.exec(
        select(Report)
        .where(Report.unit_id == unit_id, Report.task == task, col(Report.withdrawn_at).is_(None))
        .order_by(col(Report.id).desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class Recorded:
    report: Report
    target: Target
    previous: int | None  # the figure before this report
    figures: Figures  # the unit's figures on the report date, this report counted
    flags: tuple[str, ...]  # data-quality notes for the supervising groups


def record_report(
    session: Session, unit: OrgUnit, task: TaskConfig, *, value: int, add: bool,
    of: int | None, correction: bool, reporter: str, reporter_name: str,
    room_id: str | None, msg_id: str | None, now: datetime, zone: ZoneInfo,
) -> Recorded:  # fmt: skip
    """Record the unit's cumulative figure (`value`, or the last figure + `value` with
    `add`); ProgressError when it cannot be accepted."""
    name, m = task.name, task.unit
    target = get_target(session, unit.id or 0, name)
    if has_targets_below(session, unit, name):
        raise ProgressError(
            f"{unit.name}的{name}进度由下级单位汇总，请在下级单位的群里报送。"
            f"查看汇总：#进度查询 {name}"
        )
    if target is None:
        setters = who_sets_targets(session, unit)
        named = f"（如 {'、'.join(setters)}）" if setters else ""
        raise ProgressError(
            f"{unit.name}还没有{name}的目标，请指挥部或上级单位的干部{named}先在本群设定，"
            f"例：#目标 {name} 50 截止 6月30日"
        )
    if of is not None and of != target.amount:
        raise ProgressError(
            f"{unit.name}{name}的目标是 {target.amount} {m}，不是 {of} {m}。"
            f"如目标有变，请指挥部或上级干部用 #目标 修改"
        )
    recent = _recent_figures(session, unit.id or 0, name)
    previous = recent[0] if recent else None
    figure = (previous or 0) + value if add else value
    if figure < 0:
        raise ProgressError(f"{name}的完成数不能是负数")
    if previous is not None and figure < previous and not correction:
        raise ProgressError(
            f"{name} {figure} {m}比上次报的 {previous} {m}少。累计数只增不减；"
            f"如上次报错了，请加“更正”：#进度 {name} {figure} 更正"
        )
    today = now.astimezone(zone).date()
    report = Report(unit_id=unit.id or 0, task=name, figure=figure, report_date=today,
                    correction=correction and previous is not None and figure < previous,
                    reported_at=now, reporter_id=reporter, room_id=room_id, msg_id=msg_id)  # fmt: skip
    session.add(report)
    session.flush()
    # A reporting unit's figures are its own: this report against its target.
    leaf = _Leaf(unit.id or 0, unit.path, target.amount, target.start, target.deadline,
                 figure, today)  # fmt: skip
    figures = _aggregate([leaf], today)
    assert figures is not None
    who = reporter_name or reporter
    flags = []
    if report.correction:
        flags.append(f"{FLAG_HEAD}{unit.name} {name} 从 {previous} {m}更正为 {figure} {m}"
                     f"（{who}报）")  # fmt: skip
    if figure > target.amount and figure != previous:
        flags.append(f"{FLAG_HEAD}{unit.name} {name} 报 {figure} {m}，超过目标 "
                     f"{target.amount} {m}（{who}报）")  # fmt: skip
    if figure < target.amount and _run_length([figure, *recent]) == UNCHANGED_RUN:
        flags.append(f"{FLAG_HEAD}{unit.name} {name} 连续 {UNCHANGED_RUN} 次报送都是 "
                     f"{figure} {m}，没有进展")  # fmt: skip
    return Recorded(report, target, previous, figures, tuple(flags))


def _recent_figures(session: Session, unit_id: int, task: str) -> list[int]:
    """The unit's newest figures for the task, newest first: as many as a run of
    unchanged figures needs (one more than UNCHANGED_RUN, so a flag is raised once)."""
    return list(
        session.exec(
            select(Report.figure)
            .where(Report.unit_id == unit_id, Report.task == task,
                   col(Report.withdrawn_at).is_(None))
            .order_by(col(Report.id).desc())
            .limit(UNCHANGED_RUN)
        ).all()
    )  # fmt: skip


def _run_length(figures: Sequence[int]) -> int:
    """How many figures in a row, from the first, equal the first."""
    run = 0
    for f in figures:
        if f != figures[0]:
            break
        run += 1
    return run


def withdraw_last(session: Session, unit: OrgUnit, person_id: str, now: datetime,
                  zone: ZoneInfo) -> list[Report]:  # fmt: skip
    """Withdraw the person's newest report in this unit (every line of that message),
    if it is less than 24 hours old. Returns the withdrawn reports."""
    last = session.exec(
        select(Report)
        .where(Report.reporter_id == person_id, Report.unit_id == unit.id,
               col(Report.withdrawn_at).is_(None))
        .order_by(col(Report.id).desc())
        .limit(1)
    ).first()  # fmt: skip
    if last is None:
        raise ProgressError("您在本群没有可撤回的进度报送")
    if now - last.reported_at > WITHDRAW_WINDOW:
        raise ProgressError(
            f"您最近一次报送是 {when(last.reported_at, zone)}，已超过24小时，不能撤回。"
            f"如数字有误，请加“更正”重报，例：#进度 {last.task} {last.figure} 更正"
        )
    batch = [last]
    if last.msg_id is not None:
        batch = list(session.exec(
            select(Report)
            .where(Report.reporter_id == person_id, Report.unit_id == unit.id,
                   Report.msg_id == last.msg_id, col(Report.withdrawn_at).is_(None))
            .order_by(col(Report.id))
        ).all())  # fmt: skip
    for r in batch:
        r.withdrawn_at = now
    session.flush()
    return batch


# -- who has not reported ------------------------------------------------------------


@dataclass(frozen=True)
class Unreported:
    unit: OrgUnit
    tasks: tuple[str, ...]  # the tasks it has not reported this week


def unreported_units(session: Session, root: OrgUnit, now: datetime, zone: ZoneInfo
                     ) -> list[Unreported]:  # fmt: skip
    """Reporting units in `root`'s subtree with a task not reported in the current week
    (from Monday 00:00 in `zone`). A target that has not started yet, or whose newest
    figure already meets it, is not chased. In tree order."""
    today = now.astimezone(zone).date()
    since = week_start(now, zone)
    targets = _reporting(_targets_in(session, root, None))
    if not targets:
        return []
    latest = _latest(session, root, None)
    reported = set(
        session.exec(
            select(Report.unit_id, Report.task)
            .where(_in_subtree(Report.unit_id, root), col(Report.reported_at) >= since,
                   col(Report.reported_at) <= now, col(Report.withdrawn_at).is_(None))
            .distinct()
        ).all()
    )  # fmt: skip
    missing: dict[int, list[str]] = defaultdict(list)
    paths: dict[int, str] = {}
    for t in targets:
        figure, _ = latest.get((t.unit_id, t.task), (0, None))
        if t.start > today or figure >= t.amount:
            continue
        if (t.unit_id, t.task) not in reported:
            missing[t.unit_id].append(t.task)
            paths[t.unit_id] = t.path
    if not missing:
        return []
    units = {
        u.id: u for u in session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(list(missing))))
    }
    order = sorted(missing, key=lambda uid: _path_ids(paths[uid]))
    return [Unreported(units[uid], tuple(missing[uid])) for uid in order]


# -- wording -----------------------------------------------------------------------


def day(d: date) -> str:
    return f"{d.month}月{d.day}日"


def when(t: datetime, zone: ZoneInfo) -> str:
    local = t.astimezone(zone)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def lead_words(lead_pct: int) -> str:
    if lead_pct > 0:
        return f"超前 {lead_pct} 个百分点"
    if lead_pct < 0:
        return f"滞后 {-lead_pct} 个百分点"
    return "与序时进度持平"


def describe(task: str, unit_word: str, fig: Figures) -> str:
    """'危房改造 42/50 处（84%），序时进度 70%，超前 14 个百分点' (without the task
    name when `task` is empty)."""
    return (f"{task + ' ' if task else ''}{fig.done}/{fig.target} {unit_word}"
            f"（{fig.completion_pct}%），序时进度 {fig.schedule_pct}%，{lead_words(fig.lead_pct)}")  # fmt: skip


def has_any_target(session: Session, unit: OrgUnit) -> bool:
    q = (
        select(Target.id)
        .join(OrgUnit, col(OrgUnit.id) == col(Target.unit_id))
        .where(col(OrgUnit.path).startswith(unit.path))
        .limit(1)
    )
    return session.exec(q).first() is not None


def unreported_text(session: Session, root: OrgUnit, items: Sequence[Unreported],
                    now: datetime, zone: ZoneInfo, limit: int = 60) -> str:  # fmt: skip
    """The list of units that have not reported this week, as a reply or a message."""
    since = f"本周（{day(week_start(now, zone).date())}起）"
    if not items:
        if not has_any_target(session, root):
            return f"{root.name}还没有设定任务目标"
        return f"{since}{root.name if root.level == '村' else root.name + '各单位'}都已报送进度"
    if len(items) == 1 and items[0].unit.id == root.id:
        return f"{since}{root.name}还没有报送：{'、'.join(items[0].tasks)}"
    names = names_of(session, [i.unit for i in items])
    lines = [f"{since}还有 {len(items)} 个单位没有报送进度："]
    for item in items[:limit]:
        label = item.unit.name if item.unit.id == root.id else unit_label(item.unit, names, root)
        lines.append(f"{label}（{'、'.join(item.tasks)}）")
    if len(items) > limit:
        lines.append(f"……等共 {len(items)} 个单位")
    return "\n".join(lines)
