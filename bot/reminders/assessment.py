"""The built-in monthly assessment reminder (一月一考核): every county, township and
village group is reminded on the configured day (a working day, moved earlier off a
weekend or holiday) to have its progress reported before the month's end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bot.calendar import next_monthly
from bot.config import Config, parse_hhmm
from bot.jobs import seed_builtin
from bot.models.core import OrgUnit, Room
from bot.models.jobs import Job

ASSESSMENT = "assessment"  # the job kind (run by `bot/schedules/reminders.py`)
ASSESSMENT_KEY = "builtin:assessment"
ASSESSED_LEVELS = ("县", "乡", "村")


def next_assessment(after: datetime, config: Config) -> datetime:
    s = config.schedules
    # On a weekend or holiday it comes on the working day before: ahead of the month's end.
    return next_monthly(after, s.assessment_day, parse_hhmm(s.assessment_time), config.zone,
                        workdays=s.holidays, shift="earlier")


def assessment_next_after(job: Job, after: datetime, config: Config) -> datetime:
    return next_assessment(after, config)


def seed_assessment(session: Session, config: Config, now: datetime) -> None:
    """The built-in job. A run missed while the bot was down keeps its time (the engine
    sends it late or skips it), also when the config's timing changed since."""
    s = config.schedules
    spec = f"{s.assessment_day}|{s.assessment_time}|{s.holidays}"

    def next_at(job: Job | None) -> datetime:
        if job is not None and job.active and job.next_at <= now:
            return job.next_at
        return next_assessment(now, config)

    seed_builtin(session, ASSESSMENT_KEY, ASSESSMENT, spec, next_at, now)


def assessment_rooms(session: Session) -> Sequence[tuple[Room, OrgUnit]]:
    """Every bound county, township and village group: every unit is assessed, whether or
    not it has targets yet."""
    return session.exec(
        select(Room, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == col(Room.unit_id))
        .where(col(OrgUnit.level).in_(ASSESSED_LEVELS))
        .order_by(col(OrgUnit.path), col(Room.id))
    ).all()


@dataclass(frozen=True)
class AssessmentInfo:
    next_at: datetime


def assessment_info(session: Session) -> AssessmentInfo | None:
    """The built-in reminder's next time, if it is active."""
    job = session.exec(select(Job).where(Job.key == ASSESSMENT_KEY)).first()
    if job is None or not job.active:
        return None
    return AssessmentInfo(job.next_at)
