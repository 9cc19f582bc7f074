"""Delivering the outbox after commit: in order, each row marked sent once.

Transports without a `Pacer` (replay, console, memory, the simulator) get everything due
at once, in id order, so their output is deterministic. A live transport gets a
`Pacer` (product spec §8: personal-WeChat accounts are banned when they send like
machines): a minimum gap with jitter between messages of the account, a per-group limit
per minute, a daily cap, and a stale backlog merged into one message per group. A
transport that is down (`available` false, or `TransportDown` raised) keeps its messages
waiting without spending their attempts.

Several bot accounts on one transport (WeChat: `accounts`, one transport object and one
`Pacer` per account this process holds): each row is sent by one live account that is in
its group, claimed through the database so that processes sharing it never send a row
twice (see `OutboxSender.flush_account`); the rows of groups no live account reaches go
to the unit's WeCom webhook where there is one (`OutboxSender.failover`), else wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import partial

from sqlmodel import Session

from bot.accounts import live_accounts
from bot.clock import Clock
from bot.db import Database
from bot.messages import Outgoing
from bot.outbox import (
    Route,
    claim,
    drawn,
    mark_failed,
    mark_sent,
    merge_stale,
    pending,
    recent_sends,
    release,
    reroute_unreachable,
    routes,
    sent_since,
    take,
    unsent,
)
from bot.pacing import Pacer
from bot.transports import Sender, TransportDown

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
SENT, UNSENT, TAKEN = "sent", "unsent", "taken"  # what came of one message
DOWN = "down"  # unsent: the transport said it is down (TransportDown)
MINUTE = timedelta(minutes=1)
ROUTES_TTL = 5.0  # seconds (real time) an account works from one read of its rows


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
        accounts: Mapping[str, Sender] | None = None,
        account_pacing: Mapping[str, Pacer] | None = None,
        account_transport: str = "wechaty",
        heartbeat_timeout: timedelta = timedelta(seconds=90),
        fallback: str | None = "wecom",
    ) -> None:
        """`shared`: other processes may deliver from this database too (`villagebot
        run`), so each row is claimed before it is sent; one in-process chat need not.

        Several accounts: `accounts` maps each bot account this process holds (its name
        in the config) to its own transport object, and `account_pacing` each to its
        own `Pacer`; they send the rows whose transport is `account_transport` (which
        is then not in `transports`). An account is live while its heartbeat (bot.
        accounts) is younger than `heartbeat_timeout`, or its transport here is
        available. Rows of groups no live account is in go to the WeCom webhook of
        the group's unit, through the `fallback` transport's rows, when one is bound.
        `on_cap` gets the account's name when an account reaches its daily cap."""
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
        self.accounts = dict(accounts or {})
        self.account_pacing = dict(account_pacing or {})
        self.account_transport = account_transport
        self.heartbeat_timeout = heartbeat_timeout
        self.fallback = fallback
        self._changed: set[str] = set()  # accounts whose rows were read before a commit
        if self.accounts:
            if account_transport in self.transports:
                raise ValueError(f"{account_transport} is sent through its accounts: "
                                 "leave it out of `transports`")
            missing = sorted(set(self.accounts) - set(self.account_pacing))
            if missing:
                raise ValueError(f"accounts without a Pacer: {missing}")

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
        self._changed.update(self.accounts)
        for e in self._wakes:
            e.set()

    def stop(self) -> None:
        """Stop after the message in hand; the rest stays in the outbox."""
        self._stop.set()
        self.notify()

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def flush(self) -> int:
        await self.failover()
        sent = await self.flush_unpaced()
        for name in self.pacing:
            if name in self.transports:
                sent += await self.flush_paced(name)
        for name in self.accounts:
            sent += await self.flush_account(name)
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
                    if result in (UNSENT, DOWN):
                        return sent
                    sent += result == SENT
                    if self._stop.is_set():
                        break
        return sent

    async def _send(self, out: Outgoing, account: str | None = None,
                    claimed: bool = False) -> str:
        """One message through its transport (through `account`'s, given one): SENT,
        UNSENT (failed: it waits for its retry), DOWN (it waits untried), or TAKEN
        (another sender on the database has it). An account always claims its row: the
        row is then that account's. `claimed`: the caller has claimed it already."""
        claims = self.shared or account is not None
        if claims and not claimed and not await self.db.run(
            partial(claim, msg_id=out.id, now=self.clock.now(), account=account)
        ):
            return TAKEN
        out = await drawn(out)  # a chart is drawn now, after the commit, outside any lock
        transport = self.transports[out.transport] if account is None else self.accounts[account]
        try:
            transport_id = await transport.send(
                out if account is None else replace(out, account=account))
        except TransportDown as e:
            log.info("%s is down; outbox %s waits: %s", account or out.transport, out.id, e)
            if claims:
                # A row that was any account's is again: another in its group may take it.
                unassign = account is not None and out.account is None
                await self.db.run(partial(release, msg_id=out.id, unassign=unassign,
                                          account=account))
            return DOWN
        except Exception as e:  # the transport's failure: keep the row, retry later
            log.warning("sending outbox %s via %s failed: %r", out.id, out.transport, e)
            now = self.clock.now()
            error = repr(e)
            await self.db.run(
                partial(
                    mark_failed, msg_id=out.id, error=error, max_attempts=self.max_attempts,
                    now=now, unassign=account is not None and out.account is None,
                    account=account,
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
                if await self._capped(pacer, now, name):
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
                elif result in (UNSENT, DOWN) and not _available(transport):
                    return sent
        return sent

    # -- several accounts on one transport ----------------------------------------

    def _live(self, now: datetime) -> Callable[[Session], set[str]]:
        here = {n for n, t in self.accounts.items() if _available(t)}

        def live(session: Session) -> set[str]:
            return live_accounts(session, now, self.heartbeat_timeout) | here

        return live

    def _look(self, name: str, now: datetime, session: Session
              ) -> tuple[set[str], list[Route], dict[str, list[datetime]]]:
        """What account `name` works from, read in one transaction: the live accounts,
        its rows (`routes`), and every account's messages to each group in the last
        minute (`recent_sends`)."""
        live = self._live(now)(session) | {name}
        return (live, routes(session, self.account_transport, name, live),
                recent_sends(session, self.account_transport, now))

    async def flush_account(self, name: str) -> int:
        """Send what account `name` is to send now, paced by its own `Pacer`.

        It may take: rows assigned to it (the replies to what it received, and its own
        retries); unassigned rows of the groups it is in (and of groups no account is
        known to be in) and direct messages without an account; and the rows of its
        groups assigned to an account that is down (failover). A row it takes is
        claimed in the database with its name, so one account, in one process, sends
        it. Each group's rows go in their order, whichever account sends them, except
        that a row assigned to another live account (a reply it received the command
        for) holds back none of the others: it goes at that account's pace. A row in
        flight (claimed) does hold back its group: with nothing else to send, this
        account returns and looks again at its next poll.

        Spread: groups only this account reaches come first, then groups in order of
        how many live accounts reach them (fewest first): the accounts empty their own
        share in parallel and meet in the shared groups, so a city-wide notice ends
        about when the busiest account's own share plus its half of the shared ones
        does, as early as the pacing allows. Rows assigned to it (replies) go before
        any of that.
        """
        pacer, transport = self.account_pacing[name], self.accounts[name]
        tname = self.account_transport
        sent = 0
        # The rows are read again after ROUTES_TTL, after a commit here (`notify`) and
        # when what was read is used up; the claim decides, so an old read is only late.
        ordered: list[Route] | None = None
        live: set[str] = set()
        fetched, fresh = 0.0, False
        async with self._lock(f"account:{name}"):
            while not self._stop.is_set() and _available(transport):
                now = self.clock.now()
                if await self._capped(pacer, now, tname, account=name):
                    return sent
                if ordered is None or name in self._changed or (
                        time.monotonic() - fetched > ROUTES_TTL):
                    self._changed.discard(name)
                    live, found, recent = await self.db.run(partial(self._look, name, now))
                    pacer.heard(recent)
                    fetched = time.monotonic()
                    if not found:
                        return sent
                    stale = _stale_groups(found, name, live, now, now - pacer.stale)
                    if stale and await self.db.run(
                        partial(
                            merge_stale, transport=tname, stale_before=now - pacer.stale,
                            now=now, zone=pacer.zone, max_chars=self.merge_max_chars,
                            traditional=self.traditional, ids=stale, account=name,
                        )
                    ):
                        ordered = None
                        continue
                    ordered = _spread(found, name, live)
                    fresh = True
                route, wait = _pick_route(ordered, name, live, pacer, now)
                if route is None:
                    if wait is not None:
                        await self._pause(wait)
                    elif fresh:  # only retries or others' rows: the next poll
                        return sent
                    else:  # look again before giving up
                        ordered = None
                    continue
                fresh = False
                # Claimed and read in one transaction. The claim also checks the group's
                # limit against what every account sent it (this read of the others'
                # messages may be a few seconds old): refused, the rows are read again.
                out = await self.db.run(partial(
                    take, msg_id=route.id, now=self.clock.now(), account=name,
                    per_group=pacer.per_group_per_minute))
                result = TAKEN if out is None else await self._send(out, account=name,
                                                                    claimed=True)
                if result == SENT:
                    pacer.sent(route.key, self.clock.now())
                    sent += 1
                    ordered = [r for r in ordered if r.id != route.id]
                elif result == DOWN:
                    return sent
                else:  # taken by another, or failed: the rows changed under us
                    ordered = None
        return sent

    async def failover(self) -> int:
        """Rows of groups that have bot accounts but none live go to the WeCom webhook
        room of the group's unit (or nearest unit above) when the config binds one
        (`bot.outbox.reroute_unreachable`); the others wait for an account."""
        if not self.accounts or self.fallback is None:
            return 0
        now = self.clock.now()
        live = self._live(now)
        fallback = self.fallback

        def sweep(session: Session) -> int:
            return reroute_unreachable(session, self.account_transport, live(session),
                                       fallback, now)

        moved = await self.db.run(sweep)
        if moved:
            self.notify()
        return moved

    async def _capped(self, pacer: Pacer, now: datetime, transport: str,
                      account: str | None = None) -> bool:
        """The daily cap of a paced transport (of one of its accounts): at the first look
        of a local day its count restarts from what the database says was sent since
        that day began (a restart forgets nothing); True, told once a day, when reached."""
        if pacer.day != pacer.local_day(now):
            since = pacer.day_start(now)
            pacer.day = pacer.local_day(now)
            pacer.sent_today = await self.db.run(
                partial(sent_since, transport=transport, since=since, account=account))
        if pacer.capped():
            self._cap_reached(account or transport, pacer.day)
            return True
        return False

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
        flushes += [partial(self.flush_account, n) for n in self.accounts]
        if self.accounts and self.fallback is not None:
            flushes.append(self.failover)
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


def _takes(r: Route, name: str, live: set[str]) -> bool:
    """Account `name` may send this row: it is unassigned, its own, or its account is
    down (any live account in the group takes over)."""
    return r.account is None or r.account == name or r.account not in live


def _spread(found: list[Route], name: str, live: set[str]) -> list[Route]:
    """The rows in the order account `name` should look at them (see `flush_account`),
    each group's rows kept in their order."""
    rank: dict[str, int] = {}
    anyone = len(live) + 1  # a group no account is known to be in: the last choice
    for r in found:
        if r.account == name:
            n = 0
        elif r.room is None:
            n = len(live)
        else:
            n = r.reach if r.reach is not None else anyone
        rank[r.key] = min(rank.get(r.key, n), n)
    return sorted(found, key=lambda r: (rank[r.key], r.id))


def _pick_route(ordered: list[Route], name: str, live: set[str], pacer: Pacer, now: datetime
                ) -> tuple[Route | None, float | None]:
    """The first row `name` may send now, keeping each group's order; else how long
    until its pace allows one (None: nothing of its own to wait for)."""
    blocked: set[str] = set()
    wait: float | None = None
    gap = pacer.gap_wait(now)
    for r in ordered:
        if r.key in blocked:
            continue
        if r.next_try_at is not None and r.next_try_at > now:  # a retry, or in flight
            blocked.add(r.key)
            continue
        if not _takes(r, name, live):  # another live account's (a reply it received)
            continue
        if gap > 0:  # every row waits at least the account's gap: look again after it
            return None, gap  # (not scanning a city's rows after each message)
        w = pacer.wait(r.key, now)
        if w <= 0:
            return r, None
        blocked.add(r.key)
        wait = w if wait is None else min(wait, w)
    return None, wait


def _stale_groups(found: list[Route], name: str, live: set[str], now: datetime,
                  stale_before: datetime) -> list[int]:
    """The rows of the groups whose backlog account `name` should merge: two or more
    rows, the oldest stale, all of them its to take and none in flight."""
    groups: dict[str, list[Route]] = {}
    for r in found:
        groups.setdefault(r.key, []).append(r)
    ids: list[int] = []
    for group in groups.values():
        if len(group) < 2 or group[0].created_at >= stale_before:
            continue
        if all(_takes(r, name, live) and (r.next_try_at is None or r.next_try_at <= now)
               for r in group):
            ids += [r.id for r in group]
    return ids
