"""Reminders: weekly meetings and one-off reminders set by cadres in a group (`#例会`,
`#提醒`), and the built-in monthly assessment reminder (一月一考核).

Each reminder is a `Job` row: the database is the schedule. A meeting's payload holds
its weekday, time, lead and holiday rule; its `next_at` is the next reminder time (the
meeting time minus the lead). Quiet hours do not apply: a cadre chose the time.
"""

from __future__ import annotations

import calendar as _calendar
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.calendar import next_monthly, next_weekly
from bot.config import Config, parse_hhmm
from bot.jobs import ON_TIME, JobCtx, JobKind, upsert_job
from bot.models.core import OrgUnit, Room
from bot.models.jobs import Job

log = logging.getLogger(__name__)

MEETING, ONEOFF, ASSESSMENT = "meeting", "oneoff", "assessment"
ASSESSMENT_KEY = "builtin:assessment"
WEEKDAY_NAMES = "一二三四五六日"
# A meeting is reminded this long before it unless the cadre says otherwise.
DEFAULT_LEAD_MINUTES = 60
MAX_LEAD_MINUTES = 7 * 24 * 60


# -- holidays ----------------------------------------------------------------------


def statutory_holiday(day: date) -> bool:
    """A day of a statutory holiday period (端午, 国庆 …, weekends inside them included);
    ordinary weekends are not. Outside the calendar package's years: none."""
    import chinese_calendar

    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(on_holiday and name)


# -- formatting --------------------------------------------------------------------


def fmt_day(when: datetime, today: date | None = None) -> str:
    """'6月10日（周一）', with the year when it is not `today`'s."""
    year = f"{when.year}年" if today is not None and when.year != today.year else ""
    return f"{year}{when.month}月{when.day}日（周{WEEKDAY_NAMES[when.weekday()]}）"


def fmt_when(when: datetime, today: date | None = None) -> str:
    return f"{fmt_day(when, today)}{when:%H:%M}"


def fmt_lead(minutes: int) -> str:
    if minutes == 0:
        return "准时提醒"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days}天" if days else "",
        f"{hours}小时" if hours else "",
        f"{mins}分钟" if mins else "",
    ]
    return "提前" + "".join(parts)


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
        return {"title": self.title, "weekday": self.weekday, "at": f"{self.at:%H:%M}",
                "lead": self.lead_minutes, "skip_holidays": self.skip_holidays}  # fmt: skip

    @classmethod
    def from_job(cls, job: Job) -> MeetingSpec:
        p = json.loads(job.payload or "{}")
        return cls(p["title"], int(p["weekday"]), parse_hhmm(p["at"]), int(p["lead"]),
                   bool(p.get("skip_holidays", True)))  # fmt: skip

    def describe(self, config: Config) -> str:
        """'每周一 09:00 指挥部例会（提前1小时提醒，节假日暂停）'"""
        lead = fmt_lead(self.lead_minutes)
        lead = lead if self.lead_minutes == 0 else lead + "提醒"
        holidays = "节假日暂停" if self.skips(config) else "节假日照常"
        return (
            f"每周{WEEKDAY_NAMES[self.weekday]} {self.at:%H:%M} {self.title}（{lead}，{holidays}）"
        )

    def skips(self, config: Config) -> bool:
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


def meeting_next_after(job: Job, after: datetime, config: Config) -> datetime:
    spec = MeetingSpec.from_job(job)
    # The reminder time is the meeting time minus the lead.
    return next_meeting(spec, after + spec.lead, config) - spec.lead


def meeting_text(spec: MeetingSpec, meeting: datetime, now: datetime) -> str:
    today = now.date()
    if meeting.date() == today:
        when = f"今天 {meeting:%H:%M}"
    elif meeting.date() == today + timedelta(days=1):
        when = f"明天（{meeting.month}月{meeting.day}日 周{WEEKDAY_NAMES[meeting.weekday()]}）{meeting:%H:%M}"
    else:
        when = fmt_when(meeting)
    if now - meeting > ON_TIME:  # a 补发 after the meeting began
        return f"【例会提醒】{spec.title} 已于{when}开始。"
    if spec.lead_minutes == 0:
        return f"【例会提醒】{spec.title} 现在开始（{when}）。"
    return f"【例会提醒】{when} {spec.title}，请准时参加。"


def run_meeting(ctx: JobCtx) -> None:
    spec = MeetingSpec.from_job(ctx.job)
    meeting = ctx.local(ctx.due_at + spec.lead)
    assert ctx.job.room_id is not None
    ctx.send(ctx.job.room_id, meeting_text(spec, meeting, ctx.local(ctx.now)))


def set_meeting(session: Session, room_id: str, unit_id: int | None, spec: MeetingSpec,
                config: Config, now: datetime, by: str) -> tuple[Job, bool]:  # fmt: skip
    """Create this group's weekly meeting reminder, or update the one at the same
    weekday and time (True: created, or re-enabled after a cancel)."""
    key = f"meeting:{room_id}:{spec.weekday}:{spec.at:%H%M}"
    existing = session.exec(select(Job).where(Job.key == key)).first()
    created = existing is None or not existing.active
    no = number(existing) if existing is not None else next_number(session, room_id)
    payload = {**spec.payload(), "no": no}
    probe = Job(key=key, kind=MEETING, next_at=now, created_at=now, payload=_json(payload))
    first = meeting_next_after(probe, now, config)
    job = upsert_job(session, key, MEETING, first, now, room_id=room_id, unit_id=unit_id,
                     payload=payload, created_by=by)  # fmt: skip
    if created:
        job.created_by, job.created_at = by, now
    return job, created


