"""The outbox: every outgoing message is a row written in the transaction that caused it,
and sent after that transaction commits. Nothing is sent that was not committed, and
nothing committed is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.limits import clip_reply
from bot.messages import Outgoing
from bot.models.core import OutboxMessage, Room
from bot.text import to_traditional

log = logging.getLogger(__name__)


class ChartData(Protocol):
    """A chart to draw at send time (`bot.rankings.chart.Chart`)."""

    def to_json(self) -> str: ...


class OutboxWriter:
    """Queues messages inside the caller's transaction."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self._traditional = config.bot.reply_script == "traditional"
        self._clock = clock
        self._max_reply = config.limits.max_reply_chars

    def put(
        self,
        session: Session,
        text: str,
        *,
        room_id: str | None = None,
        to_id: str | None = None,
        transport: str | None = None,
        reply_to: str | None = None,
        kind: str = "reply",
        mentions: Sequence[str] = (),
        image: bytes | None = None,
        chart: ChartData | None = None,
    ) -> OutboxMessage:
        """`chart`: drawn by the sender when it sends (after the commit); `image` is
        sent as it is."""
        if (room_id is None) == (to_id is None):
            raise ValueError("a message goes to exactly one room or one contact")
        if transport is None:
            room = session.get(Room, room_id) if room_id else None
            if room is None:
                raise ValueError(f"unknown room {room_id!r} and no transport given")
            transport = room.transport
        if kind == "reply":
            # A last resort: no reply echoes unbounded input (notices are split by
            # their sender into parts, and stay whole).
            text = clip_reply(text, self._max_reply)
        if self._traditional:
            text = to_traditional(text)
        row = OutboxMessage(
            transport=transport, room_id=room_id, to_id=to_id, text=text,
            mentions=" ".join(mentions), image=image, reply_to=reply_to, kind=kind,
            chart=chart.to_json() if chart is not None else None, created_at=self._clock.now(),
        )
        session.add(row)
        return row


def to_outgoing(row: OutboxMessage) -> Outgoing:
    assert row.id is not None
    return Outgoing(
        id=row.id, transport=row.transport, text=row.text, at=row.created_at,
        room=row.room_id, to=row.to_id, mentions=tuple(row.mentions.split()),
        image=row.image, reply_to=row.reply_to, kind=row.kind, chart=row.chart,
    )


async def drawn(out: Outgoing) -> Outgoing:
    """The message with its chart drawn into `image` (in a thread of its own: not the
    event loop, not the database thread, no transaction open); unchanged without one.
    A chart that cannot be drawn is logged and the text goes alone."""
    if out.chart is None:
        return out
    from bot.rankings.chart import draw_stored

    png = await asyncio.to_thread(draw_stored, out.chart)
    return dataclasses.replace(out, image=png if png is not None else out.image, chart=None)


def _unsent(transport: str | Sequence[str] | None = None):  # type: ignore[no-untyped-def]
    q = select(OutboxMessage).where(
        col(OutboxMessage.sent_at).is_(None),
        col(OutboxMessage.failed).is_(False),
        col(OutboxMessage.merged_into).is_(None),
    )
    if isinstance(transport, str):
        q = q.where(OutboxMessage.transport == transport)
    elif transport is not None:
        q = q.where(col(OutboxMessage.transport).in_(transport))
    return q


def pending(
    session: Session,
    transport: str | Sequence[str] | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> list[Outgoing]:
    """Unsent messages, oldest first; those whose retry time has not come are left."""
    q = _unsent(transport)
    if now is not None:
        q = q.where(
            or_(col(OutboxMessage.next_try_at).is_(None), col(OutboxMessage.next_try_at) <= now)
        )
    rows = session.exec(q.order_by(col(OutboxMessage.id)).limit(limit)).all()
    return [to_outgoing(r) for r in rows]


def unsent(
    session: Session, transport: str, limit: int = 200
) -> list[tuple[Outgoing, datetime | None]]:
    """Unsent messages of one transport, oldest first, each with its retry time (None:
    now). A message waiting for its retry still holds back the later ones of its group."""
    rows = session.exec(_unsent(transport).order_by(col(OutboxMessage.id)).limit(limit)).all()
    return [(to_outgoing(r), r.next_try_at) for r in rows]


def backoff(attempts: int) -> timedelta:
    """After the n-th failed attempt: 2, 4, 8 … seconds, at most 10 minutes."""
    return timedelta(seconds=min(600, 2 ** max(attempts, 1)))


# How long one sending attempt holds its row (longer than the slowest send: WeCom's own
# rate-limit waits). A sender that dies mid-send leaves the row to be retried after it.
CLAIM = timedelta(minutes=15)


def claim(session: Session, msg_id: int, now: datetime) -> bool:
    """Take a due row for one sending attempt, so that another sender on the same
    database (a second bot process) does not send it too. False: it is not free."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == msg_id,
            col(OutboxMessage.sent_at).is_(None),
            col(OutboxMessage.failed).is_(False),
            col(OutboxMessage.merged_into).is_(None),
            or_(col(OutboxMessage.next_try_at).is_(None), col(OutboxMessage.next_try_at) <= now),
        )
        .values(next_try_at=now + CLAIM)
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def release(session: Session, msg_id: int) -> None:
    """Give a claimed row back untried (the transport was down): due again at once."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == msg_id, col(OutboxMessage.sent_at).is_(None))
        .values(next_try_at=None)
    )


