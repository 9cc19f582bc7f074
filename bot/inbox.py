"""Inbound messages between a transport and `App.handle`: one queue per group, a
durable spool while the database is unreachable, and retries with backoff.

Each group (or direct chat) has its own queue, handled in arrival order by its own
worker, so one group's replies never overtake each other while different groups run
concurrently. When `handle` raises a database error (the database is unreachable) the
message stays at the head of its queue and is tried again with backoff; from then until
the database answers again, every command waiting in memory or arriving is also written
to the spool, a small SQLite file of its own, so that a restart (even kill -9) keeps it.
After a restart the spooled commands are queued again first, in their order; a command
that was in fact handled before the crash is recognised by the inbound journal and not
handled twice. The spool has a size bound; beyond it a command is only kept in memory.

Whoever waits longer than `notice_after` seconds is told once per outage (`on_queued`,
sent straight through the transport: the outbox lives in the unreachable database), and
the admins are told when the outage passes `notice_after` and when it ends (`on_outage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.messages import Inbound, Mention

log = logging.getLogger(__name__)

QUEUED_REPLY = "系统繁忙，已排队，恢复后处理"


def database_unreachable(e: BaseException) -> bool:
    """A database error out of `App.handle`: the database cannot be reached (App already
    retried its own conflicts and failed to record even the error reply)."""
    if isinstance(e, DBAPIError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(e, psycopg.OperationalError)


def group_key(msg: Inbound) -> str:
    """The queue a message belongs to: its group, or the sender's direct chat."""
    if msg.room is not None:
        return f"{msg.transport}:room:{msg.room}"
    return f"{msg.transport}:dm:{msg.sender}"


def encode(msg: Inbound) -> str:
    data = asdict(msg)
    data["at"] = msg.at.isoformat()
    return json.dumps(data, ensure_ascii=False)


def decode(text: str) -> Inbound:
    data: dict[str, Any] = json.loads(text)
    data["at"] = datetime.fromisoformat(data["at"])
    data["mentions"] = tuple(Mention(**m) for m in data.get("mentions", ()))
    return Inbound(**data)


class Spool:
    """Commands waiting for the database, in a SQLite file of their own (synchronous=FULL:
    a command acknowledged as spooled survives a power loss too). At most `limit` rows."""

    def __init__(self, path: str | Path, limit: int = 10000) -> None:
        self.path = Path(path)
        self.limit = limit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "message TEXT NOT NULL)"
        )

    def add(self, msg: Inbound) -> int | None:
        """The row id, or None when the spool is full."""
        if self.count() >= self.limit:
            return None
        cur = self._db.execute("INSERT INTO spool (message) VALUES (?)", (encode(msg),))
        return cur.lastrowid

    def remove(self, row: int) -> None:
        self._db.execute("DELETE FROM spool WHERE id = ?", (row,))

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def load(self) -> list[tuple[int, Inbound]]:
        rows = self._db.execute("SELECT id, message FROM spool ORDER BY id").fetchall()
        out = []
        for row, text in rows:
            try:
                out.append((int(row), decode(text)))
            except (ValueError, TypeError, KeyError):
                log.error("spool row %s cannot be read; dropped: %r", row, text[:200])
                self.remove(int(row))
        return out

    def close(self) -> None:
        """Close; an empty spool leaves no file behind."""
        empty = self.count() == 0
        self._db.close()
        if empty:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


@dataclass
class _Item:
    msg: Inbound
    since: float  # monotonic time it was queued
    row: int | None = None  # its spool row, once spooled


@dataclass
class _Queue:
    items: deque[_Item] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None


Handle = Callable[[Inbound], Awaitable[Any]]
OnQueued = Callable[[Inbound], Awaitable[None]]
OnOutage = Callable[[bool, float, int], Awaitable[None]]  # down?, seconds, commands waiting


