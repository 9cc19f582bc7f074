"""Notices: #通知 (broadcast to a scope, now or 定时 later; 全员 for everyone in the
groups), 收到 / #收到 (acknowledge), #回执 (receipts)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session

from bot import language, notices
from bot.messages import Inbound, Quote
from bot.notices import wording
from bot.org import CADRE, HQ, holds_role
from bot.reminders import wording as reminder_wording
from bot.router import Command, Ctx, Parsed, Refusal, Usage, split_message
from bot.text import Args, normalize, parse_int, simplify
from bot.timephrase import TimePhraseError, parse_when

# -- #通知 -------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeArgs:
    scope: tuple[str, ...]
    body: str  # normalised; the text as typed is taken from the message in run
    timed: bool = False  # "定时 6月5日 9:00 …": `body` starts with the time phrase
    everyone: bool = False  # "全员": anyone in a group acknowledges, not only its cadres


# "#通知 浑源县 全员 内容" or "#通知 浑源县 内容 全员": everyone in the groups.
_EVERYONE_HEAD = re.compile(r"^全员(?:[\s,，:：]+|$)")
_EVERYONE_TAIL = re.compile(r"[\s,，]+全员$")


def split_everyone(body: str) -> tuple[bool, str]:
    """Whether the notice is for everyone (全员 at its start or end), and the text
    without that word."""
    if m := _EVERYONE_HEAD.match(body):
        return True, body[m.end() :]
    if m := _EVERYONE_TAIL.search(body):
        return True, body[: m.start()]
    return False, body


# "#通知 浑源县 定时 6月5日 9:00 内容": sent later, at the time after 定时.
_TIMED = re.compile(r"定时(?:发送|发)?[\s:：]*")
EX_TIMED = "#通知 浑源县 定时 6月5日 9:00 召开推进会"


def parse_notice(args: Args) -> NoticeArgs:
    text, first = args.text.lstrip(), False
    if m := _EVERYONE_HEAD.match(text):  # "#通知 全员 浑源县 …" too
        text, first = text[m.end() :], True
    head = notices.split_head(text)
    if head is None:
        raise Usage("请写发送范围和通知内容")
    names, body = head
    everyone, body = split_everyone(body)
    everyone = everyone or first
    if not body:
        raise Usage("请在范围后面写通知内容")
    if m := _TIMED.match(body):
        if not body[m.end() :].strip():
            raise Usage(f"“定时”后面请写时间和通知内容，如：{EX_TIMED}")
        return NoticeArgs(tuple(names), body[m.end() :], timed=True, everyone=everyone)
    return NoticeArgs(tuple(names), body, everyone=everyone)


def _typed_body(ctx: Ctx, args: NoticeArgs) -> str:
    """The notice text exactly as typed (not converted), after the command and scope."""
    s = split_message(ctx.msg)[0].lstrip()  # a quote-reply's reply part
    if s[:1] in "#＃":
        s = s[1:].lstrip()
    elif s.startswith("@"):
        at_bot = "@" + ctx.config.bot.name
        if simplify(s[: len(at_bot)]) == simplify(at_bot):
            s = s[len(at_bot) :].lstrip()
        if s[:1] in "#＃":
            s = s[1:].lstrip()
    for name in sorted(ctx.command.names, key=len, reverse=True):
        if simplify(s[: len(name)]) == name:
            rest = s[len(name) :].lstrip()
            if m := _EVERYONE_HEAD.match(rest):  # "#通知 全员 浑源县 …"
                rest = rest[m.end() :]
            head = notices.split_head(rest)
            if head and head[1] and len(head[0]) == len(args.scope):
                return split_everyone(head[1])[1] if args.everyone else head[1]
            break
    return args.body


def _notice_check(ctx: Ctx) -> str | None:
    if not notices.authority(ctx.session, ctx.person.id, ctx.unit):
        return "#通知 需要指挥部权限（县级干部可通知本县）"
    return None


def _typed_content(typed: str, content: str) -> str:
    """The notice text as typed after the time phrase: the shortest end of `typed` that
    reads as `content` (the phrase is a few words at the start)."""
    for i in range(min(len(typed), 60)):
        if normalize(typed[i:]) == content.strip():
            return typed[i:].strip()
    return content


# What sending and scheduling a notice both check, and the answer to each.
_CHECKS = (notices.ScopeError, notices.NotAllowed, notices.NoTargets, notices.TooLong)


def _answer(e: Exception) -> Exception:
    """The reply to a failed notice check: the scope misread is a usage error (with the
    example), the others are refusals."""
    if isinstance(e, notices.NotAllowed):
        return Refusal(wording.not_allowed(e.what, e.allowed))
    if isinstance(e, notices.NoTargets):
        return Refusal(wording.no_targets(e.scope))
    if isinstance(e, notices.TooLong):
        return Refusal(wording.too_long(e.parts, e.max_parts))
    return Usage(str(e))


def run_timed(ctx: Ctx, args: NoticeArgs) -> None:
    """#通知 … 定时 …: checked now, sent when due (`bot/schedules/notices.py`)."""
    here = ctx.require_unit()
    if ctx.msg.room is None:
        raise Refusal("定时通知请在群里发，到时会在本群告诉您发送结果")
    now = ctx.local()
    try:
        when = parse_when(args.body, now)
    except TimePhraseError as e:
        raise Refusal(e.reason.split("。例：")[0] + f"。例：{EX_TIMED}") from None
    if when.rule is not None:
        raise Usage(f"定时通知只发一次，请写一个日期和时间，如：{EX_TIMED}")
    if not when.content.strip():
        raise Usage(f"请在时间后面写通知内容，如：{EX_TIMED}")
    typed = _typed_body(ctx, args)
    m = _TIMED.match(typed)
    text = _typed_content(typed[m.end() :] if m else typed, when.content)
    key = f"notice_at:{ctx.msg.transport}:{ctx.msg.id}"
    try:
        done = notices.schedule_notice(ctx.session, key, ctx.person.id, here, ctx.msg.room,
                                       args.scope, text, when.at, ctx.now, ctx.config,
                                       ctx.msg.id, args.everyone)
    except _CHECKS as e:
        raise _answer(e) from None
    ctx.audit("notice_scheduled", job=done.job_id, no=done.no, scope=done.scope,
              at=when.at.isoformat(), groups=done.groups)
    ctx.reply(reminder_wording.notice_scheduled_reply(done.no, when.at, done.scope, done.groups,
                                                      now.date()))


