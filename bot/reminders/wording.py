"""What reminders say: days and times, a meeting's rule, the reminders themselves, and
the replies to #例会, #提醒, #提醒列表 and #取消提醒; also a scheduled notice's
confirmation and what its group is told when it goes out (it is listed and cancelled
with the group's reminders). Pure functions of data."""

from __future__ import annotations

import calendar as _calendar
from datetime import date, datetime, timedelta

from bot.config import Config
from bot.jobs import ON_TIME
from bot.models.core import OrgUnit
from bot.reminders.group import (
    MEETING,
    NOTICE,
    AlreadyCancelled,
    AlreadyReminded,
    InThePast,
    MeetingSpec,
    MissedWhileDown,
    NoSuchReminder,
    Reminder,
    ReminderError,
    ReminderList,
)

WEEKDAY_NAMES = "一二三四五六日"


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


def meeting_rule(spec: MeetingSpec, config: Config) -> str:
    """'每周一 09:00 指挥部例会（提前1小时提醒，节假日暂停）', '每月1日 09:00 党员大会（…）'"""
    lead = fmt_lead(spec.lead_minutes)
    lead = lead if spec.lead_minutes == 0 else lead + "提醒"
    holidays = "节假日暂停" if spec.skips(config) else "节假日照常"
    if spec.rule is not None:
        when = spec.rule.describe()
    else:
        when = f"每周{WEEKDAY_NAMES[spec.weekday]} {spec.at:%H:%M}"
    return f"{when} {spec.title}（{lead}，{holidays}）"


def describe(r: Reminder, config: Config, now: datetime) -> str:
    """A reminder as #提醒列表 shows it."""
    zone = config.zone
    today = now.astimezone(zone).date()
    nxt = fmt_when(r.next_at.astimezone(zone), today)
    if r.spec is not None:
        return f"{meeting_rule(r.spec, config)}，下次提醒 {nxt}"
    if r.rule is not None:
        return f"{r.rule.describe()} {r.title}，下次提醒 {nxt}"
    if r.kind == NOTICE:
        return f"{nxt} 定时{r.title}"
    return f"{nxt} {r.title}"


# -- what is sent when due -----------------------------------------------------------


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


def oneoff_text(title: str) -> str:
    return f"【提醒】{title}"


def assessment_text(unit: OrgUnit, due: datetime, config: Config) -> str:
    last = _calendar.monthrange(due.year, due.month)[1]
    by = f"{due.month}月{last}日前"
    task = config.tasks[0].name if config.tasks else "危房改造"
    if unit.level == "村":
        ask = f"请在{by}报齐本村各项任务的进度（例：#进度 {task} 42）。"
    else:
        ask = f"请督促下属各单位在{by}报齐各项任务的进度。"
    return f"【月度考核提醒】{due.month}月考核按月底进度排名，{ask}"


# -- replies -----------------------------------------------------------------------


def meeting_set_reply(r: Reminder, created: bool, config: Config, now: datetime) -> str:
    assert r.spec is not None
    zone = config.zone
    nxt = fmt_when(r.next_at.astimezone(zone), now.astimezone(zone).date())
    verb = "已设置" if created else "已修改"
    return f"{verb}例会提醒 {r.no}：{meeting_rule(r.spec, config)}。下次提醒：{nxt}"


def list_text(rl: ReminderList, config: Config, now: datetime) -> str:
    lines = [f"{r.no}. {describe(r, config, now)}" for r in rl.reminders]
    if lines:
        out = ["本群的提醒：", *lines]
    else:
        out = ["本群还没有设置提醒。例：#例会 每周一 09:00 指挥部例会 提前1小时"]
    if rl.assessment is not None:
        zone = config.zone
        s = config.schedules
        nxt = fmt_when(rl.assessment.next_at.astimezone(zone), now.astimezone(zone).date())
        out.append(f"系统提醒：每月{s.assessment_day}日 {s.assessment_time} 月度考核提醒，下次 {nxt}")
    if lines:
        out.append("取消请发：#取消提醒 编号")
    return "\n".join(out)


def cancelled_text(done: list[Reminder], config: Config, now: datetime) -> str:
    whats = [
        f"例会提醒 {r.no}：{meeting_rule(r.spec, config)}"
        if r.kind == MEETING and r.spec is not None
        else f"定时通知 {r.no}：{describe(r, config, now)}"
        if r.kind == NOTICE
        else f"提醒 {r.no}：{describe(r, config, now)}"
        for r in done
    ]
    return "已取消" + "\n已取消".join(whats)


def oneoff_set_reply(r: Reminder, shown: str) -> str:
    return f"已设置提醒 {r.no}：{shown} {r.title}"


def repeat_set_reply(r: Reminder, config: Config, now: datetime) -> str:
    """'已设置重复提醒 5：每天 18:00 打卡。下次提醒：6月3日（周一）18:00'"""
    assert r.rule is not None
    zone = config.zone
    nxt = fmt_when(r.next_at.astimezone(zone), now.astimezone(zone).date())
    return f"已设置重复提醒 {r.no}：{r.rule.describe()} {r.title}。下次提醒：{nxt}"


def oneoff_refusal(e: ReminderError, shown: str, dated: bool) -> str:
    """Why a one-off reminder was not set; `dated`: a day was written (else: today)."""
    if isinstance(e, InThePast):
        hint = "" if dated else "。要明天提醒请写“明天”"
        return f"{shown} 已经过去了，请写以后的时间{hint}"
    return "只能设置一年以内的提醒"


def cancel_refusal(e: NoSuchReminder) -> str:
    if isinstance(e, AlreadyCancelled):
        return f"提醒 {e.no} 已经取消了"
    if isinstance(e, MissedWhileDown):
        return f"提醒 {e.no} 的时间已过（当时机器人不在线，没有发出）"
    if isinstance(e, AlreadyReminded):
        return f"提醒 {e.no} 已经提醒过了"
    return f"本群没有编号为 {e.no} 的提醒。发送 #提醒列表 查看编号"


# -- scheduled notices (#通知 … 定时) -------------------------------------------------


def notice_scheduled_reply(no: int, at: datetime, scope: str, groups: int, today: date) -> str:
    return (
        f"已设置定时通知 {no}：{fmt_when(at, today)} 发往{scope} {groups} 个群。"
        f"查看发送 #提醒列表，取消发送 #取消提醒 {no}"
    )


def notice_sent_note(no: int, sent_reply: str) -> str:
    """To the author's group when the scheduled notice went out."""
    return f"定时通知 {no} 已发出：{sent_reply}"


def notice_failed_note(no: int, why: str) -> str:
    """To the author's group when the scheduled notice could not go out."""
    return f"定时通知 {no} 没有发出：{why}"
