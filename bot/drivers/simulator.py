"""The `simulator` driver: a local web chat in the browser, in and out (product spec §8, §10).

One aiohttp server gives a WeChat-like page (group list, chat pane, input box) where
you speak as any of the people the bot knows, the bot's replies arriving live over a
WebSocket; a clock control that moves a virtual clock forward (running every job due
on the way, so reminders, chases and bulletins can be watched); and the read-only
dashboard, whose routes (and the token rule) are `bot.web.server`'s.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from bot.app import App
from bot.clock import Clock, VirtualClock
from bot.jobs import run_due
from bot.limits import Rejected, clean_text, sanitize
from bot.messages import Inbound, Mention, Outgoing
from bot.models.core import Household, OrgUnit, Person, RoleGrant, Room, RoomMember
from bot.sender import OutboxSender
from bot.web.server import (
    WEB,
    Dashboard,
    Events,
    Server,
    dashboard_routes,
    json_body,
    json_response,
    serve_app,
    web_app,
)

log = logging.getLogger(__name__)

NAME = "simulator"
_ROLE_ORDER = {"指挥部": 0, "干部": 1, "评议员": 2, "超市管理员": 3, "管理员": 4}
_AT_NAME = re.compile(r"[^\s,，、;；:：@]+")


class ChatLog(Events):
    """Every message said and sent since start, in order; pushed to live subscribers."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []
        self.images: dict[int, bytes] = {}
        self._ids = itertools.count(1)

    def add(self, event: dict[str, Any], image: bytes | None = None) -> dict[str, Any]:
        event = {"id": next(self._ids), **event}
        if image is not None:
            self.images[event["id"]] = image
            event["image"] = f"/api/image/{event['id']}"
        self.events.append(event)
        self.publish({"type": "message", "message": event})
        return event

    def copy(self) -> ChatLog:
        """The same history, without the subscribers (for a copy of the database)."""
        other = ChatLog()
        other.events = [dict(e) for e in self.events]
        other.images = dict(self.images)
        other._ids = itertools.count(max((e["id"] for e in self.events), default=0) + 1)
        return other


class SimulatorTransport:
    """The outbox's way out: each sent message becomes an event in the chat log."""

    name = NAME
    can_send_images = True

    def __init__(self, chat_log: ChatLog, bot_id: str, bot_name: str, clock: Clock) -> None:
        self.log = chat_log
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.clock = clock
        self.sent: list[Outgoing] = []

    async def send(self, out: Outgoing) -> None:
        self.sent.append(out)
        self.log.add(
            {"dir": "out", "room": out.room, "to": out.to, "sender": self.bot_id,
             "name": self.bot_name, "text": out.text, "at": out.at.isoformat(),
             "reply_to": out.reply_to, "kind": out.kind, "mentions": list(out.mentions)},
            image=out.image,
        )


