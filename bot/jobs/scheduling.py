"""The scheduling API every area uses to make, re-time and cancel jobs (never `Job`
rows directly), and the query the timer sleeps on.

Jobs are keyed: scheduling a key again re-times that job instead of adding another.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.models.jobs import Job


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
        job = Job(
            key=key,
            kind=kind,
            room_id=room_id,
            unit_id=unit_id,
            payload=data,
            next_at=next_at or now,
            active=next_at is not None,
            created_by=created_by,
            created_at=now,
        )
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
    reset_creator: bool = False,
) -> Job:
    """Make the job with this key due at `at` (created, or re-timed and re-activated).
    `payload=None` keeps an existing job's payload. An existing job keeps who created it
    and when, unless `reset_creator` (a cancelled job set up again is the new setter's)."""
    job = upsert_job(
        session,
        key,
        kind,
        at,
        now,
        room_id=room_id,
        unit_id=unit_id,
        payload=payload,
        created_by=created_by,
    )
    if reset_creator and (job.created_by, job.created_at) != (created_by, now):
        job.created_by, job.created_at = created_by, now
        session.flush()
    return job


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
