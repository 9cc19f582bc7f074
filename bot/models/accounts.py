"""The bot's WeChat accounts: which are alive, and which groups each is a member of.

Several accounts (each its own puppet service) may serve one city; a group may hold more
than one of them. The outbox sends each message through one live account of its group.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.models.core import utc_field


class BotAccount(SQLModel, table=True):
    """One WeChat account of the bot, as its process last reported it (the heartbeat)."""

    __tablename__ = "bot_account"

    name: str = Field(primary_key=True, max_length=64)  # the config's account name
    status: str = Field(default="unknown", max_length=16)  # up | down | unknown
    # Last sign of life from the puppet service; older than the config's timeout = down,
    # also when the process holding the account died without saying so.
    heartbeat_at: datetime | None = utc_field(nullable=True)
    status_since: datetime | None = utc_field(nullable=True)
    user_id: str | None = Field(default=None, max_length=128)  # the account's WeChat id
    detail: str = Field(default="", max_length=500)  # why it is down, for the admins


class AccountRoom(SQLModel, table=True):
    """An account is a member of a group: learned from its room list and from messages."""

    __tablename__ = "account_room"

    account: str = Field(primary_key=True, max_length=64)
    room_id: str = Field(primary_key=True, max_length=128, index=True)
    seen_at: datetime = utc_field()
