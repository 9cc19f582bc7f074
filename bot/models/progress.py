"""Tables of the progress area: targets per unit and task, and every progress report."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.models.core import utc_field


class Target(SQLModel, table=True):
    """A unit's target for one task: `amount` to be done between `start` and `deadline`
    (local calendar dates). Setting it again replaces the row (the audit log keeps the
    old values)."""

    __tablename__ = "progress_target"
    __table_args__ = (UniqueConstraint("unit_id", "task"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    task: str = Field(max_length=32, index=True)
    amount: int
    start: date
    deadline: date = Field(index=True)
    set_by: str = Field(max_length=128)
    set_at: datetime = utc_field()


class Report(SQLModel, table=True):
    """One progress report: the unit's cumulative figure for a task. Never deleted; the
    newest one not withdrawn counts."""

    __tablename__ = "progress_report"
    __table_args__ = (
        # The newest report of a unit for a task: max(id) per (unit, task).
        Index("ix_progress_report_latest", "unit_id", "task", "id"),
        # #撤回: the sender's newest report in a unit.
        Index("ix_progress_report_reporter", "reporter_id", "unit_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    task: str = Field(max_length=32)
    figure: int
    correction: bool = False
    # The local calendar date of the report: the day 序时进度 is measured on.
    report_date: date = Field(index=True)
    reported_at: datetime = utc_field(index=True)
    reporter_id: str = Field(max_length=128)
    room_id: str | None = Field(default=None, max_length=128)
    msg_id: str | None = Field(default=None, max_length=128)
    withdrawn_at: datetime | None = utc_field(nullable=True)
