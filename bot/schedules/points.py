"""Job kinds of the points area: the weekly 公示 in every village group, and the
expiry of awards nobody confirmed. The kinds call `bot.points` and post its words."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.calendar import next_weekly, week_start
from bot.config import Config, parse_weekly
from bot.jobs import JobCtx, JobKind, seed_builtin
from bot.models.jobs import Job
from bot.points import EXPIRY_KIND
from bot.points import wording as W
from bot.points.balance import publicity
from bot.points.ledger import expire_award

PUBLICITY_KIND = "points_publicity"
PUBLICITY_KEY = "builtin:points_publicity"


def _publicity_next(job: Job, after: datetime, config: Config) -> datetime | None:
    weekday, at = parse_weekly(config.schedules.publicity)
    return next_weekly(after, weekday, at, config.zone)


def run_publicity(ctx: JobCtx) -> None:
    """Post the week's ledger entries in each village's groups, so that every household
    sees them and can object. A village without entries this week gets nothing.

    The job remembers the last entry it published, so an entry written in the very
    second of a run (or during a run missed while the bot was down) is shown next time.
    """
    end = ctx.due_at
    start = (end.astimezone(ctx.zone) - timedelta(days=7)).astimezone(end.tzinfo)
    expiry = timedelta(hours=ctx.config.points.pending_expiry_hours)
    payload = ctx.payload
    last = payload.get("last_id")
    week = publicity(ctx.session, start, end, int(last) if last is not None else None)
    if week.last_id is not None:
        ctx.set_payload({**payload, "last_id": week.last_id})
    for v in week.villages:
        first = min(week_start(end - timedelta(seconds=1), ctx.zone), v.rows[0][0].created_at)
        for text in W.publicity_parts(v, first, end, ctx.now, ctx.zone, expiry):
            for room in v.rooms:
                ctx.send(room.id, text, kind="notice")


def run_expiry(ctx: JobCtx) -> None:
    """An award nobody confirmed in time: mark it expired and tell the village group."""
    expired = expire_award(ctx.session, int(ctx.payload.get("entry", 0)), ctx.now)
    if expired is None:
        return
    text = W.expiry_notice(expired, ctx.config.points.pending_expiry_hours)
    for room in expired.rooms:
        ctx.send(room.id, text)


KINDS = (
    JobKind(PUBLICITY_KIND, run_publicity, _publicity_next),
    JobKind(EXPIRY_KIND, run_expiry),  # runs once
)


def seed(session: Session, config: Config, now: datetime) -> None:
    """The weekly 公示 job, once. Its time moves only when the configured time changes;
    what it remembers (`last_id`) stays."""
    weekday, at = parse_weekly(config.schedules.publicity)
    seed_builtin(session, PUBLICITY_KEY, PUBLICITY_KIND, config.schedules.publicity,
                 lambda job: next_weekly(now, weekday, at, config.zone), now)
