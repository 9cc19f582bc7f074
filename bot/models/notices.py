"""Tables of the notices area: a notice, one row per group it went to, and one row per
person of a group's audience (the role holders who must each say 收到)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.models.core import utc_field


class Notice(SQLModel, table=True):
    """A notice broadcast by HQ (or a county cadre) to the groups of a scope."""

    __tablename__ = "notice"

    id: int | None = Field(default=None, primary_key=True)
    author_id: str = Field(max_length=128, index=True)
    # The group the notice was written in: it gets the final list of missing groups.
    author_room_id: str | None = Field(default=None, max_length=128)
    scope: str = Field(max_length=255)  # as shown: "全体" or "浑源县、阳高县"
    text: str  # as typed, unconverted
    parts: int = 1
    msg_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = utc_field(index=True)
    # #通知 … 全员: anyone in a group acknowledges for it (not only its role holders).
    everyone: bool = False


class NoticeTarget(SQLModel, table=True):
    """One group a notice was posted to, and its acknowledgement: the first 收到 when
    anyone may answer (`anyone`: 全员, or the unit has no role holders), else the 收到
    of the last of its audience (`NoticeReader`)."""

    __tablename__ = "notice_target"
    __table_args__ = (
        UniqueConstraint("notice_id", "room_id"),
        # Bare 收到: the newest unacknowledged notice in a group.
        Index("ix_notice_target_room", "room_id", "acked_at", "notice_id"),
        # Receipts and "is anyone still missing": a notice's unacknowledged groups.
        Index("ix_notice_target_notice", "notice_id", "acked_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id")
    room_id: str = Field(foreign_key="room.id", max_length=128)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    acked_at: datetime | None = utc_field(nullable=True)
    acked_by: str | None = Field(default=None, max_length=128)
    ack_msg_id: str | None = Field(default=None, max_length=128)
    anyone: bool = True
    # The last chase sent here: never two within `ack_chase_hours`.
    chased_at: datetime | None = utc_field(nullable=True)


class NoticeReader(SQLModel, table=True):
    """One person who must acknowledge a notice in one group (a role holder of the
    group's unit when the notice went out), and when they did."""

    __tablename__ = "notice_reader"
    __table_args__ = (
        UniqueConstraint("notice_id", "room_id", "person_id"),
        # A person's bare 收到: their newest unacknowledged notice in the group.
        Index("ix_notice_reader_person", "room_id", "person_id", "acked_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id")
    room_id: str = Field(max_length=128)
    person_id: str = Field(max_length=128)
    acked_at: datetime | None = utc_field(nullable=True)
    ack_msg_id: str | None = Field(default=None, max_length=128)
