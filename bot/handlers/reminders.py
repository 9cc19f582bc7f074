"""Reminders in a group: #例会 (weekly, monthly…), #提醒 (once or repeating),
#提醒列表, #取消提醒.

A weekly #例会's parts may come in any order and with or without spaces
("#例会 每周一09:00 指挥部例会 提前1小时" = "#例会 指挥部例会 周一 9点 提前一小时"). #提醒
and the other #例会 rules ("每月1日 9:00 党员大会") start with a time phrase read by
`bot.timephrase`: every part of it understood, or the command refused with an example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from bot import reminders
from bot.config import WEEKDAYS
from bot.org import CADRE, HQ
from bot.reminders import DEFAULT_LEAD_MINUTES, MAX_LEAD_MINUTES, MeetingSpec
from bot.reminders import wording as W
from bot.router import Command, Ctx, Refusal, Usage
from bot.text import Args, parse_int, parse_time, split_words
from bot.timephrase import TimePhraseError, parse_when

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


@dataclass(frozen=True)
class RuleMeetingArgs:
    """#例会 每月1日 9:00 党员大会: a day rule other than weekly, read in run by
    `bot.timephrase` (it needs the time now); the lead and holiday options are taken."""

    text: str
    lead_minutes: int
    skip_holidays: bool


# Meetings not held weekly start with their rule ("每月1日", "每月最后一个工作日", "每天").
_RULE_FIRST = re.compile(r"\s*(?:每个?月|每天|每日|天天|每个?工作日)")


def parse_meeting(args: Args) -> MeetingSpec | RuleMeetingArgs:
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
    if _RULE_FIRST.match(text):
        return RuleMeetingArgs(text.strip(), lead, skip)
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


def _rule_meeting(ctx: Ctx, args: RuleMeetingArgs) -> MeetingSpec:
    try:
        when = parse_when(args.text, ctx.local())
    except TimePhraseError as e:
        # The phrase's own example is a #提醒 one: show #例会's instead.
        raise Usage(e.reason.split("。例：")[0]) from None
    if when.rule is None:
        raise Usage("例会要写每周几或每月几日，如“每周一”“每月1日”")
    title = _title(when.content) or "例会"
    if len(title) > MAX_TITLE:
        raise Usage(f"会议名称太长了（最多{MAX_TITLE}字）")
    return MeetingSpec(title, -1, when.rule.at, args.lead_minutes, args.skip_holidays, when.rule)


def run_meeting(ctx: Ctx, args: MeetingSpec | RuleMeetingArgs) -> None:
    assert ctx.room is not None and ctx.unit is not None
    spec = _rule_meeting(ctx, args) if isinstance(args, RuleMeetingArgs) else args
    done = reminders.set_meeting(ctx.session, ctx.room.id, ctx.unit.id, spec, ctx.config,
                                 ctx.now, ctx.person.id)
    r = done.reminder
    ctx.audit("meeting_set", job=r.job_id, no=r.no, room=ctx.room.id, **spec.payload())
    ctx.reply(W.meeting_set_reply(r, done.created, ctx.config, ctx.now))


# -- #提醒 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OnceArgs:
    text: str  # the time phrase, then the content: read in run, against the time now


@dataclass(frozen=True)
class ListArgs:
    pass


def parse_once(args: Args) -> OnceArgs | ListArgs:
    words = split_words(args.text)
    if words in (["列表"], ["清单"], ["查看"]):
        return ListArgs()
    if not words:
        raise Usage("请写日期、时间和提醒的内容")
    return OnceArgs(args.text.strip())


def _content(text: str) -> str:
    title = _title(text)
    if not title:
        raise Usage("请写提醒的内容")
    if len(title) > MAX_TITLE:
        raise Usage(f"提醒内容太长了（最多{MAX_TITLE}字）")
    return title


def run_once(ctx: Ctx, args: OnceArgs | ListArgs) -> None:
    if isinstance(args, ListArgs):
        run_list(ctx, args)
        return
    assert ctx.room is not None and ctx.unit is not None
    now = ctx.local()
    try:
        when = parse_when(args.text, now)
    except TimePhraseError as e:
        raise Refusal(e.reason) from None
    title = _content(when.content)
    if when.rule is not None:
        key = f"repeat:{ctx.msg.transport}:{ctx.msg.id}"
        r = reminders.add_repeating(ctx.session, key, ctx.room.id, ctx.unit.id, title, when.rule,
                                    ctx.now, ctx.person.id)
        ctx.audit("reminder_set", job=r.job_id, no=r.no, room=ctx.room.id,
                  at=when.at.isoformat(), rule=when.rule.describe(), title=title)
        ctx.reply(W.repeat_set_reply(r, ctx.config, ctx.now))
        return
    shown = W.fmt_when(when.at, now.date())
    key = f"oneoff:{ctx.msg.transport}:{ctx.msg.id}"
    try:
        r = reminders.add_reminder(ctx.session, key, ctx.room.id, ctx.unit.id, title, when.at,
                                   ctx.now, ctx.person.id)
    except reminders.ReminderError as e:
        raise Usage(W.oneoff_refusal(e, shown, True)) from None
    ctx.audit("reminder_set", job=r.job_id, no=r.no, room=ctx.room.id, at=when.at.isoformat(),
              title=title)
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
    "也可每月开：“每月1日 9:00 党员大会”“每月最后一个工作日 16:00 …”。"
    f"默认{W.fmt_lead(DEFAULT_LEAD_MINUTES)}在本群提醒；可写“提前30分钟”“提前1天”或“准时”。"
    "例会那天是法定节假日（端午、国庆等）时默认暂停提醒（不顺延）；写“节假日照常”则照常提醒。"
    "同一星期几、同一时间再发一次就是修改。提醒不受夜间免打扰限制。"
)
ONCE_DETAIL = (
    "时间写在最前面：17:00、下午5点、9点半、晚上12点（“1点”到“5点”按下午算）；"
    "日期可写 6月28日、6.28、28号、明天、后天、大后天、今晚、明早、本周五、下周一，"
    "或“2小时后”“30分钟后”；不写日期就是今天。看不懂的时间不会猜，会请你重写。"
    "重复提醒写“每天”“每个工作日”（按法定节假日和调休）“每周五”“每月1日”“每月最后一个工作日”。"
    "回复里写明具体日期和星期几；已过去的时间不能设置。提醒不受夜间免打扰限制。"
)

COMMANDS = (
    Command(
        name="例会", aliases=("周例会", "例会提醒", "每周例会"), summary="设置本群的例会提醒（每周或每月）",
        usage="#例会 每周几 时间 会议名称 [提前多久] [节假日照常]",
        example="#例会 每周一 09:00 指挥部例会 提前1小时",
        parse=parse_meeting, run=run_meeting, roles=(CADRE, HQ), detail=MEETING_DETAIL,
    ),
    Command(
        name="提醒", aliases=("定时提醒",), summary="在本群设置提醒（一次或重复）",
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
