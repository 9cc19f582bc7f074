"""WeCom (企业微信) group-robot webhooks: send only, text, markdown and images.

An outbox row for this transport names the webhook by its config name in `room`
(`[transports.wecom] webhooks = {hq = "…", alerts = "…"}`). Each webhook takes at most
`per_minute` messages a minute (the service's own limit is 20); errcode 45009 (over the
limit) waits and retries, other non-zero errcodes fail the message (the outbox retries
it later), and network errors and 5xx answers are retried here with backoff first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.clock import Clock, SystemClock
from bot.config import WecomSection
from bot.messages import Outgoing

log = logging.getLogger(__name__)

NAME = "wecom"
RATE_LIMITED = 45009
TEXT_BYTES = 2048  # the service's limits on one message's content
MARKDOWN_BYTES = 4096
MARKDOWN_KIND = "markdown"  # an outbox row of this kind is sent as markdown
MINUTE = timedelta(minutes=1)


class WecomError(Exception):
    """The webhook refused the message (a non-zero errcode other than rate limiting)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode


class WecomTransport:
    name = NAME
    can_send_images = True

    def __init__(
        self,
        webhooks: Mapping[str, str],
        *,
        per_minute: int = 20,
        timeout: float = 10.0,
        retries: int = 3,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.webhooks = dict(webhooks)
        self.per_minute = per_minute
        self.retries = retries
        self.clock = clock or SystemClock()
        self.sleep = sleep
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))
        self._own_client = client is None
        self._recent: dict[str, deque[datetime]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_config(cls, section: WecomSection, clock: Clock | None = None) -> WecomTransport:
        return cls(section.webhooks, per_minute=section.per_minute,
                   timeout=section.timeout_seconds, clock=clock)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    # -- the outbox's interface ------------------------------------------------------

    async def send(self, out: Outgoing) -> None:
        if out.room is None or out.room not in self.webhooks:
            raise KeyError(f"no WeCom webhook named {out.room or out.to!r}")
        if out.text:
            if out.kind == MARKDOWN_KIND:
                for part in split_bytes(out.text, MARKDOWN_BYTES):
                    await self.markdown(out.room, part)
            else:
                for part in split_bytes(out.text, TEXT_BYTES):
                    await self.text(out.room, part, mentions=out.mentions)
        if out.image is not None:
            await self.image(out.room, out.image)

    # -- one message each --------------------------------------------------------------

    async def text(self, hook: str, content: str, mentions: Sequence[str] = ()) -> None:
        """`mentions`: WeCom user ids, or "@all"."""
        body: dict[str, Any] = {"content": content}
        if mentions:
            body["mentioned_list"] = list(mentions)
        await self.post(hook, {"msgtype": "text", "text": body})

    async def markdown(self, hook: str, content: str) -> None:
        await self.post(hook, {"msgtype": "markdown", "markdown": {"content": content}})

    async def image(self, hook: str, data: bytes) -> None:
        """A JPG or PNG of at most 2 MB."""
        payload = {"base64": base64.b64encode(data).decode("ascii"),
                   "md5": hashlib.md5(data).hexdigest()}
        await self.post(hook, {"msgtype": "image", "image": payload})

    async def post(self, hook: str, payload: dict[str, Any]) -> None:
        """POST one message within the webhook's rate, retrying what is worth retrying."""
        url = self.webhooks[hook]
        async with self._locks.setdefault(hook, asyncio.Lock()):
            attempt = 0
            while True:
                attempt += 1
                await self._take_slot(hook)
                try:
                    response = await self.client.post(url, json=payload)
                    if response.status_code >= 500:
                        raise httpx.HTTPStatusError(f"HTTP {response.status_code}",
                                                    request=response.request, response=response)
                    response.raise_for_status()
                    answer = response.json()
                except (httpx.TransportError, httpx.HTTPStatusError, ValueError) as e:
                    server_side = not isinstance(e, httpx.HTTPStatusError) or (
                        e.response.status_code >= 500
                    )
                    if attempt > self.retries or not server_side:
                        raise
                    log.warning("WeCom webhook %s: %r; retrying", hook, e)
                    await self.sleep(2.0 ** (attempt - 1))
                    continue
                code = int(answer.get("errcode", -1))
                if code == 0:
                    return
                if code == RATE_LIMITED and attempt <= self.retries:
                    log.warning("WeCom webhook %s is rate limited; waiting a minute", hook)
                    await self.sleep(60.0)
                    continue
                raise WecomError(code, str(answer.get("errmsg", "")))

    async def _take_slot(self, hook: str) -> None:
        """Wait until the webhook has sent fewer than `per_minute` in the last minute."""
        recent = self._recent.setdefault(hook, deque())
        while True:
            now = self.clock.now()
            while recent and recent[0] <= now - MINUTE:
                recent.popleft()
            if len(recent) < self.per_minute:
                recent.append(now)
                return
            await self.sleep((recent[0] + MINUTE - now).total_seconds())


def split_bytes(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` UTF-8 bytes, cut at line ends where possible."""
    if len(text.encode("utf-8")) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode("utf-8")) > limit:  # one line longer than a message
            cut = len(line)
            while len(line[:cut].encode("utf-8")) > limit:
                cut -= 1
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode("utf-8")) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [p.rstrip("\n") for p in parts if p.strip()]
