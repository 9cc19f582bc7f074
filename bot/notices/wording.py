"""What notices say: the notice messages themselves, the replies to #通知, 收到 and
#回执, and the chases. Pure functions of text and result objects; no database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.notices.receipts import GroupReceipt, NotYourNotice, Receipt, UnknownNotice

if TYPE_CHECKING:  # only types: sending imports this module
    from bot.capacity import Estimate
    from bot.notices.acks import Ack
    from bot.notices.sending import Sent

PROMPT = '请回复"收到"'
# Longest lists a receipt shows in the chat (#导出 and the dashboard have them all).
MAX_ACKED_LINES = 30
MAX_MISSING_CHARS = 600
# The longest list of missing groups in the report to the author.
MAX_REPORT_CHARS = 600


def when(t: datetime, zone: ZoneInfo) -> str:
    """'6月10日 09:00' in the zone."""
    local = t.astimezone(zone)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


# -- the notice --------------------------------------------------------------------

# A sentence: up to its closing punctuation (and closing quotes), or the end.
_SENTENCE = re.compile(r".*?(?:[。！？!?；;…]+[”’」』\"')）]*|$)", re.S)


def _pieces(text: str, budget: int) -> list[str]:
    """Paragraphs that fit; a paragraph that does not, as sentences; a sentence that
    does not, cut at the budget."""
    out: list[str] = []
    for para in re.findall(r"[^\n]*(?:\n+|$)", text):
        if not para:
            continue
        if len(para.strip()) <= budget:
            out.append(para)
            continue
        for sentence in _SENTENCE.findall(para):
            while len(sentence) > budget:
                out.append(sentence[:budget])
                sentence = sentence[budget:]
            if sentence:
                out.append(sentence)
    return out


def split_text(text: str, budget: int) -> list[str]:
    """The text in chunks of at most `budget` characters, cut at paragraph boundaries
    where possible, else at sentence ends, else anywhere."""
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, budget):
        if current.strip() and len((current + piece).strip()) > budget:
            chunks.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        chunks.append(current.strip())
    return chunks


def _prompt(text: str) -> str:
    return f"\n— {PROMPT}" if "\n" in text else f" — {PROMPT}"


def format_parts(notice_id: int, text: str, max_chars: int, prompt: bool = True) -> list[str]:
    """The messages a notice is posted as: `【通知 12】内容 — 请回复"收到"`, or numbered
    parts `【通知 12】(1/3) …` each at most `max_chars` long, the prompt on the last.
    Without `prompt` (a group that cannot reply) the same, without asking for 收到."""
    ask = _prompt if prompt else (lambda _t: "")
    single = f"【通知 {notice_id}】{text}{ask(text)}"
    if len(single) <= max_chars:
        return [single]
    n = 2
    while True:
        header = len(f"【通知 {notice_id}】({n}/{n}) ")
        chunks = split_text(text, max_chars - header - len(ask("\n")))
        if len(str(len(chunks))) <= len(str(n)):
            break
        n = len(chunks)
    total = len(chunks)
    return [
        f"【通知 {notice_id}】({i}/{total}) {c}" + (ask(c) if i == total else "")
        for i, c in enumerate(chunks, start=1)
    ]


def excerpt(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


# -- #通知 --------------------------------------------------------------------------


def sent_reply(sent: Sent) -> str:
    split = f"，每群{sent.parts}条" if sent.parts > 1 else ""
    eta = f"{eta_text(sent.eta, sent.groups)}。" if sent.eta is not None else ""
    return (
        f"通知 {sent.notice_id} 已发往{sent.scope} {sent.groups} 个群{split}。{eta}"
        f"发送 #回执 {sent.notice_id} 查看确认情况"
    )


def eta_text(eta: Estimate, groups: int) -> str:
    """When the paced WeChat accounts will have reached every group (`bot.capacity`)."""
    m = eta.minutes
    span = f"{m} 分钟" if m < 60 else f"{m // 60} 小时" + (f" {m % 60} 分钟" if m % 60 else "")
    if not eta.waiting:
        return f"预计 {span}内送达全部 {groups:,} 个群"
    down = f"{eta.waiting:,} 个群暂无在线的微信账号，账号恢复后发出"
    if not eta.groups:
        return down
    return f"预计 {span}内送达 {groups - eta.waiting:,} 个群；另 {down}"


def not_allowed(what: str, mine: Sequence[str]) -> str:
    return f"通知{what}需要指挥部权限（您可以通知{'、'.join(mine)}）"


def no_targets(scope: str) -> str:
    return f"{scope}没有其他绑定的群，通知没有发出"


def already_sent(notice_id: int, scope: str, created_at: datetime, zone: ZoneInfo) -> str:
    return (
        f"同样的通知已于 {when(created_at, zone)} 发往{scope}（通知 {notice_id}），"
        f"没有重发。发送 #回执 {notice_id} 查看确认情况"
    )


def too_long(parts: int, max_parts: int) -> str:
    return f"通知太长了（要分{parts}条发），请精简到{max_parts}条以内"


# -- 收到 ---------------------------------------------------------------------------


def acked_reply(ack: Ack) -> str:
    if ack.personal:
        text = f"已记录：{ack.acked_by_name}确认收到通知 {ack.notice_id}"
        if ack.still_missing:
            text += f"（本群还有 {'、'.join(ack.still_missing[:5])} 未确认）"
    else:
        text = f"已记录：本群确认收到通知 {ack.notice_id}"
    if ack.waiting:
        more = "、".join(str(i) for i in ack.waiting[:5])
        text += f'。本群还有通知 {more} 未确认，请回复"收到 {ack.waiting[0]}"'
    return text


def ack_refusal(ack: Ack, zone: ZoneInfo) -> str:
    """Why nothing was acknowledged (an `Ack` whose status is not "acked")."""
    if ack.status == "none":
        return "本群没有待确认的通知"
    if ack.status == "not_audience":
        if ack.notice_id is None:
            return "本群待确认的通知由本群干部确认，您不用回复"
        return f"通知 {ack.notice_id} 由本群干部确认，您不用回复"
    if ack.status == "already":
        assert ack.acked_at is not None
        if ack.personal:
            return f"您已于 {when(ack.acked_at, zone)} 确认收到通知 {ack.notice_id}"
        return (
            f"本群已于 {when(ack.acked_at, zone)} 确认收到通知 {ack.notice_id}"
            f"（{ack.acked_by_name}）"
        )
    if ack.status == "not_here":
        return f"通知 {ack.notice_id} 没有发到本群"
    return f"没有通知 {ack.notice_id}"


# -- receipts ----------------------------------------------------------------------


def group_labels(groups: Sequence[GroupReceipt]) -> list[str]:
    """How groups are named in replies: the unit's name, with the group's name when the
    unit has several groups among these."""
    per_unit: dict[int | None, int] = {}
    for g in groups:
        per_unit[g.unit_id] = per_unit.get(g.unit_id, 0) + 1
    out = []
    for g in groups:
        if not g.unit_name:
            out.append(g.topic or g.room_id)
        elif per_unit[g.unit_id] > 1 or g.unit_id is None:
            out.append(f"{g.unit_name}（{g.topic or g.room_id}）")
        else:
            out.append(g.unit_name)
    return out


def join_capped(names: Sequence[str], limit: int) -> str:
    """Names joined by 、, cut short with 等N个 past `limit` characters."""
    out: list[str] = []
    size = 0
    for name in names:
        if out and size + len(name) + 1 > limit:
            return "、".join(out) + f" 等{len(names)}个"
        out.append(name)
        size += len(name) + 1
    return "、".join(out)


def receipt_text(r: Receipt, zone: ZoneInfo) -> str:
    """#回执: the counts, who acknowledged when, the groups still missing, and per
    group with an audience who has and has not acknowledged (by name)."""
    n = r.notice
    lines = [
        f"通知 {n.id}（{when(n.created_at, zone)} 发往{n.scope}）："
        f"{r.total} 个群，已确认 {len(r.acked)} 个（{r.percent}%）"
        + (f"，未发出 {r.queued} 个群" if r.queued else "")
    ]
    if n.everyone:
        lines.append("全员通知：群里任何人回复“收到”即算本群确认")
    if r.acked:
        lines.append("已确认：")
        labels = group_labels(r.acked)
        for g, label in list(zip(r.acked, labels, strict=True))[:MAX_ACKED_LINES]:
            assert g.acked_at is not None
            lines.append(f"{label} {g.acked_by_name} {when(g.acked_at, zone)}")
        if len(r.acked) > MAX_ACKED_LINES:
            lines.append(f"……等{len(r.acked)}个")
    lines.extend(_people_lines(r))
    if r.missing:
        names = join_capped(group_labels(r.missing), MAX_MISSING_CHARS)
        lines.append(f"未确认（{len(r.missing)}）：{names}")
    else:
        lines.append("全部已确认")
    return "\n".join(lines)


def _people_lines(r: Receipt) -> list[str]:
    """Per group (tree order): its audience by name, or that anyone may answer there
    because the unit has no role holders (not said for 全员: the header says it)."""
    groups = r.groups
    labels = dict(zip((g.room_id for g in groups), group_labels(groups), strict=True))
    people: list[str] = []
    anyone: list[str] = []
    for g in groups:
        if g.readers:
            done = "、".join(g.acked_names) or "无"
            line = f"{labels[g.room_id]}：已确认 {done}"
            if g.missing_names:
                line += f"；未确认 {'、'.join(g.missing_names)}"
            people.append(line)
        elif not r.notice.everyone:
            anyone.append(labels[g.room_id])
    out: list[str] = []
    if people:
        out.append("按人：")
        out.extend(people[:MAX_ACKED_LINES])
        if len(people) > MAX_ACKED_LINES:
            out.append(f"……等{len(people)}个群")
    if anyone:
        out.append(f"没有干部的群（任何人回复即算确认）：{join_capped(anyone, MAX_MISSING_CHARS)}")
    return out


def receipt_refusal(e: UnknownNotice) -> str:
    if isinstance(e, NotYourNotice):
        return f"通知 {e.notice_id} 的回执只有发布人和指挥部可以查看"
    return f"没有通知 {e.notice_id}"


# -- chases ------------------------------------------------------------------------


def chase_text(notice_id: int, step: int, text: str, bare: bool,
               names: Sequence[str] = ()) -> str:
    """The chase to a group that has not acknowledged; `bare`: a plain 收到 would do (it
    is the newest notice waiting there); `names`: the audience still missing there."""
    say = "收到" if bare else f"收到 {notice_id}"
    who = f"{'、'.join(names)}还没有确认收到" if names else "本群还没有确认收到"
    return f'【通知 {notice_id}】第{step}次提醒：{who}。内容：{excerpt(text)} — 请回复"{say}"'


def report_text(r: Receipt, chases_sent: int) -> str:
    """To the author's group after the last chase: the groups still missing (with the
    people still missing where a group has an audience)."""
    labels = [f"{label}（{'、'.join(g.missing_names)}）" if g.missing_names else label
              for g, label in zip(r.missing, group_labels(r.missing), strict=True)]
    names = join_capped(labels, MAX_REPORT_CHARS)
    said = f"已提醒{chases_sent}次，" if chases_sent else ""
    return f'通知 {r.notice.id} {said}仍有 {len(r.missing)}/{r.total} 个群未回复"收到"：{names}'
