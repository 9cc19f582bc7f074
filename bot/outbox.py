"""The outbox: every outgoing message is a row written in the transaction that caused it,
and sent after that transaction commits. Nothing is sent that was not committed, and
nothing committed is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.accounts import members, unreachable
from bot.clock import Clock
from bot.config import Config
from bot.hotpath import outbox_insert
from bot.limits import clip_reply
from bot.messages import Outgoing
from bot.models.accounts import AccountRoom
from bot.models.core import OrgUnit, OutboxMessage, Room
from bot.orgcache import instance
from bot.text import to_traditional

log = logging.getLogger(__name__)
# The columns an outbox row starts with besides those `OutboxWriter.put` sets (the
# model's defaults: the Core insert does not know them).
_OUTBOX_DEFAULTS = {"sent_at": None, "attempts": 0, "last_error": None, "failed": False,
                    "next_try_at": None, "merged_into": None, "transport_msg_id": None}


class ChartData(Protocol):
    """A chart to draw at send time (`bot.rankings.chart.Chart`)."""

    def to_json(self) -> str: ...


class OutboxWriter:
    """Queues messages inside the caller's transaction."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self._traditional = config.bot.reply_script == "traditional"
        self._clock = clock
        self._max_reply = config.limits.max_reply_chars
        self._insert = outbox_insert()

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
        account: str | None = None,
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
        values: dict[str, Any] = {
            "transport": transport, "room_id": room_id, "to_id": to_id, "text": text,
            "mentions": " ".join(mentions), "image": image, "reply_to": reply_to,
            "kind": kind, "chart": chart.to_json() if chart is not None else None,
            "created_at": self._clock.now(), "account": account,
        }
        # A Core insert, built once, on the connection: the ORM's unit of work and
        # statement handling cost more than the row (the outbox has no foreign key, so
        # what the session holds unflushed may follow at the next flush).
        session.connection().execute(self._insert, {**_OUTBOX_DEFAULTS, **values})
        return instance(OutboxMessage, values)


