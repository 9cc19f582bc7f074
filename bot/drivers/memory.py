"""An in-memory transport for tests: messages in by call, messages out into a list."""

from __future__ import annotations

import itertools
from datetime import datetime

from bot.app import App
from bot.jobs import run_due
from bot.messages import Inbound, Mention, Outgoing
from bot.sender import OutboxSender
from bot.welcome import Join


class MemoryTransport:
    name = "memory"
    can_send_images = True

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, out: Outgoing) -> None:
        self.sent.append(out)


class MemoryChat:
    """Drives an App through the in-memory transport: `say` returns what the bot sent."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.transport = MemoryTransport()
        self.sender = OutboxSender(app.db, {self.transport.name: self.transport}, app.clock)
        self._ids = itertools.count(1)

    async def say(
        self,
        text: str,
        *,
        sender: str,
        name: str = "",
        room: str | None = "room1",
        topic: str | None = None,
        mentions: tuple[str | tuple[str, str], ...] = (),
        msg_id: str | None = None,
        at: datetime | None = None,
    ) -> list[Outgoing]:
        ms = tuple(Mention(m) if isinstance(m, str) else Mention(*m) for m in mentions)
        msg = Inbound(
            transport=self.transport.name, id=msg_id or f"m{next(self._ids)}", sender=sender,
            sender_name=name, text=text, at=at or self.app.clock.now(), room=room,
            topic=topic, mentions=ms,
        )
        await self.app.handle(msg)
        return await self.flush()

    async def join(
        self, *members: str | tuple[str, str], room: str = "room1",
        inviter: str | None = None, at: datetime | None = None,
    ) -> list[Outgoing]:
        """`members` (ids, or (id, name)) join `room`; returns what the bot sent."""
        ms = tuple(Mention(m) if isinstance(m, str) else Mention(*m) for m in members)
        await self.app.handle_join(Join(self.transport.name, room, ms,
                                        at or self.app.clock.now(), inviter))
        return await self.flush()

    async def flush(self) -> list[Outgoing]:
        before = len(self.transport.sent)
        await self.sender.flush()
        return self.transport.sent[before:]

    async def advance(self, until: datetime) -> list[Outgoing]:
        """Move a virtual clock to `until`, running every job due on the way."""
        clock = self.app.clock
        await run_due(self.app, until, advance=clock.set)  # type: ignore[attr-defined]
        clock.set(until)  # type: ignore[attr-defined]
        return await self.flush()
