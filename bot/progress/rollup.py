"""Progress as the database says it is now: the roll-up of reports against targets.

Plain reads over a session. The units that report a task are those with a target for it
and no unit below them with one (the "reporting units", the leaves). A unit's figures are
those of the reporting units in its subtree taken together (`bot.progress.figures`). A
target set on a unit above them (a county's quota) is kept and reminded of, but does not
enter its figures once any unit below it has a target for the same task: then its figure
is the sum of its sub-units.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Date, Integer, String, and_, bindparam, cast, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.config import Config
from bot.models.core import OrgUnit
from bot.models.progress import Report, Target
from bot.progress.figures import Figures, Leaf, Period, aggregate, combine


def in_subtree(column: Any, unit: OrgUnit) -> Any:
    """`column IN (the ids of the unit's subtree)`: a semi-join the planners handle well
    on both backends, with the per-unit indexes doing the rest."""
    return col(column).in_(select(OrgUnit.id).where(col(OrgUnit.path).startswith(unit.path)))


class TargetRow(NamedTuple):
    """A target as the roll-up needs it (plain columns: no ORM objects for 3,000 rows)."""

    unit_id: int
    task: str
    amount: int
    start: date
    deadline: date
    path: str


def targets_in(session: Session, unit: OrgUnit, task: str | None) -> list[TargetRow]:
    q = (
        sa_select(col(Target.unit_id), col(Target.task), col(Target.amount),
                  col(Target.start), col(Target.deadline), col(OrgUnit.path))
        .join(OrgUnit, col(OrgUnit.id) == col(Target.unit_id))
        .where(col(OrgUnit.path).startswith(unit.path))
    )
    if task is not None:
        q = q.where(col(Target.task) == task)
    return [TargetRow(*row) for row in session.execute(q.order_by(col(Target.id))).all()]


def reporting(targets: Iterable[TargetRow]) -> list[TargetRow]:
    """The targets of reporting units: those with no target below them (per task)."""
    targets = list(targets)
    # Sorted by (task, path), a unit's subtree follows the unit itself (paths end in
    # '/'): a target has one below it iff the next one's path extends its own.
    order = sorted(range(len(targets)), key=lambda i: (targets[i].task, targets[i].path))
    inner = {
        a for a, b in zip(order, order[1:], strict=False)
        if targets[a].task == targets[b].task and targets[b].path != targets[a].path
        and targets[b].path.startswith(targets[a].path)
    }
    return [t for i, t in enumerate(targets) if i not in inner]


def latest(
    session: Session, unit: OrgUnit, task: str | None, on: date | None = None
) -> dict[tuple[int, str], tuple[int, date]]:
    """(figure, report date) of the newest report not withdrawn (by `on`, if given), per
    (unit, task) in the subtree."""
    newest = (
        select(func.max(Report.id))
        .where(in_subtree(Report.unit_id, unit), col(Report.withdrawn_at).is_(None))
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


def latest_report(session: Session, unit_id: int, task: str) -> Report | None:
    """The unit's newest report on the task that is not withdrawn."""
    return session.exec(
        select(Report)
        .where(Report.unit_id == unit_id, Report.task == task, col(Report.withdrawn_at).is_(None))
        .order_by(col(Report.id).desc())
        .limit(1)
    ).first()


def _newest_report(on: Any) -> Any:
    """The id of the target's unit's newest report on its task not withdrawn by `on`
    (a seek on `ix_progress_report_latest`), correlated to `Target`."""
    return (
        sa_select(func.max(Report.id))
        .where(col(Report.unit_id) == col(Target.unit_id), col(Report.task) == col(Target.task),
               col(Report.withdrawn_at).is_(None), col(Report.report_date) <= on)
        .correlate(Target)
        .scalar_subquery()
    )


