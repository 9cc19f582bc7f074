"""Progress reports: record one (#进度), withdraw the last (#撤回), where a unit stands
(#进度查询), and who has not reported this week (#未报, the weekly chase).

Plain functions over a session; they never commit. Each command's function returns a
result object for `bot.progress.wording` to put into words.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.calendar import week_start
from bot.config import Config, TaskConfig
from bot.models.core import OrgUnit, Room
from bot.models.progress import Report, Target
from bot.org import ancestor_ids_of_path, names_of, supervising_rooms, unit_label
from bot.orgcache import OrgView, instance
from bot.progress.errors import ProgressError, ReportRefused
from bot.progress.figures import Figures, Leaf, aggregate
from bot.progress.rollup import (
    has_any_target,
    has_targets_below,
    in_subtree,
    latest,
    latest_report,
    reporting,
    sub_unit_figures,
    targets_in,
    tasks_with_targets,
    unit_figures,
)
from bot.progress.targets import get_target, measure, task_named, who_sets_targets
from bot.progress.wording import when

WITHDRAW_WINDOW = timedelta(hours=24)
# A run of this many reports with the same figure is pointed out to the supervisors.
UNCHANGED_RUN = 3


# -- recording -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    """One line of a #进度 message, as parsed."""

    task: str  # as typed; resolved against the config when recorded
    value: int
    add: bool  # '+5': added to the last figure
    of: int | None  # '42/50': the target as the reporter knows it
    correction: bool
    line_no: int = 0  # its line in the message (from 1); 0: its place among the lines
    as_of: date | None = None  # '截至6月17日', a day before the report's


@dataclass(frozen=True)
class Flag:
    """A data-quality note for the supervising groups: a correction, a figure over the
    target, or a run of `run` reports with the same figure."""

    kind: str  # "correction", "over" or "unchanged"
    unit: str
    task: str
    measure: str
    figure: int
    previous: int | None
    target: int
    who: str
    run: int = 0


@dataclass(frozen=True)
class Recorded:
    report: Report
    target: Target
    previous: int | None  # the figure before this report
    figures: Figures  # the unit's figures on the report date, this report counted
    flags: tuple[Flag, ...]  # data-quality notes for the supervising groups
    measure: str  # the task's measure word (处, 户)
    as_of: date | None = None  # the 截至 day the figure was given for, if before today


def record_report(
    session: Session, unit: OrgUnit, task: TaskConfig, *, value: int, add: bool,
    of: int | None, correction: bool, reporter: str, reporter_name: str,
    room_id: str | None, msg_id: str | None, now: datetime, zone: ZoneInfo,
    as_of: date | None = None, org: OrgView | None = None,
) -> Recorded:
    """Record the unit's cumulative figure (`value`, or the last figure + `value` with
    `add`); ProgressError when it cannot be accepted."""
    name, m = task.name, task.unit
    if org is None:
        target, below = get_target(session, unit.id or 0, name), has_targets_below(session, unit, name)
    else:
        target, below = _cached_target(session, org, unit, name)
    if below:
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
                    reported_at=now, reporter_id=reporter, room_id=room_id, msg_id=msg_id)
    session.add(report)
    session.flush()
    # A reporting unit's figures are its own: this report against its target.
    leaf = Leaf(unit.id or 0, unit.path, target.amount, target.start, target.deadline,
                figure, today)
    figures = aggregate([leaf], today)
    assert figures is not None
    who = reporter_name or reporter

    def flag(kind: str, run: int = 0) -> Flag:
        return Flag(kind, unit.name, name, m, figure, previous, target.amount, who, run)

    flags = []
    if report.correction:
        flags.append(flag("correction"))
    if figure > target.amount and figure != previous:
        flags.append(flag("over"))
    if figure < target.amount and _run_length([figure, *recent]) == UNCHANGED_RUN:
        flags.append(flag("unchanged", UNCHANGED_RUN))
    return Recorded(report, target, previous, figures, tuple(flags), m, as_of)