def to_outgoing(row: OutboxMessage) -> Outgoing:
    assert row.id is not None
    return Outgoing(
        id=row.id, transport=row.transport, text=row.text, at=row.created_at,
        room=row.room_id, to=row.to_id, mentions=tuple(row.mentions.split()),
        image=row.image, reply_to=row.reply_to, kind=row.kind, account=row.account,
        chart=row.chart,
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
MINUTE = timedelta(minutes=1)  # the per-group limit's window


def claim(session: Session, msg_id: int, now: datetime, account: str | None = None,
          per_group: int | None = None) -> bool:
    """Take a due row for one sending attempt, so that another sender on the same
    database (a second bot process) does not send it too. False: it is not free.
    `account`: the bot account that takes it; the row is its from then on (it is sent,
    retried and counted against the daily cap by that account). `per_group`: not taken
    while its group has had that many messages in the last minute (or in flight),
    whichever accounts sent them (the group's limit, `recent_sends`)."""
    values: dict[str, object] = {"next_try_at": now + CLAIM}
    if account is not None:
        values["account"] = account
    m = OutboxMessage.__table__  # type: ignore[attr-defined]
    q = update(m).where(
        m.c.id == msg_id, m.c.sent_at.is_(None), m.c.failed.is_(False),
        m.c.merged_into.is_(None), or_(m.c.next_try_at.is_(None), m.c.next_try_at <= now),
    )
    if per_group is not None:
        # Sent in the last minute, or in flight now (claimed by another account: it
        # holds back the rest of its group in any case, `bot.sender._pick_route`).
        o = m.alias("recent")
        q = q.where(sa_select(func.count()).select_from(o).where(
            o.c.room_id == m.c.room_id,
            or_(o.c.sent_at > now - MINUTE,
                and_(o.c.sent_at.is_(None), o.c.next_try_at > now, o.c.failed.is_(False),
                     o.c.merged_into.is_(None))),
        ).scalar_subquery() < per_group)
    result = session.execute(q.values(**values))
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def take(session: Session, msg_id: int, now: datetime, account: str,
         per_group: int | None = None) -> Outgoing | None:
    """`claim` for `account` and the claimed row, in one transaction; None: not free.
    The row as it was before the claim: its `account` tells whether it was any
    account's (given back unassigned should this account fail to send it)."""
    out = outgoing(session, msg_id)
    if out is None or not claim(session, msg_id, now, account, per_group):
        return None
    return out


def recent_sends(session: Session, transport: str, now: datetime) -> dict[str, list[datetime]]:
    """When each group (and contact: "to:id") of `transport` was sent a message in the
    last minute, by whichever account or process: the per-group limit is the group's.
    One range read on `sent_at`'s index (a handful of rows per account and minute)."""
    m = OutboxMessage
    out: dict[str, list[datetime]] = {}
    for room, to, at in session.execute(
        sa_select(col(m.room_id), col(m.to_id), col(m.sent_at))
        .where(col(m.sent_at) > now - MINUTE, col(m.transport) == transport)
        .order_by(col(m.sent_at))
    ).all():
        out.setdefault(room if room is not None else f"to:{to}", []).append(at)
    return out


def release(session: Session, msg_id: int, unassign: bool = False,
            account: str | None = None) -> None:
    """Give a claimed row back untried (the transport was down): due again at once.
    `unassign`: it was any account's before the claim, and is again (another account in
    its group may take it at once). `account`: the claimer; a row another account holds
    now (this one was marked down meanwhile, `bot.accounts.release_claims`) is left."""
    q = update(OutboxMessage).where(
        col(OutboxMessage.id) == msg_id, col(OutboxMessage.sent_at).is_(None))
    if account is not None:
        q = q.where(col(OutboxMessage.account) == account)
    values: dict[str, object] = {"next_try_at": None}
    if unassign:
        values["account"] = None
    session.execute(q.values(**values))


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
    session: Session, msg_id: int, error: str, max_attempts: int, now: datetime,
    unassign: bool = False, account: str | None = None,
) -> None:
    """Count a failed attempt: retried after a backoff, given up after `max_attempts`.
    `unassign`: the retry may go by any account in the group (the one that failed may
    have left it). `account`: the claimer; a row another account holds now is left (its
    claim window is not cut short by this one's late failure)."""
    row = session.get(OutboxMessage, msg_id)
    if row is None or row.sent_at is not None:
        return
    if account is not None and row.account != account:
        return
    if unassign:
        row.account = None
    row.attempts += 1
    row.last_error = error[:500]
    row.next_try_at = now + backoff(row.attempts)
    if row.attempts >= max_attempts:
        row.failed = True
        log.error("outbox message %s given up after %s attempts: %s", msg_id, row.attempts, error)


def sent_since(
    session: Session, transport: str, since: datetime, account: str | None = None
) -> int:
    """How many messages the transport (one bot account of it, if given) has sent since
    `since` (the daily cap)."""
    q = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.transport == transport, col(OutboxMessage.sent_at) >= since)
    )
    if account is not None:
        q = q.where(col(OutboxMessage.account) == account)
    return session.exec(q).one()


MERGED_KIND = "merged"


