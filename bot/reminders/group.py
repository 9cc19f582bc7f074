"""A group's own reminders, set by its cadres: meetings (#例会, weekly or by a
`Recurrence` such as 每月1日), one-off and repeating reminders (#提醒), and the
scheduled notices written in the group (#通知 … 定时, see `bot/notices/sending.py`);
listing (#提醒列表) and cancelling (#取消提醒) them.

Each reminder is a job (`bot/jobs`): the database is the schedule. A meeting's
payload holds its weekday (or rule), time, lead and holiday rule; its next time is the
next reminder time (the meeting time minus the lead). A repeating reminder's payload
holds its `Recurrence`, whose `next_after` is the job's next time: the engine gives it
the same once-only and missed-run rules (补发 within the grace) as the built-in jobs. Each reminder has a number in its
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
from bot.timephrase import Recurrence

# Job kinds (run by `bot/schedules/reminders.py`; NOTICE by `bot/schedules/notices.py`).
MEETING, ONEOFF, REPEAT, NOTICE = "meeting", "oneoff", "repeat", "notice_at"
KINDS = (MEETING, ONEOFF, REPEAT, NOTICE)
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
    weekday: int  # 0 = Monday; -1 when `rule` gives the days
    at: time
    lead_minutes: int = DEFAULT_LEAD_MINUTES
    skip_holidays: bool = True
    rule: Recurrence | None = None  # 每月1日, 每月最后一个工作日, 每天… (its `at` is `at`)

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
            **({"rule": self.rule.to_payload()} if self.rule is not None else {}),
        }

    @classmethod
    def from_job(cls, job: Job) -> MeetingSpec:
        p = json.loads(job.payload or "{}")
        rule = Recurrence.from_payload(p["rule"]) if "rule" in p else None
        return cls(p["title"], int(p["weekday"]), parse_hhmm(p["at"]), int(p["lead"]),
                   bool(p.get("skip_holidays", True)), rule)

    def key(self, room_id: str) -> str:
        """One meeting per group, day rule and time: the same again is a change."""
        if self.rule is None:
            return f"meeting:{room_id}:{self.weekday}:{self.at:%H%M}"
        r = self.rule
        days = r.day if r.kind == "monthly" else ",".join(map(str, r.weekdays))
        return f"meeting:{room_id}:{r.kind}{days}:{self.at:%H%M}"

    def sort_key(self) -> tuple[int, int, time]:
        if self.rule is None:
            return (0, self.weekday, self.at)
        return (1, self.rule.day, self.at)

    def skips(self, config: Config) -> bool:
        """Whether meetings on statutory holidays are left out."""
        return self.skip_holidays and config.schedules.holidays


def next_meeting(spec: MeetingSpec, after: datetime, config: Config) -> datetime:
    """The first meeting strictly after `after`; with the holiday rule, meetings that
    fall on a statutory holiday are left out (not moved: the group decides that)."""
    zone = config.zone
    rule = spec.rule
    if rule is not None and rule.zone != zone:
        rule = Recurrence(rule.kind, rule.at, zone, rule.weekdays, rule.day)

    def step(t: datetime) -> datetime:
        if rule is not None:
            return rule.next_after(t)
        return next_weekly(t, spec.weekday, spec.at, zone)

    when = step(after)
    for _ in range(400):
        if not (spec.skips(config) and statutory_holiday(when.astimezone(zone).date())):
            return when
        when = step(when)
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
    kind: str  # MEETING, ONEOFF, REPEAT or NOTICE
    next_at: datetime
    title: str
    spec: MeetingSpec | None  # a meeting's rule
    rule: Recurrence | None = None  # a repeating reminder's rule


def repeat_rule(job: Job) -> Recurrence:
    return Recurrence.from_payload(_loads(job.payload)["rule"])  # type: ignore[arg-type]


def repeat_next_after(job: Job, after: datetime, config: Config) -> datetime:
    return repeat_rule(job).next_after(after)


def _reminder(job: Job) -> Reminder:
    assert job.id is not None
    spec = MeetingSpec.from_job(job) if job.kind == MEETING else None
    rule = repeat_rule(job) if job.kind == REPEAT else None
    title = spec.title if spec else str(_loads(job.payload).get("title", ""))
    return Reminder(job.id, number(job), job.kind, job.next_at, title, spec, rule)


def _room_jobs(session: Session, room_id: str) -> Sequence[Job]:
    """Every reminder and scheduled notice the group has had (a handful)."""
    return session.exec(
        select(Job).where(Job.room_id == room_id, col(Job.kind).in_(KINDS))
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
    key = spec.key(room_id)
    existing = session.exec(select(Job).where(Job.key == key)).first()
    created = existing is None or not existing.active
    no = number(existing) if existing is not None else next_number(session, room_id)
    first = next_meeting_reminder(spec, now, config)
    # Re-enabled after a cancel: it is now this cadre's reminder.
    job = schedule(session, key, MEETING, first, now, room_id=room_id, unit_id=unit_id,
                   payload={**spec.payload(), "no": no}, created_by=by, reset_creator=created)
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


def add_repeating(session: Session, key: str, room_id: str, unit_id: int | None, title: str,
                  rule: Recurrence, now: datetime, by: str) -> Reminder:
    """#提醒 每天/每周五/每月1日 …: a reminder that runs at every time of `rule`."""
    payload = {"title": title, "no": next_number(session, room_id), "rule": rule.to_payload()}
    job = schedule(session, key, REPEAT, rule.next_after(now), now, room_id=room_id,
                   unit_id=unit_id, payload=payload, created_by=by)
    return _reminder(job)


@dataclass(frozen=True)
class ReminderList:
    # meetings by weekday and time, repeating reminders, then one-offs and notices by time
    reminders: tuple[Reminder, ...]
    assessment: AssessmentInfo | None  # the built-in reminder, for assessed units' groups


def list_reminders(session: Session, room_id: str, unit_level: str) -> ReminderList:
    """#提醒列表: the group's active reminders, and the built-in assessment reminder
    when the group's unit is assessed."""
    jobs = [j for j in _room_jobs(session, room_id) if j.active]
    meetings = sorted((_reminder(j) for j in jobs if j.kind == MEETING),
                      key=lambda r: r.spec.sort_key() if r.spec else (0, 0, time()))
    repeats = sorted((j for j in jobs if j.kind == REPEAT), key=lambda j: (j.next_at, j.id or 0))
    oneoffs = sorted((j for j in jobs if j.kind in (ONEOFF, NOTICE)),
                     key=lambda j: (j.next_at, j.id or 0))
    system = assessment_info(session) if unit_level in ASSESSED_LEVELS else None
    return ReminderList((*meetings, *(_reminder(j) for j in (*repeats, *oneoffs))), system)


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
            if ran is None or job.kind in (MEETING, REPEAT):
                raise AlreadyCancelled(no)
            if ran == "skipped":
                raise MissedWhileDown(no)
            raise AlreadyReminded(no)
        done.append(_reminder(job))
        cancel(session, job.key)
    return done


def _loads(text: str) -> dict[str, object]:
    return json.loads(text or "{}")  # type: ignore[no-any-return]
