"""The due loop: run every job occurrence due by a time, oldest first, one transaction
each, in the database thread (`run_due`, for the asyncio shell) or the caller's own
(`run_due_sync`, for tests and tools).

With `advance` (a virtual clock's setter), time moves to each occurrence's due time
before it runs, as if the time had passed with the bot up; without it, occurrences run
at the clock's current time (late ones are marked 补发, those beyond the grace skipped).
Several processes may run the loop on one database: each occurrence runs in exactly one
of them (`JobRunner`'s row lock and unique run key decide).

A job that fails outside its kind's run (its timing, its data) would block every job
after it: the loop switches it off, loudly, and goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from bot.clock import Clock
from bot.db import Database
from bot.jobs.engine import JobRunner, RunResult

log = logging.getLogger(__name__)

Advance = Callable[[datetime], None]


class JobHost(Protocol):
    """What the loop needs of the application (`bot.app.App` is one)."""

    clock: Clock
    db: Database
    jobs: JobRunner
    # Called after a transaction that queued messages has committed (wakes the sender).
    on_commit: list[Callable[[], None]]


class _Done:
    """Nothing more is due by the loop's `until`."""


_DONE = _Done()


class _Poisoned(Exception):
    def __init__(self, job_id: int) -> None:
        super().__init__(job_id)
        self.job_id = job_id


def run_due_sync(
    host: JobHost, until: datetime, advance: Advance | None = None, notify: bool = True
) -> list[RunResult]:
    """Run every job occurrence due by `until`, in the calling thread. `notify`: call
    the commit hooks after each occurrence that queued messages."""
    results: list[RunResult] = []
    while not isinstance(result := _due_step(host, until, advance), _Done):
        if result is not None:
            results.append(result)
            if notify and result.outcome in ("ran", "late"):
                _committed(host)
    return results


async def run_due(
    host: JobHost, until: datetime, advance: Advance | None = None
) -> list[RunResult]:
    """`run_due_sync` with one hop into the database thread per occurrence, so that
    messages arriving meanwhile are not held up behind a burst of due jobs. The hooks
    (the sender's wake-up) are asyncio objects: they are called here, on the loop."""
    results: list[RunResult] = []
    while not isinstance(
        result := await host.db.call(lambda: _due_step(host, until, advance)), _Done
    ):
        if result is not None:
            results.append(result)
            if result.outcome in ("ran", "late"):
                _committed(host)
    return results


def _committed(host: JobHost) -> None:
    for fn in host.on_commit:
        fn()


def _due_step(host: JobHost, until: datetime, advance: Advance | None) -> RunResult | _Done | None:
    """One due occurrence; None if there was nothing to run after all (another process
    ran it, or it was switched off); `_DONE` when nothing more is due by `until`."""
    try:
        return _run_next_due(host, until, advance)
    except _Poisoned as e:
        # Not the kind's run (that is caught and recorded) but its timing or its
        # data: it would block every job after it. Switch it off, loudly.
        log.error("job %s cannot be run and is switched off", e.job_id)
        with host.db.transaction() as session:
            host.jobs.disable(session, e.job_id)
        return None


def _run_next_due(
    host: JobHost, until: datetime, advance: Advance | None
) -> RunResult | _Done | None:
    """One occurrence in one transaction: lock the first due job and run it.
    `_DONE` when nothing more is due by `until`."""
    runner = host.jobs
    job_id: int | None = None
    try:
        with host.db.transaction() as session:
            if advance is None:
                job = runner.claim_next(session, until)
            else:
                # Virtual time moves to the earliest due job before taking it, and
                # waits for its lock rather than skipping ahead to later ones: a
                # clock that jumped past a job would make it late.
                first = runner.next_due(session)
                if first is None or first.next_at > until:
                    return _DONE
                if first.next_at > host.clock.now():
                    advance(first.next_at)
                job = runner.lock(session, first)
            if job is None:  # none due (system clock), or it was deleted meanwhile
                return _DONE if advance is None else None
            job_id = job.id
            now = host.clock.now()
            if job.next_at > now:
                # A real clock behind `until` (not due yet), or another process ran
                # it while this one waited for the lock.
                return _DONE if advance is None else None
            return runner.run_job(session, job, now)
    except DBAPIError:
        raise  # the database, not the job: let the caller retry later
    except Exception as e:
        if job_id is None:
            raise
        log.exception("job %s failed outside its run", job_id)
        raise _Poisoned(job_id) from e
