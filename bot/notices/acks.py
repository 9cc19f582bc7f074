"""Acknowledging a notice: a group's first 收到 counts; later ones change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot.models.core import Person
from bot.models.notices import Notice, NoticeTarget
from bot.notices.chases import stop_chases


@dataclass(frozen=True)
class Ack:
    # "acked": recorded now; "already": this group had acknowledged it; "none": nothing
    # awaits acknowledgement here; "not_here": the notice did not go to this group;
    # "unknown": no such notice.
    status: str
    notice_id: int | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    # Other notices this group has still to acknowledge, newest first.
    waiting: tuple[int, ...] = ()
    # Who acknowledged, as shown ("already").
    acked_by_name: str = ""
    # Every group has acknowledged the notice now (its chases are over).
    complete: bool = False


def acknowledge(
    session: Session,
    room_id: str,
    person_id: str,
    now: datetime,
    notice_id: int | None = None,
    msg_id: str | None = None,
) -> Ack:
    """Record this group's acknowledgement of a notice (the newest one waiting, or the
    one named). The first 收到 counts; later ones change nothing. When it was the last
    group missing, the notice's chases stop."""
    # A 收到 sent before the notice (a transcript replayed onto a kept database) cannot
    # acknowledge it: receipts are never stamped before their notice.
    posted = col(NoticeTarget.notice_id).in_(
        select(Notice.id).where(col(Notice.created_at) <= now)
    )
    if notice_id is None:
        target = session.exec(
            select(NoticeTarget)
            .where(NoticeTarget.room_id == room_id, col(NoticeTarget.acked_at).is_(None), posted)
            .order_by(col(NoticeTarget.notice_id).desc())
            .limit(1)
        ).first()
        if target is None:
            return Ack("none")
    else:
        target = session.exec(
            select(NoticeTarget).where(
                NoticeTarget.notice_id == notice_id, NoticeTarget.room_id == room_id, posted
            )
        ).first()
        if target is None:
            exists = session.get(Notice, notice_id) is not None
            return Ack("not_here" if exists else "unknown", notice_id)
    nid = target.notice_id
    # Conditional update: of two 收到 racing in one group, exactly one is the first.
    won = session.execute(
        update(NoticeTarget)
        .where(col(NoticeTarget.id) == target.id, col(NoticeTarget.acked_at).is_(None))
        .values(acked_at=now, acked_by=person_id, ack_msg_id=msg_id)
    ).rowcount  # type: ignore[attr-defined]
    session.expire(target)
    if not won:
        session.refresh(target)
        status = "none" if notice_id is None else "already"
        return Ack(status, nid, target.acked_at, target.acked_by,
                   acked_by_name=_name(session, target.acked_by))
    waiting = tuple(
        session.exec(
            select(NoticeTarget.notice_id)
            .where(NoticeTarget.room_id == room_id, col(NoticeTarget.acked_at).is_(None))
            .order_by(col(NoticeTarget.notice_id).desc())
        ).all()
    )
    complete = not _missing_count(session, nid)
    if complete:
        stop_chases(session, nid)
    return Ack("acked", nid, now, person_id, waiting, complete=complete)


def _name(session: Session, person_id: str | None) -> str:
    person = session.get(Person, person_id) if person_id else None
    return (person.name or person.id) if person else (person_id or "")


def _missing_count(session: Session, notice_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(NoticeTarget)
            .where(NoticeTarget.notice_id == notice_id, col(NoticeTarget.acked_at).is_(None))
        ).one()
    )