def _cached_target(session: Session, org: OrgView, unit: OrgUnit, task: str
                   ) -> tuple[Target | None, bool]:
    """The unit's target for the task and whether a unit below it has one (as
    `get_target` and `has_targets_below`), from the per-process cache: every unit's
    target for the task is read at once (transient copies: never change them)."""
    assert unit.id is not None
    t = Target.__table__  # type: ignore[attr-defined]
    rows: dict[int, Any] = org.get(("targets", task), lambda: {
        r["unit_id"]: r for r in session.execute(sa_select(t).where(t.c.task == task)).mappings()})

    def target() -> Target | None:
        r = rows.get(unit.id or 0)
        return instance(Target, r) if r is not None else None

    def below() -> bool:
        units = org.tree().units
        return any(uid != unit.id and uid in units and units[uid].path.startswith(unit.path)
                   for uid in rows)

    return (org.get(("target", task, unit.id), target),
            org.get(("targets_below", task, unit.id), below))


def _recent_figures(session: Session, unit_id: int, task: str) -> list[int]:
    """The unit's newest figures for the task, newest first: as many as a run of
    unchanged figures needs (one more than UNCHANGED_RUN, so a flag is raised once)."""
    return list(session.execute(_recent_query(), {"unit_id": unit_id, "task": task}).scalars())


@functools.cache
def _recent_query() -> Any:
    """Built once (building a statement costs more than running it)."""
    return (select(Report.figure)
            .where(Report.unit_id == bindparam("unit_id"), Report.task == bindparam("task"),
                   col(Report.withdrawn_at).is_(None))
            .order_by(col(Report.id).desc())
            .limit(UNCHANGED_RUN))


def _run_length(figures: Sequence[int]) -> int:
    """How many figures in a row, from the first, equal the first."""
    run = 0
    for f in figures:
        if f != figures[0]:
            break
        run += 1
    return run


@dataclass(frozen=True)
class ReportBatch:
    """What one #进度 message recorded, and where its data-quality flags go."""

    unit: str  # the unit's name
    recorded: tuple[Recorded, ...]
    flag_rooms: tuple[Room, ...]  # the supervising groups


def record_reports(
    session: Session, config: Config, unit: OrgUnit, lines: Sequence[ReportLine], *,
    reporter: str, reporter_name: str, room_id: str | None, msg_id: str | None,
    now: datetime, zone: ZoneInfo, text_lines: int = 0, org: OrgView | None = None,
) -> ReportBatch:
    """Record every line of one message. One message is one report: if any line is bad,
    ReportRefused names every bad line and the caller rolls the whole message back, so
    that sending it again, corrected, records each line once. `text_lines`: how many
    lines the message has, when that is more than it has items (a header, a signature)."""
    done: list[Recorded] = []
    refused: list[tuple[int, ProgressError]] = []
    for i, line in enumerate(lines, start=1):
        try:
            task = task_named(config, line.task)
            done.append(record_report(
                session, unit, task, value=line.value, add=line.add, of=line.of,
                correction=line.correction, reporter=reporter, reporter_name=reporter_name,
                room_id=room_id, msg_id=msg_id, now=now, zone=zone, as_of=line.as_of, org=org,
            ))
        except ProgressError as e:
            refused.append((line.line_no or i, e))
    if refused:
        raise ReportRefused(tuple(refused), max(len(lines), text_lines))
    rooms = tuple(supervising_rooms(session, unit)) if any(r.flags for r in done) else ()
    return ReportBatch(unit.name, tuple(done), rooms)


# -- withdrawing ---------------------------------------------------------------------


def withdraw_last(session: Session, unit: OrgUnit, person_id: str, now: datetime,
                  zone: ZoneInfo) -> list[Report]:
    """Withdraw the person's newest report in this unit (every line of that message),
    if it is less than 24 hours old. Returns the withdrawn reports."""
    last = session.exec(
        select(Report)
        .where(Report.reporter_id == person_id, Report.unit_id == unit.id,
               col(Report.withdrawn_at).is_(None))
        .order_by(col(Report.id).desc())
        .limit(1)
    ).first()
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
        ).all())
    for r in batch:
        r.withdrawn_at = now
    session.flush()
    return batch


@dataclass(frozen=True)
class WithdrawnItem:
    report: Report
    measure: str
    figures: Figures | None  # the unit's figures now; None if it has no report left


@dataclass(frozen=True)
class Withdrawn:
    unit: str  # the unit's name
    items: tuple[WithdrawnItem, ...]


def withdraw(
    session: Session, config: Config, unit: OrgUnit, person_id: str, now: datetime,
    zone: ZoneInfo,
) -> Withdrawn:
    """#撤回: `withdraw_last`, and where the unit stands on each task afterwards."""
    reports = withdraw_last(session, unit, person_id, now, zone)
    today = now.astimezone(zone).date()
    items = []
    for r in reports:
        fig = unit_figures(session, unit, r.task, today)
        if latest_report(session, unit.id or 0, r.task) is None:
            fig = None
        items.append(WithdrawnItem(r, measure(config, r.task), fig))
    return Withdrawn(unit.name, tuple(items))


