"""Tasks and targets: the tasks of the config, setting a unit's target, who may set it,
which deadlines are near.

Plain functions over a session; they never commit. Errors are `ProgressError` (the
message is the reply) or one of its typed subclasses (`bot.progress.errors`).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.config import Config, TaskConfig
from bot.models.core import OrgUnit
from bot.models.progress import Target
from bot.org import CADRE, HQ, Roles, people_with_role, roles_at
from bot.progress.errors import BadDate, ProgressError, UnknownTask
from bot.progress.figures import Figures
from bot.progress.rollup import has_targets_below, latest_report, unit_figures
from bot.progress.wording import day
from bot.text import numerals_to_digits, parse_date, simplify

# -- tasks -------------------------------------------------------------------------


def find_task(config: Config, word: str) -> TaskConfig | None:
    """The configured task called `word` by name or alias (Traditional or Simplified)."""
    w = simplify(word)
    for task in config.tasks:
        if w == simplify(task.name) or any(w == simplify(a) for a in task.aliases):
            return task
    return None


def task_named(config: Config, word: str) -> TaskConfig:
    """`find_task`, or UnknownTask."""
    task = find_task(config, word)
    if task is None:
        raise UnknownTask(word, tuple(t.name for t in config.tasks))
    return task


def task_names(config: Config) -> str:
    return "、".join(t.name for t in config.tasks)


def measure(config: Config, task_name: str) -> str:
    task = find_task(config, task_name)
    return task.unit if task else ""


# -- dates -------------------------------------------------------------------------

_MONTH_END = re.compile(r"^(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?:底|末)$")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_day(word: str, today: date) -> date | None:
    """A date as people write it: `bot.text.parse_date` ('6月30日', '2019-06-30'), and
    also '6月底', '月底', '年底'."""
    w = numerals_to_digits(simplify(word))
    if w in ("年底", "年末"):
        return date(today.year, 12, 31)
    if w in ("月底", "月末", "本月底", "本月末"):
        return _month_end(today.year, today.month)
    if w in ("下月底", "下个月底", "下月末", "下个月末"):
        return _month_end(today.year + (today.month == 12), today.month % 12 + 1)
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


# -- targets -----------------------------------------------------------------------


def get_target(session: Session, unit_id: int, task: str) -> Target | None:
    return session.exec(
        select(Target).where(Target.unit_id == unit_id, Target.task == task)
    ).first()


@dataclass(frozen=True)
class TargetChange:
    target: Target
    previous: tuple[int, date, date] | None  # amount, start, deadline before, if replaced


# How far from today a target's start or deadline may lie, in years.
TARGET_YEARS = 10


def set_target(
    session: Session, unit: OrgUnit, task: str, amount: int, start: date | None,
    deadline: date, by: str, now: datetime, zone: ZoneInfo,
) -> TargetChange:
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
    # A campaign target spans months or a few years: a date decades away is a typo
    # (and 9999-12-31 leaves no room for the day after, which reminders compute).
    for when, what in ((deadline, "截止日期"), (start, "开始日期")):
        if abs(when.year - today.year) > TARGET_YEARS:
            raise ProgressError(f"{what} {when.isoformat()} 离今天超过 {TARGET_YEARS} 年，请检查")
    if deadline <= start:
        raise ProgressError(f"截止日期（{day(deadline)}）要晚于开始日期（{day(start)}）")
    if existing is None:
        target = Target(unit_id=unit.id or 0, task=task, amount=amount, start=start,
                        deadline=deadline, set_by=by, set_at=now)
        session.add(target)
        session.flush()
        return TargetChange(target, None)
    previous = (existing.amount, existing.start, existing.deadline)
    existing.amount, existing.start, existing.deadline = amount, start, deadline
    existing.set_by, existing.set_at = by, now
    session.flush()
    return TargetChange(existing, previous)


@dataclass(frozen=True)
class TargetSet:
    """What #目标 did: the change, and where the unit stands on the task now."""

    unit: str  # the unit's name
    task: str
    measure: str
    change: TargetChange
    rolled_up: bool  # units below have targets: the unit's figures are their sum
    figures: Figures | None  # the unit's figures today, if it has reported


def set_unit_target(
    session: Session, config: Config, unit: OrgUnit, task_word: str, amount: int,
    start_word: str | None, deadline_word: str, by: str, now: datetime, zone: ZoneInfo,
) -> TargetSet:
    """#目标: the task and dates as typed, resolved against the config and the group's
    today. UnknownTask, BadDate, or ProgressError when the target cannot be set."""
    task = task_named(config, task_word).name
    today = now.astimezone(zone).date()
    deadline = parse_day(deadline_word, today)
    start = parse_day(start_word, today) if start_word is not None else None
    if deadline is None or (start_word is not None and start is None):
        raise BadDate(deadline_word)
    change = set_target(session, unit, task, amount, start, deadline, by, now, zone)
    rolled_up = has_targets_below(session, unit, task)
    figures = None
    if not rolled_up and latest_report(session, unit.id or 0, task) is not None:
        figures = unit_figures(session, unit, task, today)
    return TargetSet(unit.name, task, measure(config, task), change, rolled_up, figures)


# -- who sets targets ----------------------------------------------------------------


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


@dataclass(frozen=True)
class SetterDenied:
    """Why a person may not set this group's unit's target."""

    own_cadre: bool  # a cadre, but of the unit itself (or below), not above it
    parent: str | None  # the name of the unit above, if any


def setter_denied(
    session: Session, unit: OrgUnit | None, person_id: str, roles: Roles
) -> SetterDenied | None:
    """None when the person may set the unit's targets: HQ, or a cadre on a unit
    strictly above it."""
    if roles.has(HQ) or unit is None:
        return None
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    if parent is not None and roles_at(session, person_id, parent, ()).has(CADRE):
        return None
    return SetterDenied(roles.has(CADRE), parent.name if parent is not None else None)


# -- deadlines -----------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineDue:
    """A target whose deadline is `days` away, with its unit's figures today."""

    unit: OrgUnit
    task: str
    measure: str
    days: int
    deadline: date
    figures: Figures | None


def deadlines_due(
    session: Session, config: Config, today: date, days_before: Iterable[int]
) -> list[DeadlineDue]:
    """The targets due `days_before` days after `today` (farthest first, then in the
    order set). A target already met is left out: there is nothing to remind of."""
    out = []
    for days in sorted(set(days_before), reverse=True):
        deadline = today + timedelta(days=days)
        targets = session.exec(
            select(Target).where(Target.deadline == deadline).order_by(col(Target.id))
        ).all()
        for t in targets:
            unit = session.get(OrgUnit, t.unit_id)
            if unit is None:
                continue
            fig = unit_figures(session, unit, t.task, today)
            if fig is not None and fig.done >= fig.target:
                continue
            out.append(DeadlineDue(unit, t.task, measure(config, t.task), days, deadline, fig))
    return out


def by_unit(dues: Iterable[DeadlineDue]) -> list[list[DeadlineDue]]:
    """The reminders grouped by unit (a unit's groups get them as one message), the
    units in the order of their first reminder."""
    groups: dict[int | None, list[DeadlineDue]] = {}
    for d in dues:
        groups.setdefault(d.unit.id, []).append(d)
    return list(groups.values())