def run_notice(ctx: Ctx, args: NoticeArgs) -> None:
    if args.timed:
        run_timed(ctx, args)
        return
    here = ctx.require_unit()
    try:
        sent = notices.send_notice(ctx.session, ctx.person.id, here, ctx.msg.room, args.scope,
                                   _typed_body(ctx, args), ctx.now, ctx.config, ctx.msg.id,
                                   args.everyone)
    except _CHECKS as e:
        raise _answer(e) from None
    except notices.AlreadySent as e:
        n = e.notice
        assert n.id is not None
        raise Refusal(wording.already_sent(n.id, n.scope, n.created_at, ctx.zone)) from None
    ctx.reply(wording.sent_reply(sent))
    for room_id, parts in sent.deliveries:
        for i, part in enumerate(parts):
            # The first part @s the group's audience (its cadres), if it has one.
            ctx.writer.put(ctx.session, part, room_id=room_id, kind="notice",
                           mentions=sent.mentions.get(room_id, ()) if i == 0 else ())
    ctx.audit("notice", notice=sent.notice_id, scope=sent.scope, groups=sent.groups,
              parts=sent.parts)


# -- 收到 ---------------------------------------------------------------------------

_NUM = r"(?P<n>\d+|[零〇一二两三四五六七八九十百千万]+)"
_EMOJI = r"(?:\[[^\[\]\s]{1,6}\]|[\u2600-\u27bf\U0001f300-\U0001faff\ufe0f])"
_TAIL = rf"(?:[\s!.。~,、]|{_EMOJI})*"
# What may follow #收到: nothing, or a notice number.
_EXPLICIT = re.compile(rf"^\s*(?:通知\s*)?(?:第?\s*{_NUM}\s*号?)?{_TAIL}$")


