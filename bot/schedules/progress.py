"""Job kinds of the progress area: the weekly report chase and the deadline reminders.

Both are built-in singletons seeded by `seed()`:
- `progress_chase` runs at `schedules.report_due` (周五 17:00; with `holidays`, a
  holiday moves it to the working day before in the same week): each reporting unit
  that has not reported this week is reminded in its own groups, and the groups of the
  root (HQ) get the list.
- `progress_deadline` runs every day at `schedules.deadline_reminder_time` and reminds
  the groups of each unit whose target's deadline is `deadline_reminder_days` (7, 3, 1)
  days away, with the unit's progress. One run a day (the engine runs each occurrence
  once), so each (target, days-before) reminder is sent once.
Each job also notes in its payload the week (chase) or day (reminders) it has handled,
so that moving its time in the config after it ran does not run it again that week/day.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from bot.calendar import at_local, next_weekly, week_start
from bot.config import Config, parse_hhmm, parse_weekly
from bot.jobs import JobCtx, JobKind, upsert_job
from bot.models.core import OrgUnit
from bot.models.jobs import Job
from bot.models.progress import Target
from bot.org import rooms_of
from bot.progress import (
    day,
    describe,
    has_any_target,
    measure,
    unit_figures,
    unreported_text,
    unreported_units,
)

log = logging.getLogger(__name__)

CHASE_KEY = "builtin:progress_chase"
DEADLINE_KEY = "builtin:progress_deadline"


# -- the weekly chase ----------------------------------------------------------------


def _chase_next(job: Job, after: datetime, config: Config) -> datetime:
    weekday, at = parse_weekly(config.schedules.report_due)
    return next_weekly(after, weekday, at, config.zone, workdays=config.schedules.holidays,
                       shift="earlier")  # fmt: skip


def _first_time(ctx: JobCtx, period: date) -> bool:
    """Whether the job has not yet handled `period` (a week or a day); notes it."""
    done = period.isoformat()
    if ctx.payload.get("done") == done:
        log.warning("%s: %s handled already (its time was moved); not run again",
                    ctx.job.kind, done)  # fmt: skip
        return False
    ctx.set_payload({**ctx.payload, "done": done})
    return True


def run_chase(ctx: JobCtx) -> None:
    if not _first_time(ctx, week_start(ctx.due_at, ctx.zone).date()):
        return
    s = ctx.session
    roots = s.exec(
        select(OrgUnit).where(col(OrgUnit.parent_id).is_(None)).order_by(col(OrgUnit.id))
    ).all()
    for root in roots:
        if not has_any_target(s, root):
            continue  # nothing to report on yet: no chase, no empty list for HQ
        items = unreported_units(s, root, ctx.now, ctx.zone)
        for item in items:
            tasks = "、".join(item.tasks)
            text = (f"【进度提醒】{item.unit.name}本周还没有报送 {tasks} 的进度，"
                    f"请干部发送“#进度 {item.tasks[0]} 累计完成数”")  # fmt: skip
            for room in rooms_of(s, [item.unit]):
                ctx.send(room.id, text)
        hq_rooms = rooms_of(s, [root])
        if not hq_rooms:
            continue
        summary = "【未报进度】" + unreported_text(s, root, items, ctx.now, ctx.zone)
        for room in hq_rooms:
            ctx.send(room.id, summary)


# -- deadline reminders --------------------------------------------------------------


def _daily_next(job: Job, after: datetime, config: Config) -> datetime:
    at = parse_hhmm(config.schedules.deadline_reminder_time)
    local = after.astimezone(config.zone)
    when = at_local(local.date(), at, config.zone)
    return when if when > after else at_local(local.date() + timedelta(days=1), at, config.zone)


def deadline_text(config: Config, unit: OrgUnit, task: str, days: int, deadline: date,
                  session: Session, today: date) -> str:  # fmt: skip
    m = measure(config, task)
    head = f"【截止提醒】{unit.name} {task} 还有 {days} 天截止（{day(deadline)}）"
    fig = unit_figures(session, unit, task, today)
    if fig is None:
        return head
    if fig.done >= fig.target:
        return f"{head}：已完成 {fig.done}/{fig.target} {m}，完成目标"
    return f"{head}：目前 {describe('', m, fig)}，还差 {fig.target - fig.done} {m}"


def run_deadlines(ctx: JobCtx) -> None:
    s = ctx.session
    today = ctx.due_at.astimezone(ctx.zone).date()
    if not _first_time(ctx, today):
        return
    for days in sorted(set(ctx.config.schedules.deadline_reminder_days), reverse=True):
        deadline = today + timedelta(days=days)
        targets = s.exec(
            select(Target).where(Target.deadline == deadline).order_by(col(Target.id))
        ).all()
        for t in targets:
            unit = s.get(OrgUnit, t.unit_id)
            if unit is None:
                continue
            text = deadline_text(ctx.config, unit, t.task, days, deadline, s, today)
            for room in rooms_of(s, [unit]):
                ctx.send(room.id, text)


KINDS = (
    JobKind("progress_chase", run_chase, _chase_next),
    JobKind("progress_deadline", run_deadlines, _daily_next),
)


def seed(session: Session, config: Config, now: datetime) -> None:
    """The two built-in jobs, created once. An existing job keeps its next run unless
    the config's timing for it changed."""
    specs = (
        (CHASE_KEY, "progress_chase", f"{config.schedules.report_due}|{config.schedules.holidays}",
         _chase_next),
        (DEADLINE_KEY, "progress_deadline", config.schedules.deadline_reminder_time, _daily_next),
    )  # fmt: skip
    for key, kind, spec, nxt in specs:
        job = session.exec(select(Job).where(Job.key == key)).first()
        old = json.loads(job.payload or "{}") if job is not None else {}
        if job is not None and job.active and old.get("spec") == spec:
            continue
        upsert_job(session, key, kind, nxt(job, now, config), now,  # type: ignore[arg-type]
                   payload={**old, "spec": spec})  # fmt: skip
