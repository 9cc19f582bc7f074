"""A group's own reminders, set by its cadres: weekly meetings (#例会) and one-off
reminders (#提醒); listing (#提醒列表) and cancelling (#取消提醒) them.

Each reminder is a job (`bot/jobs.py`): the database is the schedule. A meeting's
payload holds its weekday, time, lead and holiday rule; its next time is the next
reminder time (the meeting time minus the lead). Each reminder has a number in its
group, never reused. Quiet hours do not apply: a cadre chose the time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlmodel import Session, col, select

from bot.calendar import next_weekly, statutory_holiday
from bot.config import Config, parse_hhmm
from bot.jobs import cancel, schedule
from bot.models.core import Room
from bot.models.jobs import Job, JobRun
from bot.reminders.assessment import ASSESSED_LEVELS, AssessmentInfo, assessment_info

# Job kinds (run by `bot/schedules/reminders.py`).
MEETING, ONEOFF = "meeting", "oneoff"
# A meeting is reminded this long before it unless the cadre says otherwise.
DEFAULT_LEAD_MINUTES = 60
MAX_LEAD_MINUTES = 7 * 24 * 60
# One-off reminders are set at most this far ahead.
MAX_AHEAD = timedelta(days=366)


class ReminderError(Exception):
    """A reminder command that cannot be done; the handler words it."""


# -- weekly meetings ---------------------------------------------------------------


@dataclass(frozen=True)
class MeetingSpec:
    title: str
    weekday: int  # 0 = Monday
    at: time
    lead_minutes: int = DEFAULT_LEAD_MINUTES
    skip_holidays: bool = True

    @property
    def lead(self) -> timedelta:
        return timedelta(minutes=self.lead_minutes)

    def payload(self) -> dict[str, object]:
        return {
            "title": self.title,
            "weekday": self.weekday,
            "at": f"{self.at:%H:%M}",
            "lead": self.lead_minutes,
            "skip_holidays": self.skip_holidays,
        }

    @classmethod
    def from_job(cls, job: Job) -> MeetingSpec:
        p = json.loads(job.payload or "{}")
        return cls(p["title"], int(p["weekday"]), parse_hhmm(p["at"]), int(p["lead"]),
                   bool(p.get("skip_holidays", True)))

    def skips(self, config: Config) -> bool:
        """Whether meetings on statutory holidays are left out."""
        return self.skip_holidays and config.schedules.holidays


def next_meeting(spec: MeetingSpec, after: datetime, config: Config) -> datetime:
    """The first meeting strictly after `after`; with the holiday rule, meetings that
    fall on a statutory holiday are left out (not moved: the group decides that)."""
    zone = config.zone
    when = next_weekly(after, spec.weekday, spec.at, zone)
    for _ in range(60):
        if not (spec.skips(config) and statutory_holiday(when.astimezone(zone).date())):
            return when
        when = next_weekly(when, spec.weekday, spec.at, zone)
    return when


def next_meeting_reminder(spec: MeetingSpec, after: datetime, config: Config) -> datetime:
    """The first reminder strictly after `after`: a meeting's time minus the lead."""
    return next_meeting(spec, after + spec.lead, config) - spec.lead


def meeting_next_after(job: Job, after: datetime, config: Config) -> datetime:
    return next_meeting_reminder(MeetingSpec.from_job(job), after, config)


# -- a group's reminders -----------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """One of a group's reminders, as listed and described."""

    job_id: int
    no: int
    kind: str  # MEETING or ONEOFF
    next_at: datetime
    title: str
    spec: MeetingSpec | None  # a meeting's rule


def _reminder(job: Job) -> Reminder:
    assert job.id is not None
    spec = MeetingSpec.from_job(job) if job.kind == MEETING else None
    title = spec.title if spec else str(_loads(job.payload).get("title", ""))
    return Reminder(job.id, number(job), job.kind, job.next_at, title, spec)


def _room_jobs(session: Session, room_id: str) -> Sequence[Job]:
    """Every meeting and one-off reminder the group has had (a handful)."""
    return session.exec(
        select(Job).where(Job.room_id == room_id, col(Job.kind).in_((MEETING, ONEOFF)))
    ).all()


def number(job: Job) -> int:
    """The reminder's number in its group (#取消提醒 3), shown in #提醒列表."""
    return int(_loads(job.payload).get("no", 0))  # type: ignore[call-overload]


def next_number(session: Session, room_id: str) -> int:
    """The group's next reminder number; never reused. The group's row is locked so
    that two cadres setting reminders at once get different numbers."""
    session.exec(select(Room.id).where(Room.id == room_id).with_for_update()).first()
    return max((number(j) for j in _room_jobs(session, room_id)), default=0) + 1


