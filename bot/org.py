"""The organisation: units and their aliases, groups, people, roles, households.

Plain functions over a session; they never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bot.db import insert_ignore, upsert
from bot.messages import Mention
from bot.models.core import (
    LEVELS,
    Household,
    OrgUnit,
    Person,
    RoleGrant,
    Room,
    RoomMember,
    UnitAlias,
)
from bot.models.points import HouseholdLink
from bot.models.types import max_chars
from bot.text import simplify

ADMIN, HQ, CADRE, EVALUATOR, KEEPER = "管理员", "指挥部", "干部", "评议员", "超市管理员"
ROLES = (ADMIN, HQ, CADRE, EVALUATOR, KEEPER)
ROLE_ALIASES = {
    "管理员": ADMIN, "admin": ADMIN,
    "指挥部": HQ, "总指挥部": HQ, "hq": HQ,
    "干部": CADRE, "村干部": CADRE, "第一书记": CADRE, "书记": CADRE, "县干部": CADRE,
    "乡干部": CADRE, "工作队": CADRE,
    "评议员": EVALUATOR, "评议": EVALUATOR, "评议小组": EVALUATOR, "评议组": EVALUATOR,
    "超市管理员": KEEPER, "超市": KEEPER, "店主": KEEPER, "掌柜": KEEPER,
}
LEVEL_ALIASES = {"市": "市", "县": "县", "区": "县", "乡": "乡", "镇": "乡", "村": "村"}
# Suffixes a unit's name may drop: 浑源县 is also 浑源.
_SUFFIXES = ("社区", "街道", "市", "县", "区", "乡", "镇", "村")


class OrgError(Exception):
    """A lookup that a person must clarify; the message is the reply."""


class NameTooLong(OrgError):
    """A unit, alias or household name longer than its column."""


def _check_length(name: str, model: Any, column: str, what: str) -> None:
    limit = max_chars(model, column)
    if len(name) > limit:
        raise NameTooLong(f"{what}太长了（{len(name)} 字，最多 {limit} 字）")


class MoveNeedsAdmin(OrgError):
    """Moving a person out of the household they are registered in, without being an
    admin of that household's village (another village's cadre never may)."""

    def __init__(self, person: str, old: str, old_village: str, same_village: bool) -> None:
        if same_village:
            text = f"{person} 已登记在 {old}，改户需要管理员"
        else:
            text = f"{person} 已登记在{old_village}的{old}，不能改登记到本村（需要{old_village}的管理员）"
        super().__init__(text)
        self.person, self.old, self.old_village = person, old, old_village


def role_name(word: str) -> str | None:
    return ROLE_ALIASES.get(simplify(word).lower())


def level_name(word: str) -> str | None:
    return LEVEL_ALIASES.get(simplify(word))


def level_index(level: str) -> int:
    return LEVELS.index(level)


def short_name(name: str) -> str | None:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


# -- units -------------------------------------------------------------------------


def ancestor_ids(unit: OrgUnit) -> list[int]:
    """The unit's id and its ancestors' ids, root first."""
    return [int(p) for p in unit.path.strip("/").split("/") if p]


def ancestor_ids_of_path(path: str) -> list[int]:
    return [int(p) for p in path.strip("/").split("/") if p]


# -- labels: a unit's name with the names above it -----------------------------------


def supervising_rooms(session: Session, unit: OrgUnit) -> list[Room]:
    """Where the unit's data-quality flags go: the groups of its parent, or of the
    nearest unit above it that has a group."""
    for uid in reversed(ancestor_ids(unit)[:-1]):
        rooms = list(session.exec(
            select(Room).where(Room.unit_id == uid).order_by(col(Room.id))
        ).all())
        if rooms:
            return rooms
    return []


def unit_label(unit: OrgUnit, names: dict[int, str], below: OrgUnit) -> str:
    """The unit's name with its ancestors under `below`: '吴城乡·皇叔洼村'."""
    ids = ancestor_ids_of_path(unit.path)
    depth = len(ancestor_ids_of_path(below.path))
    return "·".join(names.get(i, "?") for i in ids[depth:])


