"""Who has acknowledged a notice: its receipt (acknowledged and missing groups, and in
each group its audience by name; also for the dashboard and #回执), and whether a
notice still waits for someone's 收到 in a group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, col, select

from bot.models.core import OrgUnit, Person, Room
from bot.models.notices import Notice, NoticeReader, NoticeTarget
from bot.notices.scope import NoticeError, path_key
from bot.outbox import queued


@dataclass(frozen=True)
class Reader:
    """One person of a group's audience, and when they acknowledged (None: not yet)."""

    person_id: str
    name: str
    acked_at: datetime | None


@dataclass(frozen=True)
class GroupReceipt:
    """One group a notice went to, and who acknowledged it when (None: not yet): the
    first 收到 where anyone may answer (`anyone`), else the last of its `readers`."""

    room_id: str
    topic: str
    unit_id: int | None
    unit_name: str
    acked_at: datetime | None
    acked_by: str | None
    acked_by_name: str
    anyone: bool = True
    readers: tuple[Reader, ...] = ()

    @property
    def acked_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.readers if r.acked_at is not None)

    @property
    def missing_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.readers if r.acked_at is None)

    @property
    def missing_ids(self) -> tuple[str, ...]:
        return tuple(r.person_id for r in self.readers if r.acked_at is None)


@dataclass(frozen=True)
class Receipt:
    """A notice's acknowledgements: `acked` in the order they came, `missing` in tree
    order."""

    notice: Notice
    author_name: str
    acked: tuple[GroupReceipt, ...]
    missing: tuple[GroupReceipt, ...]
    # Every group, in tree order.
    groups: tuple[GroupReceipt, ...] = ()
    # Groups it has not been sent to yet (still in the outbox: paced, or waiting for an
    # account to come back).
    queued: int = 0

    @property
    def total(self) -> int:
        return len(self.acked) + len(self.missing)

    @property
    def percent(self) -> int:
        return percent(len(self.acked), self.total)


def percent(part: int, whole: int) -> int:
    """A whole-number percentage, halves rounded up."""
    return (200 * part + whole) // (2 * whole) if whole else 0


def receipts(session: Session, notice_id: int) -> Receipt | None:
    """The acknowledged and missing groups of a notice; None if there is no such notice."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        return None
    rows = session.exec(
        select(NoticeTarget, Room, OrgUnit, Person)
        .join(Room, col(Room.id) == col(NoticeTarget.room_id))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(NoticeTarget.unit_id))
        .outerjoin(Person, col(Person.id) == col(NoticeTarget.acked_by))
        .where(NoticeTarget.notice_id == notice_id)
    ).all()
    readers: dict[str, list[Reader]] = {}
    for reader, who in session.exec(
        select(NoticeReader, Person)
        .outerjoin(Person, col(Person.id) == col(NoticeReader.person_id))
        .where(NoticeReader.notice_id == notice_id)
        .order_by(col(NoticeReader.id))
    ).all():
        name = (who.name or who.id) if who else reader.person_id
        readers.setdefault(reader.room_id, []).append(
            Reader(reader.person_id, name, reader.acked_at))
    acked: list[GroupReceipt] = []
    missing: list[GroupReceipt] = []
    groups: list[GroupReceipt] = []
    for t, room, unit, person in sorted(
        rows, key=lambda r: (path_key(r[2].path) if r[2] else (), r[1].id)
    ):
        g = GroupReceipt(
            room_id=room.id,
            topic=room.topic,
            unit_id=t.unit_id,
            unit_name=unit.name if unit else "",
            acked_at=t.acked_at,
            acked_by=t.acked_by,
            acked_by_name=(person.name or person.id) if person else (t.acked_by or ""),
            anyone=t.anyone,
            readers=tuple(readers.get(room.id, ())),
        )
        (acked if t.acked_at else missing).append(g)
        groups.append(g)
    acked.sort(key=lambda g: (g.acked_at, g.room_id))
    author = session.get(Person, notice.author_id)
    author_name = (author.name if author else "") or notice.author_id
    return Receipt(notice, author_name, tuple(acked), tuple(missing), tuple(groups),
                   queued(session, notice=notice_id, rooms=True))


# -- #回执 ---------------------------------------------------------------------------


class NoNoticeNamed(NoticeError):
    """No number given, and the person has sent no notice."""


class UnknownNotice(NoticeError):
    def __init__(self, notice_id: int) -> None:
        super().__init__(notice_id)
        self.notice_id = notice_id


class NotYourNotice(UnknownNotice):
    """Only the author and HQ see a notice's receipt."""


def is_author(session: Session, person_id: str) -> bool:
    """Whether the person has sent any notice (they may see its receipts)."""
    return session.exec(select(Notice.id).where(Notice.author_id == person_id)).first() is not None


def receipt_for(session: Session, person_id: str, notice_id: int | None, hq: bool) -> Receipt:
    """The receipt #回执 shows: of the notice named, or of the person's newest notice.
    Raises `NoNoticeNamed`, `UnknownNotice` or `NotYourNotice`."""
    if notice_id is None:
        notice_id = session.exec(
            select(Notice.id)
            .where(Notice.author_id == person_id)
            .order_by(col(Notice.id).desc())
            .limit(1)
        ).first()
        if notice_id is None:
            raise NoNoticeNamed()
    r = receipts(session, notice_id)
    if r is None:
        raise UnknownNotice(notice_id)
    if r.notice.author_id != person_id and not hq:
        raise NotYourNotice(notice_id)
    return r


# -- waiting for 收到 ----------------------------------------------------------------


def waiting_for(person_id: str | None) -> ColumnElement[bool]:
    """A condition on `NoticeTarget`: the group has not acknowledged, and this person's
    收到 would count there (anyone may answer, or they are of its audience and have not
    answered). With no person: the group has not acknowledged."""
    open_ = col(NoticeTarget.acked_at).is_(None)
    if person_id is None:
        return open_
    mine = exists().where(
        col(NoticeReader.notice_id) == col(NoticeTarget.notice_id),
        col(NoticeReader.room_id) == col(NoticeTarget.room_id),
        col(NoticeReader.person_id) == person_id,
        col(NoticeReader.acked_at).is_(None),
    )
    return and_(open_, or_(col(NoticeTarget.anyone), mine))


def is_waiting(session: Session, room_id: str, notice_id: int | None = None,
               person_id: str | None = None, authors: tuple[str, ...] = ()) -> bool:
    """Whether a notice (any, or the one named) awaits acknowledgement in this group (by
    this person, when one is given; from one of `authors`, when they are given)."""
    q = select(NoticeTarget.id).where(NoticeTarget.room_id == room_id, waiting_for(person_id))
    if notice_id is not None:
        q = q.where(NoticeTarget.notice_id == notice_id)
    if authors:
        q = q.join(Notice, col(Notice.id) == col(NoticeTarget.notice_id)).where(
            col(Notice.author_id).in_(authors))
    return session.exec(q.limit(1)).first() is not None


def newest_waiting(session: Session, room_id: str, person_id: str | None = None) -> int | None:
    """The notice a bare 收到 in this group (from this person) would acknowledge."""
    return session.exec(
        select(NoticeTarget.notice_id)
        .where(NoticeTarget.room_id == room_id, waiting_for(person_id))
        .order_by(col(NoticeTarget.notice_id).desc())
        .limit(1)
    ).first()