class Inbox:
    """Per-group ordered handling with a durable spool during database outages."""

    def __init__(
        self,
        handle: Handle,
        spool: Spool | None = None,
        *,
        durable: Callable[[Inbound], bool] = lambda _m: True,
        on_queued: OnQueued | None = None,
        on_outage: OnOutage | None = None,
        notice_after: float = 5.0,
        retry_seconds: float = 0.5,
        max_retry_seconds: float = 10.0,
        on_handled: Callable[[], None] | None = None,
    ) -> None:
        self.handle = handle
        self.spool = spool
        self.durable = durable
        self.on_queued = on_queued
        self.on_outage = on_outage
        self.notice_after = notice_after
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.on_handled = on_handled
        self._queues: dict[str, _Queue] = {}
        self.down_since: float | None = None  # monotonic; None: the database answers
        self._alerted = False
        self._told: set[tuple[str, str]] = set()  # (group, sender) told during this outage
        self._up = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._side: set[asyncio.Task[Any]] = set()

    # -- in ----------------------------------------------------------------------

    def restore(self) -> int:
        """Queue the spooled commands again (at start, before any new message)."""
        if self.spool is None:
            return 0
        rows = self.spool.load()
        for row, msg in rows:
            self._enqueue(_Item(msg, time.monotonic(), row))
        if rows:
            log.warning("%d spooled commands queued again", len(rows))
        return len(rows)

    def put(self, msg: Inbound) -> None:
        """Queue one message; returns at once. Spooled at once while the database is down."""
        item = _Item(msg, time.monotonic())
        if self.down_since is not None:
            self._spool(item)
        self._enqueue(item)

    def _enqueue(self, item: _Item) -> None:
        key = group_key(item.msg)
        q = self._queues.setdefault(key, _Queue())
        q.items.append(item)
        self._idle.clear()
        if q.worker is None or q.worker.done():
            q.worker = asyncio.ensure_future(self._work(key, q))

    @property
    def waiting(self) -> int:
        return sum(len(q.items) for q in self._queues.values())

    def pending(self, msg: Inbound) -> bool:
        """Whether `msg` is still waiting in its queue."""
        q = self._queues.get(group_key(msg))
        return q is not None and any(i.msg is msg for i in q.items)

    async def wait_handled(self, msg: Inbound, timeout: float) -> bool:
        """Wait up to `timeout` seconds for `msg` to be handled; False if still waiting."""
        deadline = time.monotonic() + timeout
        while self.pending(msg):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(0.02, left))
        return True

    async def join(self, timeout: float | None = None) -> bool:
        """Wait until every queue is empty; False on timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._idle.is_set()

    async def close(self, grace: float = 30.0) -> None:
        """Finish what can be finished in `grace`; spool the rest; stop the workers."""
        await self.join(grace)
        for q in self._queues.values():
            for item in q.items:
                if item.row is None and self.durable(item.msg):
                    self._spool(item)
            if q.worker is not None:
                q.worker.cancel()
        workers = [q.worker for q in self._queues.values() if q.worker is not None]
        await asyncio.gather(*workers, *self._side, return_exceptions=True)
        if self.spool is not None:
            self.spool.close()

    # -- the workers -------------------------------------------------------------

    async def _work(self, key: str, q: _Queue) -> None:
        while q.items:
            item = q.items[0]
            await self._handle_until_done(key, q, item)
            q.items.popleft()
            if item.row is not None and self.spool is not None:
                self.spool.remove(item.row)
        if all(not other.items for other in self._queues.values()):
            self._idle.set()

    async def _handle_until_done(self, key: str, q: _Queue, item: _Item) -> None:
        delay = self.retry_seconds
        while True:
            try:
                await self.handle(item.msg)
            except Exception as e:
                if not database_unreachable(e):
                    log.exception("handling %s/%s failed; dropped", item.msg.transport, item.msg.id)
                    return
                self._down(e)
                if item.row is None:
                    self._spool(item)
                await self._notices(key, q)
                await self._pause(self._next_wait(delay, q))
                delay = min(delay * 2, self.max_retry_seconds)
                continue
            self._recovered()
            if self.on_handled is not None:
                self.on_handled()
            return

    def _next_wait(self, delay: float, q: _Queue) -> float:
        """The backoff, but wake when the oldest untold sender's notice falls due."""
        if self.notice_after <= 0 or self.on_queued is None:
            return delay
        now = time.monotonic()
        due = [i.since + self.notice_after - now for i in q.items]
        soon = [d for d in due if d > 0]
        return max(0.05, min([delay, *soon]))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake as soon as another group gets through to the database."""
        self._up.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), seconds)

    # -- outage bookkeeping ------------------------------------------------------

    def _down(self, e: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.error("database unreachable; commands are queued and retried: %s", e)
            for q in self._queues.values():  # what waits in memory must survive a crash
                for item in q.items:
                    if item.row is None and self.durable(item.msg):
                        self._spool(item)

    def _recovered(self) -> None:
        self._up.set()
        if self.down_since is None:
            return
        seconds = time.monotonic() - self.down_since
        log.warning(
            "database reachable again after %.0f s; %d commands waiting", seconds, self.waiting
        )
        self.down_since = None
        self._told.clear()
        if self._alerted:
            self._alerted = False
            self._side_task(self._call_outage(False, seconds))

    async def _notices(self, key: str, q: _Queue) -> None:
        now = time.monotonic()
        if self.down_since is not None and not self._alerted:
            seconds = now - self.down_since
            if seconds >= self.notice_after:
                self._alerted = True
                self._side_task(self._call_outage(True, seconds))
        if self.on_queued is None:
            return
        for item in list(q.items):
            who = (key, item.msg.sender)
            if now - item.since >= self.notice_after and who not in self._told:
                self._told.add(who)
                self._side_task(self._tell(item.msg))

    async def _tell(self, msg: Inbound) -> None:
        assert self.on_queued is not None
        try:
            await self.on_queued(msg)
        except Exception as e:
            log.warning("telling %s that the command is queued failed: %r", msg.sender, e)

    async def _call_outage(self, down: bool, seconds: float) -> None:
        if self.on_outage is None:
            return
        try:
            await self.on_outage(down, seconds, self.waiting)
        except Exception as e:
            log.warning("the outage alert failed: %r", e)

    def _side_task(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    def _spool(self, item: _Item) -> None:
        if self.spool is None or item.row is not None or not self.durable(item.msg):
            return
        try:
            item.row = self.spool.add(item.msg)
        except sqlite3.Error as e:
            log.error("spooling %s/%s failed: %r", item.msg.transport, item.msg.id, e)
            return
        if item.row is None:
            log.error(
                "the spool is full (%d); %s/%s is kept in memory only",
                self.spool.limit,
                item.msg.transport,
                item.msg.id,
            )