def names_of(session: Session, units: Iterable[OrgUnit]) -> dict[int, str]:
    """Names of the units and all their ancestors, by id."""
    ids = {a for u in units for a in ancestor_ids(u)}
    if not ids:
        return {}
    rows = session.exec(select(OrgUnit.id, OrgUnit.name).where(col(OrgUnit.id).in_(ids))).all()
    return {i: n for i, n in rows if i is not None}


def is_within(unit: OrgUnit, ancestor: OrgUnit) -> bool:
    return unit.path.startswith(ancestor.path)


def subtree(session: Session, unit: OrgUnit, level: str | None = None) -> Sequence[OrgUnit]:
    q = select(OrgUnit).where(col(OrgUnit.path).startswith(unit.path))
    if level:
        q = q.where(OrgUnit.level == level)
    return session.exec(q.order_by(OrgUnit.path)).all()


def children(session: Session, unit: OrgUnit) -> Sequence[OrgUnit]:
    return session.exec(
        select(OrgUnit).where(OrgUnit.parent_id == unit.id).order_by(col(OrgUnit.id))
    ).all()


def find_units(session: Session, name: str, level: str | None = None) -> list[OrgUnit]:
    """Units called `name` by name or alias (Traditional or Simplified), any parent."""
    n = simplify(name)
    alias_ids = select(UnitAlias.unit_id).where(UnitAlias.alias == n)
    q = select(OrgUnit).where(or_(col(OrgUnit.name) == n, col(OrgUnit.id).in_(alias_ids)))
    if level:
        q = q.where(OrgUnit.level == level)
    return list(session.exec(q.order_by(col(OrgUnit.id))).all())


def find_unit(
    session: Session, name: str, level: str | None = None, within: OrgUnit | None = None,
    what: str = "",
) -> OrgUnit:
    """Exactly one unit by name; OrgError with the question to ask otherwise. `what`
    names the unit's part in the message ("上级": 找不到上级单位“…”)."""
    found = find_units(session, name, level)
    if within is not None:
        outside = found
        found = [u for u in found if is_within(u, within)]
        if outside and not found:  # it exists, elsewhere: say so, not "no such unit"
            raise OrgError(f"{what}单位“{simplify(name)}”不在{within.name}范围内")
    if not found:
        raise OrgError(f"找不到{what}单位“{simplify(name)}”")
    if len(found) > 1:
        places = "、".join(f"{parent_name(session, u)}的{u.name}" for u in found)
        raise OrgError(f"有{len(found)}个“{simplify(name)}”（{places}），请写明上级")
    return found[0]


def parent_name(session: Session, unit: OrgUnit) -> str:
    if unit.parent_id is None:
        return "（无）"
    parent = session.get(OrgUnit, unit.parent_id)
    return parent.name if parent else "（无）"


def create_unit(
    session: Session, name: str, level: str, parent: OrgUnit | None, now: datetime
) -> OrgUnit:
    _check_length(simplify(name), OrgUnit, "name", "单位名称")
    unit = OrgUnit(name=simplify(name), level=level, parent_id=parent.id if parent else None,
                   created_at=now)
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    short = short_name(unit.name)
    if short:
        session.add(UnitAlias(unit_id=unit.id, alias=short))  # type: ignore[arg-type]
    session.flush()
    return unit


def add_alias(session: Session, unit: OrgUnit, alias: str) -> None:
    a = simplify(alias)
    _check_length(a, UnitAlias, "alias", "单位简称")
    exists = session.exec(
        select(UnitAlias).where(UnitAlias.unit_id == unit.id, UnitAlias.alias == a)
    ).first()
    if not exists and a != unit.name:
        session.add(UnitAlias(unit_id=unit.id, alias=a))  # type: ignore[arg-type]


