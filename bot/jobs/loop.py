"""The due loop: run every job occurrence due by a time, oldest first, in the database
thread (`run_due`, for the asyncio shell) or the caller's own (`run_due_sync`, for tests
and tools).

Due occurrences are claimed in batches (up to `BATCH`, oldest first) and run in one
transaction per batch, each occurrence in its own savepoint, then committed once: a
burst of reminders due in the same minute costs a few commits, not one per reminder.
What a batch needs is read once for all of it (the jobs, their groups, the runs
already recorded), and its `JobRun` rows and next times are written once for all of it
(`bot.jobs.engine.Batch`): an occurrence costs its savepoint and its kind's own work.

With `advance` (a virtual clock's setter), time moves to each due time before the jobs
due then run, as if the time had passed with the bot up; without it, occurrences run
at the clock's current time (late ones are marked 补发, those beyond the grace skipped).
Several processes may run the loop on one database: each occurrence runs in exactly one
of them (`JobRunner`'s row locks and unique run key decide).

A job that fails outside its kind's run (its timing, its data) would block every job
after it: its savepoint is rolled back, the loop switches it off, loudly, and the
batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from bot.clock import Clock
from bot.db import Database
from bot.jobs.engine import Batch, JobRunner, RunResult
from bot.jobs.scheduling import next_due_at

log = logging.getLogger(__name__)

Advance = Callable[[datetime], None]


class JobHost(Protocol):
    """What the loop needs of the application (`bot.app.App` is one)."""

    clock: Clock
    db: Database
    jobs: JobRunner
    # Called after a transaction that queued messages has committed (wakes the sender).
    on_commit: list[Callable[[], None]]


# Occurrences claimed and run per transaction. Larger batches commit less often; a
# batch holds SQLite's write lock while it runs (about 1 ms an occurrence here), so
# commands arriving during a burst wait at most about one batch.
BATCH = 100


class DueResults(list[RunResult]):
    """The occurrences a due loop handled, in order, and when the first active job is
    due after it (read in its last transaction; None when no job is active), so that
    the timer need not read it again."""

    next_at: datetime | None = None


@dataclass
class _Batch:
    results: list[RunResult]
    done: bool  # nothing more due by the loop's `until`
    next_at: datetime | None = None  # when done: the first active job's due time


def run_due_sync(
    host: JobHost, until: datetime, advance: Advance | None = None, notify: bool = True
) -> DueResults:
    """Run every job occurrence due by `until`, in the calling thread. `notify`: call
    the commit hooks after each batch that queued messages."""
    out = DueResults()
    while True:
        batch = _due_batch(host, until, advance)
        out.extend(batch.results)
        if notify and any(r.outcome in ("ran", "late") for r in batch.results):
            _committed(host)
        if batch.done:
            out.next_at = batch.next_at
            return out


async def run_due(
    host: JobHost, until: datetime, advance: Advance | None = None, *,
    hooks: Sequence[Callable[[], None]] | None = None,
) -> DueResults:
    """`run_due_sync` with one hop into the database thread per batch, so that messages
    arriving meanwhile are not held up behind a whole burst of due jobs. The commit
    hooks (`hooks`, by default `host.on_commit`: the sender's wake-up) are asyncio
    objects: they are called here, on the loop, after each batch that queued messages."""
    out = DueResults()
    while True:
        batch = await host.db.call(lambda: _due_batch(host, until, advance))
        out.extend(batch.results)
        if any(r.outcome in ("ran", "late") for r in batch.results):
            for fn in host.on_commit if hooks is None else hooks:
                fn()
        if batch.done:
            out.next_at = batch.next_at
            return out


def _committed(host: JobHost) -> None:
    for fn in host.on_commit:
        fn()


def _due_batch(host: JobHost, until: datetime, advance: Advance | None) -> _Batch:
    """Claim up to BATCH due occurrences and run them in one transaction, each in its
    own savepoint (`JobRunner.run_job`): a job that fails outside its kind's run (its
    timing, its data) would block every job after it, so it is switched off, loudly,
    and the batch goes on."""
    runner = host.jobs
    with host.db.transaction() as session:
        if advance is None:
            jobs = runner.claim_due(session, until, BATCH)
            if not jobs:
                return _Batch([], True, next_due_at(session))
        else:
            # Virtual time moves to the earliest due job before taking it, and waits
            # for the locks of the jobs due then rather than skipping ahead to later
            # ones: a clock that jumped past a job would make it late.
            first = runner.next_due(session)
            if first is None or first.next_at > until:
                return _Batch([], True, first.next_at if first is not None else None)
            if first.next_at > host.clock.now():
                advance(first.next_at)
            # Empty when another process ran them while this one waited: look again.
            jobs = runner.lock_due(session, host.clock.now(), BATCH)
        # What the batch reads, read once: its rooms, held for its duration (the
        # session's identity map keeps only referenced objects, and each message queued
        # looks its room up), and the runs already recorded for its jobs.
        rooms = runner.rooms_of(session, jobs)  # noqa: F841
        batch = Batch.start(session, jobs)
        now = host.clock.now()
        results: list[RunResult] = []
        done = False
        for job in jobs:
            if job.next_at > now:
                # A real clock behind `until`: this job and those after it are not due yet.
                done = True
                break
            assert job.id is not None
            job_id = job.id
            try:
                result = runner.run_job(session, job, now, batch)
            except DBAPIError:
                raise  # the database, not the job: the caller retries later
            except Exception:
                log.exception("job %s failed outside its run", job_id)
                log.error("job %s cannot be run and is switched off", job_id)
                runner.disable(session, job_id)
                continue
            if result is not None:
                results.append(result)
        # The batch's runs and next times, before anything reads the jobs' times again.
        batch.write(session, runner.writer)
        return _Batch(results, True, next_due_at(session)) if done else _Batch(results, False)