class Simulator:
    """The app driven from the browser. Messages and clock moves run one at a time."""

    def __init__(self, app: App, clock: Clock, titles: Mapping[str, str] | None = None,
                 log: ChatLog | None = None) -> None:
        self.app = app
        self.clock = clock
        self.titles = dict(titles or {})
        self.log = log or ChatLog()
        self.bot_id = app.config.bot.contact_id or "villagebot"
        self.transport = SimulatorTransport(self.log, self.bot_id, app.config.bot.name, clock)
        self.sender = OutboxSender(app.db, {NAME: self.transport}, clock)
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    @property
    def virtual(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.app.config.zone)

    async def say(
        self,
        text: str,
        *,
        sender: str,
        name: str = "",
        room: str | None = None,
        topic: str | None = None,
        mentions: tuple[str | tuple[str, str], ...] = (),
        msg_id: str | None = None,
        at: datetime | None = None,
    ) -> list[Outgoing]:
        """One message from `sender` (the MemoryChat interface, so the demo seed can
        drive either); returns what the bot sent because of it."""
        ms = tuple(Mention(m) if isinstance(m, str) else Mention(*m) for m in mentions)
        async with self._lock:
            now = self.clock.now()
            msg = Inbound(
                transport=NAME, id=msg_id or f"sim-{uuid.uuid4().hex[:12]}", sender=sender,
                sender_name=name, text=text, at=at or now, room=room, topic=topic,
                mentions=ms, mentions_bot=text.lstrip().startswith(f"@{self.app.config.bot.name}"),
            )
            # Checked before it reaches the chat log: one message with a lone surrogate
            # there would make every later /api/messages unencodable.
            checked = sanitize(msg, self.app.config.limits.input_limits())
            if isinstance(checked, Rejected):
                log.warning("simulator: dropped a message: %s", checked.reason)
                return []
            msg = checked.msg
            self.log.add({
                "dir": "in", "room": msg.room, "to": None if msg.room else self.bot_id,
                "sender": msg.sender, "name": msg.sender_name, "text": msg.text,
                "at": msg.at.isoformat(), "msg_id": msg.id,
            })
            await self.app.handle(msg)
            return await self._flush()

    async def advance(self, until: datetime) -> list[Outgoing]:
        """Move the virtual clock to `until`, running every job due on the way."""
        if not isinstance(self.clock, VirtualClock):
            raise ValueError("the clock is real time: it cannot be moved")
        clock = self.clock
        async with self._lock:
            sent: list[Outgoing] = []
            if until > clock.now():
                try:
                    await run_due(self.app, until, advance=self._moved)
                finally:
                    sent = await self._flush()
                clock.set(until)
                self._publish_clock()
            return sent

    def _moved(self, when: datetime) -> None:
        assert isinstance(self.clock, VirtualClock)
        self.clock.set(when)

    def _publish_clock(self) -> None:
        self.log.publish({"type": "clock", "now": self.clock.now().isoformat()})

    async def _flush(self) -> list[Outgoing]:
        before = len(self.transport.sent)
        await self.sender.flush()
        return self.transport.sent[before:]

    # -- what the page needs to know -----------------------------------------------

    def state(self) -> dict[str, Any]:
        return self.app.db.run_sync(self._state)

    def _state(self, session: Session) -> dict[str, Any]:
        rooms = session.exec(select(Room).where(Room.transport == NAME)).all()
        units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
        people = session.exec(select(Person).order_by(col(Person.name))).all()
        households = {h.id: h for h in session.exec(select(Household)).all()}
        grants = session.exec(select(RoleGrant)).all()
        spoke = session.exec(select(RoomMember)).all()
        admins = set(self.app.config.bot.admins)

        rooms_of_unit: dict[int, list[str]] = {}
        for r in rooms:
            if r.unit_id is not None:
                rooms_of_unit.setdefault(r.unit_id, []).append(r.id)
        # Who is in which group: role holders of its unit, its households' members,
        # and whoever has spoken there; ranked in that order.
        members: dict[str, dict[str, tuple[int, str]]] = {r.id: {} for r in rooms}

        def put(room_id: str, pid: str, rank: int, name: str) -> None:
            cur = members.get(room_id)
            if cur is not None and (pid not in cur or cur[pid][0] > rank):
                cur[pid] = (rank, name)

        names = {p.id: p.name or p.id for p in people}
        roles: dict[str, list[str]] = {}
        for g in grants:
            unit = units.get(g.unit_id)
            roles.setdefault(g.person_id, []).append(f"{unit.name if unit else '?'}{g.role}")
            for rid in rooms_of_unit.get(g.unit_id, []):
                put(rid, g.person_id, _ROLE_ORDER.get(g.role, 5), names.get(g.person_id, ""))
        for p in people:
            hh = households.get(p.household_id) if p.household_id else None
            if hh is not None:
                for rid in rooms_of_unit.get(hh.unit_id, []):
                    put(rid, p.id, 6, names[p.id])
        for m in spoke:
            put(m.room_id, m.person_id, 9 if m.person_id in admins else 7,
                names.get(m.person_id, ""))

        def room_key(r: Room) -> tuple[str, str]:
            unit = units.get(r.unit_id) if r.unit_id else None
            return (unit.path if unit else "~", r.topic)

        out_rooms = []
        for r in sorted(rooms, key=room_key):
            unit = units.get(r.unit_id) if r.unit_id else None
            ranked = sorted(members[r.id].items(), key=lambda kv: (kv[1][0], kv[1][1]))
            out_rooms.append({
                "id": r.id, "topic": r.topic or r.id,
                "unit": unit.name if unit else None, "level": unit.level if unit else None,
                "depth": unit.path.count("/") - 2 if unit else 0,
                "members": [pid for pid, _ in ranked],
            })
        out_people = []
        for p in people:
            hh = households.get(p.household_id) if p.household_id else None
            title = self.titles.get(p.id, "")
            if p.id in admins and not title:
                title = "管理员"
            out_people.append({"id": p.id, "name": p.name or p.id, "title": title,
                               "household": hh.name if hh else None,
                               "roles": roles.get(p.id, [])})
        for pid in admins:
            if pid not in names:
                out_people.append({"id": pid, "name": "管理员", "title": "管理员",
                                   "household": None, "roles": []})
        now = self.clock.now()
        return {
            "bot": {"id": self.bot_id, "name": self.app.config.bot.name},
            "now": self.local(now).isoformat(),
            "zone": self.app.config.bot.timezone,
            "virtual": self.virtual,
            "rooms": out_rooms,
            "people": out_people,
        }

    def resolve_mentions(self, text: str, room: str | None, explicit: list[str]) -> tuple[Mention, ...]:
        """The mentions a WeChat client would attach: each '@name' in the text, paired
        with the person of that name (a member of this group first). An unknown or
        ambiguous name stays a bare name for the bot to ask about."""
        state = self.state()
        members: list[str] = next((r["members"] for r in state["rooms"] if r["id"] == room), [])
        by_name: dict[str, list[str]] = {}
        for p in state["people"]:
            by_name.setdefault(p["name"], []).append(p["id"])
        known = sorted(by_name, key=len, reverse=True)
        picked = list(explicit)
        bot_at = f"@{self.app.config.bot.name}"
        out: list[Mention] = []
        i = 0
        while (i := text.find("@", i)) >= 0:
            if text.startswith(bot_at, i):
                i += len(bot_at)
                continue
            rest = text[i + 1 :]
            name = next((n for n in known if rest.startswith(n)), None)
            if name is None:
                m = _AT_NAME.match(rest)
                name = m.group(0) if m else ""
            i += 1 + len(name)
            if not name:
                continue
            ids = by_name.get(name, [])
            known_ids = {i for v in by_name.values() for i in v}
            # The client's picks first (a member clicked, or an id for a new person).
            chosen = next((x for x in picked if x in ids), None)
            if chosen is None and not ids:
                chosen = next((x for x in picked if x not in known_ids), None)
            if chosen is not None:
                picked.remove(chosen)
            else:
                in_room = [x for x in ids if x in members]
                if len(in_room) == 1:
                    chosen = in_room[0]
                elif len(ids) == 1:
                    chosen = ids[0]
            out.append(Mention(chosen or "", name))
        return tuple(out)

    def topic_of(self, room: str | None) -> str | None:
        if room is None:
            return None
        r = self.app.db.run_sync(lambda s: s.get(Room, room))
        return r.topic if r else None