def merge_stale(
    session: Session,
    transport: str,
    stale_before: datetime,
    now: datetime,
    zone: ZoneInfo,
    max_chars: int = 1500,
    traditional: bool = False,
    ids: Collection[int] | None = None,
    account: str | None = None,
) -> list[int]:
    """Fold a backlog into one message per group (or contact) instead of a flood.

    A group whose oldest unsent message was queued before `stale_before` and that has
    more than one unsent message gets them all as one message (split into parts only
    past `max_chars`), in their order, each line with the time it was queued; the
    originals are marked `merged_into` and never sent. The newest image (or chart), if any, goes
    with the last part. Headed 【补发】 when one of them is late for what it is (`_late`),
    else 【汇总】 (a backlog of a round going out at its pace). Returns the ids of the new
    messages.

    With several bot accounts: `ids` limits it to the rows one account may send, and
    the merged messages are that `account`'s. A group's rows are taken with one UPDATE
    that must get them all (and none in flight), so two processes never merge a group
    twice.
    """
    q = _unsent(transport)
    if ids is not None:
        if not ids:
            return []
        q = q.where(col(OutboxMessage.id).in_(list(ids)))
    rows = session.exec(q.order_by(col(OutboxMessage.id))).all()
    groups: dict[tuple[str | None, str | None], list[OutboxMessage]] = {}
    for r in rows:
        groups.setdefault((r.room_id, r.to_id), []).append(r)
    new_ids: list[int] = []
    for (room_id, to_id), group in groups.items():
        if len(group) < 2 or group[0].created_at >= stale_before:
            continue
        if not _take(session, [r.id for r in group if r.id is not None], now, idle=ids is not None):
            continue
        lines = [f"[{_when(r.created_at, now, zone)}] {r.text}" for r in group]
        mentions = list(dict.fromkeys(m for r in group for m in r.mentions.split()))
        pictured = next((r for r in reversed(group) if r.image is not None or r.chart), None)
        image, chart = (pictured.image, pictured.chart) if pictured else (None, None)
        parts = _parts(lines, max_chars - 40)  # room for the header
        late = any(_late(r, stale_before) for r in group)
        made = []
        for i, body in enumerate(parts, start=1):
            n = f" {i}/{len(parts)}" if len(parts) > 1 else ""
            # 补发 only when one of them is late for what it is (an outage, yesterday's
            # daily cap: said neither); a round still going out at its pace is not.
            header = (f"【补发{n}】此前未能及时发出的 {len(group)} 条消息：" if late
                      else f"【汇总{n}】以下 {len(group)} 条消息一并发出：")
            text = f"{header}\n{body}"
            row = OutboxMessage(
                transport=transport, room_id=room_id, to_id=to_id,
                text=to_traditional(text) if traditional else text,
                mentions=" ".join(mentions) if i == 1 else "",
                image=image if i == len(parts) else None,
                chart=chart if i == len(parts) else None, kind=MERGED_KIND, created_at=now,
                account=account,
            )
            session.add(row)
            made.append(row)
        session.flush()
        for r in group:
            r.merged_into = made[0].id
        new_ids.extend(m.id for m in made if m.id is not None)
        log.info("merged %d stale messages to %s into %d", len(group), room_id or to_id, len(made))
    return new_ids


# Kinds sent as a round to many groups (a notice, a weekly bulletin): a city's round
# takes hours at the ban-safe pace (`bot.capacity`), so waiting in the queue is not being
# late. Their own text carries their deadline. Every other kind (a reply, a reminder or
# chase due at its time, an alert) is late once it has waited past the stale window.
ROUND_KINDS = frozenset({"notice", "bulletin"})


def _late(row: OutboxMessage, stale_before: datetime) -> bool:
    if row.kind == MERGED_KIND:  # merged before: as its own header said
        return row.text.startswith(("【补发", "【補發"))
    return row.kind not in ROUND_KINDS and row.created_at < stale_before


TAKEN_MARK = -1  # merged_into while a merge or a reroute holds the row, in its transaction


def _take(session: Session, ids: list[int], now: datetime, idle: bool) -> bool:
    """Hold all of `ids` for folding into another message, or none: False when one is
    sent, merged or (with `idle`) being sent meanwhile, e.g. by another process."""
    q = update(OutboxMessage).where(
        col(OutboxMessage.id).in_(ids),
        col(OutboxMessage.sent_at).is_(None),
        col(OutboxMessage.merged_into).is_(None),
    )
    if idle:
        q = q.where(or_(col(OutboxMessage.next_try_at).is_(None),
                        col(OutboxMessage.next_try_at) <= now))
    got = int(session.execute(q.values(merged_into=TAKEN_MARK)).rowcount or 0)  # type: ignore[attr-defined]
    if got == len(ids):
        return True
    if got:  # only ours are marked so in this transaction: give them back
        session.execute(update(OutboxMessage).where(
            col(OutboxMessage.id).in_(ids), col(OutboxMessage.merged_into) == TAKEN_MARK
        ).values(merged_into=None))
    return False


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