@functools.cache
def _leaves_query() -> Any:
    """The subtree's targets for a task, each with its unit's path and its newest report
    not withdrawn by `on` (a seek per target on `ix_progress_report_latest`): one
    statement, built once."""
    task, on = bindparam("task", type_=String()), bindparam("on", type_=Date())
    newest = _newest_report(on)
    return (
        sa_select(col(Target.unit_id), col(Target.task), col(Target.amount), col(Target.start),
                  col(Target.deadline), col(OrgUnit.path), col(Report.figure),
                  col(Report.report_date))
        .join(OrgUnit, col(OrgUnit.id) == col(Target.unit_id))
        .outerjoin(Report, col(Report.id) == newest)
        .where(col(OrgUnit.path).startswith(bindparam("path")), col(Target.task) == task)
        .order_by(col(Target.id))
    )


def _leaves(session: Session, unit: OrgUnit, task: str, on: date) -> list[Leaf]:
    session.flush()  # Core below the ORM: pending reports must be in the database
    rows = session.connection().execute(
        _leaves_query(), {"path": unit.path, "task": task, "on": on}).all()
    figures = {r[0]: (r[6] or 0, r[7]) for r in rows}
    out = []
    for t in reporting(TargetRow(*r[:6]) for r in rows):
        figure, reported = figures[t.unit_id]
        out.append(Leaf(t.unit_id, t.path, t.amount, t.start, t.deadline, figure, reported))
    return out


def unit_figures(session: Session, unit: OrgUnit, task_name: str, on: date) -> Figures | None:
    """The unit's progress on `task_name` as of the local date `on` (reports made on or
    before it; the schedule measured on it). Above the reporting units, the roll-up of
    the module doc. None when neither the unit nor any unit below it has a target."""
    return aggregate(_leaves(session, unit, task_name, on), on)


@functools.cache
def _sub_units_query(dialect: str) -> Any:
    """`sub_unit_figures` in one statement: the reporting units below a unit (`path`,
    `scope`), grouped in SQL by direct sub-unit and plan period, each group's targets and
    newest figures summed; with each sub-unit's row, in the order they were created.

    A unit's direct sub-unit is the first id of its path below the scope's ('/12/40/'
    under '/3/' is 12), cut out of the path: no join of every unit with every
    sub-unit. A target is a reporting unit's when no target for its task is on a unit
    below it; only a unit with sub-units can have one (a cheap test first), so the
    costly subtree search runs for the few targets above the villages."""
    strpos = func.strpos if dialect == "postgresql" else func.instr  # the same arguments
    task, on = bindparam("task", type_=String()), bindparam("on", type_=Date())
    cut = bindparam("cut", type_=Integer())  # len(scope.path)
    unit, below, child = aliased(OrgUnit), aliased(OrgUnit), aliased(OrgUnit)
    other = aliased(Target)
    rest = func.substr(col(unit.path), cut + 1)
    sub_id = cast(func.substr(rest, 1, strpos(rest, "/") - 1), Integer).label("sub_id")
    has_sub_units = sa_select(col(child.id)).where(col(child.parent_id) == col(unit.id)).exists()
    target_below = (
        sa_select(col(other.id))
        .join(below, col(below.id) == col(other.unit_id))
        .where(col(other.task) == col(Target.task), col(below.id) != col(unit.id),
               func.substr(col(below.path), 1, func.length(col(unit.path))) == col(unit.path))
        .exists()
    )
    newest = aliased(Report)
    leaves = (
        sa_select(sub_id, col(Target.start).label("start"),
                  col(Target.deadline).label("deadline"), col(Target.amount).label("amount"),
                  col(newest.id).label("report_id"), col(newest.figure).label("figure"),
                  col(newest.report_date).label("report_date"))
        .join(unit, col(unit.id) == col(Target.unit_id))
        .outerjoin(newest, col(newest.id) == _newest_report(on))
        .where(col(Target.task) == task, col(unit.path).startswith(bindparam("path")),
               col(unit.id) != bindparam("scope"), ~and_(has_sub_units, target_below))
        .subquery()
    )
    groups = (
        sa_select(leaves.c.sub_id, leaves.c.start, leaves.c.deadline,
                  func.sum(leaves.c.amount).label("amount"),
                  func.sum(func.coalesce(leaves.c.figure, 0)).label("done"),
                  func.count().label("units"), func.count(leaves.c.report_id).label("reported"),
                  func.max(leaves.c.report_date).label("reported_on"))
        .group_by(leaves.c.sub_id, leaves.c.start, leaves.c.deadline)
        .subquery()
    )
    return (
        sa_select(OrgUnit, groups.c.start, groups.c.deadline, groups.c.amount, groups.c.done,
                  groups.c.units, groups.c.reported, groups.c.reported_on)
        .join(groups, groups.c.sub_id == col(OrgUnit.id))
        .order_by(col(OrgUnit.id))
    )