@dataclass(frozen=True)
class MeetingSet:
    reminder: Reminder
    created: bool  # False: an existing meeting at that weekday and time was changed


def set_meeting(session: Session, room_id: str, unit_id: int | None, spec: MeetingSpec,
                config: Config, now: datetime, by: str) -> MeetingSet:
    """Create this group's weekly meeting reminder, or update the one at the same
    weekday and time (created: new, or re-enabled after a cancel)."""
    key = f"meeting:{room_id}:{spec.weekday}:{spec.at:%H%M}"
    existing = session.exec(select(Job).where(Job.key == key)).first()
    created = existing is None or not existing.active
    no = number(existing) if existing is not None else next_number(session, room_id)
    first = next_meeting_reminder(spec, now, config)
    job = schedule(session, key, MEETING, first, now, room_id=room_id, unit_id=unit_id,
                   payload={**spec.payload(), "no": no}, created_by=by)
    if created:
        # Re-enabled after a cancel: it is now this cadre's reminder.
        job.created_by, job.created_at = by, now
    return MeetingSet(_reminder(job), created)


def set_oneoff(session: Session, key: str, room_id: str, unit_id: int | None, title: str,
               at: datetime, now: datetime, by: str) -> Job:
    """The one-off reminder job, numbered in its group (no checks: see `add_reminder`)."""
    payload = {"title": title, "no": next_number(session, room_id)}
    return schedule(session, key, ONEOFF, at, now, room_id=room_id, unit_id=unit_id,
                    payload=payload, created_by=by)


class InThePast(ReminderError):
    pass


class TooFarAhead(ReminderError):
    pass


def add_reminder(session: Session, key: str, room_id: str, unit_id: int | None, title: str,
                 at: datetime, now: datetime, by: str) -> Reminder:
    """#提醒: a one-off reminder at `at`. Raises `InThePast` or `TooFarAhead`."""
    if at <= now:
        raise InThePast()
    if at - now > MAX_AHEAD:
        raise TooFarAhead()
    return _reminder(set_oneoff(session, key, room_id, unit_id, title, at, now, by))


@dataclass(frozen=True)
class ReminderList:
    reminders: tuple[Reminder, ...]  # meetings by weekday and time, then one-offs by time
    assessment: AssessmentInfo | None  # the built-in reminder, for assessed units' groups


def list_reminders(session: Session, room_id: str, unit_level: str) -> ReminderList:
    """#提醒列表: the group's active reminders, and the built-in assessment reminder
    when the group's unit is assessed."""
    jobs = [j for j in _room_jobs(session, room_id) if j.active]
    meetings = sorted((_reminder(j) for j in jobs if j.kind == MEETING),
                      key=lambda r: (r.spec.weekday, r.spec.at) if r.spec else (0, time()))
    oneoffs = sorted((j for j in jobs if j.kind == ONEOFF), key=lambda j: (j.next_at, j.id or 0))
    system = assessment_info(session) if unit_level in ASSESSED_LEVELS else None
    return ReminderList((*meetings, *(_reminder(j) for j in oneoffs)), system)


class NoSuchReminder(ReminderError):
    def __init__(self, no: int) -> None:
        super().__init__(no)
        self.no = no


class AlreadyCancelled(NoSuchReminder):
    pass


class AlreadyReminded(NoSuchReminder):
    pass


class MissedWhileDown(NoSuchReminder):
    """Its time passed while the bot was down: it was never sent."""


def cancel_reminders(session: Session, room_id: str, nos: Sequence[int]) -> list[Reminder]:
    """#取消提醒: switch off the group's reminders with these numbers, as they were.
    Raises `NoSuchReminder`, `AlreadyCancelled`, `AlreadyReminded` or `MissedWhileDown`
    (the caller's savepoint undoes the ones before)."""
    jobs = _room_jobs(session, room_id)
    done = []
    for no in nos:
        job = next((j for j in jobs if number(j) == no), None)
        if job is None:
            raise NoSuchReminder(no)
        if not job.active:
            ran = session.exec(select(JobRun.outcome).where(JobRun.job_id == job.id)).first()
            if ran is None or job.kind == MEETING:
                raise AlreadyCancelled(no)
            if ran == "skipped":
                raise MissedWhileDown(no)
            raise AlreadyReminded(no)
        done.append(_reminder(job))
        cancel(session, job.key)
    return done


def _loads(text: str) -> dict[str, object]:
    return json.loads(text or "{}")  # type: ignore[no-any-return]
