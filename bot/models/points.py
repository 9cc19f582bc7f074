"""Tables of the points area: the append-only ledger and its hash chain, goods,
objections, awards held as likely repeats, and the history of who belonged to which
household (for the conflict-of-interest check on awards).

The ledger is never updated except for `status` (and who confirmed): amounts are fixed
once written, and a reversal is a new row pointing at the one it reverses. A balance is
a SUM over a household's rows; the indexes below make that, and the rankings, index-only
(see the performance notes: no stored balance column).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, true
from sqlmodel import Field, SQLModel

from bot.models.core import utc_field

# Entry kinds. A reversal keeps the kind of the entry it reverses (and sets
# `reverses_id`), so "points awarded" nets out reversed awards by summing one kind.
AWARD, DEDUCT, REDEEM = "award", "deduct", "redeem"
# Entry states. Only ACTIVE and FROZEN rows count toward a balance.
PENDING = "pending"  # an award waiting for a second evaluator's #确认
EXPIRED = "expired"  # a pending award nobody confirmed in time
CANCELLED = "cancelled"  # a pending award withdrawn with #撤销 (it never counted)
ACTIVE = "active"
FROZEN = "frozen"  # under objection (#异议) until reviewed (#复核)
COUNTED = (ACTIVE, FROZEN)


class PointEntry(SQLModel, table=True):
    """One ledger row: an award, a deduction, a redemption, or a reversal of one."""

    __tablename__ = "point_entry"
    __table_args__ = (
        # A household's balance: SUM(delta) by status and effective time.
        Index("ix_point_balance", "household_id", "status", "effective_at", "delta"),
        # A village's top households over a period.
        Index("ix_point_village", "unit_id", "created_at", "kind", "status", "household_id",
              "delta"),
        # Every village's activity over a period (#积分排名, bulletins, 公示).
        Index("ix_point_period", "created_at", "unit_id", "kind", "status", "delta"),
        # One reversal per entry, also under concurrency.
        UniqueConstraint("reverses_id", name="uq_point_reverses"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id")
    unit_id: int = Field(foreign_key="org_unit.id")  # the household's village
    kind: str = Field(max_length=8)
    delta: int
    rule: str | None = Field(default=None, max_length=64)  # the rule's name, if by rule
    reason: str = Field(default="", max_length=200)  # ad-hoc reason, or what was redeemed
    actor_id: str = Field(max_length=128)
    msg_id: str | None = Field(default=None, max_length=128)  # the source message
    created_at: datetime = utc_field()
    # Counts toward what may be redeemed from this time (later with publicity_days).
    effective_at: datetime = utc_field()
    status: str = Field(default=ACTIVE, max_length=10)
    reverses_id: int | None = Field(default=None, foreign_key="point_entry.id")
    confirmed_by: str | None = Field(default=None, max_length=128)
    confirmed_at: datetime | None = utc_field(nullable=True)
    # A redemption: which good and how many items (so a reversal can restock).
    good_id: int | None = Field(default=None, foreign_key="good.id")
    quantity: int | None = None
    # The hash chain of the village (bot.points.chain): the previous entry's hash ("" for
    # the first) and this entry's own. Status changes are not hashed: amounts are.
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)


class LedgerHead(SQLModel, table=True):
    """The newest entry of one village's hash chain. Its row is locked (FOR UPDATE) while
    an entry is appended, so two writers in one village cannot fork the chain; and a
    deleted newest entry shows as a head that points at nothing."""

    __tablename__ = "ledger_head"

    unit_id: int = Field(foreign_key="org_unit.id", primary_key=True)
    entry_id: int | None = None
    hash: str = Field(default="", max_length=64)


class HeldAward(SQLModel, table=True):
    """An award (or deduction) identical to one the same evaluator made a few minutes
    before: not recorded until they send #确认 (a double tap is not counted twice)."""

    __tablename__ = "held_award"
    __table_args__ = (Index("ix_held_actor", "actor_id", "unit_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    household_id: int = Field(foreign_key="household.id")
    kind: str = Field(max_length=8)
    rule: str | None = Field(default=None, max_length=64)
    amount: int | None = None  # ad hoc: the positive amount
    reason: str = Field(default="", max_length=200)
    actor_id: str = Field(max_length=128)
    msg_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = utc_field()
    repeats_id: int = Field(foreign_key="point_entry.id")  # the entry it looks like
    done_at: datetime | None = utc_field(nullable=True)  # recorded (or superseded)


class HouseholdLink(SQLModel, table=True):
    """A person's membership of a household, from `since` to `until` (None: still).
    Written by `bot.org.register_household`; an evaluator may not award a household he
    belonged to recently, even if he has re-registered elsewhere since."""

    __tablename__ = "household_link"
    __table_args__ = (Index("ix_link_person", "person_id", "household_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="person.id", max_length=128)
    household_id: int = Field(foreign_key="household.id")
    since: datetime = utc_field()
    until: datetime | None = utc_field(nullable=True)
    by: str = Field(default="", max_length=128)


class ClaimAttempt(SQLModel, table=True):
    """A `#认领` that linked no one (a phone not on file, or a household already
    linked): the journal that limits wrong guesses per person and day, so that phones
    cannot be tried one after another."""

    __tablename__ = "claim_attempt"
    __table_args__ = (Index("ix_claim_attempt_person", "person_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(max_length=128)
    unit_id: int = Field(foreign_key="org_unit.id")
    at: datetime = utc_field()
    msg_id: str | None = Field(default=None, max_length=128)


class Good(SQLModel, table=True):
    """A good in one village's love supermarket. Stock is counted in items (粽子: 个),
    and redeemed in whole packs of `pack_size` items for `price` points a pack."""

    __tablename__ = "good"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    name: str = Field(max_length=32)
    pack_size: int = 1
    pack_unit: str = Field(default="个", max_length=4)
    price: int
    stock: int = 0
    # False: taken off the shelf (#下架); kept, as redemptions in the ledger name it.
    listed: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    updated_by: str | None = Field(default=None, max_length=128)
    updated_at: datetime = utc_field()


class PointObjection(SQLModel, table=True):
    """A villager's objection to a ledger entry, and the review's decision."""

    __tablename__ = "point_objection"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="point_entry.id", index=True)
    person_id: str = Field(max_length=128)
    reason: str = Field(max_length=200)
    created_at: datetime = utc_field()
    msg_id: str | None = Field(default=None, max_length=128)
    decision: str | None = Field(default=None, max_length=8)  # "维持" or "撤销"
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = utc_field(nullable=True)
