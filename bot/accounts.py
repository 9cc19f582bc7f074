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

from sqlalchemy import func, select
from sqlmodel import Session, col

from bot.db import insert_ignore, upsert
from bot.models.accounts import AccountRoom, BotAccount

UP, DOWN = "up", "down"


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
    row = session.get(BotAccount, name)
    if row is None:
        session.add(BotAccount(name=name, status=UP, heartbeat_at=now, status_since=now,
                               user_id=user_id))
        return True
    changed = row.status != UP
    row.heartbeat_at = now
    if changed:
        row.status, row.status_since, row.detail = UP, now, ""
    if user_id:
        row.user_id = user_id
    return changed


def mark_down(session: Session, name: str, now: datetime, detail: str = "") -> bool:
    """The account cannot send (logged out, connection lost or hung). True when this
    changes its state."""
    row = session.get(BotAccount, name)
    if row is None:
        session.add(BotAccount(name=name, status=DOWN, status_since=now, detail=detail[:500]))
        return True
    if row.status == DOWN:
        return False
    row.status, row.status_since, row.detail = DOWN, now, detail[:500]
    return True


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


def unreachable(session: Session, live: set[str]) -> list[str]:
    """Groups some account is in but no live account is: nothing reaches them now."""
    rows = session.execute(select(col(AccountRoom.room_id), col(AccountRoom.account))).all()
    reach: dict[str, bool] = {}
    for room, account in rows:
        reach[room] = reach.get(room, False) or account in live
    return sorted(r for r, ok in reach.items() if not ok)
