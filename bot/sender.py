"""Delivering the outbox after commit: in order, each row marked sent once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from bot.clock import Clock
from bot.db import Database
from bot.outbox import mark_failed, mark_sent, pending
from bot.transports import Sender

log = logging.getLogger(__name__)


class OutboxSender:
    """Sends what is pending through the transport each row names.

    `flush` sends everything due now, in id order (replay and tests call it after each
    transaction); `run` does the same whenever woken, until cancelled.
    """

    def __init__(self, db: Database, transports: Mapping[str, Sender], clock: Clock,
                 max_attempts: int = 8) -> None:  # fmt: skip
        self.db = db
        self.transports = dict(transports)
        self.clock = clock
        self.max_attempts = max_attempts
        self.wake = asyncio.Event()

    def notify(self) -> None:
        self.wake.set()

    async def flush(self) -> int:
        sent = 0
        while True:
            now = self.clock.now()
            batch = await self.db.run(lambda s, now=now: pending(s, None, 100, now))
            batch = [o for o in batch if o.transport in self.transports]
            if not batch:
                return sent
            for out in batch:
                try:
                    await self.transports[out.transport].send(out)
                except Exception as e:  # the transport's failure: keep the row, retry later
                    log.warning("sending outbox %s via %s failed: %s", out.id, out.transport, e)
                    await self.db.run(lambda s, i=out.id, e=e: mark_failed(s, i, repr(e), self.max_attempts))
                    return sent
                await self.db.run(lambda s, i=out.id: mark_sent(s, [i], self.clock.now()))
                sent += 1

    async def run(self, poll_seconds: float = 5.0) -> None:
        while True:
            try:
                await self.flush()
            except Exception:
                log.exception("outbox flush failed")
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), poll_seconds)
