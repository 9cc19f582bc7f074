"""Households matched to the people who speak: a villager proves which household is
theirs with the phone on file (`#认领 13812345678`), and cadres see which households
nobody has claimed yet (`#未认领`).

The phone comes from the household file (`bot.points.files`), stored normalised (11
digits) and shown masked (138****5678). A person is never linked by display name: the
phone is the proof, and the link is by contact id. Wrong guesses are journaled
(`ClaimAttempt`) and limited per person and day, so phones cannot be tried in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func
from sqlmodel import Session, col, select

from bot.models.core import Household, OrgUnit, Person
from bot.models.points import ClaimAttempt
from bot.org import household_of, link_person
from bot.points.balance import balance
from bot.points.errors import PointsError
from bot.points.policy import period_start

TRIES_PER_DAY = 3  # claims that link no one, per person and calendar day
UNLINKED_SHOWN = 40  # households listed by #未认领; the rest are counted

class AlreadyLinked(PointsError):
    """The sender already belongs to a household: a claim never moves anyone."""

    def __init__(self, household: Household, village: OrgUnit | None) -> None:
        where = f"（{village.name}）" if village is not None else ""
        super().__init__(f"您已登记在 {household.name}{where}，不用再认领。发送 #查分 查看本户积分")
        self.household = household


class TooManyTries(PointsError):
    """The sender has used today's wrong tries."""

    def __init__(self) -> None:
        super().__init__(f"今天已认错 {TRIES_PER_DAY} 次，请明天再试，或请村干部帮您登记")


@dataclass(frozen=True)
class Claimed:
    """The sender is now linked to `household`."""

    household: Household
    village: OrgUnit
    balance: int


@dataclass(frozen=True)
class Missed:
    """Nobody was linked; the try is counted. `why`: "none" (no household of the
    village has that phone), "linked" (its household has members already) or "several"
    (more than one household has it: a cadre must register the person)."""

    why: str
    left: int  # wrong tries left today


def _day_start(now: datetime, zone: ZoneInfo) -> datetime:
    return period_start("day", now, zone)


def wrong_tries_today(session: Session, person_id: str, now: datetime, zone: ZoneInfo) -> int:
    q = select(func.count()).select_from(ClaimAttempt).where(
        ClaimAttempt.person_id == person_id, col(ClaimAttempt.at) >= _day_start(now, zone)
    )
    return int(session.exec(q).one())


def _has_members(session: Session, household_id: int) -> bool:
    return session.exec(
        select(Person.id).where(Person.household_id == household_id).limit(1)
    ).first() is not None


def claim_household(session: Session, person: Person, village: OrgUnit, phone: str,
                    now: datetime, zone: ZoneInfo, msg_id: str | None) -> Claimed | Missed:
    """Link `person` to the one household of `village` whose phone is `phone` (already
    normalised) and which has no member yet. AlreadyLinked if the person belongs to a
    household, TooManyTries once today's wrong tries are used (both change nothing).
    A miss is journaled: it must stay written, so it is returned, not raised."""
    own = household_of(session, person)
    if own is not None:
        raise AlreadyLinked(own, session.get(OrgUnit, own.unit_id))
    used = wrong_tries_today(session, person.id, now, zone)
    if used >= TRIES_PER_DAY:
        raise TooManyTries()
    # Locked (PostgreSQL): two people claiming one household at once are served in turn.
    found = session.exec(
        select(Household).where(Household.unit_id == village.id, Household.phone == phone)
        .order_by(col(Household.id)).limit(2).with_for_update()
    ).all()
    free = [h for h in found if h.id is not None and not _has_members(session, h.id)]
    if len(found) == 1 and len(free) == 1:
        hh = free[0]
        assert hh.id is not None
        link_person(session, person, hh, now, by=person.id)
        return Claimed(hh, village, balance(session, hh.id, now))
    session.add(ClaimAttempt(person_id=person.id, unit_id=village.id, at=now,  # type: ignore[arg-type]
                             msg_id=msg_id))
    # Two households with one phone cannot be told apart: a cadre must link them.
    why = "none" if not found else "several" if len(found) > 1 and free else "linked"
    return Missed(why, TRIES_PER_DAY - used - 1)


@dataclass(frozen=True)
class Unlinked:
    """#未认领: the village's households that no one is linked to."""

    village: OrgUnit
    households: list[Household]  # by name, at most UNLINKED_SHOWN
    count: int  # all such households
    total: int  # households of the village


def unlinked_households(session: Session, village: OrgUnit) -> Unlinked:
    member = exists().where(col(Person.household_id) == col(Household.id))
    base = select(Household).where(Household.unit_id == village.id, ~member)
    shown = list(session.exec(base.order_by(col(Household.name)).limit(UNLINKED_SHOWN)).all())
    count = len(shown) if len(shown) < UNLINKED_SHOWN else int(session.exec(
        select(func.count()).select_from(Household).where(Household.unit_id == village.id, ~member)
    ).one())
    total = int(session.exec(
        select(func.count()).select_from(Household).where(Household.unit_id == village.id)
    ).one())
    return Unlinked(village, shown, count, total)


def claimable_head(session: Session, person: Person, village: OrgUnit) -> Household | None:
    """The one unclaimed household of the village with a phone on file whose head has
    the person's display name, or None. Only to tell them how to claim it (never to
    link them: a display name proves nothing)."""
    if not person.name:
        return None
    member = exists().where(col(Person.household_id) == col(Household.id))
    found = session.exec(
        select(Household).where(Household.unit_id == village.id, Household.head_name == person.name,
                                col(Household.phone).is_not(None), ~member).limit(2)
    ).all()
    return found[0] if len(found) == 1 else None
