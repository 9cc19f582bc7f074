"""Who must acknowledge a notice in a group: its audience.

By default the role holders of the group's unit (干部 and 指挥部 granted on that unit
itself; a county cadre is not asked to answer in every village group below), each of
whom must say 收到. `#通知 … 全员` makes it everyone in the group, and a unit without
role holders falls back to that: everyone in a group cannot be listed reliably (only
those who have spoken are known), so there the first 收到 of anyone counts for the
group, as before."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.models.core import OrgUnit, Person, RoleGrant
from bot.org import CADRE, HQ

# The roles whose holders make up a group's audience.
AUDIENCE_ROLES = (CADRE, HQ)


def audience(session: Session, unit: OrgUnit) -> list[Person]:
    """The role holders of the unit itself, by name."""
    rows = session.exec(
        select(Person)
        .join(RoleGrant, col(RoleGrant.person_id) == col(Person.id))
        .where(RoleGrant.unit_id == unit.id, col(RoleGrant.role).in_(AUDIENCE_ROLES))
        .distinct()
    ).all()
    return sorted(rows, key=lambda p: (p.name or p.id, p.id))