def bind_send_only_rooms(
    session: Session, transport: str, units: dict[str, str], now: datetime
) -> list[str]:
    """Make a room of `transport` for each name in `units`, bound to the named unit;
    unbind its other rooms. Returns the problems (a unit not found or ambiguous)."""
    problems = []
    for name, unit_name in units.items():
        try:
            unit = find_unit(session, unit_name)
        except OrgError as e:
            problems.append(f"transports.{transport}.units.{name} = {unit_name!r}: {e}")
            continue
        insert_ignore(session, Room, {"id": name, "transport": transport}, ["id"])
        room = session.get(Room, name)
        assert room is not None
        if room.transport != transport:
            problems.append(f"transports.{transport}.units.{name}: the name is a {room.transport} room")
            continue
        if room.unit_id != unit.id:
            room.unit_id, room.bound_by, room.bound_at = unit.id, "config", now
        room.topic = f"企业微信·{unit.name}"
    stale = session.exec(
        select(Room).where(Room.transport == transport, col(Room.unit_id).is_not(None))
    ).all()
    for room in stale:
        if room.id not in units:
            room.unit_id = None
    return problems


def room_unit(session: Session, room_id: str | None) -> OrgUnit | None:
    if room_id is None:
        return None
    room = session.get(Room, room_id)
    if room is None or room.unit_id is None:
        return None
    return session.get(OrgUnit, room.unit_id)


def rooms_of(session: Session, units: Iterable[OrgUnit]) -> list[Room]:
    ids = [u.id for u in units]
    if not ids:
        return []
    return list(
        session.exec(select(Room).where(col(Room.unit_id).in_(ids)).order_by(Room.id)).all()
    )


# -- roles -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Roles:
    """What one person may do in one place: the roles valid on the unit, and admin."""

    names: frozenset[str]
    bootstrap_admin: bool

    def has(self, *roles: str) -> bool:
        return bool(self.names.intersection(roles))


def roles_at(
    session: Session, person_id: str, unit: OrgUnit | None, admins: Iterable[str]
) -> Roles:
    """Roles granted on `unit` or any ancestor; bootstrap admins are admin everywhere."""
    return roles_of(person_id, role_grants(session, person_id, unit), admins)


def roles_of(person_id: str, grants: frozenset[str], admins: Iterable[str]) -> Roles:
    """`Roles` from the person's grants on a unit and above (`role_grants`)."""
    bootstrap = person_id in set(admins)
    return Roles(grants | {ADMIN} if bootstrap else grants, bootstrap)


def role_grants(session: Session, person_id: str, unit: OrgUnit | None) -> frozenset[str]:
    """The roles granted to the person on `unit` or any ancestor."""
    if unit is None:
        return frozenset()
    return frozenset(session.exec(
        select(RoleGrant.role).where(
            RoleGrant.person_id == person_id,
            col(RoleGrant.unit_id).in_(ancestor_ids(unit)),
        )
    ).all())


def holds_role(session: Session, person_id: str, role: str) -> bool:
    """Whether the person holds `role` on any unit (a direct message has no unit)."""
    return session.exec(select(RoleGrant.id).where(
        RoleGrant.person_id == person_id, RoleGrant.role == role).limit(1)).first() is not None


def grant_role(
    session: Session, person_id: str, unit: OrgUnit, role: str, by: str, now: datetime
) -> bool:
    """True if granted, False if the person already had it on this unit."""
    exists = session.exec(
        select(RoleGrant).where(
            RoleGrant.person_id == person_id, RoleGrant.unit_id == unit.id, RoleGrant.role == role
        )
    ).first()
    if exists:
        return False
    session.add(RoleGrant(person_id=person_id, unit_id=unit.id, role=role, granted_by=by,  # type: ignore[arg-type]
                          granted_at=now))
    return True


