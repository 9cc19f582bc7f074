"""The per-process cache of what every message reads and what rarely changes: the org
tree and its names, groups and their units, people, roles, households and their
links, targets.

Every entry is kept under the cache version's token (`bot.models.cache`), which the
database's triggers change, in the same transaction, with any change to those tables.
A unit of work reads the token with its first statement (the journal insert returns
it, `App._journal`) and takes the `Generation` of that token: the entries it finds
there were read in a state with that token, and so are the state it sees. Several
processes on one database, and rolled-back transactions and savepoints, stay correct
because a token is random: a state that never committed leaves a token no one will
read again, and a changed state always has a new one.

Entries hold plain data or transient ORM objects that belong to no session: read them,
never change them. A unit that writes to a watched table may still read the cache: a
miss's load is kept only if the token is unchanged after it (`OrgView._stable`), so a
unit's own uncommitted state never lands under the shared token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from bot.models.cache import CacheVersion
from bot.models.core import OrgUnit, Person, RoleGrant, Room, UnitAlias

T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class RoomRow:
    id: str
    transport: str
    topic: str
    unit_id: int | None
    bound_by: str | None
    bound_at: datetime | None


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: str
    name: str
    household_id: int | None
    updated_at: datetime


class Generation:
    """The entries read under one token."""

    def __init__(self, token: str, limit: int) -> None:
        self.token = token
        self.limit = limit
        self._entries: dict[Hashable, Any] = {}

    def get(self, key: Hashable, load: Callable[[], T],
            stable: Callable[[], bool] | None = None) -> T:
        """The entry under `key`, loaded (in the caller's session) on a miss; kept only
        when `stable()` says the session still stands at this token after the load."""
        value = self._entries.get(key, _MISSING)
        if value is _MISSING:
            value = load()
            if stable is not None and not stable():
                return value
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = value
        return value  # type: ignore[no-any-return]

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


_ROOM = Room.__table__  # type: ignore[attr-defined]
_PERSON = Person.__table__  # type: ignore[attr-defined]
_UNIT = OrgUnit.__table__  # type: ignore[attr-defined]
_ALIAS = UnitAlias.__table__  # type: ignore[attr-defined]
_GRANT = RoleGrant.__table__  # type: ignore[attr-defined]


class OrgCache:
    """One per App (per process). Thread-safe: each unit of work keeps the generation
    of its own token; a newer token replaces the current generation."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._current: Generation | None = None
        self._lock = threading.Lock()
        # (room, person) → the day the membership was last written: it is only
        # written again on another day (room_member's last_seen). Recorded after commit.
        self._members: dict[tuple[str, str], date] = {}
        # Built once (statement construction costs more than the cached compilation).
        self.rooms_q = select(*(_ROOM.c[c] for c in RoomRow.__slots__))
        self.person_q = select(*(_PERSON.c[c] for c in PersonRow.__slots__)).where(
            _PERSON.c.id == bindparam("id"))
        self.units_q = select(*(_UNIT.c[c] for c in UnitRow.__slots__))
        self.aliases_q = select(_ALIAS.c.unit_id, _ALIAS.c.alias).order_by(_ALIAS.c.id)
        self.grants_q = select(_GRANT.c.unit_id, _GRANT.c.role).where(
            _GRANT.c.person_id == bindparam("id"))
        self.token_q = select(CacheVersion.__table__.c.token)  # type: ignore[attr-defined]

    def generation(self, token: str) -> Generation:
        current = self._current
        if current is not None and current.token == token:
            return current
        with self._lock:
            current = self._current
            if current is None or current.token != token:
                current = Generation(token, self.limit)
                self._current = current
            return current

    # -- room members (not under the token: a membership is never removed) -----------

    def member_known(self, room_id: str, person_id: str, day: date) -> bool:
        return self._members.get((room_id, person_id)) == day

    def member_written(self, room_id: str, person_id: str, day: date) -> None:
        """After the commit that wrote it."""
        if len(self._members) >= self.limit:
            self._members.clear()
        self._members[(room_id, person_id)] = day


@dataclass(frozen=True, slots=True)
class UnitRow:
    id: int
    name: str
    level: str
    parent_id: int | None
    path: str
    created_at: datetime


@dataclass(frozen=True)
class Tree:
    """Every unit's row and its aliases, by id (plain rows: a city's few thousand are
    read in milliseconds; `OrgView.unit` makes the ORM object of one when asked)."""

    units: dict[int, UnitRow]
    aliases: dict[int, tuple[str, ...]]


@dataclass
class OrgView:
    """The cache as one unit of work sees it: its generation, its session. The groups
    and the tree are read whole on first use (one statement each; a city has a few
    thousand), people and their roles one person at a time."""

    cache: OrgCache
    gen: Generation
    session: Session

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        return self.gen.get(key, load, self._stable)

    def _stable(self) -> bool:
        """After a miss's load: is the token still the generation's? Not when this unit
        wrote to a watched table since its token was read (its own uncommitted state,
        which a rolled-back savepoint would leave under the shared token), nor when, on
        PostgreSQL, another transaction committed a change meanwhile. Then what was
        loaded serves this unit only. One statement, on misses only."""
        now = self.session.execute(self.cache.token_q).scalar()
        return now is not None and now == self.gen.token

    def room(self, room_id: str) -> RoomRow | None:
        return self.gen.get("rooms", self._rooms, self._stable).get(room_id)

    def _rooms(self) -> dict[str, RoomRow]:
        return {r[0]: RoomRow(*r) for r in self.session.execute(self.cache.rooms_q)}

    def person(self, person_id: str) -> PersonRow | None:
        # Only people found are kept (a person's insert does not change the token).
        row = self.gen.get(("person", person_id), lambda: self._person(person_id),
                           self._stable)
        if row is None:
            self.gen.forget(("person", person_id))
        return row

    def _person(self, person_id: str) -> PersonRow | None:
        r = self.session.execute(self.cache.person_q, {"id": person_id}).first()
        return PersonRow(*r) if r is not None else None

    def tree(self) -> Tree:
        return self.gen.get("tree", self._tree, self._stable)

    def _tree(self) -> Tree:
        units = {r[0]: UnitRow(*r) for r in self.session.execute(self.cache.units_q)}
        aliases: dict[int, list[str]] = {}
        for uid, alias in self.session.execute(self.cache.aliases_q):
            aliases.setdefault(uid, []).append(alias)
        return Tree(units, {k: tuple(v) for k, v in aliases.items()})

    def unit(self, unit_id: int) -> OrgUnit | None:
        """A transient copy of the unit (shared: never change it)."""
        return self.gen.get(("unit", unit_id), lambda: self._unit(unit_id), self._stable)

    def _unit(self, unit_id: int) -> OrgUnit | None:
        row = self.tree().units.get(unit_id)
        if row is None:
            return None
        return instance(OrgUnit, {"id": row.id, "name": row.name, "level": row.level,
                                  "parent_id": row.parent_id, "path": row.path,
                                  "created_at": row.created_at})

    def grants(self, person_id: str, unit: OrgUnit) -> frozenset[str]:
        """The roles granted to the person on `unit` or above (as `bot.org.role_grants`)."""
        mine = self.gen.get(("grants", person_id), lambda: tuple(
            (uid, role) for uid, role in
            self.session.execute(self.cache.grants_q, {"id": person_id})), self._stable)
        up = {int(p) for p in unit.path.strip("/").split("/") if p}
        return frozenset(role for uid, role in mine if uid in up)


def instance(cls: type[T], data: Mapping[Any, Any]) -> T:
    """An ORM object made from a row's values as the ORM's loader makes one (no
    __init__: SQLModel's costs ten times more): transient, and every column in `data`
    counts as its value as loaded."""
    obj = manager_of_class(cls).new_instance()
    obj.__dict__.update(data)
    return obj  # type: ignore[no-any-return]


def attach(session: Session, cls: type[T], pk: Any, data: dict[str, Any]) -> T:
    """The session's instance of `cls` with this primary key, made from `data` without a
    query when the session has none yet (the data must be the row as the database has
    it: read under the unit's token)."""
    key = identity_key(cls, pk)
    obj = session.identity_map.get(key)
    if obj is not None:
        return obj  # type: ignore[no-any-return]
    obj = instance(cls, data)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj
