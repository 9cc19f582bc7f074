"""Transport-neutral message types. Transports convert to and from these at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Mention:
    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a quote-reply (引用) quotes: its context, never a command itself."""

    name: str  # display name of the quoted sender ("" when unknown)
    text: str  # the quoted text (WeChat may have cut it with …)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as received: who said what, where and when."""

    transport: str
    id: str
    sender: str
    sender_name: str
    text: str
    at: datetime
    room: str | None = None  # None: a direct message to the bot
    topic: str | None = None
    mentions: tuple[Mention, ...] = ()
    mentions_bot: bool = False  # the transport saw the bot itself @mentioned
    # The quoted message, when the transport delivered a quote-reply apart from its text
    # (then `text` is the reply alone). Text-based puppets put both in `text`; the
    # router reads them from there (`bot.router.split_message`).
    quote: Quote | None = None
    # The bot account that received it, where several serve one transport (WeChat).
    account: str | None = None
    # The transport's own id of the message, when `id` is a key made at the edge instead
    # (WeChat: each account's puppet numbers the same group message differently, so
    # `id` is made from what every account sees alike; see bot.transports.wechaty).
    native_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send, as stored in the outbox."""

    id: int
    transport: str
    text: str
    at: datetime
    room: str | None = None
    to: str | None = None  # a contact, for a direct message
    mentions: tuple[str, ...] = ()
    image: bytes | None = None
    reply_to: str | None = None
    kind: str = "reply"
    # A chart not drawn yet (JSON, `bot.rankings.chart.Chart`); the sender draws it into
    # `image` before the transport sees the message.
    chart: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    account: str | None = None  # the bot account to send it (None: any in the group)
