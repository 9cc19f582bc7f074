"""The job kinds of reminders (`bot/reminders/`): what a meeting, a one-off or
repeating reminder and the monthly assessment reminder send when due, and when they are
due next. A one-off runs once (the engine's default); a repeating one at each time of
its `Recurrence`. `seed` creates the built-in assessment job."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.config import Config
from bot.jobs import JobCtx, JobKind
from bot.reminders import (
    ASSESSMENT,
    MEETING,
    ONEOFF,
    REPEAT,
    MeetingSpec,
    assessment_next_after,
    assessment_rooms,
    meeting_next_after,
    repeat_next_after,
    seed_assessment,
)
from bot.reminders.wording import assessment_text, meeting_text, oneoff_text


def run_meeting(ctx: JobCtx) -> None:
    spec = MeetingSpec.from_job(ctx.job)
    meeting = ctx.local(ctx.due_at + spec.lead)
    assert ctx.job.room_id is not None
    ctx.send(ctx.job.room_id, meeting_text(spec, meeting, ctx.local(ctx.now)))


def run_oneoff(ctx: JobCtx) -> None:
    assert ctx.job.room_id is not None
    ctx.send(ctx.job.room_id, oneoff_text(ctx.payload["title"]))


def run_assessment(ctx: JobCtx) -> None:
    due = ctx.local()
    for room, unit in assessment_rooms(ctx.session):
        ctx.send(room.id, assessment_text(unit, due, ctx.config))


def seed(session: Session, config: Config, now: datetime) -> None:
    """The built-in assessment reminder; a run missed while down keeps its time."""
    seed_assessment(session, config, now)


KINDS = (
    JobKind(MEETING, run_meeting, meeting_next_after),
    JobKind(ONEOFF, run_oneoff),
    JobKind(REPEAT, run_oneoff, repeat_next_after),
    JobKind(ASSESSMENT, run_assessment, assessment_next_after),
)
