"""The organisation, people, groups, and the message journal, outbox and audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.models.types import UTCDateTime

LEVELS = ("市", "县", "乡", "村")
# Transports that only send (group-robot webhooks): their groups cannot reply.
SEND_ONLY_TRANSPORTS = frozenset({"wecom"})


def utc_field(nullable: bool = False, index: bool = False) -> datetime:
    return Field(  # type: ignore[no-any-return]
        default=None if nullable else ...,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


class OrgUnit(SQLModel, table=True):
    """A unit of the tree 市 → 县 → 乡 → 村. `path` is '/1/5/9/' for subtree queries."""

    __tablename__ = "org_unit"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    level: str = Field(max_length=2)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    path: str = Field(default="", max_length=255, index=True)
    created_at: datetime = utc_field()


class UnitAlias(SQLModel, table=True):
    __tablename__ = "unit_alias"
    __table_args__ = (UniqueConstraint("unit_id", "alias"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    alias: str = Field(max_length=64, index=True)


class Room(SQLModel, table=True):
    """A group chat, bound to at most one unit."""

    __tablename__ = "room"

    id: str = Field(primary_key=True, max_length=128)
    transport: str = Field(max_length=32)
    topic: str = Field(default="", max_length=128)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    bound_by: str | None = Field(default=None, max_length=128)
    bound_at: datetime | None = utc_field(nullable=True)

    @property
    def send_only(self) -> bool:
        """The group can only be sent to: a group-robot webhook (WeCom) stands for it, so
        no one there can reply and nothing (a notice's 收到) is waited for from it."""
        return self.transport in SEND_ONLY_TRANSPORTS


class Household(SQLModel, table=True):
    """A household of a village. `head_name` and `phone` come from the household file
    (`villagebot import households`); a villager who gives that phone (`#认领`) is
    linked to it. The phone is stored normalised (11 digits) and shown masked."""

    __tablename__ = "household"
    __table_args__ = (UniqueConstraint("unit_id", "name"),
                      Index("ix_household_phone", "unit_id", "phone"))

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    name: str = Field(max_length=64)
    created_at: datetime = utc_field()
    head_name: str = Field(default="", max_length=64)
    phone: str | None = Field(default=None, max_length=16)


class Person(SQLModel, table=True):
    """Someone known by their transport contact id; `name` is only the last one seen."""

    __tablename__ = "person"

    id: str = Field(primary_key=True, max_length=128)
    name: str = Field(default="", max_length=64, index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    updated_at: datetime = utc_field()


class RoomMember(SQLModel, table=True):
    """Who has spoken to the bot in which group: the people a bare name resolves among."""

    __tablename__ = "room_member"

    room_id: str = Field(primary_key=True, foreign_key="room.id", max_length=128)
    person_id: str = Field(primary_key=True, foreign_key="person.id", max_length=128)
    last_seen: datetime = utc_field()


class RoleGrant(SQLModel, table=True):
    """A role on a unit, valid for its whole subtree."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("person_id", "unit_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="person.id", index=True, max_length=128)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    role: str = Field(max_length=16)
    granted_by: str = Field(max_length=128)
    granted_at: datetime = utc_field()


class InboundMessage(SQLModel, table=True):
    """The journal of handled commands: a second delivery of the same id is a no-op."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("transport", "msg_id"),)

    id: int | None = Field(default=None, primary_key=True)
    transport: str = Field(max_length=32)
    msg_id: str = Field(max_length=128)
    room_id: str | None = Field(default=None, max_length=128)
    sender_id: str = Field(max_length=128)
    text: str
    received_at: datetime = utc_field()


class OutboxMessage(SQLModel, table=True):
    """Every message the bot sends: stored in the transaction that caused it, sent after."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    transport: str = Field(max_length=32)
    room_id: str | None = Field(default=None, max_length=128, index=True)
    to_id: str | None = Field(default=None, max_length=128)
    text: str
    mentions: str = Field(default="", max_length=2000)  # contact ids, space-separated
    image: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # A chart to draw when the message is sent (`bot.rankings.chart.Chart` as JSON): the
    # drawing takes ~100 ms, too long to hold the transaction (and SQLite's write lock).
    chart: str | None = None
    reply_to: str | None = Field(default=None, max_length=128)
    kind: str = Field(default="reply", max_length=16)
    created_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)
    attempts: int = 0
    last_error: str | None = None
    failed: bool = False
    # After a failed attempt: not tried again before this (backoff).
    next_try_at: datetime | None = utc_field(nullable=True)
    # A stale message folded into the merged message with this id; not sent itself.
    merged_into: int | None = None
    # The id the transport gave the sent message (WeChat through Wechaty), when it gives one.
    transport_msg_id: str | None = Field(default=None, max_length=128)
    # The bot account (several WeChat accounts may serve one city) that is to send it: a
    # reply, the account that received the command; set when an account claims the row
    # and kept as the one that sent it. None: any live account that is in the group.
    account: str | None = Field(default=None, max_length=64)


class AuditEntry(SQLModel, table=True):
    """Who changed what, from which message."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(index=True)
    actor_id: str = Field(max_length=128)
    action: str = Field(max_length=32, index=True)
    detail: str
    msg_id: str | None = Field(default=None, max_length=128)
