"""Tables of the rankings area: what each published bulletin ranked, so that a unit
last several bulletins running is named with its streak (连续3周末位) after restarts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.models.core import utc_field

WEEK = "week"
MONTH = "month"


class BulletinRank(SQLModel, table=True):
    """One unit's place in one published ranking: the `kind` bulletin (week/month) of
    `period` (the week's Monday, the month's 1st), ranking the direct sub-units of
    `scope_id` on `task`."""

    __tablename__ = "bulletin_rank"
    __table_args__ = (
        UniqueConstraint("kind", "scope_id", "task", "period", "unit_id"),
        # Streaks: the last few periods of one ranking.
        Index("ix_bulletin_rank_unit", "kind", "scope_id", "task", "unit_id", "period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)
    period: date = Field(index=True)
    scope_id: int = Field(foreign_key="org_unit.id")
    task: str = Field(max_length=32)
    unit_id: int = Field(foreign_key="org_unit.id")
    rank: int
    last: bool = False
    behind: bool = False
    done: int
    target: int
    completion_pct: int
    schedule_pct: int
    lead_pct: int
    created_at: datetime = utc_field()
