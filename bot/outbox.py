"""The outbox: every outgoing message is a row written in the transaction that caused it,
and sent after that transaction commits. Nothing is sent that was not committed, and
nothing committed is lost."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.messages import Outgoing
from bot.models.core import OutboxMessage, Room
from bot.text import to_traditional

log = logging.getLogger(__name__)


class OutboxWriter:
    """Queues messages inside the caller's transaction."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self._traditional = config.bot.reply_script == "traditional"
        self._clock = clock

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
    ) -> OutboxMessage:
        if (room_id is None) == (to_id is None):
            raise ValueError("a message goes to exactly one room or one contact")
        if transport is None:
            room = session.get(Room, room_id) if room_id else None
            if room is None:
                raise ValueError(f"unknown room {room_id!r} and no transport given")
            transport = room.transport
        if self._traditional:
            text = to_traditional(text)
        row = OutboxMessage(
            transport=transport, room_id=room_id, to_id=to_id, text=text,
            mentions=" ".join(mentions), image=image, reply_to=reply_to, kind=kind,
            created_at=self._clock.now(),
        )  # fmt: skip
        session.add(row)
        return row


def to_outgoing(row: OutboxMessage) -> Outgoing:
    assert row.id is not None
    return Outgoing(
        id=row.id, transport=row.transport, text=row.text, at=row.created_at,
        room=row.room_id, to=row.to_id, mentions=tuple(row.mentions.split()),
        image=row.image, reply_to=row.reply_to, kind=row.kind,
    )  # fmt: skip


def pending(
    session: Session, transport: str | None = None, limit: int = 100, now: datetime | None = None
) -> list[Outgoing]:
    """Unsent messages, oldest first; those whose retry time has not come are left."""
    q = select(OutboxMessage).where(
        col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed).is_(False)
    )
    if transport is not None:
        q = q.where(OutboxMessage.transport == transport)
    rows = session.exec(q.order_by(col(OutboxMessage.id)).limit(limit)).all()
    out = []
    for r in rows:
        if now is not None and r.attempts and now < retry_at(r):
            continue
        out.append(to_outgoing(r))
    return out


def retry_at(row: OutboxMessage) -> datetime:
    """Exponential backoff from the row's creation: 2, 4, 8 … seconds, at most 10 min."""
    return row.created_at + timedelta(seconds=min(600, 2 ** max(row.attempts, 1)))


def mark_sent(session: Session, ids: Sequence[int], when: datetime) -> int:
    """Mark rows sent, once: a row already marked is not touched again."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.sent_at).is_(None))
        .values(sent_at=when)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_failed(session: Session, msg_id: int, error: str, max_attempts: int) -> None:
    row = session.get(OutboxMessage, msg_id)
    if row is None or row.sent_at is not None:
        return
    row.attempts += 1
    row.last_error = error[:500]
    if row.attempts >= max_attempts:
        row.failed = True
        log.error("outbox message %s given up after %s attempts: %s", msg_id, row.attempts, error)