def mark_sent(
    session: Session, ids: Sequence[int], when: datetime, transport_msg_id: str | None = None
) -> int:
    """Mark rows sent, once: a row already marked is not touched again. The transport's
    own id of the sent message is kept when it gave one."""
    if not ids:
        return 0
    values: dict[str, object] = {"sent_at": when}
    if transport_msg_id is not None:
        values["transport_msg_id"] = transport_msg_id[:128]
    result = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.sent_at).is_(None))
        .values(**values)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_failed(
    session: Session, msg_id: int, error: str, max_attempts: int, now: datetime
) -> None:
    """Count a failed attempt: retried after a backoff, given up after `max_attempts`."""
    row = session.get(OutboxMessage, msg_id)
    if row is None or row.sent_at is not None:
        return
    row.attempts += 1
    row.last_error = error[:500]
    row.next_try_at = now + backoff(row.attempts)
    if row.attempts >= max_attempts:
        row.failed = True
        log.error("outbox message %s given up after %s attempts: %s", msg_id, row.attempts, error)


def sent_since(session: Session, transport: str, since: datetime) -> int:
    """How many messages the transport has sent since `since` (the daily cap)."""
    return session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.transport == transport, col(OutboxMessage.sent_at) >= since)
    ).one()


MERGED_KIND = "merged"


def merge_stale(
    session: Session,
    transport: str,
    stale_before: datetime,
    now: datetime,
    zone: ZoneInfo,
    max_chars: int = 1500,
    traditional: bool = False,
) -> list[int]:
    """Fold a backlog into one message per group (or contact) instead of a flood.

    A group whose oldest unsent message was queued before `stale_before` and that has
    more than one unsent message gets them all as one message (split into parts only
    past `max_chars`), in their order, each line with the time it was queued; the
    originals are marked `merged_into` and never sent. The newest image (or chart), if
    any, goes with the last part. Returns the ids of the new messages.
    """
    rows = session.exec(_unsent(transport).order_by(col(OutboxMessage.id))).all()
    groups: dict[tuple[str | None, str | None], list[OutboxMessage]] = {}
    for r in rows:
        groups.setdefault((r.room_id, r.to_id), []).append(r)
    new_ids: list[int] = []
    for (room_id, to_id), group in groups.items():
        if len(group) < 2 or group[0].created_at >= stale_before:
            continue
        lines = [f"[{_when(r.created_at, now, zone)}] {r.text}" for r in group]
        mentions = list(dict.fromkeys(m for r in group for m in r.mentions.split()))
        pictured = next((r for r in reversed(group) if r.image is not None or r.chart), None)
        image, chart = (pictured.image, pictured.chart) if pictured else (None, None)
        parts = _parts(lines, max_chars - 40)  # room for the header
        made = []
        for i, body in enumerate(parts, start=1):
            n = f" {i}/{len(parts)}" if len(parts) > 1 else ""
            # A backlog comes from an outage or from yesterday's daily cap: say neither.
            header = f"【补发{n}】此前未能及时发出的 {len(group)} 条消息："
            text = f"{header}\n{body}"
            row = OutboxMessage(
                transport=transport, room_id=room_id, to_id=to_id,
                text=to_traditional(text) if traditional else text,
                mentions=" ".join(mentions) if i == 1 else "",
                image=image if i == len(parts) else None,
                chart=chart if i == len(parts) else None, kind=MERGED_KIND, created_at=now,
            )
            session.add(row)
            made.append(row)
        session.flush()
        for r in group:
            r.merged_into = made[0].id
        new_ids.extend(m.id for m in made if m.id is not None)
        log.info("merged %d stale messages to %s into %d", len(group), room_id or to_id, len(made))
    return new_ids


def _when(t: datetime, now: datetime, zone: ZoneInfo) -> str:
    local, today = t.astimezone(zone), now.astimezone(zone).date()
    return (
        f"{local:%H:%M}" if local.date() == today else f"{local.month}月{local.day}日 {local:%H:%M}"
    )


def _parts(lines: list[str], max_chars: int) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + len(line) + 1 > max_chars:
            parts.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        parts.append("\n".join(current))
    return parts


RELAY_PREFIX = "【微信暂时掉线，经企业微信转发】"


def relay_notices(session: Session, source: str, target: str, room: str, now: datetime) -> int:
    """Copy each notice waiting for `source` to the backup channel (`target`, `room`) once.

    The groups still get their own copy through `source` when it is back (they
    acknowledge there); the copy lets the admins pass it on meanwhile.
    """
    rows = session.exec(
        _unsent(source).where(OutboxMessage.kind == "notice").order_by(col(OutboxMessage.id))
    ).all()
    copied = 0
    for text in dict.fromkeys(r.text for r in rows):
        relay = RELAY_PREFIX + text
        seen = session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.transport == target,
                OutboxMessage.room_id == room,
                OutboxMessage.text == relay,
            )
        ).first()
        if seen is None:
            session.add(OutboxMessage(transport=target, room_id=room, text=relay,
                                      kind="relay", created_at=now))
            copied += 1
    return copied
