"""Transports: the real outside services (WeChat through Wechaty, WeCom webhooks). Each
converts its own objects to `Inbound` at the edge and sends `Outgoing` messages; nothing
transport-specific passes further in. The local drivers (`bot.drivers`) implement the
same `Sender` protocol."""

from __future__ import annotations

from typing import Protocol

from bot.messages import Outgoing


class TransportDown(Exception):
    """The transport cannot send now (e.g. WeChat logged out): the message waits in the
    outbox without counting as a failed attempt."""


class Sender(Protocol):
    """What the outbox needs of a transport."""

    name: str
    can_send_images: bool

    async def send(self, out: Outgoing) -> str | None:
        """Deliver one message or raise; the outbox retries on failure. May return the
        transport's own id of the sent message (kept on the outbox row)."""
