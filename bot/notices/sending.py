"""Sending a notice (#通知): check the scope against the sender's authority, record the
notice and a target row per group that can answer, word its messages, and schedule its
chases. The caller queues the messages (`Sent.deliveries`) in the same transaction.

A notice for later (#通知 浑源县 定时 6月5日 9:00 …) is checked now the same way and
becomes a job of kind `bot.reminders.NOTICE` in the author's group: it is numbered and
listed with the group's reminders (#提醒列表, #取消提醒), and when due its job kind
(`bot/schedules/notices.py`) calls `send_notice` with the author's id, so the author's
authority is checked again then."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.capacity import Estimate, delivery_estimate
from bot.config import Config
from bot.jobs import schedule
from bot.models.core import OrgUnit, Room
from bot.models.notices import Notice, NoticeReader, NoticeTarget
from bot.notices.audience import audience
from bot.notices.chases import schedule_chases
from bot.notices.scope import (
    NoticeError,
    Scope,
    authority,
    extend_scope,
    may_notify,
    resolve_scope,
    target_rooms,
)
from bot.notices.wording import excerpt, format_parts
from bot.reminders.group import NOTICE, next_number

# A notice is refused beyond this many messages per group.
MAX_PARTS = 10
# The same text to the same scope again within this time is taken as a slip, not sent.
RESEND_WINDOW = timedelta(minutes=30)


class NotAllowed(NoticeError):
    """Part of the scope is outside the sender's authority."""

    def __init__(self, what: str, allowed: Sequence[str]) -> None:
        super().__init__(what)
        self.what = what  # the scope's label, or the units outside
        self.allowed = tuple(allowed)


class NoTargets(NoticeError):
    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class AlreadySent(NoticeError):
    """The same text went to the same scope a moment ago."""

    def __init__(self, notice: Notice) -> None:
        super().__init__(notice.id)
        self.notice = notice


class TooLong(NoticeError):
    def __init__(self, parts: int) -> None:
        super().__init__(parts)
        self.parts = parts
        self.max_parts = MAX_PARTS


@dataclass(frozen=True)
class Sent:
    notice_id: int
    scope: str
    groups: int
    parts: int
    # The messages to queue: per group, in tree order, its parts.
    deliveries: tuple[tuple[str, tuple[str, ...]], ...]
    # Per group, the contact ids its first part @s (the group's audience; none when
    # anyone may answer).
    mentions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # When the paced WeChat accounts will have sent it to every group (None: no group
    # is served by one, e.g. replay and tests).
    eta: Estimate | None = None


def _checked_scope(session: Session, author_id: str, here: OrgUnit,
                   words: Sequence[str], text: str, room_id: str | None
                   ) -> tuple[Scope, str, list[tuple[Room, OrgUnit]]]:
    """The scope a #通知 names (and the text left after it), checked against the
    author's authority, and the groups it reaches. Raises ScopeError, NotAllowed or
    NoTargets."""
    allowed = authority(session, author_id, here)
    scope = resolve_scope(session, words, here, allowed)
    scope, text = extend_scope(session, scope, text, here, allowed)
    outside = may_notify(scope.units, allowed)
    if outside:
        what = scope.label if scope.whole else "、".join(u.name for u in outside)
        raise NotAllowed(what, [u.name for u in allowed])
    targets = target_rooms(session, scope.units, room_id)
    if not targets:
        raise NoTargets(scope.label)
    return scope, text, targets


def send_notice(
    session: Session,
    author_id: str,
    here: OrgUnit,
    room_id: str | None,
    words: Sequence[str],
    text: str,
    now: datetime,
    config: Config,
    msg_id: str | None = None,
    everyone: bool = False,
) -> Sent:
    """#通知 from a group of `here`: `words` name the scope, `text` (as typed) may start
    with more unit names. Each group's audience (`bot.notices.audience`) must
    acknowledge; with `everyone` (全员) anyone in the group may. Raises `ScopeError`,
    `NotAllowed`, `NoTargets`, `AlreadySent`
    or `TooLong` (after writing: the caller's savepoint undoes it)."""
    scope, text, targets = _checked_scope(session, author_id, here, words, text, room_id)
    same = recent_same(session, author_id, scope, text, now)
    if same is not None:
        raise AlreadySent(same)
    # Send-only groups get the notice too, but cannot answer: only the others are waited for.
    waited = [(room, unit) for room, unit in targets if not room.send_only]
    notice = create_notice(session, author_id, room_id, scope, text, waited, now, msg_id,
                           everyone)
    assert notice.id is not None
    max_chars = config.notices.max_chars
    parts = format_parts(notice.id, text, max_chars)
    plain = format_parts(notice.id, text, max_chars, prompt=False)
    if len(parts) > MAX_PARTS:
        raise TooLong(len(parts))
    notice.parts = len(parts)
    schedule_chases(session, notice.id, room_id, here.id, author_id, now, config)
    deliveries = tuple(
        (room.id, tuple(plain if room.send_only else parts)) for room, _unit in targets
    )
    eta = delivery_estimate(session, config, now, [(r, len(p)) for r, p in deliveries])
    return Sent(notice.id, scope.label, len(targets), len(parts), deliveries,
                _mentions(session, notice.id), eta)