# -- several bot accounts on one transport (WeChat) ---------------------------------


@dataclass(frozen=True)
class Route:
    """What the router needs of an unsent row (not its text)."""

    id: int
    room: str | None
    to: str | None
    account: str | None  # assigned to (a reply's receiver, or the claimer); None: anyone
    next_try_at: datetime | None
    created_at: datetime
    reach: int | None  # live accounts in its group; None: no account is known to be there

    @property
    def key(self) -> str:
        return self.room if self.room is not None else f"to:{self.to}"


def routes(
    session: Session, transport: str, account: str, live: Collection[str], limit: int = 500
) -> list[Route]:
    """The unsent rows of `transport` that concern `account`, oldest first: those of the
    groups it is in (whoever they are assigned to: a row of another live account still
    holds back the later ones of its group), its direct messages and unassigned ones,
    and the rows of groups no account is known to be in (anyone may try those)."""
    m = OutboxMessage
    mine = select(AccountRoom.room_id).where(AccountRoom.account == account)
    known = (
        select(AccountRoom.room_id).where(col(AccountRoom.room_id) == col(m.room_id)).exists()
    )
    q = (
        sa_select(col(m.id), col(m.room_id), col(m.to_id), col(m.account), col(m.next_try_at),
                  col(m.created_at))
        .where(
            col(m.transport) == transport,
            col(m.sent_at).is_(None),
            col(m.failed).is_(False),
            col(m.merged_into).is_(None),
            or_(
                col(m.room_id).in_(mine),
                and_(col(m.room_id).is_(None),
                     or_(col(m.account).is_(None), col(m.account) == account)),
                and_(col(m.room_id).is_not(None), ~known),
            ),
        )
        .order_by(col(m.id))
        .limit(limit)
    )
    rows = session.execute(q).all()
    rooms = sorted({r[1] for r in rows if r[1] is not None})
    live = set(live)
    reach = {room: len(accounts & live) for room, accounts in members(session, rooms).items()}
    return [
        Route(id, room, to, acct, nxt, at, reach.get(room) if room is not None else None)
        for id, room, to, acct, nxt, at in rows
    ]


def outgoing(session: Session, msg_id: int) -> Outgoing | None:
    row = session.get(OutboxMessage, msg_id)
    return to_outgoing(row) if row is not None else None


def queued(
    session: Session,
    transport: str | None = None,
    kind: str | None = None,
    notice: int | None = None,
    account: str | None = None,
    rooms: bool = False,
) -> int:
    """How many messages wait to be sent (not sent, not given up, not folded into
    another): of a transport, of a kind, of notice number `notice` (its parts and
    chases), assigned to an account. `rooms`: count the groups (and contacts) instead."""
    m = OutboxMessage
    what = (
        func.count(func.distinct(func.coalesce(m.room_id, m.to_id))) if rooms else func.count()
    )
    q = select(what).select_from(m).where(
        col(m.sent_at).is_(None), col(m.failed).is_(False), col(m.merged_into).is_(None)
    )
    if transport is not None:
        q = q.where(m.transport == transport)
    if kind is not None:
        q = q.where(m.kind == kind)
    if notice is not None:
        q = q.where(col(m.text).startswith(f"【通知 {notice}】", autoescape=True))
    if account is not None:
        q = q.where(m.account == account)
    return int(session.exec(q).one())


def queued_by_account(session: Session, transport: str) -> dict[str | None, int]:
    """Unsent messages of `transport` per assigned account (None: not yet assigned: the
    first live account of the group to be free takes each). With `bot.accounts.members`
    of the groups, what the capacity model needs to tell when a backlog will be out."""
    m = OutboxMessage
    return {
        account: int(n)
        for account, n in session.exec(
            select(m.account, func.count())
            .where(m.transport == transport, col(m.sent_at).is_(None),
                   col(m.failed).is_(False), col(m.merged_into).is_(None))
            .group_by(m.account)
        ).all()
    }