def _bare_ack(text: str, quote: Quote | None) -> language.Ack | None:
    """What a message without '#' acknowledges, or None when it is chat.

    An acknowledgement (`收到`, `杨家坪村收到`, `收到39号通知`, `收到，马上落实`,
    `收悉`, `已阅`; see `language.classify_ack`) whose number can be a notice's. As a
    quote-reply it must quote a notice, and then any agreeing reply (`好的`, `[OK]`)
    acknowledges that notice unless the reply names another. A quote-reply to anything
    else is an answer to that message, not to a notice.
    """
    quoted = language.quoted_notice_id(quote.text) if quote is not None else None
    if quote is not None and quoted is None:
        return None
    ack = language.classify_ack(text)
    if ack is None and quoted is not None and language.agrees(text):
        ack = language.Ack(None, None)
    if ack is None or ack.bad_id:
        return None
    return ack if ack.notice_id is not None else language.Ack(quoted, ack.name_before)


def is_bare_ack(text: str, quote: Quote | None) -> bool:
    return _bare_ack(text, quote) is not None


@dataclass(frozen=True)
class AckArgs:
    notice_id: int | None  # named in the reply (the quoted notice is read in run_ack)
    bare: bool  # said without '#': stays silent unless it acknowledges something


def parse_ack(args: Args) -> AckArgs:
    ack = language.classify_ack(args.text) if args.text.strip() else None
    if ack is None and language.agrees(args.text):
        ack = language.Ack(None, None)  # a quote-reply's 好的 (the router checked the quote)
    if ack is not None:
        if ack.bad_id:
            raise Usage("没有这个编号的通知")
        return AckArgs(ack.notice_id, True)
    # After '#收到': a notice number, or a clause (#收到，马上落实).
    m = _EXPLICIT.match(args.text)
    if m is None:
        ack = language.classify_ack("收到" + args.text)
        if ack is None:
            raise Usage("“收到”后面只能写通知编号")
        if ack.bad_id:
            raise Usage("没有这个编号的通知")
        return AckArgs(ack.notice_id, False)
    raw = m.group("n")
    if raw is None:
        return AckArgs(None, False)
    if raw.isdigit() and len(raw) > language.MAX_NOTICE_DIGITS:
        raise Usage("没有这个编号的通知")
    n = parse_int(raw)
    if not n:
        raise Usage("通知编号要写数字")
    if len(str(n)) > language.MAX_NOTICE_DIGITS:
        raise Usage("没有这个编号的通知")
    return AckArgs(n, False)


def _quoted_notice(msg: Inbound) -> int | None:
    _reply, quote = split_message(msg)
    return language.quoted_notice_id(quote.text) if quote is not None else None


def ack_gate(session: Session, msg: Inbound, parsed: Parsed) -> bool:
    """Before anything is written: a bare 收到 is a command only while the notice it
    would acknowledge (the named, the quoted, else the newest) waits in the group for
    this person (a villager's 收到 to a notice for the cadres is ordinary chat). Said to
    people ('@贾主任 收到'), only while a notice of theirs waits there: '@张三 收到' is
    an answer to 张三."""
    reply, quote = split_message(msg)
    text = normalize(reply)
    if text[:1] in "#＃":
        return True  # '#收到 …': always answered
    if parsed.said_to:
        if msg.room is None or not notices.is_waiting(session, msg.room,
                                                      authors=parsed.said_to):
            return False
        text = parsed.args.text
    elif text[:1] == "@":
        return True  # '@bot 收到': always answered
    ack = _bare_ack(text, quote)
    if ack is None:
        return True  # not a bare form: the command's parser answers (it was addressed)
    if msg.room is None:
        return False
    if notices.is_waiting(session, msg.room, ack.notice_id, msg.sender):
        return True
    # '收到 3' naming no notice of this group while another waits for this person: told
    # which one, not left to believe it counted.
    return ack.notice_id is not None and notices.is_waiting(session, msg.room, None, msg.sender)


