"""Reminders in a group: #例会 (weekly), #提醒 (once), #提醒列表, #取消提醒.

The parts of a command may come in any order and with or without spaces
("#例会 每周一09:00 指挥部例会 提前1小时" = "#例会 指挥部例会 周一 9点 提前一小时").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot import reminders
from bot.config import WEEKDAYS
from bot.org import CADRE, HQ
from bot.reminders import DEFAULT_LEAD_MINUTES, MAX_LEAD_MINUTES, MeetingSpec
from bot.reminders import wording as W
from bot.router import Command, Ctx, Refusal, Usage
from bot.text import Args, parse_date, parse_int, parse_time, split_words

MAX_TITLE = 200
_WEEKDAY = re.compile(r"(下)?(?:每个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
# Numerals after 上午/下午 stay Chinese in normalised text ("下午三点"): accept both.
_N = r"(?:\d{1,2}|[零一二两三四五六七八九十]{1,3})"
_TIME = re.compile(rf"(?:上午|早上|下午|晚上|中午)?{_N}(?::\d{{1,2}}|[点时](?:{_N}分?|半)?)钟?")
_NUMERALS = re.compile(r"[零一二两三四五六七八九十]+")
_LEAD = re.compile(
    r"提前\s*(?P<n>\d+|[零一二两三四五六七八九十]+)?\s*个?\s*(?P<half>半)?\s*个?\s*"
    r"(?P<unit>小时|钟头|分钟|分|天|日)(?:提醒)?"
)
_MORE_DAYS = re.compile(
    r"[\s,，、和及与]*(?:每个?)?(?:周|星期|礼拜)?[一二三四五六日天1-7](?![\u4e00-\u9fff\d:点时])"
)
_NO_LEAD = re.compile(r"准时提醒|准时|不提前|不用提前")
_HOLIDAYS_ON = re.compile(r"节假日(?:也?照常|也开|也提醒|不停|不暂停|正常)")
_HOLIDAYS_OFF = re.compile(r"节假日(?:暂停|不开|停开|休息|不提醒)")
_DATE = re.compile(
    r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}[日号]?|\d{1,2}月\d{1,2}[日号]?|\d{1,2}/\d{1,2}(?!\d)"
    r"|今天|今日|明天|明日|后天"
)
_WHEN = (("day", _DATE), ("weekday", _WEEKDAY), ("time", _TIME))
_SKIP = re.compile(r"[\s,，、;；]*")
_UNIT_MINUTES = {"小时": 60, "钟头": 60, "分钟": 1, "分": 1, "天": 1440, "日": 1440}


def _take(pattern: re.Pattern[str], text: str) -> tuple[re.Match[str] | None, str]:
    """The first match of `pattern`, and the text with it cut out."""
    m = pattern.search(text)
    if m is None:
        return None, text
    return m, f"{text[: m.start()]} {text[m.end() :]}"


def _title(rest: str) -> str:
    return " ".join(split_words(rest)).strip()


def _weekday(m: re.Match[str]) -> int:
    day = m.group(2)
    return int(day) - 1 if day.isdigit() else WEEKDAYS[day]


def _time(m: re.Match[str] | None) -> time:
    if m is None:
        raise Usage("请写时间，如 09:00 或 下午3点")
    word = _NUMERALS.sub(lambda n: str(parse_int(n.group(0)) or n.group(0)), m.group(0))
    t = parse_time(word.removesuffix("钟"))
    if t is None:
        raise Usage(f"看不懂时间“{m.group(0)}”，请写如 09:00")
    # "三点开会" in a work group means 15:00; "03:00" and "上午3点" are taken as written.
    if ":" not in word and word[0].isdigit() and 1 <= t.hour <= 5:
        t = t.replace(hour=t.hour + 12)
    return t


def parse_lead(m: re.Match[str]) -> int:
    """Minutes from '提前1小时', '提前半小时', '提前1个半小时', '提前30分钟', '提前一天'."""
    per = _UNIT_MINUTES[m.group("unit")]
    n = parse_int(m.group("n")) if m.group("n") else None
    if m.group("n") and n is None:
        raise Usage(f"看不懂“{m.group(0)}”")
    whole = n or 0
    half = per // 2 if m.group("half") else 0
    if n is None and not half:
        raise Usage(f"“{m.group(0)}”要写提前多久")
    return whole * per + half


# -- #例会 ---------------------------------------------------------------------------


def parse_meeting(args: Args) -> MeetingSpec:
    text = args.text
    if not text.strip():
        raise Usage("请写每周几、几点和会议名称")
    lead = DEFAULT_LEAD_MINUTES
    m, text = _take(_LEAD, text)
    if m is not None:
        lead = parse_lead(m)
    elif "提前" in text:
        raise Usage("提前多久？如“提前1小时”“提前30分钟”“提前1天”")
    m, text = _take(_NO_LEAD, text)
    if m is not None:
        lead = 0
    if lead > MAX_LEAD_MINUTES:
        raise Usage("最多提前7天提醒")
    skip = True
    m, text = _take(_HOLIDAYS_ON, text)
    if m is not None:
        skip = False
    _, text = _take(_HOLIDAYS_OFF, text)
    wd = _WEEKDAY.search(text)
    if wd is None:
        raise Usage("请写每周几开会，如“每周一”")
    if wd.group(1):
        raise Usage("例会是每周都开的，请写“每周一”这样的星期几")
    # "每周一、周四": two meetings. (A weekday later in the name, "周五碰头会", is fine.)
    if _MORE_DAYS.match(text, wd.end()):
        raise Usage("一条例会只能写一个星期几，开几次就分几条设置")
    text = f"{text[: wd.start()]} {text[wd.end() :]}"
    tm, text = _take(_TIME, text)
    at = _time(tm)
    title = _title(text) or "例会"
    if len(title) > MAX_TITLE:
        raise Usage(f"会议名称太长了（最多{MAX_TITLE}字）")
    return MeetingSpec(title, _weekday(wd), at, lead, skip)


def run_meeting(ctx: Ctx, spec: MeetingSpec) -> None:
    assert ctx.room is not None and ctx.unit is not None
    done = reminders.set_meeting(ctx.session, ctx.room.id, ctx.unit.id, spec, ctx.config,
                                 ctx.now, ctx.person.id)
    r = done.reminder
    ctx.audit("meeting_set", job=r.job_id, no=r.no, room=ctx.room.id, **spec.payload())
    ctx.reply(W.meeting_set_reply(r, done.created, ctx.config, ctx.now))


# -- #提醒 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OnceArgs:
    day: str | None  # a date as typed ('6月28日', '明天'), or None
    weekday: int | None  # '周五' (this week's, or next if passed), with `next_week` for '下周五'
    next_week: bool
    at: time
    title: str


@dataclass(frozen=True)
class ListArgs:
    pass


def parse_once(args: Args) -> OnceArgs | ListArgs:
    text = args.text
    words = split_words(text)
    if words in (["列表"], ["清单"], ["查看"]):
        return ListArgs()
    if not words:
        raise Usage("请写日期、时间和提醒的内容")
    # The date and time lead ("6月28日 17:00 …"); what follows is the text, which may
    # itself mention days ("明天 9:00 今天的会议纪要"). Failing that, look anywhere.
    found: dict[str, re.Match[str]] = {}
    pos = 0
    while True:
        pos = _SKIP.match(text, pos).end()  # type: ignore[union-attr]
        name, m = next(((n, m) for n, pat in _WHEN if n not in found
                        and (m := pat.match(text, pos))), (None, None))
        if name is None or m is None:
            break
        after = text[m.end() :]
        # A leading day stands apart from the text: "今天上午的会" is text, not a date.
        if name != "time" and after and not (after[0] in " ,，、;；" or _TIME.match(after)):
            break
        found[name], pos = m, m.end()
    text = text[pos:]
    if not found:  # "报送材料 6月28日 17:00"
        for name, pat in _WHEN:
            if not (name == "weekday" and "day" in found):
                m, text = _take(pat, text)
                if m is not None:
                    found[name] = m
    day, wd = found.get("day"), found.get("weekday") if "day" not in found else None
    at = _time(found.get("time"))
    title = _title(text)
    if not title:
        raise Usage("请写提醒的内容")
    if len(title) > MAX_TITLE:
        raise Usage(f"提醒内容太长了（最多{MAX_TITLE}字）")
    return OnceArgs(day.group(0) if day else None, _weekday(wd) if wd else None,
                    bool(wd and wd.group(1)), at, title)


def _resolve_day(args: OnceArgs, today: date, at: time, now_local: datetime) -> date:
    if args.day is not None:
        if args.day == "后天":
            return today + timedelta(days=2)
        d = parse_date(args.day, today)
        if d is None:
            raise Usage(f"没有这个日期：{args.day}")
        return d
    if args.weekday is not None:
        monday = today - timedelta(days=today.weekday())
        if args.next_week:
            return monday + timedelta(days=7 + args.weekday)
        d = monday + timedelta(days=args.weekday)
        if d < today or (d == today and at <= now_local.time()):
            d += timedelta(days=7)
        return d
    return today


def run_once(ctx: Ctx, args: OnceArgs | ListArgs) -> None:
    if isinstance(args, ListArgs):
        run_list(ctx, args)
        return
    assert ctx.room is not None and ctx.unit is not None
    now = ctx.local()
    d = _resolve_day(args, now.date(), args.at, now)
    when = datetime.combine(d, args.at, tzinfo=ctx.zone)
    shown = W.fmt_when(when, now.date())
    key = f"oneoff:{ctx.msg.transport}:{ctx.msg.id}"
    try:
        r = reminders.add_reminder(ctx.session, key, ctx.room.id, ctx.unit.id, args.title, when,
                                   ctx.now, ctx.person.id)
    except reminders.ReminderError as e:
        dated = args.day is not None or args.weekday is not None
        raise Usage(W.oneoff_refusal(e, shown, dated)) from None
    ctx.audit("reminder_set", job=r.job_id, no=r.no, room=ctx.room.id, at=when.isoformat(),
              title=args.title)
    ctx.reply(W.oneoff_set_reply(r, shown))


# -- #提醒列表 -----------------------------------------------------------------------


def parse_list(args: Args) -> ListArgs:
    return ListArgs()


def run_list(ctx: Ctx, args: ListArgs) -> None:
    assert ctx.room is not None and ctx.unit is not None
    found = reminders.list_reminders(ctx.session, ctx.room.id, ctx.unit.level)
    ctx.reply(W.list_text(found, ctx.config, ctx.now))


# -- #取消提醒 -----------------------------------------------------------------------


@dataclass(frozen=True)
class CancelArgs:
    ids: tuple[int, ...]


def parse_cancel(args: Args) -> CancelArgs:
    ids: list[int] = []
    for w in split_words(args.text):
        n = parse_int(w.removeprefix("第").removesuffix("号"))
        if n is None or n <= 0:
            raise Usage(f"“{w}”不是提醒编号，编号见 #提醒列表")
        if n not in ids:
            ids.append(n)
    if not ids:
        raise Usage("请写要取消的提醒编号，编号见 #提醒列表")
    return CancelArgs(tuple(ids))


def run_cancel(ctx: Ctx, args: CancelArgs) -> None:
    assert ctx.room is not None
    try:
        done = reminders.cancel_reminders(ctx.session, ctx.room.id, args.ids)
    except reminders.NoSuchReminder as e:
        raise Refusal(W.cancel_refusal(e)) from None
    for r in done:
        ctx.audit("reminder_cancel", job=r.job_id, no=r.no, room=ctx.room.id, kind=r.kind)
    ctx.reply(W.cancelled_text(done, ctx.config, ctx.now))


MEETING_DETAIL = (
    "时间写 09:00、9点半、下午3点都可以（“3点”按下午算）。"
    f"默认{W.fmt_lead(DEFAULT_LEAD_MINUTES)}在本群提醒；可写“提前30分钟”“提前1天”或“准时”。"
    "例会那天是法定节假日（端午、国庆等）时默认暂停提醒（不顺延）；写“节假日照常”则照常提醒。"
    "同一星期几、同一时间再发一次就是修改。提醒不受夜间免打扰限制。"
)
ONCE_DETAIL = (
    "时间写 17:00、下午5点都可以（“5点”按下午算）。日期可写 6月28日、2019-06-28、明天、后天、周五、下周一；不写日期就是今天。"
    "到时在本群提醒一次；已过去的时间不能设置。提醒不受夜间免打扰限制。"
)

COMMANDS = (
    Command(
        name="例会", aliases=("周例会", "例会提醒", "每周例会"), summary="设置本群的每周例会提醒",
        usage="#例会 每周几 时间 会议名称 [提前多久] [节假日照常]",
        example="#例会 每周一 09:00 指挥部例会 提前1小时",
        parse=parse_meeting, run=run_meeting, roles=(CADRE, HQ), detail=MEETING_DETAIL,
    ),
    Command(
        name="提醒", aliases=("定时提醒",), summary="在本群设置一次性提醒",
        usage="#提醒 日期 时间 内容", example="#提醒 6月28日 17:00 报送月度考核材料",
        parse=parse_once, run=run_once, roles=(CADRE, HQ), detail=ONCE_DETAIL,
    ),
    Command(
        name="提醒列表", aliases=("查看提醒", "提醒清单", "例会列表", "查看例会"),
        summary="查看本群的提醒和编号", usage="#提醒列表", example="#提醒列表",
        parse=parse_list, run=run_list, roles=(CADRE, HQ),
    ),
    Command(
        name="取消提醒", aliases=("删除提醒", "取消例会", "删除例会"), summary="取消本群的一条提醒",
        usage="#取消提醒 编号", example="#取消提醒 3",
        parse=parse_cancel, run=run_cancel, roles=(CADRE, HQ),
    ),
)
