"""Delivering the outbox after commit: in order, each row marked sent once.

Transports without a `Pacer` (replay, console, memory, the simulator) get everything due
at once, in id order, so their output is deterministic. A live transport gets a
`Pacer` (product spec §8: personal-WeChat accounts are banned when they send like
machines): a minimum gap with jitter between messages of the account, a per-group limit
per minute, a daily cap, and a stale backlog merged into one message per group. A
transport that is down (`available` false, or `TransportDown` raised) keeps its messages
waiting without spending their attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Config
from bot.db import Database
from bot.messages import Outgoing
from bot.outbox import (
    claim,
    drawn,
    mark_failed,
    mark_sent,
    merge_stale,
    pending,
    release,
    sent_since,
    unsent,
)
from bot.transports import Sender, TransportDown

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
SENT, UNSENT, TAKEN = "sent", "unsent", "taken"  # what came of one message
MINUTE = timedelta(minutes=1)


@dataclass
class Pacer:
    """The pace of one account. Pure bookkeeping on the times it is given."""

    min_gap: float = 3.0
    per_group_per_minute: int = 6
    jitter: float = 2.0
    daily_cap: int = 2000
    stale_minutes: float = 30
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    rng: random.Random = field(default_factory=random.Random)
    _next_ok: datetime | None = None
    _recent: dict[str, deque[datetime]] = field(default_factory=dict)
    day: date | None = None
    sent_today: int = 0

    @classmethod
    def from_config(cls, config: Config, rng: random.Random | None = None) -> Pacer:
        o = config.outbox
        return cls(min_gap=o.min_gap_seconds, per_group_per_minute=o.per_group_per_minute,
                   jitter=o.jitter_seconds, daily_cap=o.daily_cap, stale_minutes=o.stale_minutes,
                   zone=config.zone, rng=rng or random.Random())

    @property
    def stale(self) -> timedelta:
        return timedelta(minutes=self.stale_minutes)

    def wait(self, key: str, now: datetime) -> float:
        """Seconds before a message to `key` (a group or contact) may go; 0: now."""
        wait = 0.0
        if self._next_ok is not None and now < self._next_ok:
            wait = (self._next_ok - now).total_seconds()
        recent = self._recent.get(key)
        if recent:
            while recent and recent[0] <= now - MINUTE:
                recent.popleft()
            if len(recent) >= self.per_group_per_minute:
                wait = max(wait, (recent[0] + MINUTE - now).total_seconds())
        return wait

    def sent(self, key: str, now: datetime) -> None:
        gap = self.min_gap + (self.rng.uniform(0, self.jitter) if self.jitter else 0.0)
        self._next_ok = now + timedelta(seconds=gap)
        self._recent.setdefault(key, deque()).append(now)
        self.sent_today += 1

    def local_day(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def day_start(self, now: datetime) -> datetime:
        d = self.local_day(now)
        return datetime(d.year, d.month, d.day, tzinfo=self.zone).astimezone(UTC)

    def capped(self) -> bool:
        return self.sent_today >= self.daily_cap


def _key(out: Outgoing) -> str:
    return out.room if out.room is not None else f"to:{out.to}"


def _available(t: Sender) -> bool:
    return bool(getattr(t, "available", True))


class OutboxSender:
    """Sends what is pending through the transport each row names.

    `flush` sends everything due now (replay and tests call it after each transaction;
    paced transports sleep through `sleep` between messages); `run` does the same
    whenever woken, until `stop`. Flushes of one transport never overlap, so no row is
    sent twice by one sender.
    """

    def __init__(
        self,
        db: Database,
        transports: Mapping[str, Sender],
        clock: Clock,
        max_attempts: int = 8,
        *,
        pacing: Mapping[str, Pacer] | None = None,
        sleep: Sleep = asyncio.sleep,
        traditional: bool = False,
        merge_max_chars: int = 1500,
        on_cap: Callable[[str], None] | None = None,
        shared: bool = False,
    ) -> None:
        """`shared`: other processes may deliver from this database too (`villagebot
        run`), so each row is claimed before it is sent; one in-process chat need not."""
        self.db = db
        self.transports = dict(transports)
        self.clock = clock
        self.max_attempts = max_attempts
        self.pacing = dict(pacing or {})
        self.sleep = sleep
        self.traditional = traditional
        self.merge_max_chars = merge_max_chars
        self.on_cap = on_cap
        self.shared = shared
        self.wake = asyncio.Event()
        self._wakes: list[asyncio.Event] = [self.wake]
        self._stop = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._capped_on: dict[str, date] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def unpaced(self) -> list[str]:
        return [n for n in self.transports if n not in self.pacing]

    def notify(self) -> None:
        """Wake the workers; safe from any thread (jobs commit in a database thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._set_wakes)
        else:
            self._set_wakes()

    def _set_wakes(self) -> None:
        for e in self._wakes:
            e.set()

    def stop(self) -> None:
        """Stop after the message in hand; the rest stays in the outbox."""
        self._stop.set()
        self.notify()

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def flush(self) -> int:
        sent = await self.flush_unpaced()
        for name in self.pacing:
            if name in self.transports:
                sent += await self.flush_paced(name)
        return sent

    # -- unpaced: everything due, in id order ------------------------------------

    async def flush_unpaced(self) -> int:
        names = [n for n in self.unpaced if _available(self.transports[n])]
        if not names:
            return 0
        sent = 0
        async with self._lock("*unpaced"):
            while not self._stop.is_set():
                now = self.clock.now()
                batch = await self.db.run(partial(pending, transport=names, limit=100, now=now))
                if not batch:
                    return sent
                for out in batch:
                    result = await self._send(out)
                    if result == UNSENT:
                        return sent
                    sent += result == SENT
                    if self._stop.is_set():
                        break
        return sent

    async def _send(self, out: Outgoing) -> str:
        """One message through its transport: SENT, UNSENT (failed or down: it waits), or
        TAKEN (another sender on the database has it)."""
        if self.shared and not await self.db.run(partial(claim, msg_id=out.id, now=self.clock.now())):
            return TAKEN
        out = await drawn(out)  # a chart is drawn now, after the commit, outside any lock
        try:
            transport_id = await self.transports[out.transport].send(out)
        except TransportDown as e:
            log.info("%s is down; outbox %s waits: %s", out.transport, out.id, e)
            if self.shared:
                await self.db.run(partial(release, msg_id=out.id))
            return UNSENT
        except Exception as e:  # the transport's failure: keep the row, retry later
            log.warning("sending outbox %s via %s failed: %r", out.id, out.transport, e)
            now = self.clock.now()
            error = repr(e)
            await self.db.run(
                partial(
                    mark_failed, msg_id=out.id, error=error, max_attempts=self.max_attempts, now=now
                )
            )
            return UNSENT
        # The transport's id, when it gives one, is kept with the mark (see docs: a crash
        # between the send and this commit repeats the message once after a restart).
        tid = transport_id if isinstance(transport_id, str) else None
        await self.db.run(
            partial(mark_sent, ids=[out.id], when=self.clock.now(), transport_msg_id=tid)
        )
        return SENT

    # -- paced: one account at a time --------------------------------------------

    async def flush_paced(self, name: str) -> int:
        pacer, transport = self.pacing[name], self.transports[name]
        sent = 0
        async with self._lock(name):
            while not self._stop.is_set() and _available(transport):
                now = self.clock.now()
                if pacer.day != pacer.local_day(now):
                    since = pacer.day_start(now)
                    pacer.day = pacer.local_day(now)
                    pacer.sent_today = await self.db.run(
                        partial(sent_since, transport=name, since=since)
                    )
                if pacer.capped():
                    self._cap_reached(name, pacer.day)
                    return sent
                rows = await self.db.run(partial(unsent, transport=name))
                if rows and rows[0][0].at < now - pacer.stale:
                    stale_before = now - pacer.stale
                    merged = await self.db.run(
                        partial(
                            merge_stale,
                            transport=name,
                            stale_before=stale_before,
                            now=now,
                            zone=pacer.zone,
                            max_chars=self.merge_max_chars,
                            traditional=self.traditional,
                        )
                    )
                    if merged:
                        rows = await self.db.run(partial(unsent, transport=name))
                if not rows:
                    return sent
                out, wait = _pick(rows, pacer, now)
                if out is None:
                    if wait is None:  # only retries, not yet due: the next poll takes them
                        return sent
                    await self._pause(wait)
                    continue
                result = await self._send(out)
                if result == SENT:
                    pacer.sent(_key(out), self.clock.now())
                    sent += 1
                elif result == UNSENT and not _available(transport):
                    return sent
        return sent

    def _cap_reached(self, name: str, day: date | None) -> None:
        if day is None or self._capped_on.get(name) == day:
            return
        self._capped_on[name] = day
        log.error("%s reached its daily cap; the rest waits until tomorrow", name)
        if self.on_cap is not None:
            self.on_cap(name)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once on `stop`."""
        if self._stop.is_set():
            return
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (sleeper, stopper):
                f.cancel()

    # -- the live loop -----------------------------------------------------------

    async def run(self, poll_seconds: float = 5.0) -> None:
        """Deliver until `stop`: one worker for the unpaced transports, one per paced."""
        self._loop = asyncio.get_running_loop()
        flushes: list[Callable[[], Awaitable[int]]] = [self.flush_unpaced]
        flushes += [partial(self.flush_paced, n) for n in self.pacing if n in self.transports]
        await asyncio.gather(*(self._worker(f, poll_seconds) for f in flushes))

    async def _worker(self, flush: Callable[[], Awaitable[int]], poll_seconds: float) -> None:
        wake = asyncio.Event()
        self._wakes.append(wake)
        while not self._stop.is_set():
            wake.clear()
            try:
                await flush()
            except Exception:
                log.exception("outbox flush failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), poll_seconds)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _pick(rows: list[tuple[Outgoing, datetime | None]], pacer: Pacer, now: datetime
          ) -> tuple[Outgoing | None, float | None]:
    """The oldest message that may go now, keeping each group's order; else how long
    until the pace allows one (None: only retries wait)."""
    blocked: set[str] = set()
    wait: float | None = None
    for out, next_try in rows:
        key = _key(out)
        if key in blocked:
            continue
        if next_try is not None and next_try > now:
            blocked.add(key)
            continue
        w = pacer.wait(key, now)
        if w <= 0:
            return out, None
        blocked.add(key)
        wait = w if wait is None else min(wait, w)
    return None, wait