def _mentions(session: Session, notice_id: int) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for r in session.exec(
        select(NoticeReader).where(NoticeReader.notice_id == notice_id)
        .order_by(col(NoticeReader.id))
    ):
        out.setdefault(r.room_id, []).append(r.person_id)
    return {room: tuple(ids) for room, ids in out.items()}


def create_notice(
    session: Session,
    author_id: str,
    author_room_id: str | None,
    scope: Scope,
    text: str,
    targets: Sequence[tuple[Room, OrgUnit]],
    now: datetime,
    msg_id: str | None = None,
    everyone: bool = False,
) -> Notice:
    """The notice, a target row per group and a reader row per person of each group's
    audience (the caller queues the posts)."""
    notice = Notice(
        author_id=author_id,
        author_room_id=author_room_id,
        scope=scope.label,
        text=text,
        msg_id=msg_id,
        created_at=now,
        everyone=everyone,
    )
    session.add(notice)
    session.flush()
    assert notice.id is not None
    for room, unit in targets:
        readers = [] if everyone else audience(session, unit)
        session.add(NoticeTarget(notice_id=notice.id, room_id=room.id, unit_id=unit.id,
                                 anyone=not readers))
        for person in readers:
            session.add(NoticeReader(notice_id=notice.id, room_id=room.id, person_id=person.id))
    session.flush()
    return notice


def recent_same(
    session: Session, author_id: str, scope: Scope, text: str, now: datetime
) -> Notice | None:
    """The author's notice with this text to this scope sent within `RESEND_WINDOW`, if
    any: the same notice pasted twice (a new message id, so the journal cannot tell) must
    not reach every group twice."""
    rows = session.exec(
        select(Notice).where(
            Notice.author_id == author_id,
            Notice.scope == scope.label,
            col(Notice.created_at) > now - RESEND_WINDOW,
        )
    )
    flat = " ".join(text.split())
    return next((n for n in rows if " ".join(n.text.split()) == flat), None)


@dataclass(frozen=True)
class Scheduled:
    """A notice set for later: its number among the group's reminders."""

    job_id: int
    no: int
    at: datetime
    scope: str
    groups: int
    title: str  # as #提醒列表 shows it: '通知（浑源县）：…'


def schedule_notice(
    session: Session,
    key: str,
    author_id: str,
    here: OrgUnit,
    room_id: str,
    words: Sequence[str],
    text: str,
    at: datetime,
    now: datetime,
    config: Config,
    msg_id: str | None = None,
    everyone: bool = False,
) -> Scheduled:
    """#通知 … 定时: check what `send_notice` would check now (raising the same errors,
    before writing anything) and schedule the notice for `at` in the author's group."""
    scope, body, targets = _checked_scope(session, author_id, here, words, text, room_id)
    # The number is not known yet: word it with a long one to count the parts.
    parts = len(format_parts(999_999, body, config.notices.max_chars))
    if parts > MAX_PARTS:
        raise TooLong(parts)
    no = next_number(session, room_id)
    title = f"通知（{scope.label}）：{excerpt(body)}"
    # The scope's words and the text as given: `send_notice` reads them again when due.
    payload = {"no": no, "title": title, "author": author_id, "words": list(words),
               "text": text, "msg": msg_id, "everyone": everyone}
    job = schedule(session, key, NOTICE, at, now, room_id=room_id, unit_id=here.id,
                   payload=payload, created_by=author_id)
    assert job.id is not None
    return Scheduled(job.id, no, at, scope.label, len(targets), title)
