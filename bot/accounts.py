"""The bot's WeChat accounts: which are alive and which groups each can reach.

The home of the account area. Each account's process writes a heartbeat; an account
whose heartbeat is older than the timeout counts as down, whether it said so (logged
out) or not (a hung connection, a killed process). Membership is learned from each
account's room list at login and from the messages it receives. Functions take a
session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from bot.db import insert_ignore, upsert
from bot.models.accounts import AccountRoom, BotAccount
from bot.models.core import OutboxMessage

UP, DOWN = "up", "down"
_T = BotAccount.__table__  # type: ignore[attr-defined]
_OUT = OutboxMessage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AccountState:
    name: str
    up: bool  # reported up and heard from within the timeout
    status: str
    heartbeat_at: datetime | None
    status_since: datetime | None
    detail: str
    groups: int  # groups it is a member of


def heartbeat(session: Session, name: str, now: datetime, user_id: str | None = None) -> bool:
    """The account is alive now. True when this changes its state (it was down or new)."""
    if insert_ignore(session, BotAccount,
                     {"name": name, "status": UP, "heartbeat_at": now, "status_since": now,
                      "user_id": user_id, "detail": ""}, ["name"]):
        return True
    changed = _transition(session, name, UP, now, "")
    values: dict[str, object] = {"heartbeat_at": now}
    if user_id:
        values["user_id"] = user_id
    session.execute(update(_T).where(_T.c.name == name).values(**values))
    return changed


def mark_down(session: Session, name: str, now: datetime, detail: str = "") -> bool:
    """The account cannot send (logged out, connection lost or hung). True when this
    changes its state: of processes that notice the same drop at once, only one (the
    row's conditional UPDATE decides), so only one tells the admins."""
    if insert_ignore(session, BotAccount,
                     {"name": name, "status": DOWN, "status_since": now,
                      "detail": detail[:500]}, ["name"]):
        return True
    if _transition(session, name, DOWN, now, detail):
        release_claims(session, name, now)
        return True
    return False


def mark_stale_down(session: Session, now: datetime, timeout: timedelta,
                    detail: str = "") -> list[str]:
    """Accounts reported up but silent past the timeout (their process died or hangs)
    marked down; the names this call changed (another process's call gets the rest)."""
    cutoff = now - timeout
    stale = session.execute(
        select(_T.c.name).where(_T.c.status == UP, _T.c.heartbeat_at < cutoff)).scalars().all()
    changed = []
    for name in stale:
        result = session.execute(
            update(_T).where(_T.c.name == name, _T.c.status == UP, _T.c.heartbeat_at < cutoff)
            .values(status=DOWN, status_since=now, detail=detail[:500]))
        if _rowcount(result) == 1:
            release_claims(session, name, now)
            changed.append(name)
    return changed


def release_claims(session: Session, name: str, now: datetime,
                   claimed_before: datetime | None = None) -> int:
    """The rows a down account had claimed (or was retrying) and not sent are due again
    at once, in the transaction that marks it down: another live account in the group
    (or the unit's WeCom webhook) takes them now, not after the claim window
    (`bot.outbox.CLAIM`, 15 minutes). They keep its name: a row of an account that is
    not live is any live member's (`bot.sender._takes`), and its own again if it comes
    back first.

    At-least-once, on purpose. The sender marks a row sent after the transport took it
    (`OutboxSender._send`), so the one row a killed or hung process had in flight may
    have reached its group or not, and nothing here can tell which. Sending it again
    risks one duplicate per dropped account, a copy that carries the same 【通知 N】
    number (and a second 收到 counts once); not sending it risks a group that silently
    never gets the notice. Marking it sent before the send would make the loss the
    silent case, so it is not done.

    `claimed_before`: only the claims made before then (a process starting with the
    account gives back what its killed predecessor held, not what it took itself)."""
    q = update(_OUT).where(
        _OUT.c.account == name, _OUT.c.sent_at.is_(None), _OUT.c.failed.is_(False),
        _OUT.c.merged_into.is_(None), _OUT.c.next_try_at > now,
    )
    if claimed_before is not None:
        from bot.outbox import CLAIM  # bot.outbox reads the memberships from here

        q = q.where(_OUT.c.next_try_at <= claimed_before + CLAIM)
    return _rowcount(session.execute(q.values(next_try_at=None)))


def _transition(session: Session, name: str, status: str, now: datetime, detail: str) -> bool:
    """Set the status if it differs, in one conditional UPDATE: a concurrent transaction
    doing the same waits for this one and then matches no row."""
    result = session.execute(
        update(_T).where(_T.c.name == name, _T.c.status != status)
        .values(status=status, status_since=now, detail=detail[:500]))
    return _rowcount(result) == 1


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def is_up(row: BotAccount, now: datetime, timeout: timedelta) -> bool:
    return (row.status == UP and row.heartbeat_at is not None
            and row.heartbeat_at >= now - timeout)


def live_accounts(session: Session, now: datetime, timeout: timedelta) -> set[str]:
    """The accounts that can send now."""
    rows = session.execute(select(BotAccount).where(col(BotAccount.status) == UP)).scalars()
    return {r.name for r in rows if is_up(r, now, timeout)}


def states(session: Session, now: datetime, timeout: timedelta) -> list[AccountState]:
    counts: dict[str, int] = {
        a: n for a, n in session.execute(
            select(col(AccountRoom.account), func.count()).group_by(col(AccountRoom.account)))}
    return [
        AccountState(r.name, is_up(r, now, timeout), r.status, r.heartbeat_at, r.status_since,
                     r.detail, int(counts.get(r.name, 0)))
        for r in session.execute(select(BotAccount).order_by(col(BotAccount.name))).scalars()
    ]


def note_member(session: Session, account: str, room_id: str, now: datetime) -> None:
    """The account is in the group (it received a message there)."""
    upsert(session, AccountRoom, {"account": account, "room_id": room_id, "seen_at": now},
           ["account", "room_id"], update=["seen_at"])


def note_rooms(session: Session, account: str, room_ids: Iterable[str], now: datetime) -> int:
    """The account's whole room list (at login): groups it has left are forgotten.
    Returns how many groups it is in."""
    ids = set(room_ids)
    known = set(session.execute(
        select(col(AccountRoom.room_id)).where(col(AccountRoom.account) == account)).scalars())
    gone = known - ids
    if gone:
        session.execute(AccountRoom.__table__.delete().where(  # type: ignore[attr-defined]
            col(AccountRoom.account) == account, col(AccountRoom.room_id).in_(gone)))
    for room_id in ids - known:
        insert_ignore(session, AccountRoom,
                      {"account": account, "room_id": room_id, "seen_at": now},
                      ["account", "room_id"])
    return len(ids)


def members(session: Session, room_ids: Sequence[str]) -> dict[str, set[str]]:
    """For each group, the accounts that are in it (groups no account is in are absent)."""
    out: dict[str, set[str]] = {}
    for i in range(0, len(room_ids), 500):
        chunk = list(room_ids[i:i + 500])
        for account, room in session.execute(
            select(col(AccountRoom.account), col(AccountRoom.room_id))
            .where(col(AccountRoom.room_id).in_(chunk))
        ).all():
            out.setdefault(room, set()).add(account)
    return out


def rooms_of(session: Session, account: str) -> list[str]:
    """The groups the account is in."""
    return list(session.execute(
        select(col(AccountRoom.room_id)).where(col(AccountRoom.account) == account)
        .order_by(col(AccountRoom.room_id))).scalars())


def unreachable(session: Session, live: set[str]) -> list[str]:
    """Groups some account is in but no live account is: nothing reaches them now."""
    rows = session.execute(select(col(AccountRoom.room_id), col(AccountRoom.account))).all()
    reach: dict[str, bool] = {}
    for room, account in rows:
        reach[room] = reach.get(room, False) or account in live
    return sorted(r for r, ok in reach.items() if not ok)


class Memberships:
    """One process's memo of the memberships it has recorded: a message in a group its
    account is already known to be in costs no database statement."""

    def __init__(self) -> None:
        self._rooms: dict[str, set[str]] = {}

    def known(self, account: str, room_id: str) -> bool:
        return room_id in self._rooms.get(account, ())

    def add(self, account: str, room_id: str) -> None:
        self._rooms.setdefault(account, set()).add(room_id)

    def replace(self, account: str, room_ids: Iterable[str]) -> None:
        """The account's whole room list (as `note_rooms` recorded it)."""
        self._rooms[account] = set(room_ids)
