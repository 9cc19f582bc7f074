"""The timing layer for `villagebot run`: wakes the job engine when something is due.

APScheduler (3.11, `AsyncIOScheduler`, in-memory job store) only keeps time; nothing is
persisted in it. The database is the schedule: the timer sleeps until the first active
`job.next_at`, then runs the due loop (`bot.jobs.loop.run_due`) up to now, which
handles every due occurrence once (the engine's row locks and unique run key decide,
even with several processes) and reports the next due time it read in its last
transaction: the wake-up is re-armed from that, and only when that time changed. It
also wakes every `poll_seconds` to notice jobs that other processes added, and re-reads
the next due time after every committed command (a reminder just set for soon).

APScheduler's own misfire handling is switched off (`misfire_grace_time=None`: a wake
that comes late still runs); lateness, 补发 and skipping are decided by the engine from
the database, so a stalled event loop or a restart is handled by the same rules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Config
from bot.jobs.engine import RunResult
from bot.jobs.loop import JobHost, run_due
from bot.jobs.scheduling import next_due_at

log = logging.getLogger(__name__)
WAKE, POLL = "wake", "poll"
_UNKNOWN = object()  # the due loop failed: read the next due time afresh


class TimerHost(JobHost, Protocol):
    """What the timer needs of the application (`bot.app.App` is one)."""

    config: Config


class Timer:
    def __init__(self, app: TimerHost, poll_seconds: float) -> None:
        self.app = app
        self.poll_seconds = poll_seconds
        self.loop = asyncio.get_running_loop()
        self.scheduler = AsyncIOScheduler(
            event_loop=self.loop,
            jobstores={"default": MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=app.config.zone,
        )
        self._ticking = False
        self._again = False
        self._rearm_pending = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.ticks = 0  # completed wake-ups (for tests and diagnostics)
        self.results: list[RunResult] = []  # every occurrence this timer handled

    def start(self) -> None:
        # Straight away: whatever fell due while the bot was down (补发 or skipped).
        self.scheduler.add_job(self._fire, DateTrigger(run_date=self.app.clock.now()), id=WAKE)
        self.scheduler.add_job(self._fire, IntervalTrigger(seconds=self.poll_seconds), id=POLL)
        self.scheduler.start()
        self.app.on_commit.append(self._on_commit)

    async def _fire(self) -> None:
        """What APScheduler calls: returns at once, so that its one-instance rule never
        drops a wake-up; a wake-up during a tick makes the tick go round once more."""
        if self._ticking:
            self._again = True
            return
        self._spawn(self.tick())

    async def tick(self) -> None:
        """Run what is due now (again while woken meanwhile), then sleep until the next
        due time."""
        self._ticking = True
        try:
            while not self._closed:
                self._again = False
                nxt = await self._run_due()
                if nxt is _UNKNOWN:
                    await self._rearm()
                else:
                    self._arm(nxt)  # type: ignore[arg-type]
                if not self._again:
                    break
        finally:
            self._ticking = False

    async def _run_due(self) -> datetime | None | object:
        """Run what is due; the next due time the loop read in its last transaction
        (`_UNKNOWN` if it failed)."""
        try:
            # The loop's own commits need no re-arm (it reports the next due time);
            # other hooks (the sender's wake-up) are called after each batch.
            hooks = [fn for fn in self.app.on_commit if fn != self._on_commit]
            results = await run_due(self.app, self.app.clock.now(), hooks=hooks)
        except Exception:
            log.exception("timer: running due jobs failed")
            return _UNKNOWN
        finally:
            self.ticks += 1
        self.results.extend(results)
        if results:
            handled = ", ".join(
                f"{r.job_id}@{r.due_at:%Y-%m-%d %H:%M} {r.outcome}" for r in results
            )
            log.info("timer: %d occurrence(s) handled: %s", len(results), handled)
        return results.next_at

    async def _rearm(self) -> None:
        if self._closed:
            return
        try:
            nxt: datetime | None = await self.app.db.run(next_due_at)
        except Exception:
            log.exception("timer: reading the next due time failed; the poll will retry")
            return
        self._arm(nxt)

    def _arm(self, nxt: datetime | None) -> None:
        """Wake at `nxt` (None: no job is active); untouched when that is already set."""
        if self._closed:
            return
        current = self.scheduler.get_job(WAKE)
        if nxt is None:
            if current is not None:
                self.scheduler.remove_job(WAKE)
            return
        if current is not None and current.next_run_time == nxt:
            return
        self.scheduler.add_job(
            self._fire, DateTrigger(run_date=nxt), id=WAKE, replace_existing=True
        )

    def poke(self) -> None:
        """Re-read the next due time soon (thread-safe): a job was added or changed."""
        self.loop.call_soon_threadsafe(self._schedule_rearm)

    def _on_commit(self) -> None:
        if not self._closed:
            self.poke()

    def _schedule_rearm(self) -> None:
        if self._rearm_pending or self._closed:
            return
        self._rearm_pending = True

        async def rearm() -> None:
            self._rearm_pending = False
            await self._rearm()

        self._spawn(rearm())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def next_wake(self) -> datetime | None:
        job = self.scheduler.get_job(WAKE)
        return job.next_run_time if job is not None else None

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_commit in self.app.on_commit:
            self.app.on_commit.remove(self._on_commit)
        for task in list(self._tasks):
            task.cancel()
        self.scheduler.shutdown(wait=False)


def start_timer(app: TimerHost, poll_seconds: float | None = None) -> Timer:
    """Start keeping time for `app` on the running event loop; `.shutdown()` stops it."""
    timer = Timer(app, poll_seconds or app.config.schedules.timer_poll_seconds)
    timer.start()
    return timer
