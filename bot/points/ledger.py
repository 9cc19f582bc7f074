"""The append-only points ledger: recording awards and deductions, confirming,
expiring, reversing, objections and their review; and the row locks that keep one
household's writes in order. Plain functions over a session; they never commit.

The functions a command calls (`award`, `confirm_all`, `reverse_one`, `object_one`,
`review_one`, and `expire_award` for the expiry job) return result objects that
`bot.points.wording` puts into words.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, null, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.calendar import after_quiet_hours
from bot.config import Config
from bot.jobs import cancel, schedule
from bot.models.core import Household, OrgUnit, Person, Room
from bot.models.points import (
    ACTIVE,
    AWARD,
    CANCELLED,
    COUNTED,
    DEDUCT,
    EXPIRED,
    FROZEN,
    PENDING,
    REDEEM,
    Good,
    HeldAward,
    HouseholdLink,
    LedgerHead,
    PointEntry,
    PointObjection,
)
from bot.models.types import UTCDateTime
from bot.org import ADMIN, EVALUATOR, KEEPER, Roles, household_of, linked_within, rooms_of
from bot.orgcache import OrgView
from bot.points import chain
from bot.points.balance import balance, reversals_of
from bot.points.errors import NotAllowed, PointsError
from bot.points.policy import PERIOD_NOW, Policy, Rule, period_start, pick_rule, policy
from bot.points.targets import Target, household_for, target_text
from bot.points.wording import signed, status_label
from bot.text import simplify

EXPIRY_KIND = "points_expiry"
KEEP, REVERSE = "维持", "撤销"


class EntryNotFound(PointsError):
    """No such entry (in this group's unit)."""


class DuplicateTarget(PointsError):
    """One household named twice in one command."""


class LooksRepeated(PointsError):
    """The same award or deduction by the same evaluator a few minutes ago: `earlier`."""

    def __init__(self, earlier: PointEntry) -> None:
        super().__init__(f"与第{earlier.id}条相同")
        self.earlier = earlier


def _earlier_same(by_rule: bool) -> Any:
    """The id of the newest entry this evaluator (`actor`) made since `since` that is
    the same award (household, kind, and rule, or amount and reason) and still stands:
    a scalar subquery, bound by name."""
    hid: Any = bindparam("hid")
    reversed_ids = select(PointEntry.reverses_id).where(
        PointEntry.household_id == hid, col(PointEntry.reverses_id).is_not(None))
    q = select(PointEntry.id).where(
        PointEntry.household_id == hid, PointEntry.kind == bindparam("kind"),
        PointEntry.actor_id == bindparam("actor"),
        col(PointEntry.created_at) > bindparam("since", type_=UTCDateTime()),
        col(PointEntry.reverses_id).is_(None), col(PointEntry.id).not_in(reversed_ids),
        col(PointEntry.status).in_((*COUNTED, PENDING)),
    )
    if by_rule:
        q = q.where(PointEntry.rule == bindparam("rule"))
    else:
        q = q.where(col(PointEntry.rule).is_(None), PointEntry.delta == bindparam("delta"),
                    PointEntry.reason == bindparam("reason"))
    return q.order_by(col(PointEntry.id).desc()).limit(1).scalar_subquery()


@functools.cache
def _before_insert_query(dialect: str, repeat: str) -> Any:
    """See `_before_insert`; `repeat`: "rule", "amount" (which likely repeat to look
    for) or "" (none). Built once per shape."""
    earlier = _earlier_same(repeat == "rule") if repeat else null()
    if dialect == "postgresql":
        seq = func.nextval(func.pg_get_serial_sequence("point_entry", "id"))
        next_id: Any = case((earlier.is_(None), seq), else_=None) if repeat else seq
    else:
        next_id = select(func.coalesce(func.max(PointEntry.id), 0) + 1).scalar_subquery()
    bal = (select(func.coalesce(func.sum(PointEntry.delta), 0))
           .where(PointEntry.household_id == bindparam("hid"),
                  col(PointEntry.status).in_(COUNTED),
                  col(PointEntry.effective_at) <= bindparam("now", type_=UTCDateTime()))
           .scalar_subquery())
    return chain.head_select(dialect, earlier, bal, next_id)


def _before_insert(session: Session, household: Household, now: datetime,
                   repeat: dict[str, Any] | None
                   ) -> tuple[LedgerHead, int | None, int, int]:
    """One statement before a new entry is written: the village's chain head, locked
    (`chain.lock_head_reading`: read again, rarely, when it had to be made or moved while
    this waited for it); the likely repeat's id (None if there is none, or `repeat` is
    None: not looked for), the household's balance, and the id the entry will have (so
    its hash is written with it, not by a second statement): PostgreSQL's sequence (not
    taken for a repeat), or on SQLite one past the highest (the transaction writes
    before it appends, so holds the write lock or is refused at its next write; ledger
    rows are never deleted)."""
    shape = "" if repeat is None else "rule" if "rule" in repeat else "amount"
    q = _before_insert_query(session.get_bind().dialect.name, shape)
    head, row = chain.lock_head_reading(
        session, q, {"unit_id": household.unit_id, "hid": household.id, "now": now,
                     **(repeat or {})})
    return head, row[1], int(row[2]), int(row[3]) if row[3] is not None else 0


def for_update(q: Any) -> Any:
    """SELECT … FOR UPDATE (PostgreSQL; SQLite ignores it: its transactions already
    hold the single writer lock), refreshing rows this session had loaded before."""
    return q.with_for_update().execution_options(populate_existing=True)


def lock_household(session: Session, household_id: int) -> Household:
    """The household row, locked for the rest of the transaction: redemptions and
    capped awards of one household happen one after the other."""
    hh = session.exec(
        for_update(select(Household).where(Household.id == household_id))
    ).one()
    return hh


def lock_entry(session: Session, entry_id: int) -> PointEntry | None:
    return session.exec(for_update(select(PointEntry).where(PointEntry.id == entry_id))).first()


def _stale(entry: PointEntry, now: datetime, expiry: timedelta) -> bool:
    return entry.status == PENDING and entry.created_at + expiry <= now


def rule_uses(session: Session, household_id: int, rule: str, since: datetime,
              now: datetime, expiry: timedelta) -> int:
    """How often `rule` has applied to the household since `since` (pending awards not
    yet expired included, reversed ones not)."""
    reversed_ids = select(PointEntry.reverses_id).where(
        PointEntry.household_id == household_id, col(PointEntry.reverses_id).is_not(None)
    )
    q = select(func.count()).select_from(PointEntry).where(
        PointEntry.household_id == household_id,
        PointEntry.rule == rule,
        col(PointEntry.reverses_id).is_(None),
        col(PointEntry.created_at) >= since,
        col(PointEntry.id).not_in(reversed_ids),
        or_(col(PointEntry.status).in_(COUNTED),
            and_(col(PointEntry.status) == PENDING, col(PointEntry.created_at) > now - expiry)),
    )
    return int(session.exec(q).one())


def record(
    session: Session,
    *,
    household: Household,
    kind: str,
    rule: Rule | None,
    amount: int | None,
    reason: str,
    actor: Person,
    msg_id: str | None,
    now: datetime,
    pol: Policy,
    config: Config,
    repeat_ok: bool = False,
    org: OrgView | None = None,
    balances: dict[int, int] | None = None,
) -> PointEntry:
    """Award (kind AWARD) or deduct (DEDUCT) points by a rule, or ad hoc by `amount`
    (a positive number) with a reason. Awards wait for a second evaluator where the
    village requires it, and for the publicity period before they can be redeemed.
    LooksRepeated (nothing written) for the same award by the same evaluator within
    `pol.repeat`, unless `repeat_ok` (they confirmed it). `balances`: the household's
    balance now, with this entry, is put there when the entry counts at once."""
    assert household.id is not None
    if kind == AWARD:
        _not_own(session, actor, household, pol, now, org)
    if rule is not None:
        if (rule.points > 0) != (kind == AWARD):
            raise PointsError(f"“{rule.name}”是{'加' if rule.points > 0 else '扣'}分项，"
                              f"请用 #{'加分' if rule.points > 0 else '扣分'}")
        if amount is not None and amount != abs(rule.points):
            raise PointsError(f"“{rule.name}”按规则是 {signed(rule.points)} 分")
        delta = rule.points
    else:
        assert amount is not None and amount > 0
        if amount > pol.adhoc_cap:
            raise PointsError(f"临时{'加' if kind == AWARD else '扣'}分每次最多 {pol.adhoc_cap} 分")
        delta = amount if kind == AWARD else -amount
    if rule is not None and rule.cap_period:
        # The village's writers one at a time, then capped awards of one household (and
        # its redemptions): the order redemptions lock in. Checked before an id is taken.
        chain.lock_head(session, household.unit_id)
        lock_household(session, household.id)
        since = period_start(rule.cap_period, now, config.zone)
        if rule_uses(session, household.id, rule.name, since, now, pol.expiry) >= rule.cap_count:
            raise PointsError(f"{household.name}{PERIOD_NOW[rule.cap_period]}已有“{rule.name}”"
                              f"（{rule.cap_text}）")
    text = "" if rule else simplify(reason)[:200]
    repeat: dict[str, Any] | None = None
    if not repeat_ok and pol.repeat:
        repeat = {"kind": kind, "actor": actor.id, "since": now - pol.repeat,
                  **({"rule": rule.name} if rule is not None else {"delta": delta, "reason": text})}
    # Otherwise the head is locked by the read itself (the village's writers, one at a time).
    head, earlier_id, before, entry_id = _before_insert(session, household, now, repeat)
    if earlier_id is not None:
        earlier = session.get(PointEntry, earlier_id)
        assert earlier is not None
        raise LooksRepeated(earlier)
    pending = kind == AWARD and pol.confirmations >= 2
    publicity = timedelta(days=pol.publicity_days) if kind == AWARD else timedelta(0)
    entry = PointEntry(
        id=entry_id,
        household_id=household.id, unit_id=household.unit_id, kind=kind, delta=delta,
        rule=rule.name if rule else None, reason=text,
        actor_id=actor.id, msg_id=msg_id, created_at=now, effective_at=now + publicity,
        status=PENDING if pending else ACTIVE,
    )
    session.add(entry)
    chain.append(session, entry, head)  # hashed with its id, then written: one INSERT
    if balances is not None and entry.status in COUNTED and entry.effective_at <= now:
        balances[household.id] = before + delta
    if pending:
        # Expiry is also enforced on read; the job tells the group, outside quiet hours.
        schedule(session, _expiry_key(entry), EXPIRY_KIND,
                 after_quiet_hours(now + pol.expiry, config), now,
                 unit_id=household.unit_id, payload={"entry": entry.id}, created_by=actor.id)
    return entry


def _not_own(session: Session, actor: Person, household: Household, pol: Policy,
             now: datetime, org: OrgView | None = None) -> None:
    """No award to one's own household, nor to one belonged to within `pol.own_household`
    (re-registering elsewhere for a moment does not make it someone else's). `org`:
    the actor's household links from the per-process cache."""
    assert household.id is not None
    if actor.household_id == household.id:
        raise PointsError(f"不能给自己家加分（{household.name}）")
    if not pol.own_household:
        return
    since = now - pol.own_household
    if org is None:
        linked = linked_within(session, actor.id, household.id, since)
    else:
        links = org.get(("links", actor.id), lambda: tuple(session.execute(
            sa_select(HouseholdLink.household_id, HouseholdLink.until)  # type: ignore[call-overload]
            .where(HouseholdLink.person_id == actor.id)).all()))
        linked = any(hid == household.id and (until is None or until > since)
                     for hid, until in links)
    if linked:
        raise PointsError(f"您{pol.own_household.days}天内曾登记在{household.name}，"
                          "不能给这户加分，请另一位评议员办理")


def _expiry_key(entry: PointEntry) -> str:
    return f"points_expiry:{entry.id}"


def confirm(session: Session, entry_id: int, actor: Person, now: datetime, pol: Policy
            ) -> PointEntry:
    """A second evaluator confirms a pending award."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise EntryNotFound(f"没有第{entry_id}条积分记录")
    if entry.status == EXPIRED or _stale(entry, now, pol.expiry):
        hours = int(pol.expiry.total_seconds() // 3600)
        raise PointsError(f"第{entry_id}条超过{hours}小时无人确认，已作废，请重新登记")
    if entry.status != PENDING:
        if entry.confirmed_by:
            raise PointsError(f"第{entry_id}条已经确认过了")
        raise PointsError(f"第{entry_id}条不需要确认")
    if entry.actor_id == actor.id:
        raise PointsError(f"第{entry_id}条是您登记的，需要另一位评议员确认")
    if actor.household_id == entry.household_id:
        raise PointsError(f"第{entry_id}条是给您自己家的加分，需要另一位评议员确认")
    if pol.own_household and linked_within(session, actor.id, entry.household_id,
                                           now - pol.own_household):
        raise PointsError(f"第{entry_id}条是给您{pol.own_household.days}天内所在的户的加分，"
                          "需要另一位评议员确认")
    entry.status = ACTIVE
    entry.confirmed_by, entry.confirmed_at = actor.id, now
    entry.effective_at = now + timedelta(days=pol.publicity_days)
    cancel(session, _expiry_key(entry))
    return entry


def expire(session: Session, entry_id: int, now: datetime) -> PointEntry | None:
    """Mark a pending award expired; the entry if it was still pending."""
    entry = lock_entry(session, entry_id)
    if entry is None or entry.status != PENDING:
        return None
    entry.status = EXPIRED
    return entry


def _reversal(session: Session, entry: PointEntry, actor_id: str, msg_id: str | None,
              now: datetime) -> PointEntry:
    chain.lock_head(session, entry.unit_id)
    if entry.kind == REDEEM and entry.good_id is not None:
        good = session.exec(for_update(select(Good).where(Good.id == entry.good_id))).one()
        good.stock += entry.quantity or 0
        good.updated_at = now
    rev = PointEntry(
        household_id=entry.household_id, unit_id=entry.unit_id, kind=entry.kind,
        delta=-entry.delta, rule=entry.rule, reason=entry.reason, actor_id=actor_id,
        msg_id=msg_id, created_at=now, effective_at=max(now, entry.effective_at),
        status=ACTIVE, reverses_id=entry.id, good_id=entry.good_id, quantity=entry.quantity,
    )
    session.add(rev)
    session.flush()
    chain.append(session, rev)
    return rev


def reverse(session: Session, entry_id: int, actor: Person, msg_id: str | None,
            now: datetime, pol: Policy) -> tuple[PointEntry, PointEntry | None]:
    """Reverse an entry with an opposite one (a redemption also goes back into stock).
    A pending award is withdrawn instead (it never counted). Returns the entry and the
    reversing entry (None when withdrawn)."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise EntryNotFound(f"没有第{entry_id}条积分记录")
    if entry.reverses_id is not None:
        raise PointsError(f"第{entry_id}条本身是撤销记录，不能再撤销")
    if entry.status in (EXPIRED, CANCELLED) or _stale(entry, now, pol.expiry):
        raise PointsError(f"第{entry_id}条已作废，不计分，无需撤销")
    if entry.status == FROZEN:
        raise PointsError(f"第{entry_id}条有异议待复核，请用：#复核 {entry_id} 撤销")
    done = reversals_of(session, [entry_id])
    if done:
        raise PointsError(f"第{entry_id}条已被第{done[entry_id]}条撤销")
    if entry.status == PENDING:
        entry.status = CANCELLED
        cancel(session, _expiry_key(entry))
        return entry, None
    if entry.kind == DEDUCT and actor.household_id == entry.household_id:
        # Giving back a deduction is an award: not to one's own household.
        raise PointsError(f"第{entry_id}条是扣您自己家的分，需要另一位评议员或管理员撤销")
    return entry, _reversal(session, entry, actor.id, msg_id, now)


def object_to(session: Session, entry_id: int, person: Person, reason: str,
              msg_id: str | None, now: datetime, pol: Policy) -> PointEntry:
    """Freeze an entry under a villager's objection until it is reviewed."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise EntryNotFound(f"没有第{entry_id}条积分记录")
    if entry.kind == REDEEM:
        raise PointsError(f"第{entry_id}条是兑换记录，有问题请找超市管理员")
    if entry.reverses_id is not None:
        raise PointsError(f"第{entry_id}条是撤销记录，不能提异议")
    if entry.status == FROZEN:
        raise PointsError(f"第{entry_id}条已有异议，正在等待复核")
    if entry.status != ACTIVE or _stale(entry, now, pol.expiry):
        raise PointsError(f"第{entry_id}条还没有生效（{status_label(entry, now, pol.expiry)}），"
                          "不用提异议")
    done = reversals_of(session, [entry_id])
    if done:
        raise PointsError(f"第{entry_id}条已被第{done[entry_id]}条撤销")
    decided = session.exec(
        select(PointObjection).where(PointObjection.entry_id == entry_id,
                                     col(PointObjection.decision).is_not(None))
    ).first()
    if decided is not None:
        # A review is final: otherwise one villager could keep an entry frozen for ever.
        raise PointsError(f"第{entry_id}条已复核（{decided.decision}），不能再提异议")
    entry.status = FROZEN
    session.add(PointObjection(entry_id=entry_id, person_id=person.id, reason=simplify(reason)[:200],
                               created_at=now, msg_id=msg_id))
    return entry


def review(session: Session, entry_id: int, actor: Person, is_admin: bool, decision: str,
           msg_id: str | None, now: datetime) -> tuple[PointEntry, PointObjection, PointEntry | None]:
    """Decide an objection: KEEP unfreezes the entry; REVERSE unfreezes it and writes
    the opposite entry. An evaluator may not review their own entry."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise EntryNotFound(f"没有第{entry_id}条积分记录")
    if entry.status != FROZEN:
        raise PointsError(f"第{entry_id}条没有待复核的异议")
    if not is_admin and entry.actor_id == actor.id:
        raise PointsError(f"第{entry_id}条是您登记的，需要另一位评议员或管理员复核")
    if actor.household_id == entry.household_id:
        raise PointsError(f"第{entry_id}条是您自己家的记录，需要另一位评议员或管理员复核")
    objection = session.exec(
        select(PointObjection).where(PointObjection.entry_id == entry_id,
                                     col(PointObjection.decision).is_(None))
        .order_by(col(PointObjection.id).desc())
    ).first()
    assert objection is not None
    objection.decision, objection.decided_by, objection.decided_at = decision, actor.id, now
    entry.status = ACTIVE
    rev = _reversal(session, entry, actor.id, msg_id, now) if decision == REVERSE else None
    return entry, objection, rev



# -- what the commands call -------------------------------------------------------------


def entry_in(session: Session, entry_id: int, unit: OrgUnit) -> PointEntry:
    """An entry of `unit`'s village (or of a village below `unit`)."""
    entry = session.get(PointEntry, entry_id)
    village = session.get(OrgUnit, entry.unit_id) if entry else None
    if entry is None or village is None or not village.path.startswith(unit.path):
        raise EntryNotFound(f"{unit.name}没有第{entry_id}条积分记录")
    return entry


def _household_name(session: Session, household_id: int) -> str:
    hh = session.get(Household, household_id)
    return hh.name if hh else "?"


@dataclass(frozen=True)
class Awarded:
    entry: PointEntry
    household: Household
    balance: int | None  # after the command; None while pending or in publicity


@dataclass(frozen=True)
class Failed:
    target: str  # as written
    reason: str


@dataclass(frozen=True)
class Held:
    """An award not recorded because it looks like a repeat of `earlier`."""

    household: Household
    earlier: PointEntry


@dataclass(frozen=True)
class AwardResult:
    """What one #加分 or #扣分 did: the households done, those held as likely repeats
    (waiting for #确认), and those refused."""

    kind: str  # AWARD or DEDUCT
    policy: Policy
    now: datetime
    done: list[Awarded]
    failed: list[Failed]
    held: list[Held] = field(default_factory=list)


def award(session: Session, *, kind: str, village: OrgUnit, targets: Sequence[Target],
          rule_word: str | None, amount: int | None, reason: str, actor: Person,
          msg_id: str | None, room_id: str | None, now: datetime, config: Config,
          org: OrgView | None = None) -> AwardResult:
    """Award (AWARD) or deduct (DEDUCT) points to each target household of `village` by
    a rule, or ad hoc by `amount` with a reason. Each household is done or refused on
    its own (a savepoint each). UnknownRule if `rule_word` names no rule."""
    pol = policy(config, village)
    rule, targets = pick_rule(pol, rule_word, reason, targets)
    done: list[tuple[PointEntry, Household]] = []
    failed: list[Failed] = []
    held: list[Held] = []
    seen: set[int] = set()
    balances: dict[int, int] = {}  # each household's balance after its entry (`record`)
    for target in targets:
        try:
            # One target needs no savepoint of its own: when it fails nothing is done,
            # and the handler's refusal undoes the whole command.
            with session.begin_nested() if len(targets) > 1 else nullcontext():
                hh = household_for(session, target, village, room_id=room_id, unit=village,
                                   now=now, org=org)
                if hh.id in seen:
                    raise DuplicateTarget(f"{hh.name} 重复了，只记一次")
                entry = record(session, household=hh, kind=kind, rule=rule, amount=amount,
                               reason=reason, actor=actor, msg_id=msg_id, now=now, pol=pol,
                               config=config, org=org, balances=balances)
        except LooksRepeated as e:
            assert hh.id is not None
            seen.add(hh.id)
            _hold(session, village, hh, kind, rule, amount, reason, actor, msg_id, now, e.earlier)
            held.append(Held(hh, e.earlier))
            continue
        except PointsError as e:
            failed.append(Failed(target_text(target), str(e)))
            continue
        assert hh.id is not None
        seen.add(hh.id)
        done.append((entry, hh))
    # Balances once every household is done (a household is named once).
    out = [Awarded(e, hh, None if e.status == PENDING or e.effective_at > now
                   else balances.get(e.household_id)
                   if e.household_id in balances else balance(session, e.household_id, now))
           for e, hh in done]
    return AwardResult(kind, pol, now, out, failed, held)


def _hold(session: Session, village: OrgUnit, hh: Household, kind: str, rule: Rule | None,
          amount: int | None, reason: str, actor: Person, msg_id: str | None, now: datetime,
          earlier: PointEntry) -> None:
    """Keep a likely repeat for #确认; a third tap replaces the second, not adds to it."""
    assert hh.id is not None and earlier.id is not None
    for old in session.exec(select(HeldAward).where(
        HeldAward.actor_id == actor.id, HeldAward.household_id == hh.id,
        HeldAward.repeats_id == earlier.id, col(HeldAward.done_at).is_(None),
    )).all():
        old.done_at = now
    session.add(HeldAward(unit_id=village.id, household_id=hh.id, kind=kind,  # type: ignore[arg-type]
                          rule=rule.name if rule else None, amount=None if rule else amount,
                          reason="" if rule else reason, actor_id=actor.id, msg_id=msg_id,
                          created_at=now, repeats_id=earlier.id))


@dataclass(frozen=True)
class RepeatsResult:
    """What a bare #确认 did: the held repeats now recorded, and those refused."""

    policy: Policy
    now: datetime
    done: list[Awarded]
    failed: list[Failed]


def confirm_repeats(session: Session, village: OrgUnit, actor: Person, now: datetime,
                    config: Config) -> RepeatsResult:
    """A bare #确认: record the awards this evaluator made that were held as likely
    repeats within the last `repeat` minutes (each checked again as it is recorded)."""
    pol = policy(config, village)
    rows = session.exec(select(HeldAward).where(
        HeldAward.actor_id == actor.id, HeldAward.unit_id == village.id,
        col(HeldAward.done_at).is_(None), col(HeldAward.created_at) > now - pol.repeat,
    ).order_by(col(HeldAward.id))).all()
    if not rows:
        minutes = int(pol.repeat.total_seconds() // 60)
        raise PointsError(f"没有等您确认的重复加扣分（{minutes}分钟内有效）。"
                          "确认另一位评议员登记的加分请写编号，例：#确认 17")
    done: list[Awarded] = []
    failed: list[Failed] = []
    rules = {r.name: r for r in pol.rules}
    for h in rows:
        h.done_at = now
        hh = session.get(Household, h.household_id)
        assert hh is not None
        rule = rules.get(h.rule) if h.rule else None
        if h.rule and rule is None:
            failed.append(Failed(hh.name, f"规则“{h.rule}”已不再使用"))
            continue
        try:
            with session.begin_nested():
                entry = record(session, household=hh, kind=h.kind, rule=rule, amount=h.amount,
                               reason=h.reason, actor=actor, msg_id=h.msg_id, now=now, pol=pol,
                               config=config, repeat_ok=True)
        except PointsError as e:
            failed.append(Failed(hh.name, str(e)))
            continue
        bal = None if entry.status == PENDING or entry.effective_at > now else balance(
            session, entry.household_id, now)
        done.append(Awarded(entry, hh, bal))
    return RepeatsResult(pol, now, done, failed)


@dataclass(frozen=True)
class Confirmed:
    entry: PointEntry
    household: str
    balance: int | None  # None while in publicity


@dataclass(frozen=True)
class ConfirmResult:
    done: list[Confirmed]
    failed: list[str]


def confirm_all(session: Session, ids: Sequence[int], village: OrgUnit, actor: Person,
                now: datetime, config: Config) -> ConfirmResult:
    """A second evaluator confirms pending awards of `village`, each on its own."""
    pol = policy(config, village)
    done, failed = [], []
    for entry_id in ids:
        try:
            with session.begin_nested():
                entry_in(session, entry_id, village)
                entry = confirm(session, entry_id, actor, now, pol)
        except PointsError as e:
            failed.append(str(e))
            continue
        bal = None if entry.effective_at > now else balance(session, entry.household_id, now)
        done.append(Confirmed(entry, _household_name(session, entry.household_id), bal))
    return ConfirmResult(done, failed)


@dataclass(frozen=True)
class Reversed:
    entry: PointEntry
    reversal: PointEntry | None  # None: a pending award withdrawn
    household: str
    balance: int | None  # after the reversal


def reverse_one(session: Session, entry_id: int, unit: OrgUnit, actor: Person, roles: Roles,
                msg_id: str | None, now: datetime, config: Config) -> Reversed:
    """#撤销: a redemption by a keeper or admin, an award or deduction by an evaluator
    or admin."""
    found = entry_in(session, entry_id, unit)
    if found.kind == REDEEM and not roles.has(ADMIN, KEEPER):
        raise NotAllowed("撤销兑换记录需要超市管理员或管理员权限")
    if found.kind != REDEEM and not roles.has(ADMIN, EVALUATOR):
        raise NotAllowed("撤销加扣分需要评议员或管理员权限")
    village = session.get(OrgUnit, found.unit_id)
    assert village is not None
    entry, rev = reverse(session, entry_id, actor, msg_id, now, policy(config, village))
    name = _household_name(session, entry.household_id)
    bal = None if rev is None else balance(session, entry.household_id, now)
    return Reversed(entry, rev, name, bal)


@dataclass(frozen=True)
class Objected:
    entry: PointEntry
    household: str


def object_one(session: Session, entry_id: int, unit: OrgUnit, person: Person, roles: Roles,
               reason: str, msg_id: str | None, now: datetime, config: Config) -> Objected:
    """#异议: a villager of the entry's village (or anyone holding a role) freezes it."""
    entry = entry_in(session, entry_id, unit)
    own = household_of(session, person)
    village = session.get(OrgUnit, entry.unit_id)
    assert village is not None
    if (own is None or own.unit_id != village.id) and not roles.names:
        raise NotAllowed(f"只有{village.name}的村民可以提异议（请先登记到户）")
    entry = object_to(session, entry_id, person, reason, msg_id, now, policy(config, village))
    return Objected(entry, _household_name(session, entry.household_id))


@dataclass(frozen=True)
class Reviewed:
    entry: PointEntry
    objection: PointObjection
    reversal: PointEntry | None  # None: kept
    household: str
    balance: int | None  # after a reversal


def review_one(session: Session, entry_id: int, unit: OrgUnit, actor: Person, is_admin: bool,
               decision: str, msg_id: str | None, now: datetime) -> Reviewed:
    """#复核: decide the objection to an entry of `unit`."""
    entry_in(session, entry_id, unit)
    entry, objection, rev = review(session, entry_id, actor, is_admin, decision, msg_id, now)
    name = _household_name(session, entry.household_id)
    bal = None if rev is None else balance(session, entry.household_id, now)
    return Reviewed(entry, objection, rev, name, bal)


@dataclass(frozen=True)
class Expired:
    entry: PointEntry
    household: str
    rooms: list[Room]  # the village's groups


def expire_award(session: Session, entry_id: int, now: datetime) -> Expired | None:
    """The expiry job: mark a pending award expired; None if it was no longer pending."""
    entry = expire(session, entry_id, now)
    if entry is None:
        return None
    village = session.get(OrgUnit, entry.unit_id)
    household = session.get(Household, entry.household_id)
    return Expired(entry, household.name if household else "",
                   list(rooms_of(session, [village] if village else [])))