def revoke_role(session: Session, person_id: str, unit: OrgUnit, role: str) -> bool:
    grant = session.exec(
        select(RoleGrant).where(
            RoleGrant.person_id == person_id, RoleGrant.unit_id == unit.id, RoleGrant.role == role
        )
    ).first()
    if grant is None:
        return False
    session.delete(grant)
    return True


def people_with_role(session: Session, unit: OrgUnit, role: str) -> list[Person]:
    """People holding `role` on `unit` itself or above it."""
    q = (
        select(Person)
        .join(RoleGrant, col(RoleGrant.person_id) == col(Person.id))
        .where(RoleGrant.role == role, col(RoleGrant.unit_id).in_(ancestor_ids(unit)))
        .distinct()
    )
    return list(session.exec(q).all())


def cadre_ids(session: Session, unit: OrgUnit) -> list[str]:
    """The contact ids of the unit's own cadres (granted on the unit itself, not above
    it: a county cadre is not @'d in every village group), in the order granted. What a
    chase, a reminder or a notice @s in the unit's groups."""
    rows = session.exec(
        select(RoleGrant.person_id)
        .where(RoleGrant.role == CADRE, RoleGrant.unit_id == unit.id)
        .order_by(col(RoleGrant.id))
    ).all()
    return list(dict.fromkeys(rows))


def cadre_names(session: Session, unit: OrgUnit) -> list[str]:
    """The names of the unit's own cadres (as `cadre_ids`), those without one left out."""
    ids = cadre_ids(session, unit)
    people = {p.id: p.name for p in session.exec(select(Person).where(col(Person.id).in_(ids)))}
    return [people[i] for i in ids if people.get(i)]


# -- people ------------------------------------------------------------------------


def touch_person(
    session: Session, person_id: str, name: str, room_id: str | None, now: datetime
) -> Person:
    """Create or refresh a person, and note that they speak in this group.

    Upserts, so that a person's first two messages handled at once by two database
    workers do not collide.
    """
    # A person first seen without a display name is shown by their id until they have one.
    insert_ignore(session, Person, {"id": person_id, "name": simplify(name) or person_id,
                                    "updated_at": now}, ["id"])
    person = session.get(Person, person_id)
    assert person is not None
    if name and person.name != simplify(name):
        person.name = simplify(name)
        person.updated_at = now
    if room_id is not None:
        note_speaker(session, room_id, person_id, now)
    return person


def note_speaker(session: Session, room_id: str, person_id: str, now: datetime) -> None:
    """The person speaks in this group (last seen now)."""
    upsert(session, RoomMember, {"room_id": room_id, "person_id": person_id, "last_seen": now},
           ["room_id", "person_id"], ["last_seen"])


def resolve_person(
    session: Session, mention: Mention, room_id: str | None, unit: OrgUnit | None, now: datetime
) -> Person:
    """A person from an @mention (by id), or a bare name among this group's people.

    A bare name is looked up among the group's members and the people of its unit's
    households; several matches are refused with a question, never guessed.
    """
    if mention.id:
        person = session.get(Person, mention.id)
        if person is None:
            person = Person(id=mention.id, name=simplify(mention.name), updated_at=now)
            session.add(person)
            session.flush()
        elif mention.name and person.name in ("", person.id):
            person.name = simplify(mention.name)
        return person
    name = simplify(mention.name)
    found = people_named(session, name, room_id, unit)
    if not found:
        raise OrgError(f"本群找不到“{name}”，请用@指定")
    if len(found) > 1:
        raise OrgError(ambiguous_text(name, len(found)))
    return found[0]