# -- where a unit stands ---------------------------------------------------------------


@dataclass(frozen=True)
class TaskStanding:
    task: str
    measure: str
    figures: Figures | None  # None: no target on the unit or below
    subs: tuple[tuple[str, Figures], ...]  # per direct sub-unit with a target: name, figures


@dataclass(frozen=True)
class Overview:
    unit: str  # the unit's name
    sections: tuple[TaskStanding, ...]  # empty: no task has a target here


def overview(
    session: Session, config: Config, unit: OrgUnit, task_word: str | None, today: date
) -> Overview:
    """#进度查询: the unit's figures on one task (UnknownTask if not configured), or on
    every task with a target on it or below; with its sub-units' figures."""
    if task_word is not None:
        tasks = [task_named(config, task_word).name]
    else:
        tasks = tasks_with_targets(session, unit, config)
    sections = []
    for task in tasks:
        fig = unit_figures(session, unit, task, today)
        subs: tuple[tuple[str, Figures], ...] = ()
        if fig is not None:
            subs = tuple((s.name, f) for s, f in sub_unit_figures(session, unit, task, today))
        sections.append(TaskStanding(task, measure(config, task), fig, subs))
    return Overview(unit.name, tuple(sections))


# -- who has not reported ------------------------------------------------------------


@dataclass(frozen=True)
class Unreported:
    unit: OrgUnit
    tasks: tuple[str, ...]  # the tasks it has not reported this week


def unreported_units(session: Session, root: OrgUnit, now: datetime, zone: ZoneInfo
                     ) -> list[Unreported]:
    """Reporting units in `root`'s subtree with a task not reported in the current week
    (from Monday 00:00 in `zone`). A target that has not started yet, or whose newest
    figure already meets it, is not chased. In tree order."""
    today = now.astimezone(zone).date()
    since = week_start(now, zone)
    targets = reporting(targets_in(session, root, None))
    if not targets:
        return []
    newest = latest(session, root, None)
    reported = set(
        session.exec(
            select(Report.unit_id, Report.task)
            .where(in_subtree(Report.unit_id, root), col(Report.reported_at) >= since,
                   col(Report.reported_at) <= now, col(Report.withdrawn_at).is_(None))
            .distinct()
        ).all()
    )
    missing: dict[int, list[str]] = defaultdict(list)
    paths: dict[int, str] = {}
    for t in targets:
        figure, _ = newest.get((t.unit_id, t.task), (0, None))
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
    order = sorted(missing, key=lambda uid: ancestor_ids_of_path(paths[uid]))
    return [Unreported(units[uid], tuple(missing[uid])) for uid in order]


@dataclass(frozen=True)
class UnreportedItem:
    unit: OrgUnit
    label: str  # its name with the names between `root` and it: '吴城乡·皇叔洼村'
    is_root: bool
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class UnreportedList:
    root: str  # the name of the unit asked about
    root_is_village: bool
    since: date  # the Monday the week began
    has_targets: bool  # whether any unit in the subtree has a target
    items: tuple[UnreportedItem, ...]


def unreported(
    session: Session, config: Config, root: OrgUnit, now: datetime, zone: ZoneInfo,
    task_word: str | None = None,
) -> UnreportedList:
    """#未报 and the weekly chase: the units below `root` (or `root` itself) that have
    not reported this week, on `task_word` only if given (UnknownTask if not
    configured), with the labels to show them by."""
    task = task_named(config, task_word).name if task_word is not None else None
    since = week_start(now, zone).date()
    is_village = root.level == "村"
    if not has_any_target(session, root):
        return UnreportedList(root.name, is_village, since, False, ())
    found = unreported_units(session, root, now, zone)
    if task is not None:
        found = [u for u in found if task in u.tasks]
    names = names_of(session, [u.unit for u in found]) if found else {}
    items = tuple(
        UnreportedItem(
            u.unit, u.unit.name if u.unit.id == root.id else unit_label(u.unit, names, root),
            u.unit.id == root.id, u.tasks,
        )
        for u in found
    )
    return UnreportedList(root.name, is_village, since, True, items)