def sub_unit_figures(
    session: Session, unit: OrgUnit, task_name: str, on: date
) -> list[tuple[OrgUnit, Figures]]:
    """Figures of each direct sub-unit that has a target for the task in its subtree,
    in the order the sub-units were created. Empty for a reporting unit itself."""
    q = _sub_units_query(session.get_bind().dialect.name)
    rows = session.execute(q, {"path": unit.path, "cut": len(unit.path), "scope": unit.id,
                               "task": task_name, "on": on}).all()
    out = []
    for _, group in itertools.groupby(rows, key=lambda r: r[0].id):  # rows in id order
        periods = list(group)
        fig = combine([Period(*r[1:]) for r in periods], on)
        if fig is not None:
            out.append((periods[0][0], fig))
    return out


def tasks_with_targets(session: Session, unit: OrgUnit, config: Config | None = None) -> list[str]:
    """Names of the tasks with a target on the unit or below it; in the config's order
    when given, else in the order first set."""
    q = (
        select(col(Target.task), func.min(Target.id))
        .where(in_subtree(Target.unit_id, unit))
        .group_by(col(Target.task))
        .order_by(func.min(Target.id))
    )
    names = [task for task, _ in session.exec(q).all()]
    if config is not None:
        order = {t.name: i for i, t in enumerate(config.tasks)}
        names.sort(key=lambda n: order.get(n, len(order)))
    return names


def has_any_target(session: Session, unit: OrgUnit) -> bool:
    q = (
        select(Target.id)
        .join(OrgUnit, col(OrgUnit.id) == col(Target.unit_id))
        .where(col(OrgUnit.path).startswith(unit.path))
        .limit(1)
    )
    return session.exec(q).first() is not None


def has_targets_below(session: Session, unit: OrgUnit, task: str) -> bool:
    """Whether a unit below this one has a target for the task (this one then rolls up)."""
    q = (
        select(Target.id)
        .join(OrgUnit, col(OrgUnit.id) == col(Target.unit_id))
        .where(Target.task == task, col(OrgUnit.path).startswith(unit.path),
               OrgUnit.id != unit.id)
        .limit(1)
    )
    return session.exec(q).first() is not None


def report_history(session: Session, unit: OrgUnit, task_name: str) -> list[tuple[date, int]]:
    """The unit's figure over time: (date, figure at the end of that day), oldest first,
    one entry per day with a report; rolled up above the reporting units (the sum of
    their newest figures on each day). Withdrawn reports are left out."""
    leaf_ids = {t.unit_id for t in reporting(targets_in(session, unit, task_name))}
    if not leaf_ids:
        return []
    rows = session.exec(
        select(col(Report.unit_id), col(Report.report_date), col(Report.figure))
        .where(in_subtree(Report.unit_id, unit), Report.task == task_name,
               col(Report.withdrawn_at).is_(None))
        .order_by(col(Report.id))
    ).all()
    current: dict[int, int] = {}
    history: dict[date, int] = {}
    for unit_id, day, figure in rows:
        if unit_id in leaf_ids:
            current[unit_id] = figure
            history[day] = sum(current.values())
    return sorted(history.items())
