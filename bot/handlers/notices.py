"""Notices: #通知 (broadcast to a scope), 收到 / #收到 (acknowledge), #回执 (receipts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bot import notices
from bot.jobs import upsert_job
from bot.messages import Inbound
from bot.models.core import OrgUnit, Person
from bot.models.notices import Notice
from bot.notices import NoticeError
from bot.org import CADRE, HQ, find_units, is_within
from bot.router import Command, Ctx, Refusal, Usage
from bot.text import Args, normalize, parse_int, simplify
from bot.transports import SEND_ONLY

# -- #通知 -------------------------------------------------------------------------

_NAME = r"[^\s、，,;；:：/]+"
# The scope (names joined by 、 or commas), then a space or a colon, then the text. The
# same pattern reads the normalised text and the message as typed.
_HEAD = re.compile(
    rf"^[\s:：]*(?P<scope>{_NAME}(?:\s*[、，,;；/]\s*{_NAME})*)(?:[\s:：]+(?P<body>.*))?$", re.S
)
_LIST_SEP = re.compile(r"\s*[、，,;；/]\s*")


@dataclass(frozen=True)
class NoticeArgs:
    scope: tuple[str, ...]
    body: str  # normalised; the text as typed is taken from the message in run


def parse_notice(args: Args) -> NoticeArgs:
    m = _HEAD.match(args.text)
    if m is None:
        raise Usage("请写发送范围和通知内容")
    body = (m.group("body") or "").strip()
    if not body:
        raise Usage("请在范围后面写通知内容")
    return NoticeArgs(tuple(_LIST_SEP.split(m.group("scope"))), body)


def _typed_body(ctx: Ctx, args: NoticeArgs) -> str:
    """The notice text exactly as typed (not converted), after the command and scope."""
    s = ctx.msg.text.lstrip()
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
            m = _HEAD.match(s[len(name) :])
            if m and m.group("body") and len(_LIST_SEP.split(m.group("scope"))) == len(args.scope):
                return m.group("body").strip()
            break
    return args.body


def _more_scope(ctx: Ctx, scope: notices.Scope, body: str, allowed: list[OrgUnit]
                ) -> tuple[notices.Scope, str]:  # fmt: skip
    """'#通知 浑源县 阳高县 内容': unit names after a space still belong to the scope, when
    they name other units than those already in it ('浑源县 吴城乡 …' is the text)."""
    while not scope.whole:
        m = _HEAD.match(body)
        if m is None or not (m.group("body") or "").strip():
            break
        names = _LIST_SEP.split(m.group("scope"))
        if not all(find_units(ctx.session, n) for n in names):
            break
        try:
            more = notices.resolve_scope(ctx.session, names, ctx.unit or scope.units[0], allowed)
        except NoticeError:
            break
        if more.whole or any(is_within(u, s) for u in more.units for s in scope.units):
            break
        units = (*scope.units, *more.units)
        scope = notices.Scope(units, "、".join(u.name for u in units), False)
        body = m.group("body").strip()
    return scope, body


def _notice_check(ctx: Ctx) -> str | None:
    if not notices.authority(ctx.session, ctx.person.id, ctx.unit):
        return "#通知 需要指挥部权限（县级干部可通知本县）"
    return None


def run_notice(ctx: Ctx, args: NoticeArgs) -> None:
    here = ctx.require_unit()
    allowed = notices.authority(ctx.session, ctx.person.id, here)
    try:
        scope = notices.resolve_scope(ctx.session, args.scope, here, allowed)
    except NoticeError as e:
        raise Usage(str(e)) from None
    scope, text = _more_scope(ctx, scope, _typed_body(ctx, args), allowed)
    outside = notices.may_notify(scope.units, allowed)
    if outside:
        mine = "、".join(u.name for u in allowed)
        what = scope.label if scope.whole else "、".join(u.name for u in outside)
        raise Refusal(f"通知{what}需要指挥部权限（您可以通知{mine}）")
    targets = notices.target_rooms(ctx.session, scope.units, ctx.msg.room)
    if not targets:
        raise Refusal(f"{scope.label}没有其他绑定的群，通知没有发出")
    same = notices.recent_same(ctx.session, ctx.person.id, scope, text, ctx.now)
    if same is not None:
        raise Refusal(f"同样的通知已于 {_when(ctx, same.created_at)} 发往{same.scope}（通知 {same.id}），"
                      f"没有重发。发送 #回执 {same.id} 查看确认情况")  # fmt: skip
    max_chars = ctx.config.notices.max_chars
    # Webhook groups get the notice too, but cannot answer: only the others are waited for.
    waited = [(room, unit) for room, unit in targets if room.transport not in SEND_ONLY]
    notice = notices.create_notice(ctx.session, ctx.person.id, ctx.msg.room, scope, text,
                                   waited, ctx.now, ctx.msg.id)  # fmt: skip
    assert notice.id is not None
    parts = notices.format_parts(notice.id, text, max_chars)
    plain = notices.format_parts(notice.id, text, max_chars, prompt=False)
    if len(parts) > notices.MAX_PARTS:
        raise Refusal(f"通知太长了（要分{len(parts)}条发），请精简到{notices.MAX_PARTS}条以内")
    notice.parts = len(parts)
    split = f"，每群{len(parts)}条" if len(parts) > 1 else ""
    ctx.reply(f"通知 {notice.id} 已发往{scope.label} {len(targets)} 个群{split}。"
              f"发送 #回执 {notice.id} 查看确认情况")  # fmt: skip
    for room, _unit in targets:
        for part in plain if room.transport in SEND_ONLY else parts:
            ctx.send(room.id, part, kind="notice")
    times = notices.chase_times(ctx.now, ctx.config)
    if ctx.config.notices.ack_chase_max > 0:
        upsert_job(ctx.session, notices.job_key(notice.id), notices.CHASE_KIND, times[0], ctx.now,
                   room_id=ctx.msg.room, unit_id=here.id, created_by=ctx.person.id,
                   payload={"notice": notice.id, "since": ctx.now.isoformat()})  # fmt: skip
    ctx.audit("notice", notice=notice.id, scope=scope.label, groups=len(targets), parts=len(parts))


# -- 收到 ---------------------------------------------------------------------------

_NUM = r"(?P<n>\d+|[零〇一二两三四五六七八九十百]+)"
_EMOJI = r"(?:\[[^\[\]\s]{1,6}\]|[\u2600-\u27bf\U0001f300-\U0001faff\ufe0f])"
_ACKED = r"(?:(?:好的?|明白|嗯+|ok)[\s,.!。]*)?(?:已经?)?(?:收到)+(?:了|啦|嘞|咯|啊)?"
_TAIL = rf"(?:[\s!.。~,、]|{_EMOJI})*"
# A whole message that acknowledges without '#': 收到, 收到！, 已收到, 收到 12, 收到[抱拳].
BARE_ACK = re.compile(rf"^{_ACKED}\s*(?:通知\s*)?(?:第?\s*{_NUM}\s*号?)?{_TAIL}$", re.I)
# What may follow #收到: nothing, or a notice number.
_EXPLICIT = re.compile(rf"^\s*(?:通知\s*)?(?:第?\s*{_NUM}\s*号?)?{_TAIL}$")


@dataclass(frozen=True)
class AckArgs:
    notice_id: int | None
    bare: bool  # said without '#': stays silent unless it acknowledges something


def parse_ack(args: Args) -> AckArgs:
    m = BARE_ACK.match(args.text)
    bare = m is not None and args.text.strip() != ""
    if m is None:
        m = _EXPLICIT.match(args.text)
    if m is None:
        raise Usage("“收到”后面只能写通知编号")
    n = parse_int(m.group("n")) if m.group("n") else None
    if m.group("n") and not n:
        raise Usage("通知编号要写数字")
    return AckArgs(n, bare)


def ack_gate(session: Session, msg: Inbound) -> bool:
    """Before anything is written: a bare 收到 is a command only while the notice it
    would acknowledge waits in the group; otherwise it is ordinary chat."""
    m = BARE_ACK.match(normalize(msg.text))
    if m is None:
        return True  # '#收到 …' or '@bot 收到': always answered
    if msg.room is None:
        return False
    n = parse_int(m.group("n")) if m.group("n") else None
    return notices.is_waiting(session, msg.room, n)


def _when(ctx: Ctx, t: datetime) -> str:
    local = ctx.local(t)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def _name(ctx: Ctx, person_id: str | None) -> str:
    person = ctx.session.get(Person, person_id) if person_id else None
    return (person.name or person.id) if person else (person_id or "")


def run_ack(ctx: Ctx, args: AckArgs) -> None:
    if ctx.msg.room is None:
        if args.bare:
            return
        raise Refusal('请在收到通知的群里回复"收到"')
    ack = notices.acknowledge(ctx.session, ctx.msg.room, ctx.person.id, ctx.now,
                              args.notice_id, ctx.msg.id)  # fmt: skip
    if ack.status == "acked":
        ctx.audit("ack", notice=ack.notice_id, room=ctx.msg.room)
        text = f"已记录：本群确认收到通知 {ack.notice_id}"
        if ack.waiting:
            more = "、".join(str(i) for i in ack.waiting[:5])
            text += f'。本群还有通知 {more} 未确认，请回复"收到 {ack.waiting[0]}"'
        ctx.reply(text)
        return
    if args.bare:
        return  # ordinary chat: nothing awaits acknowledgement here
    if ack.status == "none":
        raise Refusal("本群没有待确认的通知")
    if ack.status == "already":
        assert ack.acked_at is not None
        raise Refusal(f"本群已于 {_when(ctx, ack.acked_at)} 确认收到通知 {ack.notice_id}"
                      f"（{_name(ctx, ack.acked_by)}）")  # fmt: skip
    if ack.status == "not_here":
        raise Refusal(f"通知 {ack.notice_id} 没有发到本群")
    raise Refusal(f"没有通知 {ack.notice_id}")


# -- #回执 --------------------------------------------------------------------------

# Longest lists a receipt shows in the chat (#导出 and the dashboard have them all).
_MAX_ACKED_LINES = 30
_MAX_MISSING_CHARS = 600


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


def _receipt_check(ctx: Ctx) -> str | None:
    if ctx.roles.has(HQ):
        return None
    if ctx.session.exec(select(Notice.id).where(Notice.author_id == ctx.person.id)).first():
        return None
    return "#回执 需要指挥部权限（通知的发布人也可查看自己的通知）"


def run_receipt(ctx: Ctx, args: ReceiptArgs) -> None:
    notice_id = args.notice_id
    if notice_id is None:
        notice_id = ctx.session.exec(
            select(Notice.id).where(Notice.author_id == ctx.person.id)
            .order_by(col(Notice.id).desc()).limit(1)
        ).first()  # fmt: skip
        if notice_id is None:
            raise Usage("请写通知编号")
    r = notices.receipts(ctx.session, notice_id)
    if r is None:
        raise Refusal(f"没有通知 {notice_id}")
    if r.notice.author_id != ctx.person.id and not ctx.roles.has(HQ):
        raise Refusal(f"通知 {notice_id} 的回执只有发布人和指挥部可以查看")
    head = (f"通知 {notice_id}（{_when(ctx, r.notice.created_at)} 发往{r.notice.scope}）："
            f"{r.total} 个群，已确认 {len(r.acked)} 个（{r.percent}%）")  # fmt: skip
    lines = [head]
    if r.acked:
        lines.append("已确认：")
        labels = notices.group_labels(r.acked)
        for g, label in list(zip(r.acked, labels, strict=True))[:_MAX_ACKED_LINES]:
            assert g.acked_at is not None
            lines.append(f"{label} {g.acked_by_name} {_when(ctx, g.acked_at)}")
        if len(r.acked) > _MAX_ACKED_LINES:
            lines.append(f"……等{len(r.acked)}个")
    if r.missing:
        names = notices.join_capped(notices.group_labels(r.missing), _MAX_MISSING_CHARS)
        lines.append(f"未确认（{len(r.missing)}）：{names}")
    else:
        lines.append("全部已确认")
    ctx.reply("\n".join(lines))


COMMANDS = (
    Command(
        name="通知", aliases=("发通知", "发布通知", "通告"),
        summary="向范围内的每个群发通知，并跟踪“收到”",
        usage="#通知 范围 内容", example="#通知 浑源县 明天上午9点召开脱贫攻坚推进会",
        parse=parse_notice, run=run_notice, roles=(HQ, CADRE), check=_notice_check,
        detail="范围：全体（全市所有群）、一个单位（浑源县）或几个单位（浑源县、阳高县）。"
               "指挥部可发全体；县级干部只能发本县。本群不另发。"
               "各群回复“收到”即确认；未确认的群每隔几小时提醒一次（夜间不打扰）。",
    ),
    Command(
        name="收到", summary="确认收到本群的通知", usage="收到 [通知编号]", example="收到 12",
        parse=parse_ack, run=run_ack, scope="any", bare=BARE_ACK, gate=ack_gate,
        detail="不写编号时确认本群最新一条未确认的通知。",
    ),
    Command(
        name="回执", aliases=("通知回执", "回执查询"), summary="查看通知的确认情况",
        usage="#回执 [通知编号]", example="#回执 12", parse=parse_receipt, run=run_receipt,
        roles=(HQ,), check=_receipt_check, scope="any",
        detail="列出已确认的群（谁、何时）和未确认的群。不写编号时查看自己最近发的通知。",
    ),
)  # fmt: skip
