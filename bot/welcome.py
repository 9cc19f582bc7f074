"""Welcoming people who join a village group: once per join, briefly, how to check
points and who registers households (the village's own cadres, @'d by name).

A join arrives from a transport as a `Join` (WeChat's room-join event; a replay
transcript's `join` line). `greet` is the domain step: it journals the join (room,
member ids and time, so a redelivered event is welcomed once), records the new members
as people of the group, and returns what to say, or None. Only bound village groups
are welcomed, and only with `[bot] welcome = true`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.config import Config
from bot.db import insert_ignore
from bot.limits import Limits, Rejected, sanitize
from bot.messages import Inbound, Mention
from bot.models.core import InboundMessage, OrgUnit, Room
from bot.org import cadre_names, touch_person

VILLAGE = "村"
# Journal ids of joins are kept apart from message ids by this prefix.
JOURNAL_PREFIX = "join:"


@dataclass(frozen=True, slots=True)
class Join:
    """People who joined a group, as the transport saw it."""

    transport: str
    room: str
    members: tuple[Mention, ...]
    at: datetime
    inviter: str | None = None


@dataclass(frozen=True, slots=True)
class Welcome:
    """What to say to the new members of a village group."""

    unit: OrgUnit
    members: tuple[Mention, ...]
    cadre_names: tuple[str, ...]


def clean_join(join: Join, limits: Limits) -> Join | Rejected:
    """A join's fields checked as a message's are (`bot.limits.sanitize`): ids usable,
    names cleaned and cut to their column."""
    probe = Inbound(transport=join.transport, id="join", sender=join.inviter or "join",
                    sender_name="", text="", at=join.at, room=join.room,
                    mentions=join.members)
    checked = sanitize(probe, limits)
    if isinstance(checked, Rejected):
        return checked
    return Join(join.transport, join.room, checked.msg.mentions, join.at, join.inviter)


def journal_id(join: Join) -> str:
    """The journal key of a join: room, member ids (in any order) and time."""
    key = "|".join([join.room, *sorted(m.id for m in join.members), join.at.isoformat()])
    return JOURNAL_PREFIX + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


def greet(session: Session, config: Config, join: Join, now: datetime) -> Welcome | None:
    """Journal the join and decide the welcome; None when there is none to say (a
    redelivery, welcomes off, a group not bound to a village, no one new)."""
    members = tuple(m for m in join.members if m.id and m.id != config.bot.contact_id)
    if not members:
        return None
    fresh = insert_ignore(
        session, InboundMessage,
        {"transport": join.transport, "msg_id": journal_id(join), "room_id": join.room,
         "sender_id": join.inviter or members[0].id,
         "text": "[join] " + " ".join(m.id for m in members), "received_at": now},
        ["transport", "msg_id"],
    )
    if not fresh:
        return None
    room = session.get(Room, join.room)
    if room is None:
        return None  # a group the bot has never been used in: not bound
    for m in members:
        touch_person(session, m.id, m.name, join.room, now)
    if not config.bot.welcome or room.unit_id is None:
        return None
    unit = session.get(OrgUnit, room.unit_id)
    if unit is None or unit.level != VILLAGE:
        return None
    return Welcome(unit, members, tuple(cadre_names(session, unit)))


def welcome_text(w: Welcome) -> str:
    names = "、".join(m.name for m in w.members if m.name)
    who = f"欢迎{names}加入{w.unit.name}工作群！" if names else f"欢迎加入{w.unit.name}工作群！"
    cadres = f"请找本村干部{'、'.join(w.cadre_names)}" if w.cadre_names else "请找本村干部"
    return f"{who}查本户爱心积分请发“#查分”；还没有登记的农户，{cadres}登记。"


def welcome_mentions(w: Welcome) -> tuple[str, ...]:
    """The new members (the cadres are named, not @'d: a join is no task of theirs)."""
    return tuple(m.id for m in w.members)