# -- the web pages -------------------------------------------------------------------


def make_web_app(sim: Simulator, token: str = "", dashboard: Dashboard | None = None) -> web.Application:
    """The aiohttp application: pages, static files, JSON API and the live socket."""
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(_: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB / "index.html")

    @routes.get("/api/state")
    async def state(_: web.Request) -> web.Response:
        return json_response(await asyncio.to_thread(sim.state))

    @routes.get("/api/messages")
    async def messages(request: web.Request) -> web.Response:
        since = request.query.get("since", "0") or "0"
        if not since.isdigit():
            raise web.HTTPBadRequest(text="since must be a message number")
        return json_response({"messages": [e for e in sim.log.events if e["id"] > int(since)]})

    @routes.get(r"/api/image/{id:\d+}")
    async def image(request: web.Request) -> web.Response:
        data = sim.log.images.get(int(request.match_info["id"]))
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type=_image_type(data))

    @routes.post("/api/say")
    async def say(request: web.Request) -> web.Response:
        body = await json_body(request)
        # Cleaned here too (the bot checks again): the room's topic and the mentions
        # are looked up from these before the message exists.
        text = clean_text(str(body.get("text", ""))).strip()
        sender = str(body.get("sender", "")).strip()
        if not text or not sender:
            return json_response({"error": "text and sender are required"}, 400)
        room = body.get("room") or None
        listed = body.get("mentions", [])
        ids = [sender, *([room] if room else []), *(listed if isinstance(listed, list) else [0])]
        if not all(isinstance(x, str) and clean_text(x) == x for x in ids):
            return json_response({"error": "sender, room and mentions must be ids"}, 400)
        explicit = [x for x in listed if x]
        mentions = await asyncio.to_thread(sim.resolve_mentions, text, room, explicit)
        topic = await asyncio.to_thread(sim.topic_of, room) if room else None
        if room and not topic:
            topic = str(body.get("topic") or room)
        sent = await sim.say(text, sender=sender, name=clean_text(str(body.get("name") or sender)),
                             room=room, topic=topic,
                             mentions=tuple((m.id, m.name) for m in mentions))
        return json_response({"sent": len(sent)})

    @routes.post("/api/clock")
    async def move_clock(request: web.Request) -> web.Response:
        if not sim.virtual:
            return json_response({"error": "时钟是真实时间，不能拨动"}, 400)
        body = await json_body(request)
        now = sim.clock.now()
        try:
            if "until" in body:
                until = datetime.fromisoformat(str(body["until"]))
                if until.tzinfo is None:
                    until = until.replace(tzinfo=sim.app.config.zone)
            else:
                until = now + timedelta(minutes=float(body.get("minutes", 0)),
                                        hours=float(body.get("hours", 0)),
                                        days=float(body.get("days", 0)))
        except (TypeError, ValueError, OverflowError):
            return json_response({"error": "时间格式不对，例：2019-06-07T17:00"}, 400)
        if until < now:
            return json_response({"error": "虚拟时间只能往前拨"}, 400)
        try:
            sent = await sim.advance(until)
        except Exception:
            log.exception("moving the clock to %s failed", until)
            stopped = f"{sim.local(sim.clock.now()):%Y-%m-%d %H:%M}"
            return json_response({"error": f"定时任务出错，已记录；时间停在 {stopped}"}, 500)
        return json_response({"now": sim.local(sim.clock.now()).isoformat(), "sent": len(sent)})

    dashboard_routes(routes, sim.app, sim.clock, sim.log, dashboard)
    return web_app(routes, token)


async def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 0, token: str = "",
                dashboard: Dashboard | None = None) -> Server:
    """Start listening (port 0: any free port); the address is in `Server.url`."""
    return await serve_app(make_web_app(sim, token, dashboard), host, port, token)


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.lstrip().startswith(b"<svg") or data.lstrip().startswith(b"<?xml"):
        return "image/svg+xml"
    return "application/octet-stream"