# -- one-off reminders -------------------------------------------------------------


def oneoff_next_after(job: Job, after: datetime, config: Config) -> datetime | None:
    return None


def run_oneoff(ctx: JobCtx) -> None:
    assert ctx.job.room_id is not None
    ctx.send(ctx.job.room_id, f"【提醒】{ctx.payload['title']}")


def set_oneoff(session: Session, key: str, room_id: str, unit_id: int | None, title: str,
               at: datetime, now: datetime, by: str) -> Job:  # fmt: skip
    payload = {"title": title, "no": next_number(session, room_id)}
    return upsert_job(session, key, ONEOFF, at, now, room_id=room_id, unit_id=unit_id,
                      payload=payload, created_by=by)  # fmt: skip


# -- a group's reminders -----------------------------------------------------------


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


def room_reminders(session: Session, room_id: str) -> list[Job]:
    """The group's active reminders: meetings by weekday and time, then one-offs by time."""
    jobs = [j for j in _room_jobs(session, room_id) if j.active]
    meetings = sorted((j for j in jobs if j.kind == MEETING),
                      key=lambda j: (MeetingSpec.from_job(j).weekday, MeetingSpec.from_job(j).at))  # fmt: skip
    oneoffs = sorted((j for j in jobs if j.kind == ONEOFF), key=lambda j: (j.next_at, j.id or 0))
    return [*meetings, *oneoffs]


def describe(job: Job, config: Config, now: datetime) -> str:
    zone = config.zone
    today = now.astimezone(zone).date()
    if job.kind == MEETING:
        spec = MeetingSpec.from_job(job)
        return f"{spec.describe(config)}，下次提醒 {fmt_when(job.next_at.astimezone(zone), today)}"
    title = _loads(job.payload).get("title", "")
    return f"{fmt_when(job.next_at.astimezone(zone), today)} {title}"


def find_room_reminder(session: Session, room_id: str, no: int) -> Job | None:
    """The group's reminder with this number (active or not)."""
    return next((j for j in _room_jobs(session, room_id) if number(j) == no), None)


# -- the monthly assessment reminder (一月一考核) ------------------------------------

ASSESSED_LEVELS = ("县", "乡", "村")


def assessment_next_after(job: Job, after: datetime, config: Config) -> datetime:
    s = config.schedules
    # On a weekend or holiday it comes on the working day before: ahead of the month's end.
    return next_monthly(after, s.assessment_day, parse_hhmm(s.assessment_time), config.zone,
                        workdays=s.holidays, shift="earlier")  # fmt: skip


def assessment_rooms(session: Session) -> Sequence[tuple[Room, OrgUnit]]:
    """Every bound county, township and village group: every unit is assessed, whether or
    not it has targets yet."""
    return session.exec(
        select(Room, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == col(Room.unit_id))
        .where(col(OrgUnit.level).in_(ASSESSED_LEVELS))
        .order_by(col(OrgUnit.path), col(Room.id))
    ).all()


def assessment_text(unit: OrgUnit, due: datetime, config: Config) -> str:
    last = _calendar.monthrange(due.year, due.month)[1]
    by = f"{due.month}月{last}日前"
    task = config.tasks[0].name if config.tasks else "危房改造"
    if unit.level == "村":
        ask = f"请在{by}报齐本村各项任务的进度（例：#进度 {task} 42）。"
    else:
        ask = f"请督促下属各单位在{by}报齐各项任务的进度。"
    return f"【月度考核提醒】{due.month}月考核按月底进度排名，{ask}"


def run_assessment(ctx: JobCtx) -> None:
    due = ctx.local()
    for room, unit in assessment_rooms(ctx.session):
        ctx.send(room.id, assessment_text(unit, due, ctx.config))


def seed(session: Session, config: Config, now: datetime) -> None:
    """The built-in assessment reminder; a run missed while down keeps its time."""
    probe = Job(key=ASSESSMENT_KEY, kind=ASSESSMENT, next_at=now, created_at=now)
    upsert_job(session, ASSESSMENT_KEY, ASSESSMENT, assessment_next_after(probe, now, config),
               now, keep_missed=True)  # fmt: skip


def assessment_description(session: Session, config: Config, now: datetime,
                           zone: ZoneInfo) -> str | None:  # fmt: skip
    """'每月25日 09:00 月度考核提醒，下次 6月25日（周二）09:00', if it is active."""
    job = session.exec(select(Job).where(Job.key == ASSESSMENT_KEY)).first()
    if job is None or not job.active:
        return None
    s = config.schedules
    nxt = fmt_when(job.next_at.astimezone(zone), now.astimezone(zone).date())
    return f"每月{s.assessment_day}日 {s.assessment_time} 月度考核提醒，下次 {nxt}"


def _json(data: dict[str, object]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _loads(text: str) -> dict[str, object]:
    return json.loads(text or "{}")  # type: ignore[no-any-return]


KINDS = (
    JobKind(MEETING, run_meeting, meeting_next_after),
    JobKind(ONEOFF, run_oneoff, oneoff_next_after),
    JobKind(ASSESSMENT, run_assessment, assessment_next_after),
)
