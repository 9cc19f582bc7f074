"""The job engine: handle one due occurrence of a job, once.

The database is the source of truth (`Job.next_at`); whatever keeps time (APScheduler
in `villagebot run`, see `bot.jobs.timer`; the virtual clock in `villagebot replay`)
only calls the due loop (`bot.jobs.loop`), which hands each due job to `JobRunner`.
Each occurrence runs in a savepoint of a transaction that has locked the job's row
(the due loop claims a batch of jobs per transaction): it runs the kind, queues its
messages in the outbox, and records a `JobRun` row with a unique (job, due time) key
and moves `next_at` on (both written for the whole batch at its end, `Batch`). So an
occurrence happens once: not twice after a
restart, and not twice with two processes on one database. On PostgreSQL a process
skips job rows another process has locked (on the system clock; a virtual clock waits
for the lock instead, so that it never jumps past a job); SQLite lets one writer in at
a time. The unique key is the backstop: an occurrence already recorded is never run
again.

Missed occurrences (the bot was down): only the newest one is considered (coalescing).
It runs marked late (`JobCtx.send` adds （补发）) if it is less than `misfire_grace` late;
otherwise it is skipped, logged and recorded as a skipped `JobRun`.

A kind that raises is logged and its occurrence recorded as failed; the job moves on.
A job whose timing or data cannot be handled at all is switched off by the due loop
so that one broken job never blocks the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.models.core import Room
from bot.models.jobs import Job, JobRun
from bot.outbox import ChartData, OutboxWriter

log = logging.getLogger(__name__)

# A run this late (or less) is on time; beyond it, within the grace, it is a 补发.
ON_TIME = timedelta(minutes=1)
LATE_MARK = "（补发）"
# Of the occurrences missed while down, at most this many are stepped over (coalesced).
_MAX_COALESCE = 100_000


class QueuedWriter:
    """The outbox writer an occurrence is given: its messages are kept, in order, and
    put in the outbox (`OutboxWriter.put`, the same rows) when the batch ends, all of
    them flushed at once, in the batch's transaction: one INSERT for a burst rather
    than one per occurrence. An occurrence undone (its kind raised) leaves none."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

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
    ) -> None:
        # What `OutboxWriter.put` would refuse is refused now, in the occurrence (a
        # failed kind), not when the batch ends; its rooms are loaded (`rooms_of`).
        if (room_id is None) == (to_id is None):
            raise ValueError("a message goes to exactly one room or one contact")
        if transport is None:
            room = session.get(Room, room_id) if room_id else None
            if room is None:
                raise ValueError(f"unknown room {room_id!r} and no transport given")
            transport = room.transport
        self.calls.append((text, {
            "room_id": room_id, "to_id": to_id, "transport": transport, "reply_to": reply_to,
            "kind": kind, "mentions": tuple(mentions), "image": image, "account": account,
            "chart": _Stored(chart.to_json()) if chart is not None else None,
        }))


@dataclass(frozen=True)
class _Stored:
    """A chart's data, serialised when queued."""

    data: str

    def to_json(self) -> str:
        return self.data


@dataclass
class JobCtx:
    session: Session
    job: Job
    due_at: datetime
    now: datetime
    late: bool  # a missed run sent after downtime: mark it 补发
    config: Config
    writer: QueuedWriter
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return self.config.zone

    def local(self, when: datetime | None = None) -> datetime:
        return (when or self.due_at).astimezone(self.zone)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.job.payload or "{}")  # type: ignore[no-any-return]

    def set_payload(self, data: dict[str, Any]) -> None:
        self.job.payload = json.dumps(data, ensure_ascii=False, sort_keys=True)

    def mark(self, text: str) -> str:
        return f"{text}{LATE_MARK}" if self.late else text

    def send(
        self, room_id: str, text: str, kind: str = "reminder", image: bytes | None = None,
        mentions: Sequence[str] = (), chart: ChartData | None = None,
    ) -> None:
        """Queue a message in the occurrence's transaction (`QueuedWriter`); a `chart`
        is drawn by the sender after the commit (never while a transaction is open)."""
        self.writer.put(self.session, self.mark(text), room_id=room_id, kind=kind, image=image,
                        mentions=mentions, chart=chart)


