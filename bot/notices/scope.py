"""Where a notice goes and who may send it there: the sender's authority, the scope a
#通知 names (全体, 本县, unit names), and the bound groups within it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.models.core import OrgUnit, RoleGrant, Room
from bot.org import CADRE, HQ, ancestor_ids, find_units, is_within
from bot.text import simplify

# Words that mean "every group under the root".
WHOLE = frozenset({"全体", "全市", "全部", "所有", "所有群", "全体群", "各群", "全市各群"})
# Words that mean "the county (or township) this group belongs to".
LOCAL = {
    "全县": "县", "本县": "县", "全区": "县", "本区": "县",
    "全乡": "乡", "本乡": "乡", "全镇": "乡", "本镇": "乡",
}

_NAME = r"[^\s、，,;；:：/]+"
# The scope (names joined by 、 or commas), then a space or a colon, then the text. The
# same pattern reads the normalised text and the message as typed.
HEAD = re.compile(
    rf"^[\s:：]*(?P<scope>{_NAME}(?:\s*[、，,;；/]\s*{_NAME})*)(?:[\s:：]+(?P<body>.*))?$", re.S
)
LIST_SEP = re.compile(r"\s*[、，,;；/]\s*")


def split_head(text: str) -> tuple[list[str], str] | None:
    """The scope's names and the text after them ('' when none); None if the text does
    not start with a scope."""
    m = HEAD.match(text)
    if m is None:
        return None
    return LIST_SEP.split(m.group("scope")), (m.group("body") or "").strip()


class NoticeError(Exception):
    """Something the sender must change; the message is the reply."""


class ScopeError(NoticeError):
    """The scope names no unit, or one several units share."""


# -- who may notify where ----------------------------------------------------------


def authority(session: Session, person_id: str, here: OrgUnit | None) -> list[OrgUnit]:
    """The units within which the person may send notices from this group, widest first.

    HQ (指挥部) on this group's unit or above: that unit's whole subtree (granted on the
    city: everywhere). A cadre (干部) granted on a county (or the city): that subtree.
    Cadres of townships and villages may not send notices.
    """
    if here is None:
        return []
    rows = session.exec(
        select(RoleGrant.role, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == col(RoleGrant.unit_id))
        .where(
            RoleGrant.person_id == person_id,
            col(RoleGrant.unit_id).in_(ancestor_ids(here)),
            col(RoleGrant.role).in_((HQ, CADRE)),
        )
    ).all()
    units = {u.id: u for role, u in rows if role == HQ or u.level in ("市", "县")}
    return sorted(units.values(), key=lambda u: len(u.path))


def may_notify(units: Iterable[OrgUnit], allowed: Sequence[OrgUnit]) -> list[OrgUnit]:
    """The units outside what the sender may notify."""
    return [u for u in units if not any(is_within(u, a) for a in allowed)]


# -- scope -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    units: tuple[OrgUnit, ...]
    label: str  # "全体", "浑源县、阳高县"
    whole: bool


def resolve_scope(
    session: Session, words: Sequence[str], here: OrgUnit, allowed: Sequence[OrgUnit]
) -> Scope:
    """The units a scope names: 全体 (the root of this group's tree), 本县, or unit names.

    A name that several units share is taken within the sender's authority, then within
    this group's tree; still ambiguous, it is refused with the places to choose from.
    """
    root_id = ancestor_ids(here)[0]
    units: list[OrgUnit] = []
    for raw in words:
        word = simplify(raw)
        if word in WHOLE:
            root = session.get(OrgUnit, root_id)
            assert root is not None
            return Scope((root,), "全体", True)
        if word in LOCAL:
            level = LOCAL[word]
            unit = next((u for u in _ancestors(session, here) if u.level == level), None)
            if unit is None:
                raise ScopeError(f"本群是{here.level}级，没有“{word}”，请写单位名称")
        else:
            found = find_units(session, word)
            if len(found) > 1:
                found = [u for u in found if any(is_within(u, a) for a in allowed)] or found
            if len(found) > 1:
                found = [u for u in found if ancestor_ids(u)[0] == root_id] or found
            if not found:
                raise ScopeError(f"找不到单位“{word}”")
            if len(found) > 1:
                places = "、".join(f"{_parent(session, u)}的{u.name}" for u in found)
                raise ScopeError(f"有{len(found)}个“{word}”（{places}），请写明是哪一个")
            unit = found[0]
        if all(u.id != unit.id for u in units):
            units.append(unit)
    return Scope(tuple(units), "、".join(u.name for u in units), False)


def extend_scope(
    session: Session, scope: Scope, body: str, here: OrgUnit, allowed: Sequence[OrgUnit]
) -> tuple[Scope, str]:
    """'#通知 浑源县 阳高县 内容': unit names after a space still belong to the scope, when
    they name other units than those already in it ('浑源县 吴城乡 …' is the text)."""
    while not scope.whole:
        head = split_head(body)
        if head is None or not head[1]:
            break
        names, rest = head
        if not all(find_units(session, n) for n in names):
            break
        try:
            more = resolve_scope(session, names, here, allowed)
        except NoticeError:
            break
        if more.whole or any(is_within(u, s) for u in more.units for s in scope.units):
            break
        units = (*scope.units, *more.units)
        scope = Scope(units, "、".join(u.name for u in units), False)
        body = rest
    return scope, body


def _ancestors(session: Session, unit: OrgUnit) -> list[OrgUnit]:
    ids = ancestor_ids(unit)
    found = {u.id: u for u in session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(ids)))}
    return [found[i] for i in ids if i in found]


def _parent(session: Session, unit: OrgUnit) -> str:
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    return parent.name if parent else "（无）"


def target_rooms(
    session: Session, units: Sequence[OrgUnit], exclude_room: str | None
) -> list[tuple[Room, OrgUnit]]:
    """Every bound group in the units' subtrees, each once, in tree order; the group
    the notice was written in is left out (its people have just seen it)."""
    q = select(Room, OrgUnit).join(OrgUnit, col(OrgUnit.id) == col(Room.unit_id))
    seen: dict[str, tuple[Room, OrgUnit]] = {}
    for unit in units:
        rows = session.exec(q.where(col(OrgUnit.path).startswith(unit.path))).all()
        for room, u in rows:
            if room.id != exclude_room:
                seen.setdefault(room.id, (room, u))
    return sorted(seen.values(), key=lambda ru: (path_key(ru[1].path), ru[0].id))


def path_key(path: str) -> tuple[int, ...]:
    """A unit path ('/1/5/9/') as numbers, for tree order."""
    return tuple(int(p) for p in path.strip("/").split("/") if p)
