"""The job engine: what is due, run once, in order.

The database is the source of truth (`Job.next_at`); whatever keeps time (APScheduler
in `villagebot run`, the virtual clock in `villagebot replay`) only calls
`JobRunner.run_due`. Each occurrence runs in one transaction that also records a
`JobRun` row with a unique (job, due time) key, so an occurrence happens once: not
twice after a restart, and not twice with two processes on one database.

Missed occurrences (the bot was down): only the newest one is considered. It runs,
marked late (the kind adds （补发）), if it is less than `misfire_grace` late;
otherwise it is skipped and logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.job.payload or "{}")  # type: ignore[no-any-return]

    def set_payload(self, data: dict[str, Any]) -> None:
        self.job.payload = json.dumps(data, ensure_ascii=False, sort_keys=True)

    def mark(self, text: str) -> str:
        return f"{text}{LATE_MARK}" if self.late else text

    def send(self, room_id: str, text: str, kind: str = "reminder", image: bytes | None = None) -> None:
        self.writer.put(self.session, self.mark(text), room_id=room_id, kind=kind, image=image)


@dataclass(frozen=True)
class JobKind:
    """What a kind of job does when due, and when it is due next.

    `next_after(job, after, config)` gives the first due time strictly after `after`,
    or None when the job is done (a one-off reminder).
    """

    name: str
    run: Callable[[JobCtx], None]
    next_after: Callable[[Job, datetime, Config], datetime | None]


@dataclass
class RunResult:
    job_id: int
    due_at: datetime
    outcome: str  # "ran", "late", "skipped", "taken" (another process had it)


class JobRunner:
    def __init__(
        self,
        kinds: Iterable[JobKind],
        config: Config,
        clock: Clock,
        writer: OutboxWriter,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.kinds = {k.name: k for k in kinds}
        self.config = config
        self.clock = clock
        self.writer = writer
        self.grace = timedelta(minutes=config.schedules.misfire_grace_minutes)
        self.services = services if services is not None else {}

    def next_due(self, session: Session) -> Job | None:
        return session.exec(
            select(Job)
            .where(col(Job.active).is_(True))
            .order_by(col(Job.next_at), col(Job.id))
            .limit(1)
        ).first()

    def run_one(self, session: Session, job_id: int, now: datetime) -> RunResult | None:
        """Handle the job's due occurrence (the newest one due by `now`), in `session`'s
        transaction. None if it is not due (any more)."""
        job = session.exec(select(Job).where(Job.id == job_id).with_for_update()).first()
        if job is None or not job.active or job.next_at > now:
            return None
        kind = self.kinds.get(job.kind)
        if kind is None:
            log.error("job %s has unknown kind %r; deactivated", job.id, job.kind)
            job.active = False
            return None
        due = job.next_at
        # Coalesce: of several occurrences missed while down, only the newest counts.
        for _ in range(100_000):
            nxt = kind.next_after(job, due, self.config)
            if nxt is None or nxt > now:
                break
            log.warning("job %s (%s): occurrence at %s missed, superseded", job.id, job.kind, due)
            due = nxt
        lateness = now - due
        if lateness > self.grace:
            outcome = "skipped"
        elif lateness > ON_TIME:
            outcome = "late"
        else:
            outcome = "ran"
        try:
            with session.begin_nested():
                session.add(JobRun(job_id=job.id, due_at=due, ran_at=now, outcome=outcome))  # type: ignore[arg-type]
        except IntegrityError:
            return RunResult(job.id, due, "taken")  # type: ignore[arg-type]
        if outcome == "skipped":
            log.warning(
                "job %s (%s) due %s skipped: %s late, more than the grace of %s",
                job.id, job.kind, due, lateness, self.grace,
            )  # fmt: skip
        else:
            kind.run(
                JobCtx(session, job, due, now, outcome == "late", self.config, self.writer,
                       self.services)  # fmt: skip
            )
        nxt = kind.next_after(job, due, self.config)
        if nxt is None:
            job.active = False
        else:
            job.next_at = nxt
        return RunResult(job.id, due, outcome)  # type: ignore[arg-type]


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
) -> Job:
    """Create the job with this key, or update its timing and payload (None: deactivate)."""
    job = session.exec(select(Job).where(Job.key == key)).first()
    data = json.dumps(payload or {}, ensure_ascii=False, sort_keys=True)
    if job is None:
        job = Job(key=key, kind=kind, room_id=room_id, unit_id=unit_id, payload=data,
                  next_at=next_at or now, active=next_at is not None, created_by=created_by,
                  created_at=now)  # fmt: skip
        session.add(job)
    else:
        job.kind, job.room_id, job.unit_id, job.payload = kind, room_id, unit_id, data
        if next_at is None:
            job.active = False
        else:
            job.next_at, job.active = next_at, True
    session.flush()
    return job