def once(job: Job, after: datetime, config: Config) -> datetime | None:
    """The next-time rule of a job that runs once: never again after its due time."""
    return None


@dataclass(frozen=True)
class JobKind:
    """What a kind of job does when due, and when it is due next.

    `next_after(job, after, config)` gives the first due time strictly after `after`,
    or None when the job is done; the default, `once`, makes a one-off job.
    """

    name: str
    run: Callable[[JobCtx], None]
    next_after: Callable[[Job, datetime, Config], datetime | None] = once


@dataclass
class RunResult:
    job_id: int
    due_at: datetime
    # "ran", "late" (补发), "skipped" (beyond the grace), "failed" (the kind raised),
    # "taken" (the occurrence was already recorded: another process had it)
    outcome: str


def classify(lateness: timedelta, grace: timedelta) -> str:
    """On time, a 补发 (less than the grace late), or skipped."""
    if lateness <= ON_TIME:
        return "ran"
    return "late" if lateness < grace else "skipped"


class JobRunner:
    def __init__(
        self,
        kinds: Iterable[JobKind],
        config: Config,
        clock: Clock,
        writer: OutboxWriter,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.kinds: dict[str, JobKind] = {}
        for k in kinds:
            if k.name in self.kinds:
                raise ValueError(f"job kind {k.name!r} declared twice")
            self.kinds[k.name] = k
        self.config = config
        self.clock = clock
        self.writer = writer
        self.grace = timedelta(minutes=config.schedules.misfire_grace_minutes)
        self.services = services if services is not None else {}

    def next_due(self, session: Session) -> Job | None:
        """The active job due first (possibly already overdue)."""
        return session.exec(
            select(Job)
            .where(col(Job.active).is_(True))
            .order_by(col(Job.next_at), col(Job.id))
            .limit(1)
        ).first()

    def claim_next(self, session: Session, until: datetime) -> Job | None:
        """The first active job due by `until`, locked for this transaction."""
        jobs = self.claim_due(session, until, 1)
        return jobs[0] if jobs else None

    def claim_due(self, session: Session, until: datetime, limit: int) -> list[Job]:
        """Up to `limit` active jobs due by `until`, oldest first, locked for this
        transaction.

        On PostgreSQL rows another process has locked (it is running those jobs) are
        skipped, so two processes work through a burst side by side; once that process
        commits, those jobs' `next_at` has moved on. SQLite has no row locks: its
        BEGIN IMMEDIATE lets one writer in at a time instead.
        """
        return list(session.exec(
            select(Job)
            .where(col(Job.active).is_(True), col(Job.next_at) <= until)
            .order_by(col(Job.next_at), col(Job.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all())

    def lock_due(self, session: Session, at: datetime, limit: int) -> list[Job]:
        """Up to `limit` active jobs due by `at`, oldest first, locked, waiting for a
        process that holds them, and read afresh: by then that process may have run
        them and moved `next_at` on (those are then left out)."""
        return list(session.exec(
            select(Job)
            .where(col(Job.active).is_(True), col(Job.next_at) <= at)
            .order_by(col(Job.next_at), col(Job.id))
            .limit(limit)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all())

    def rooms_of(self, session: Session, jobs: Sequence[Job]) -> list[Room]:
        """The groups of these jobs, in one statement (loaded into the session)."""
        ids = {j.room_id for j in jobs if j.room_id is not None}
        return list(session.exec(select(Room).where(col(Room.id).in_(ids))).all()) if ids else []

    def lock(self, session: Session, job: Job) -> Job | None:
        """Lock the job's row, waiting for a process that holds it, and read it afresh:
        by then that process may have run it and moved `next_at` on."""
        return session.exec(
            select(Job)
            .where(Job.id == job.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()

    def run_one(self, session: Session, job_id: int, now: datetime) -> RunResult | None:
        """Handle the job's due occurrence, locking it first (tools and tests)."""
        job = session.get(Job, job_id)
        job = None if job is None else self.lock(session, job)
        return None if job is None else self.run_job(session, job, now)

    def run_job(self, session: Session, job: Job, now: datetime,
                batch: Batch | None = None) -> RunResult | None:
        """Handle a locked job's due occurrence (the newest one due by `now`), in
        `session`'s transaction, inside one savepoint: if anything but the kind's run
        fails (its timing, its data), the savepoint is rolled back, nothing of the
        occurrence is left, and the error goes to the caller (who switches the job off).
        A kind that raises has its writes undone and the occurrence recorded as failed.
        None if it is not due (any more).

        The occurrence's `JobRun` row and the job's next time go into `batch`, written
        by `Batch.write` in the same transaction (one statement each for a whole batch);
        without one they are written at once."""
        own = batch is None
        if batch is None:
            batch = Batch.start(session, [job])
        result = self._run(session, job, now, batch)
        if own:
            batch.write(session, self.writer)
        return result

    def _run(self, session: Session, job: Job, now: datetime, batch: Batch) -> RunResult | None:
        if not job.active or job.next_at > now:
            return None
        assert job.id is not None
        job_id = job.id
        kind = self.kinds.get(job.kind)
        if kind is None:
            log.error("job %s has unknown kind %r; deactivated", job_id, job.kind)
            job.active = False
            return None
        due = job.next_at
        queue = QueuedWriter()
        try:
            with session.begin_nested():
                due = self._newest_due(job, kind, now)
                outcome = classify(now - due, self.grace)
                if batch.handled(session, job_id, due):
                    # Recorded already (a job moved back onto a handled time): never run
                    # it twice.
                    log.warning("job %s (%s) due %s was already handled", job_id, job.kind, due)
                    outcome = "taken"
                elif outcome == "skipped":
                    log.warning(
                        "job %s (%s) due %s skipped: %s late, not less than the grace of %s",
                        job_id, job.kind, due, now - due, self.grace,
                    )
                else:
                    ctx = JobCtx(session, job, due, now, outcome == "late", self.config,
                                 queue, self.services)
                    try:
                        kind.run(ctx)
                    except Exception as e:
                        raise _KindFailed from e
                nxt = self._next(job, kind, due)
        except _KindFailed as e:
            log.error("job %s (%s) due %s failed", job_id, kind.name, due, exc_info=e.__cause__)
            # The kind's writes are undone (no half-written messages); the failure is
            # recorded and the job moves on (its timing may still fail: to the caller).
            outcome, nxt = "failed", self._next(job, kind, due)
            queue.calls.clear()
        # Only now, the savepoint released: nothing is kept of an occurrence undone.
        batch.messages.extend(queue.calls)
        if outcome != "taken":
            batch.ran(job_id, due, now, outcome)
        batch.move(job, *nxt)
        return RunResult(job_id, due, outcome)

    def _newest_due(self, job: Job, kind: JobKind, now: datetime) -> datetime:
        """Coalesce: of several occurrences missed while down, only the newest counts."""
        due = job.next_at
        for _ in range(_MAX_COALESCE):
            nxt = kind.next_after(job, due, self.config)
            if nxt is None or nxt > now or nxt <= due:
                break
            log.warning("job %s (%s): occurrence at %s missed, superseded", job.id, job.kind, due)
            due = nxt
        return due

    def disable(self, session: Session, job_id: int) -> None:
        """Switch a job off (it cannot be run: a broken kind or payload)."""
        job = session.get(Job, job_id)
        if job is not None:
            job.active = False

    def _next(self, job: Job, kind: JobKind, due: datetime) -> tuple[datetime, bool]:
        """The job's next time after the occurrence `due`, and whether it stays active."""
        nxt = kind.next_after(job, due, self.config)
        if nxt is None:
            return job.next_at, False
        if nxt <= due:
            log.error(
                "job %s (%s): next time %s is not after %s; deactivated",
                job.id,
                job.kind,
                nxt,
                due,
            )
            return job.next_at, False
        return nxt, True


_RUNS = JobRun.__table__  # type: ignore[attr-defined]
_JOBS = Job.__table__  # type: ignore[attr-defined]
# The job rows a batch moved on, in one executemany (a cached statement). A row that
# something else in the batch changed since its occurrence ran (a kind re-timed or
# cancelled that job) keeps that change: the later write wins, as it would in order.
_MOVE = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("b_id"), _JOBS.c.active.is_(True),
           _JOBS.c.next_at == bindparam("b_was", type_=_JOBS.c.next_at.type))
    .values(next_at=bindparam("b_next", type_=_JOBS.c.next_at.type),
            active=bindparam("b_active", type_=_JOBS.c.active.type))
)


@dataclass
class Batch:
    """What a batch of occurrences writes besides their kinds' own writes: a `JobRun`
    row each and the jobs' next times, kept here as the occurrences run and written by
    `write` in the same transaction, one statement each (Core, no ORM flush).

    The unique key of `JobRun` still decides: the runs already recorded for the batch's
    jobs are read once, up front (`start`), while the batch holds the jobs' row locks
    (PostgreSQL) or the write lock (SQLite), so nobody else records one meanwhile; an
    occurrence recorded already is never run again. Should a key clash all the same,
    the INSERT fails the whole transaction: nothing runs twice."""

    recorded: set[tuple[int, datetime]]
    since: datetime | None = None  # `recorded` holds the runs due at or after it
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # put() calls
    runs: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def start(cls, session: Session, jobs: Sequence[Job]) -> Batch:
        """The runs recorded for these jobs at or after their due times (one SELECT)."""
        ids = [j.id for j in jobs if j.id is not None]
        if not ids:
            return cls(set())
        since = min(j.next_at for j in jobs)
        rows = session.execute(
            sa_select(_RUNS.c.job_id, _RUNS.c.due_at)
            .where(_RUNS.c.job_id.in_(ids), _RUNS.c.due_at >= since)
        ).all()
        return cls({(job_id, due) for job_id, due in rows}, since)

    def handled(self, session: Session, job_id: int, due: datetime) -> bool:
        """Whether this occurrence is recorded: read up front, or (a job re-timed to
        before the batch's earliest time meanwhile) from the database."""
        if (job_id, due) in self.recorded:
            return True
        if self.since is not None and due >= self.since:
            return False
        return session.execute(
            sa_select(_RUNS.c.id).where(_RUNS.c.job_id == job_id, _RUNS.c.due_at == due)
        ).first() is not None

    def ran(self, job_id: int, due: datetime, now: datetime, outcome: str) -> None:
        self.recorded.add((job_id, due))
        self.runs.append({"job_id": job_id, "due_at": due, "ran_at": now, "outcome": outcome})

    def move(self, job: Job, next_at: datetime, active: bool) -> None:
        """The job's next time; the loaded row is set to it as committed state (no ORM
        flush: `write` updates the row)."""
        self.moves.append({"b_id": job.id, "b_was": job.next_at, "b_next": next_at,
                           "b_active": active})
        set_committed_value(job, "next_at", next_at)
        set_committed_value(job, "active", active)

    def write(self, session: Session, writer: OutboxWriter) -> None:
        """The batch's messages (in the order they were queued: ORM rows, flushed
        together in a few multi-row INSERTs), runs and next times."""
        for text, kw in self.messages:
            writer.put(session, text, **kw)
        session.flush()
        if self.runs:
            session.execute(insert(_RUNS), self.runs)
        if self.moves:
            session.execute(_MOVE, self.moves)
        self.messages, self.runs, self.moves = [], [], []


class _KindFailed(Exception):
    """The kind's run raised (the cause): the occurrence is recorded as failed."""
