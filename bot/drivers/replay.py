"""`villagebot replay`: JSON lines in, JSON lines out, on a virtual clock (product spec §9;
the format, with its `join` line, is in docs/replay.md).

Each input line's `at` (or a clock move's `until`) moves the clock forward; schedules
falling due on the way run first, in order. Every message the bot queues comes out at
the virtual time it was queued: no pacing, no jitter, so the output is deterministic.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from bot.app import App
from bot.clock import VirtualClock
from bot.config import Config
from bot.jobs import run_due
from bot.limits import Limits, Rejected, sanitize
from bot.messages import Inbound, Mention, Outgoing
from bot.sender import OutboxSender
from bot.welcome import Join, clean_join
from bot.wiring import build_app

NAME = "replay"


class TranscriptError(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


@dataclass(frozen=True)
class ClockMove:
    until: datetime


class ReplayTransport:
    name = NAME
    can_send_images = True

    def __init__(self, out: TextIO, config: Config) -> None:
        self.out = out
        self.zone = config.zone

    async def send(self, o: Outgoing) -> None:
        line: dict[str, Any] = {"at": o.at.astimezone(self.zone).isoformat()}
        if o.room is not None:
            line["room"] = o.room
        else:
            line["to"] = o.to
        line["text"] = o.text
        if o.reply_to is not None:
            line["reply_to"] = o.reply_to
        if o.mentions:
            line["mentions"] = list(o.mentions)
        if o.image is not None:
            line["image"] = base64.b64encode(o.image).decode("ascii")
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()


def _time(value: Any, key: str, n: int) -> datetime:
    if not isinstance(value, str):
        raise TranscriptError(n, f"'{key}' must be an ISO 8601 time string")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise TranscriptError(n, f"'{key}' is not an ISO 8601 time: {value!r}") from None
    if t.tzinfo is None:
        raise TranscriptError(n, f"'{key}' has no UTC offset: {value!r}")
    return t


def _str(obj: dict[str, Any], key: str, n: int, required: bool = False) -> str | None:
    v = obj.get(key)
    if v is None:
        if required:
            raise TranscriptError(n, f"'{key}' is missing")
        return None
    if not isinstance(v, str) or (required and not v):
        raise TranscriptError(n, f"'{key}' must be a non-empty string")
    return v


def parse_line(raw: str, n: int) -> Inbound | Join | ClockMove | None:
    """One transcript line; None for a blank line."""
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise TranscriptError(n, f"not valid JSON ({e.msg})") from None
    except (ValueError, RecursionError):  # a 5,000-digit number, nesting too deep
        raise TranscriptError(n, "not usable JSON (a number too long or nesting too deep)") from None
    if not isinstance(obj, dict):
        raise TranscriptError(n, "expected a JSON object")
    if "until" in obj:
        if "text" in obj:
            raise TranscriptError(n, "a line is either a message or a clock move, not both")
        return ClockMove(_time(obj["until"], "until", n))
    if "at" not in obj:
        raise TranscriptError(n, "a message needs 'at' (or a clock move, 'until')")
    at = _time(obj["at"], "at", n)
    if "join" in obj:
        if "text" in obj:
            raise TranscriptError(n, "a line is either a message or a join, not both")
        return _join(obj["join"], at, n)
    text = obj.get("text")
    if not isinstance(text, str):
        raise TranscriptError(n, "'text' must be a string")
    sender = _str(obj, "from", n, required=True)
    mentions = obj.get("mentions", [])
    if not isinstance(mentions, list) or not all(isinstance(m, str) and m for m in mentions):
        raise TranscriptError(n, "'mentions' must be a list of contact ids")
    # Without an id: one made from the line, so that the output (its reply_to) is the
    # same every run; the same line replayed onto the same --db is a duplicate delivery.
    digest = hashlib.sha1(raw.strip().encode("utf-8", "surrogatepass")).hexdigest()
    msg_id = _str(obj, "id", n) or f"line{n}-{digest[:10]}"
    assert sender is not None
    msg = Inbound(
        # No name: the one the sender had is kept, not replaced by the id.
        transport=NAME, id=msg_id, sender=sender, sender_name=_str(obj, "name", n) or "",
        text=text, at=at, room=_str(obj, "room", n), topic=_str(obj, "topic", n),
        mentions=tuple(Mention(m) for m in mentions),
    )
    # The bot would drop a message with an unusable id (a lone surrogate, too long);
    # in a transcript that is a mistake in the file, said with its line number.
    checked = sanitize(msg, Limits())
    if isinstance(checked, Rejected):
        raise TranscriptError(n, checked.reason)
    return msg


def _join(obj: Any, at: datetime, n: int) -> Join:
    """`{"room": …, "members": [{"id", "name"}], "inviter": …}`: people joined a group."""
    if not isinstance(obj, dict):
        raise TranscriptError(n, "'join' must be a JSON object")
    room = _str(obj, "room", n, required=True)
    members = obj.get("members")
    if not isinstance(members, list) or not members:
        raise TranscriptError(n, "'join' needs 'members': a list of {\"id\", \"name\"}")
    people = []
    for m in members:
        if not isinstance(m, dict):
            raise TranscriptError(n, "each of 'members' must be {\"id\", \"name\"}")
        mid = _str(m, "id", n, required=True)
        assert mid is not None
        people.append(Mention(mid, _str(m, "name", n) or ""))
    assert room is not None
    join = clean_join(Join(transport=NAME, room=room, members=tuple(people), at=at,
                           inviter=_str(obj, "inviter", n)), Limits())
    if isinstance(join, Rejected):
        raise TranscriptError(n, join.reason)
    return join


def _lines(source: Iterable[str | bytes]) -> Iterator[tuple[int, Inbound | Join | ClockMove]]:
    for n, raw in enumerate(source, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                raise TranscriptError(n, "not UTF-8 text") from None
        item = parse_line(raw.removeprefix("\ufeff") if n == 1 else raw, n)
        if item is not None:
            yield n, item


async def replay(
    source: Iterable[str | bytes],
    out: TextIO,
    config: Config,
    db_url: str = "sqlite://",
    admins: Iterable[str] = (),
) -> None:
    """Run a transcript. Raises TranscriptError on a malformed line (after the output
    of every line before it)."""
    items = _lines(source)
    first = next(items, None)
    if first is None:
        return
    n, item = first
    start = item.until if isinstance(item, ClockMove) else item.at
    clock = VirtualClock(start)
    app = await asyncio.to_thread(
        build_app, config, clock=clock, db_url=db_url, admins=list(admins)
    )
    transport = ReplayTransport(out, app.config)
    sender = OutboxSender(app.db, {NAME: transport}, clock)
    app.on_commit.append(sender.notify)
    try:
        # Whatever fell due while the bot was down (a --db kept from an earlier run):
        # handled now, at the start time, with the rules for missed runs.
        await run_due(app, start)
        await sender.flush()
        await _step(app, sender, clock, n, item)
        for n, item in items:
            await _step(app, sender, clock, n, item)
    finally:
        await asyncio.to_thread(app.close)


async def _step(app: App, sender: OutboxSender, clock: VirtualClock, n: int,
                item: Inbound | Join | ClockMove) -> None:
    when = item.until if isinstance(item, ClockMove) else item.at
    if when < clock.now():
        raise TranscriptError(n, f"time goes backwards: {when.isoformat()} is before "
                                 f"{clock.now().astimezone(when.tzinfo).isoformat()}")
    await run_due(app, when, advance=clock.set)
    await sender.flush()
    clock.set(when)
    if isinstance(item, Inbound):
        await app.handle(item)
        await sender.flush()
    elif isinstance(item, Join):
        await app.handle_join(item)
        await sender.flush()
