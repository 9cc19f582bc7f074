"""Scheduled jobs: the database is the source of truth for what must happen when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.models.core import utc_field


class Job(SQLModel, table=True):
    """Something that falls due at `next_at`: a meeting reminder, a chase, a bulletin.

    `key` names it uniquely ("builtin:report_chase", "meeting:12") so that seeding the
    built-ins twice, or from two processes, makes one job.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_due", "active", "next_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32)
    room_id: str | None = Field(default=None, max_length=128, index=True)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    payload: str = "{}"  # JSON, the kind's own
    next_at: datetime = utc_field()
    active: bool = True
    created_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = utc_field()


class JobRun(SQLModel, table=True):
    """One occurrence handled: the unique key makes every occurrence happen once."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job_id", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    due_at: datetime = utc_field()
    ran_at: datetime = utc_field()
    outcome: str = Field(max_length=16)  # "ran", "late" (补发) or "skipped"
