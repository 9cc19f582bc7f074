"""The job engine: what is due, run once, in order.

The database is the source of truth (`Job.next_at`); whatever keeps time (APScheduler
in `villagebot run`, see `bot/schedules/timer.py`; the virtual clock in `villagebot replay`)
only calls `App.run_due`. Each occurrence runs in one transaction that locks the job's
row, records a `JobRun` row with a unique (job, due time) key, runs the kind, queues its
messages in the outbox and moves `next_at` on. So an occurrence happens once: not twice
after a restart, and not twice with two processes on one database. On PostgreSQL a
process skips job rows another process has locked (on the system clock; a virtual clock
waits for the lock instead, so that it never jumps past a job); SQLite lets one writer
in at a time. The unique key is the backstop: an occurrence already recorded is never
run again.

Missed occurrences (the bot was down): only the newest one is considered (coalescing).
It runs marked late (`JobCtx.send` adds （补发）) if it is less than `misfire_grace` late;
otherwise it is skipped, logged and recorded as a skipped `JobRun`.

A kind that raises is logged and its occurrence recorded as failed; the job moves on.
A job whose timing or data cannot be handled at all is switched off (`App.run_due_sync`)
so that one broken job never blocks the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.models.jobs import Job, JobRun
from bot.outbox import OutboxWriter

log = logging.getLogger(__name__)

# A run this late (or less) is on time; beyond it, within the grace, it is a 补发.
ON_TIME = timedelta(minutes=1)
LATE_MARK = "（补发）"
# Of the occurrences missed while down, at most this many are stepped over (coalesced).
_MAX_COALESCE = 100_000


@dataclass
class JobCtx:
    session: Session
    job: Job
    due_at: datetime
    now: datetime
    late: bool  # a missed run sent after downtime: mark it 补发
    config: Config
    writer: OutboxWriter
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
        self, room_id: str, text: str, kind: str = "reminder", image: bytes | None = None
    ) -> None:
        self.writer.put(self.session, self.mark(text), room_id=room_id, kind=kind, image=image)


def once(job: Job, after: datetime, config: Config) -> datetime | None:
    """The default next time: none, the job runs once."""
    return None


@dataclass(frozen=True)
class JobKind:
    """What a kind of job does when due, and when it is due next.

    `next_after(job, after, config)` gives the first due time strictly after `after`,
    or None when the job is done (a one-off reminder); without it, the job runs once.
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
        """The first active job due by `until`, locked for this transaction.

        On PostgreSQL a row another process has locked (it is running that job) is
        skipped, so two processes work through a burst side by side; once that process
        commits, the job's `next_at` has moved on. SQLite has no row locks: its
        BEGIN IMMEDIATE lets one writer in at a time instead.
        """
        return session.exec(
            select(Job)
            .where(col(Job.active).is_(True), col(Job.next_at) <= until)
            .order_by(col(Job.next_at), col(Job.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()

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

    def run_job(self, session: Session, job: Job, now: datetime) -> RunResult | None:
        """Handle a locked job's due occurrence (the newest one due by `now`), in
        `session`'s transaction. None if it is not due (any more)."""
        if not job.active or job.next_at > now:
            return None
        assert job.id is not None
        kind = self.kinds.get(job.kind)
        if kind is None:
            log.error("job %s has unknown kind %r; deactivated", job.id, job.kind)
            job.active = False
            return None
        due = job.next_at
        # Coalesce: of several occurrences missed while down, only the newest counts.
        for _ in range(_MAX_COALESCE):
            nxt = kind.next_after(job, due, self.config)
            if nxt is None or nxt > now or nxt <= due:
                break
            log.warning("job %s (%s): occurrence at %s missed, superseded", job.id, job.kind, due)
            due = nxt
        outcome = classify(now - due, self.grace)
        run_id = _record_run(session, job.id, due, now, outcome)
        if run_id is None:
            # Recorded already (a job moved back onto a handled time): never run it twice.
            log.warning("job %s (%s) due %s was already handled", job.id, job.kind, due)
            self._advance(job, kind, due)
            return RunResult(job.id, due, "taken")
        if outcome == "skipped":
            log.warning(
                "job %s (%s) due %s skipped: %s late, not less than the grace of %s",
                job.id, job.kind, due, now - due, self.grace,
            )  # fmt: skip
        else:
            ctx = JobCtx(session, job, due, now, outcome == "late", self.config, self.writer,
                         self.services)  # fmt: skip
            try:
                # A savepoint: a failing kind leaves no half-written messages behind.
                with session.begin_nested():
                    kind.run(ctx)
            except Exception:
                log.exception("job %s (%s) due %s failed", job.id, job.kind, due)
                outcome = "failed"
                session.execute(
                    update(JobRun).where(col(JobRun.id) == run_id).values(outcome=outcome)
                )
        self._advance(job, kind, due)
        return RunResult(job.id, due, outcome)

    def disable(self, session: Session, job_id: int) -> None:
        """Switch a job off (it cannot be run: a broken kind or payload)."""
        job = session.get(Job, job_id)
        if job is not None:
            job.active = False

    def _advance(self, job: Job, kind: JobKind, due: datetime) -> None:
        nxt = kind.next_after(job, due, self.config)
        if nxt is None:
            job.active = False
        elif nxt <= due:
            log.error("job %s (%s): next time %s is not after %s; deactivated",
                      job.id, job.kind, nxt, due)  # fmt: skip
            job.active = False
        else:
            job.next_at = nxt


def _record_run(session: Session, job_id: int, due: datetime, now: datetime,
                outcome: str) -> int | None:  # fmt: skip
    """Insert the occurrence's unique `JobRun` row; None if it exists already. One
    statement (INSERT … ON CONFLICT DO NOTHING), no savepoint."""
    values: dict[str, Any] = {"job_id": job_id, "due_at": due, "ran_at": now, "outcome": outcome}
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            insert(JobRun)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["job_id", "due_at"])
            .returning(col(JobRun.id))
        )
        return session.execute(stmt).scalar()
    run = JobRun(**values)
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        return None
    return run.id


def next_due_at(session: Session) -> datetime | None:
    """When the first active job falls due (the timer sleeps until then)."""
    return session.exec(
        select(Job.next_at).where(col(Job.active).is_(True)).order_by(col(Job.next_at)).limit(1)
    ).first()


def upsert_job(
    session: Session,
    key: str,
    kind: str,
    next_at: datetime | None,
    now: datetime,
    *,
    room_id: str | None = None,
    unit_id: int | None = None,
    payload: dict[str, Any] | None = None,
    created_by: str | None = None,
    keep_missed: bool = False,
) -> Job:
    """Create the job with this key, or update its timing and payload (None: deactivate).

    `payload=None` keeps an existing job's payload. With `keep_missed` (seeding built-in
    jobs at start-up), an existing active job that is already due keeps its `next_at`,
    so a run missed while the bot was down is still handled by the engine's rules
    (补发 or skipped) instead of silently moved on; a job not yet due takes the new
    time (the config may have changed). Safe when two processes seed at once.
    """
    job = session.exec(select(Job).where(Job.key == key)).first()
    if job is None:
        data = json.dumps(payload or {}, ensure_ascii=False, sort_keys=True)
        job = Job(key=key, kind=kind, room_id=room_id, unit_id=unit_id, payload=data,
                  next_at=next_at or now, active=next_at is not None, created_by=created_by,
                  created_at=now)  # fmt: skip
        try:
            with session.begin_nested():
                session.add(job)
                session.flush()
            return job
        except IntegrityError:
            # Another process inserted the same key just now; update theirs instead.
            found = session.exec(select(Job).where(Job.key == key)).first()
            if found is None:
                raise
            job = found
    job.kind, job.room_id, job.unit_id = kind, room_id, unit_id
    if payload is not None:
        job.payload = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    if next_at is None:
        job.active = False
    elif keep_missed and job.active and job.next_at <= now:
        pass
    else:
        job.next_at, job.active = next_at, True
    session.flush()
    return job


# -- the scheduling API every area uses (never `Job` rows directly) -------------------


def schedule(
    session: Session,
    key: str,
    kind: str,
    at: datetime,
    now: datetime,
    *,
    room_id: str | None = None,
    unit_id: int | None = None,
    payload: dict[str, Any] | None = None,
    created_by: str | None = None,
) -> Job:
    """Make the job with this key due at `at` (created, or re-timed and re-activated).
    `payload=None` keeps an existing job's payload."""
    return upsert_job(session, key, kind, at, now, room_id=room_id, unit_id=unit_id,
                      payload=payload, created_by=created_by)


def cancel(session: Session, key: str) -> bool:
    """Switch off the job with this key; False if there was no active one."""
    job = session.exec(select(Job).where(Job.key == key)).first()
    if job is None or not job.active:
        return False
    job.active = False
    session.flush()
    return True


def seed_builtin(
    session: Session,
    key: str,
    kind: str,
    spec: str,
    next_at: Callable[[Job | None], datetime | None],
    now: datetime,
) -> Job | None:
    """A built-in job seeded at start-up from the config. `spec` is the config's timing
    for it: while it is unchanged an active job keeps its next run (a run missed while
    the bot was down is still handled by the engine's rules: 补发 or skipped); when it
    changed, the job takes `next_at(job)`. The payload is merged, never replaced, so
    what a job remembers between runs (the 公示's `last_id`) survives a restart."""
    job = session.exec(select(Job).where(Job.key == key)).first()
    old = json.loads(job.payload or "{}") if job is not None else {}
    if job is not None and job.active and old.get("spec") == spec:
        return job
    return upsert_job(session, key, kind, next_at(job), now, payload={**old, "spec": spec})
