"""Job kinds of the progress area: the weekly report chase and the deadline reminders.

Both are built-in singletons seeded by `seed()`:
- `progress_chase` runs at `schedules.report_due` (周五 17:00; with `holidays`, a
  holiday moves it to the working day before in the same week): each reporting unit
  that has not reported this week is reminded in its own groups, and the groups of the
  root (HQ) get the list.
- `progress_deadline` runs every day at `schedules.deadline_reminder_time` and reminds
  the groups of each unit whose target's deadline is `deadline_reminder_days` (7, 3, 1)
  days away, with the unit's progress: one message per group however many tasks are
  due, targets already met left out. One run a day (the engine runs each occurrence
  once), so each (target, days-before) reminder is sent once.
Both @ the unit's own cadres in its groups (a muted group notifies only on an @).
Each job also notes in its payload the week (chase) or day (reminders) it has handled,
so that moving its time in the config after it ran does not run it again that week/day.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from bot.calendar import at_local, next_weekly, week_start
from bot.config import Config, parse_hhmm, parse_weekly
from bot.jobs import JobCtx, JobKind, seed_builtin
from bot.models.core import OrgUnit, Room
from bot.models.jobs import Job
from bot.org import cadre_ids, rooms_of
from bot.progress import deadlines_due, unreported
from bot.progress import wording as W
from bot.progress.targets import by_unit

log = logging.getLogger(__name__)

CHASE_KEY = "builtin:progress_chase"
DEADLINE_KEY = "builtin:progress_deadline"


# -- the weekly chase ----------------------------------------------------------------


def _chase_next(job: Job | None, after: datetime, config: Config) -> datetime:
    weekday, at = parse_weekly(config.schedules.report_due)
    return next_weekly(after, weekday, at, config.zone, workdays=config.schedules.holidays,
                       shift="earlier")


def _first_time(ctx: JobCtx, period: date) -> bool:
    """Whether the job has not yet handled `period` (a week or a day); notes it."""
    done = period.isoformat()
    if ctx.payload.get("done") == done:
        log.warning("%s: %s handled already (its time was moved); not run again",
                    ctx.job.kind, done)
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
        result = unreported(s, ctx.config, root, ctx.now, ctx.zone)
        if not result.has_targets:
            continue  # nothing to report on yet: no chase, no empty list for HQ
        for item in result.items:
            text = W.chase_text(item)
            cadres = cadre_ids(s, item.unit)
            for room in rooms_of(s, [item.unit]):
                ctx.send(room.id, text, mentions=_mentions(room, cadres))
        hq_rooms = rooms_of(s, [root])
        if not hq_rooms:
            continue
        summary = "【未报进度】" + W.unreported_text(result)
        for room in hq_rooms:
            ctx.send(room.id, summary)


def _mentions(room: Room, cadres: list[str]) -> list[str]:
    """A send-only group (a WeCom robot webhook) knows WeChat contact ids of no one."""
    return [] if room.send_only else cadres


# -- deadline reminders --------------------------------------------------------------


def _daily_next(job: Job | None, after: datetime, config: Config) -> datetime:
    at = parse_hhmm(config.schedules.deadline_reminder_time)
    local = after.astimezone(config.zone)
    when = at_local(local.date(), at, config.zone)
    return when if when > after else at_local(local.date() + timedelta(days=1), at, config.zone)


def run_deadlines(ctx: JobCtx) -> None:
    s = ctx.session
    today = ctx.due_at.astimezone(ctx.zone).date()
    if not _first_time(ctx, today):
        return
    dues = deadlines_due(s, ctx.config, today, ctx.config.schedules.deadline_reminder_days)
    for batch in by_unit(dues):
        text = W.deadlines_text(batch)
        cadres = cadre_ids(s, batch[0].unit)
        for room in rooms_of(s, [batch[0].unit]):
            ctx.send(room.id, text, mentions=_mentions(room, cadres))


KINDS = (
    JobKind("progress_chase", run_chase, _chase_next),
    JobKind("progress_deadline", run_deadlines, _daily_next),
)


def seed(session: Session, config: Config, now: datetime) -> None:
    """The two built-in jobs, created once. An existing job keeps its next run unless
    the config's timing for it changed."""
    seed_builtin(session, CHASE_KEY, "progress_chase",
                 f"{config.schedules.report_due}|{config.schedules.holidays}",
                 lambda job: _chase_next(job, now, config), now)
    seed_builtin(session, DEADLINE_KEY, "progress_deadline",
                 config.schedules.deadline_reminder_time,
                 lambda job: _daily_next(job, now, config), now)