_NOTICE_KEY = re.compile(r"^【通知 \d+】(?:\(\d+/\d+\) )?")
FAILOVER_KIND = "relay"


def _relay_text(row: OutboxMessage, topic: str) -> tuple[str, str | None]:
    """The copy for the webhook, and for a notice the mark that tells one of its parts
    already there (posted to the webhook's unit directly, or relayed for another
    group), so that each part is there once."""
    key = _NOTICE_KEY.match(row.text)
    if row.kind == "notice" and key is not None:
        return RELAY_PREFIX + row.text, key.group(0)
    where = f"「{topic}」" if topic else "群"
    return f"【微信账号掉线，发往{where}的消息经企业微信转发】\n{row.text}", None


def reroute_unreachable(
    session: Session, transport: str, live: Collection[str], target: str, now: datetime
) -> int:
    """Failover to WeCom: the unsent rows of `transport` whose group has bot accounts
    but none live go to the WeCom webhook room (`target`) of the group's unit or its
    nearest ancestor unit that has one (`transports.wecom.units`); rows of groups
    without such a webhook wait for an account. Each row is folded into its copy
    (`merged_into`), and a notice part the webhook room already has is not copied again.
    Returns how many rows were rerouted."""
    hooks = {
        r.unit_id: r.id
        for r in session.exec(
            select(Room).where(Room.transport == target, col(Room.unit_id).is_not(None))
        ).all()
    }
    if not hooks:
        return 0
    down = unreachable(session, set(live))
    if not down:
        return 0
    m = OutboxMessage
    rows: list[OutboxMessage] = []
    for i in range(0, len(down), 500):
        rows += session.exec(
            _unsent(transport).where(
                col(m.room_id).in_(down[i:i + 500]),
                or_(col(m.next_try_at).is_(None), col(m.next_try_at) <= now),
            )
        ).all()
    rows.sort(key=lambda r: r.id or 0)
    hook_of: dict[str, tuple[str, str] | None] = {}
    moved = 0
    for row in rows:
        assert row.room_id is not None and row.id is not None
        if row.room_id not in hook_of:
            hook_of[row.room_id] = _hook(session, row.room_id, hooks)
        found = hook_of[row.room_id]
        if found is None or not _take(session, [row.id], now, idle=True):
            continue
        hook, topic = found
        session.exec(select(Room).where(Room.id == hook).with_for_update()).first()
        text, notice_key = _relay_text(row, topic)
        there = select(m.id).where(m.transport == target, m.room_id == hook)
        if notice_key is not None:
            there = there.where(or_(col(m.text).startswith(notice_key, autoescape=True),
                                    col(m.text).startswith(RELAY_PREFIX + notice_key,
                                                           autoescape=True)))
        else:
            there = there.where(m.text == text)
        copy_id = session.exec(there.order_by(col(m.id)).limit(1)).first()
        if copy_id is None:
            copy = OutboxMessage(transport=target, room_id=hook, text=text, image=row.image,
                                 chart=row.chart, kind=FAILOVER_KIND, created_at=now)
            session.add(copy)
            session.flush()
            copy_id = copy.id
        row.merged_into = copy_id
        moved += 1
    if moved:
        log.warning("%d messages of groups no live account reaches went to WeCom", moved)
    return moved


def _hook(session: Session, room_id: str, hooks: dict[int | None, str]) -> tuple[str, str] | None:
    """The webhook room of the group's unit or its nearest ancestor, and the group's name."""
    room = session.get(Room, room_id)
    if room is None or room.unit_id is None:
        return None
    unit = session.get(OrgUnit, room.unit_id)
    chain = [int(x) for x in unit.path.strip("/").split("/") if x] if unit else []
    for unit_id in reversed(chain or [room.unit_id]):
        if unit_id in hooks:
            return hooks[unit_id], room.topic
    return None