def run_ack(ctx: Ctx, args: AckArgs) -> None:
    if ctx.msg.room is None:
        if args.bare:
            return
        raise Refusal('请在收到通知的群里回复"收到"')
    notice_id = args.notice_id if args.notice_id is not None else _quoted_notice(ctx.msg)
    ack = notices.acknowledge(ctx.session, ctx.msg.room, ctx.person.id, ctx.now,
                              notice_id, ctx.msg.id)
    if ack.status == "acked":
        ctx.audit("ack", notice=ack.notice_id, room=ctx.msg.room)
        ctx.reply(wording.acked_reply(ack))
        return
    if args.bare:
        if ack.status in ("unknown", "not_here") and (waiting := notices.newest_waiting(
                ctx.session, ctx.msg.room, ctx.person.id)) is not None:
            raise Refusal(f"{wording.ack_refusal(ack, ctx.zone)}。本群待确认的是通知 {waiting}，"
                          f"请回复“收到 {waiting}”")
        return  # ordinary chat: nothing awaits acknowledgement here
    raise Refusal(wording.ack_refusal(ack, ctx.zone))


# -- #回执 --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptArgs:
    notice_id: int | None


def parse_receipt(args: Args) -> ReceiptArgs:
    words = args.words()
    if not words:
        return ReceiptArgs(None)
    m = re.fullmatch(r"(?:通知)?第?(.+?)号?", "".join(words))
    n = parse_int(m.group(1)) if m else None
    if n is None or n <= 0:
        raise Usage("请写通知编号")
    return ReceiptArgs(n)


def _hq(ctx: Ctx) -> bool:
    """指挥部 here, or (in a direct message, which has no unit) on any unit."""
    return ctx.roles.has(HQ) or (ctx.msg.room is None
                                 and holds_role(ctx.session, ctx.person.id, HQ))


def _receipt_check(ctx: Ctx) -> str | None:
    if _hq(ctx) or notices.is_author(ctx.session, ctx.person.id):
        return None
    return "#回执 需要指挥部权限（通知的发布人也可查看自己的通知）"


def run_receipt(ctx: Ctx, args: ReceiptArgs) -> None:
    try:
        r = notices.receipt_for(ctx.session, ctx.person.id, args.notice_id, _hq(ctx))
    except notices.NoNoticeNamed:
        raise Usage("请写通知编号") from None
    except notices.UnknownNotice as e:
        raise Refusal(wording.receipt_refusal(e)) from None
    ctx.reply(wording.receipt_text(r, ctx.zone))


COMMANDS = (
    Command(
        name="通知", aliases=("发通知", "发布通知", "通告"),
        summary="向范围内的每个群发通知，并跟踪“收到”",
        usage="#通知 范围 内容", example="#通知 浑源县 明天上午9点召开脱贫攻坚推进会",
        parse=parse_notice, run=run_notice, roles=(HQ, CADRE), check=_notice_check,
        detail="范围：全体（全市所有群）、一个单位（浑源县）或几个单位（浑源县、阳高县）。"
               "指挥部可发全体；县级干部只能发本县。本群不另发。"
               "各群由本单位的干部（指挥部群还有指挥部）每人回复“收到”确认，通知会@他们；"
               "范围后写“全员”则群里任何人回复即可（没有干部的群也是这样）。"
               "未确认的群每隔几小时提醒一次，@还没确认的人（夜间不打扰）。"
               "范围后写“定时 6月5日 9:00”则到时再发（#提醒列表 可查看，#取消提醒 编号 可取消）。",
    ),
    Command(
        name="收到", summary="确认收到本群的通知", usage="收到 [通知编号]", example="收到 12",
        parse=parse_ack, run=run_ack, scope="any", bare=is_bare_ack, gate=ack_gate,
        detail="有干部的群由干部每人确认，其他人的“收到”不算（全员通知除外）。"
               "不写编号时确认本群最新一条未确认的通知；引用通知回复“收到”（或“好的”）确认所引用的那条。"
               "“收悉”“已阅”“收到12号通知”“杨家坪村收到”“收到，马上落实”也算确认。",
    ),
    Command(
        name="回执", aliases=("通知回执", "回执查询"), summary="查看通知的确认情况",
        usage="#回执 [通知编号]", example="#回执 12", parse=parse_receipt, run=run_receipt,
        roles=(HQ,), check=_receipt_check, scope="any",
        detail="列出已确认的群（谁、何时）、未确认的群，以及各群干部中谁已确认、谁还没有。"
               "不写编号时查看自己最近发的通知。",
    ),
)
