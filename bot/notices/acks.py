"""Acknowledging a notice. Where a group has an audience (its unit's role holders),
each of them acknowledges for themselves, and the group is done when all have; a 收到
from anyone else there is not an acknowledgement. Where anyone may answer (全员, or no
role holders), the group's first 收到 counts. Later ones change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot.models.core import Person
from bot.models.notices import Notice, NoticeReader, NoticeTarget
from bot.notices.chases import stop_chases
from bot.notices.receipts import waiting_for


@dataclass(frozen=True)
class Ack:
    # "acked": recorded now; "already": this group (or this person, where the group has
    # an audience) had acknowledged it; "none": nothing awaits acknowledgement here;
    # "not_audience": the notice waits here for others (its audience), not this person;
    # "not_here": the notice did not go to this group; "unknown": no such notice.
    status: str
    notice_id: int | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    # Other notices this person has still to acknowledge in this group, newest first.
    waiting: tuple[int, ...] = ()
    # Who acknowledged, as shown ("already"; "acked" where the group has an audience).
    acked_by_name: str = ""
    # Every group has acknowledged the notice now (its chases are over).
    complete: bool = False
    # The group has an audience: this person acknowledged for themselves.
    personal: bool = False
    # Of the group's audience, who has still to acknowledge ("acked", `personal`).
    still_missing: tuple[str, ...] = ()


def acknowledge(
    session: Session,
    room_id: str,
    person_id: str,
    now: datetime,
    notice_id: int | None = None,
    msg_id: str | None = None,
) -> Ack:
    """Record this person's acknowledgement of a notice in this group (the newest one
    waiting for them, or the one named). When it completes the last group missing, the
    notice's chases stop."""
    # A 收到 sent before the notice (a transcript replayed onto a kept database) cannot
    # acknowledge it: receipts are never stamped before their notice.
    posted = col(NoticeTarget.notice_id).in_(
        select(Notice.id).where(col(Notice.created_at) <= now)
    )
    if notice_id is None:
        target = session.exec(
            select(NoticeTarget)
            .where(NoticeTarget.room_id == room_id, waiting_for(person_id), posted)
            .order_by(col(NoticeTarget.notice_id).desc())
            .limit(1)
        ).first()
        if target is None:
            # Something waits here, for others: say so (to '#收到'); else nothing waits.
            others = session.exec(
                select(NoticeTarget.id)
                .where(NoticeTarget.room_id == room_id, waiting_for(None), posted)
                .limit(1)
            ).first()
            return Ack("none" if others is None else "not_audience")
    else:
        target = session.exec(
            select(NoticeTarget).where(
                NoticeTarget.notice_id == notice_id, NoticeTarget.room_id == room_id, posted
            )
        ).first()
        if target is None:
            exists = session.get(Notice, notice_id) is not None
            return Ack("not_here" if exists else "unknown", notice_id)
    if target.anyone:
        return _ack_group(session, target, person_id, now, notice_id is None, msg_id)
    return _ack_person(session, target, person_id, now, msg_id)


def _ack_group(session: Session, target: NoticeTarget, person_id: str, now: datetime,
               bare: bool, msg_id: str | None) -> Ack:
    """Anyone may answer: the group's first 收到 counts."""
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
        return Ack("none" if bare else "already", nid, target.acked_at, target.acked_by,
                   acked_by_name=_name(session, target.acked_by))
    return _acked(session, target.room_id, nid, person_id, now)


def _ack_person(session: Session, target: NoticeTarget, person_id: str, now: datetime,
                msg_id: str | None) -> Ack:
    """The group has an audience: this person's own 收到; the group is done with the
    last of them."""
    nid, room_id = target.notice_id, target.room_id
    reader = session.exec(
        select(NoticeReader).where(NoticeReader.notice_id == nid,
                                   NoticeReader.room_id == room_id,
                                   NoticeReader.person_id == person_id)
    ).first()
    if reader is None:
        if target.acked_at is not None:  # the group is done: say so, as for any group
            return Ack("already", nid, target.acked_at, target.acked_by,
                       acked_by_name=_name(session, target.acked_by))
        return Ack("not_audience", nid)
    won = session.execute(
        update(NoticeReader)
        .where(col(NoticeReader.id) == reader.id, col(NoticeReader.acked_at).is_(None))
        .values(acked_at=now, ack_msg_id=msg_id)
    ).rowcount  # type: ignore[attr-defined]
    session.expire(reader)
    if not won:
        session.refresh(reader)
        return Ack("already", nid, reader.acked_at, person_id,
                   acked_by_name=_name(session, person_id), personal=True)
    missing = session.exec(
        select(NoticeReader.person_id)
        .where(NoticeReader.notice_id == nid, NoticeReader.room_id == room_id,
               col(NoticeReader.acked_at).is_(None))
        .order_by(col(NoticeReader.id))
    ).all()
    if not missing:
        # The last of the audience: the group is done.
        session.execute(
            update(NoticeTarget)
            .where(col(NoticeTarget.id) == target.id, col(NoticeTarget.acked_at).is_(None))
            .values(acked_at=now, acked_by=person_id, ack_msg_id=msg_id)
        )
        session.expire(target)
    ack = _acked(session, room_id, nid, person_id, now)
    return Ack("acked", nid, now, person_id, ack.waiting, _name(session, person_id),
               ack.complete, personal=True,
               still_missing=tuple(_name(session, p) for p in missing))


def _acked(session: Session, room_id: str, nid: int, person_id: str, now: datetime) -> Ack:
    waiting = tuple(
        session.exec(
            select(NoticeTarget.notice_id)
            .where(NoticeTarget.room_id == room_id, waiting_for(person_id))
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
