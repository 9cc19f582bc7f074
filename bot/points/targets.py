"""Which household a command means: an @mention, a household name, or a person's name,
in one village (or, for #代查, anywhere below the group's unit). Each way of failing is
its own error class, so a handler never has to read an error's text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.messages import Mention
from bot.models.core import Household, OrgUnit, Person
from bot.org import (
    OrgError,
    ambiguous_text,
    find_household,
    find_unit,
    household_of,
    people_named,
    resolve_person,
)
from bot.orgcache import OrgView, instance
from bot.points.errors import PointsError
from bot.text import simplify

Target = Mention | str


class TargetError(PointsError):
    """The household meant cannot be told."""


class NotRegistered(TargetError):
    """The person is not registered to a household."""


class OtherVillage(TargetError):
    """The person's household is in another village."""


class HouseholdNotFound(TargetError):
    """No household or person of that name here."""


class AmbiguousName(TargetError):
    """Several people (or households) of that name here."""


def target_text(t: Target) -> str:
    """The target as the sender wrote it."""
    return f"@{t.name}" if isinstance(t, Mention) else t


def _name(p: Person) -> str:
    return p.name or p.id


def person_household(session: Session, person: Person, village: OrgUnit) -> Household:
    """The person's household, which must be in `village`."""
    hh = household_of(session, person)
    if hh is None:
        n = _name(person)
        raise NotRegistered(f"{n} 还没有登记到户。请村干部先发送：#登记 @{n} 户 {n}家")
    if hh.unit_id != village.id:
        raise OtherVillage(f"{_name(person)} 是别村的农户（{hh.name}），不在{village.name}")
    return hh


def person_named(session: Session, name: str, room_id: str | None, unit: OrgUnit | None
                 ) -> Person | None:
    """The one person of this name among the group's members and the people of its
    unit's households (as `bot.org.resolve_person` looks up a bare name); None if there
    is none, AmbiguousName if several."""
    found = people_named(session, name, room_id, unit)
    if len(found) > 1:
        raise AmbiguousName(ambiguous_text(name, len(found)))
    return found[0] if found else None


def cached_household(session: Session, org: OrgView, village: OrgUnit, name: str
                     ) -> Household | None:
    """The village's household of this (simplified) name, from the per-process cache:
    the village's households are read whole on first use; a transient copy (never
    change it)."""
    t = Household.__table__  # type: ignore[attr-defined]
    rows: dict[str, Any] = org.get(("households", village.id), lambda: {
        r["name"]: r
        for r in session.execute(sa_select(t).where(t.c.unit_id == village.id)).mappings()})
    if name not in rows:
        return None
    return org.get(("household", village.id, name), lambda: instance(Household, rows[name]))


def _household_names(name: str) -> tuple[str, ...]:
    """The names a household may be registered under, as people say it: 张三家 is the
    household 张三家, or 张三 (an imported roster names households by their head)."""
    if name.endswith("家") and len(name) > 1:
        return (name, name[:-1])
    return (name, f"{name}家")


def household_for(session: Session, target: Target, village: OrgUnit, *, room_id: str | None,
                  unit: OrgUnit | None, now: datetime, org: OrgView | None = None) -> Household:
    """The household an @mention, a household name or a person's name means, in
    `village`. `room_id` and `unit` are the group's: a bare person's name is looked up
    among its people. `org`: households by name from the cache."""
    if isinstance(target, Mention) and target.id:
        return person_household(session, resolve_person(session, target, room_id, unit, now),
                                village)
    name = simplify(target.name if isinstance(target, Mention) else target).lstrip("@")
    for candidate in _household_names(name):
        hh = (find_household(session, village, candidate) if org is None
              else cached_household(session, org, village, candidate))
        if hh is not None:
            return hh
    person = person_named(session, simplify(name), room_id, unit)
    if person is None:
        raise HouseholdNotFound(f"{village.name}找不到户或人“{name}”，请@本人，或写登记过的户名")
    return person_household(session, person, village)


def household_below(session: Session, village_word: str | None, target: Target, *,
                    room_id: str | None, unit: OrgUnit, now: datetime) -> Household:
    """The household meant by #代查: in the named village below `unit`, in `unit` when
    it is a village, else anywhere below it (a name found in several villages is
    refused with an example naming the village)."""
    if village_word is not None:
        try:
            village = find_unit(session, village_word, "村", within=unit)
        except OrgError as e:
            raise TargetError(str(e)) from None
        return household_for(session, target, village, room_id=room_id, unit=unit, now=now)
    if unit.level == "村":
        return household_for(session, target, unit, room_id=room_id, unit=unit, now=now)
    if isinstance(target, Mention) and target.id:
        hh = household_of(session, resolve_person(session, target, room_id, unit, now))
        home = session.get(OrgUnit, hh.unit_id) if hh else None
        if hh is None or home is None or not home.path.startswith(unit.path):
            raise HouseholdNotFound(f"{unit.name}找不到 {target_text(target)} 的户")
        return hh
    name = simplify(target if isinstance(target, str) else target.name)
    names = _household_names(name)
    found = session.exec(
        select(Household, OrgUnit).join(OrgUnit, col(OrgUnit.id) == col(Household.unit_id))
        .where(col(Household.name).in_(names), col(OrgUnit.path).startswith(unit.path))
        .order_by(col(OrgUnit.name))
    ).all()
    if not found:
        raise HouseholdNotFound(f"{unit.name}找不到户“{name}”")
    if len(found) > 1:
        places = "、".join(v.name for _, v in found)
        raise AmbiguousName(f"有{len(found)}个{found[0][0].name}（{places}），"
                            f"请写村名，例：#代查 {found[0][1].name} {found[0][0].name}")
    return found[0][0]