def people_named(session: Session, name: str, room_id: str | None, unit: OrgUnit | None
                 ) -> list[Person]:
    """The people a bare name may mean: the group's members and the people of its
    unit's households with that (simplified) name."""
    candidates: dict[str, Person] = {}
    if room_id is not None:
        q = (
            select(Person)
            .join(RoomMember, col(RoomMember.person_id) == col(Person.id))
            .where(RoomMember.room_id == room_id, Person.name == name)
        )
        candidates.update({p.id: p for p in session.exec(q).all()})
    if unit is not None:
        q2 = (
            select(Person)
            .join(Household, col(Household.id) == col(Person.household_id))
            .join(OrgUnit, col(OrgUnit.id) == col(Household.unit_id))
            .where(Person.name == name, col(OrgUnit.path).startswith(unit.path))
        )
        candidates.update({p.id: p for p in session.exec(q2).all()})
    return list(candidates.values())


def ambiguous_text(name: str, count: int) -> str:
    return f"有{'两' if count == 2 else count}位{name}，请用@指定"


def household_of(session: Session, person: Person) -> Household | None:
    return session.get(Household, person.household_id) if person.household_id else None


def find_household(session: Session, village: OrgUnit, name: str) -> Household | None:
    return session.exec(
        select(Household).where(Household.unit_id == village.id, Household.name == simplify(name))
    ).first()


@dataclass(frozen=True)
class Registration:
    """What #登记 did: the household (created or not), and each person's link."""

    household: Household
    created: bool
    linked: list[tuple[Person, Household | None]]  # newly linked, with their old household
    already: list[Person]  # already in this household


def register_household(
    session: Session, village: OrgUnit, name: str, now: datetime,
    members: Sequence[Person] = (), *, by: str = "",
    may_move: Callable[[OrgUnit], bool] = lambda village: False,
) -> Registration:
    """The household of this name in the village, created if new, with `members` linked
    to it (each link recorded in the link history). A person registered in another
    household is moved only if `may_move(that household's village)` (its admins);
    MoveNeedsAdmin otherwise, and nothing is linked."""
    hh = find_household(session, village, name)
    created = hh is None
    if hh is None:
        _check_length(simplify(name), Household, "name", "户名")
        hh = Household(unit_id=village.id, name=simplify(name), created_at=now)  # type: ignore[arg-type]
        session.add(hh)
        session.flush()
    moves: list[tuple[Person, Household | None]] = []
    already: list[Person] = []
    for person in {p.id: p for p in members}.values():
        if person.household_id == hh.id:
            already.append(person)
            continue
        old = household_of(session, person)
        if old is not None:
            old_village = session.get(OrgUnit, old.unit_id)
            assert old_village is not None
            if not may_move(old_village):
                raise MoveNeedsAdmin(person.name or person.id, old.name, old_village.name,
                                     old_village.id == village.id)
        moves.append((person, old))
    for person, _old in moves:
        link_person(session, person, hh, now, by)
    return Registration(hh, created, moves, already)


def link_person(session: Session, person: Person, hh: Household, now: datetime, by: str) -> None:
    """Link `person` to `hh`, closing their open link in the history."""
    for open_link in session.exec(
        select(HouseholdLink).where(HouseholdLink.person_id == person.id,
                                    col(HouseholdLink.until).is_(None))
    ).all():
        open_link.until = now
    person.household_id = hh.id
    session.flush()  # a person new in this transaction exists before the link names it
    session.add(HouseholdLink(person_id=person.id, household_id=hh.id, since=now, by=by))  # type: ignore[arg-type]


def linked_within(session: Session, person_id: str, household_id: int, since: datetime) -> bool:
    """Whether the person belonged to the household at any time from `since` on."""
    q = select(HouseholdLink.id).where(
        HouseholdLink.person_id == person_id, HouseholdLink.household_id == household_id,
        or_(col(HouseholdLink.until).is_(None), col(HouseholdLink.until) > since),
    )
    return session.exec(q).first() is not None


def household_count(session: Session, unit: OrgUnit) -> int:
    q = (
        select(func.count())
        .select_from(Household)
        .join(OrgUnit, col(OrgUnit.id) == col(Household.unit_id))
        .where(col(OrgUnit.path).startswith(unit.path))
    )
    return int(session.exec(q).one())
