"""Love-supermarket points (爱心积分): rules, the append-only ledger, balances, goods,
redemption, objections. Plain functions over a session; they never commit.

Public for other areas (rankings, dashboard, bulletins): `balance`, `balance_detail`,
`top_households`, `village_activity`, `week_entries`.

Balances are sums over the ledger, never a stored column:
- 余额 (`Balance.total`): ACTIVE and FROZEN rows whose `effective_at` has come;
- 可兑换 (`Balance.redeemable`): that, less the frozen awards (a frozen deduction keeps
  counting: an objection never makes more points spendable);
- 待生效 (`Balance.upcoming`): awards still in their publicity period;
- 待确认 (`Balance.awaiting`): awards waiting for a second evaluator, not yet expired.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, func, or_, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.calendar import after_quiet_hours, at_local, week_start
from bot.config import Config, RuleConfig
from bot.jobs import upsert_job
from bot.models.core import Household, OrgUnit, Person
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
    PointEntry,
    PointObjection,
)
from bot.models.types import UTCDateTime
from bot.org import short_name
from bot.text import simplify

EXPIRY_KIND = "points_expiry"
PUBLICITY_KIND = "points_publicity"
PUBLICITY_KEY = "builtin:points_publicity"
KEEP, REVERSE = "维持", "撤销"


class PointsError(Exception):
    """Something that cannot be done; the message is the reply. Nothing is changed."""


class NotWholePacks(PointsError):
    """A count that is not a whole number of packs; `nearest` is the closest that is."""

    def __init__(self, good: Good, count: int, nearest: int) -> None:
        super().__init__(
            f"{good.name}按{good.pack_size}{good.pack_unit}一份兑换，{count}{good.pack_unit}不是整份"
        )
        self.good, self.count, self.nearest = good, count, nearest


# -- rules and village policy -----------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    points: int
    aliases: tuple[str, ...] = ()
    cap_period: str = ""
    cap_count: int = 1

    @classmethod
    def of(cls, rc: RuleConfig) -> Rule:
        return cls(simplify(rc.name), rc.points, tuple(simplify(a) for a in rc.aliases),
                   rc.cap_period, rc.cap_count)  # fmt: skip

    @property
    def cap_text(self) -> str:
        if not self.cap_period:
            return ""
        return f"每户{PERIOD_WORDS[self.cap_period]}限{self.cap_count}次"


PERIOD_WORDS = {"day": "每天", "week": "每周", "month": "每月", "year": "每年"}
PERIOD_NOW = {"day": "今天", "week": "本周", "month": "本月", "year": "今年"}


@dataclass(frozen=True)
class Policy:
    """The points rules in force in one village: the config's, with its overrides."""

    rules: tuple[Rule, ...]
    confirmations: int
    publicity_days: int
    adhoc_cap: int
    expiry: timedelta


def policy(config: Config, village: OrgUnit | None) -> Policy:
    """The rules in force in `village` (None: the config's defaults)."""
    p = config.points
    over = None
    names = {village.name, short_name(village.name)} if village is not None else set()
    for key, value in p.villages.items():
        if simplify(key) in names:
            over = value
            break
    rules = over.rules if over is not None and over.rules else p.rules
    return Policy(
        rules=tuple(Rule.of(r) for r in rules),
        confirmations=over.confirmations_required or p.confirmations_required
        if over is not None else p.confirmations_required,
        publicity_days=over.publicity_days if over is not None and over.publicity_days is not None
        else p.publicity_days,
        adhoc_cap=over.adhoc_cap or p.adhoc_cap if over is not None else p.adhoc_cap,
        expiry=timedelta(hours=p.pending_expiry_hours),
    )  # fmt: skip


def find_rule(pol: Policy, word: str) -> Rule | None:
    """The rule a word names: by name or alias, else the one rule containing it (or
    contained in it). None if none; PointsError if several match."""
    w = simplify(word).strip("“”\"'")
    for r in pol.rules:
        if w == r.name or w in r.aliases:
            return r
    if len(w) < 2:
        return None
    found = [r for r in pol.rules if any(w in n or (len(n) >= 2 and n in w)
                                         for n in (r.name, *r.aliases))]  # fmt: skip
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise PointsError(f"“{w}”可能是：" + "、".join(r.name for r in found) + "，请写全称")
    return None


def period_start(period: str, now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    if period == "week":
        return week_start(now, zone)
    day = local.date()
    if period == "month":
        day = day.replace(day=1)
    elif period == "year":
        day = day.replace(month=1, day=1)
    return at_local(day, time(0, 0), zone)


# -- reading the ledger -----------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    total: int  # 余额
    redeemable: int  # 可兑换
    frozen: int  # frozen awards, not redeemable
    upcoming: int  # awards in publicity (待生效)
    upcoming_from: datetime | None  # when the first of them becomes effective
    awaiting: int  # awards waiting for a second evaluator (待确认)


@functools.cache
def _balance_query() -> Any:
    # Built once: constructing these statements costs more than running them.
    return select(func.coalesce(func.sum(PointEntry.delta), 0)).where(
        PointEntry.household_id == bindparam("hid"),
        col(PointEntry.status).in_(COUNTED),
        col(PointEntry.effective_at) <= bindparam("now", type_=UTCDateTime()),
    )


@functools.cache
def _detail_queries() -> tuple[Any, Any]:
    now = bindparam("now", type_=UTCDateTime())
    eff = col(PointEntry.effective_at) <= now
    delta = col(PointEntry.delta)
    sums = select(
        func.coalesce(func.sum(case((eff, delta), else_=0)), 0),
        func.coalesce(func.sum(case((and_(eff, col(PointEntry.status) == FROZEN, delta > 0),
                                     delta), else_=0)), 0),  # fmt: skip
        func.coalesce(func.sum(case((eff, 0), else_=delta)), 0),
        type_coerce(func.min(case((eff, None), else_=col(PointEntry.effective_at))), UTCDateTime()),
    ).where(PointEntry.household_id == bindparam("hid"), col(PointEntry.status).in_(COUNTED))
    awaiting = select(func.coalesce(func.sum(delta), 0)).where(
        PointEntry.household_id == bindparam("hid"),
        PointEntry.status == PENDING,
        col(PointEntry.created_at) > bindparam("since", type_=UTCDateTime()),
    )
    return sums, awaiting


def balance(session: Session, household_id: int, now: datetime) -> int:
    """A household's balance (余额) at `now`: the sum of its effective ledger rows
    (ACTIVE and FROZEN rows whose effective time has come). Index-only."""
    return int(session.exec(_balance_query(), params={"hid": household_id, "now": now}).one())


def balance_detail(session: Session, household_id: int, now: datetime,
                   expiry: timedelta = timedelta(hours=72)) -> Balance:  # fmt: skip
    """`balance` with what is frozen, in publicity and awaiting confirmation (pending
    awards younger than `expiry`)."""
    sums, awaiting_q = _detail_queries()
    total, frozen, upcoming, first = session.exec(
        sums, params={"hid": household_id, "now": now}
    ).one()
    awaiting = session.exec(awaiting_q, params={"hid": household_id, "since": now - expiry}).one()
    return Balance(int(total), int(total) - int(frozen), int(frozen), int(upcoming), first,
                   int(awaiting))  # fmt: skip


def entries_of(session: Session, household_id: int, *, since: datetime | None = None,
               limit: int = 5) -> list[PointEntry]:  # fmt: skip
    """The household's newest entries (newest first), cancelled and expired ones too."""
    q = select(PointEntry).where(PointEntry.household_id == household_id)
    if since is not None:
        q = q.where(col(PointEntry.created_at) >= since)
    return list(session.exec(q.order_by(col(PointEntry.id).desc()).limit(limit)).all())


def count_since(session: Session, household_id: int, since: datetime) -> int:
    q = select(func.count()).select_from(PointEntry).where(
        PointEntry.household_id == household_id, col(PointEntry.created_at) >= since
    )
    return int(session.exec(q).one())


def reversals_of(session: Session, ids: Iterable[int | None]) -> dict[int, int]:
    """For each of these entries that has been reversed: the reversing entry's id."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.exec(
        select(PointEntry.reverses_id, PointEntry.id).where(col(PointEntry.reverses_id).in_(wanted))
    ).all()
    return {int(r): int(i) for r, i in rows if r is not None and i is not None}


@dataclass(frozen=True)
class Ranked:
    household: Household
    points: int


def top_households(session: Session, village: OrgUnit, n: int = 10, *,
                   since: datetime | None = None, until: datetime | None = None) -> list[Ranked]:  # fmt: skip
    """The village's top `n` households by points earned (awards less deductions,
    reversals netted; redemptions do not lower a rank), optionally within
    [since, until). Households at zero or below are left out. Index-only scan of
    `ix_point_village`."""
    total = func.sum(PointEntry.delta)
    q = select(PointEntry.household_id, total).where(
        PointEntry.unit_id == village.id,
        col(PointEntry.kind).in_((AWARD, DEDUCT)),
        col(PointEntry.status).in_(COUNTED),
    )
    if since is not None:
        q = q.where(col(PointEntry.created_at) >= since)
    if until is not None:
        q = q.where(col(PointEntry.created_at) < until)
    q = q.group_by(col(PointEntry.household_id)).having(total > 0)
    rows = session.exec(q.order_by(total.desc(), col(PointEntry.household_id)).limit(n)).all()
    households = {h.id: h for h in session.exec(
        select(Household).where(col(Household.id).in_([r[0] for r in rows]))
    ).all()}  # fmt: skip
    return [Ranked(households[hid], int(pts)) for hid, pts in rows]


@dataclass(frozen=True)
class VillageActivity:
    village: OrgUnit
    awarded: int  # points awarded in the period (reversed awards netted out)
    deducted: int  # points deducted (a positive number)
    households: int  # households registered in the village
    per_household: float  # awarded / households (0 without households)


def village_activity(session: Session, unit: OrgUnit, start: datetime, end: datetime
                     ) -> list[VillageActivity]:  # fmt: skip
    """Points activity of every village in `unit`'s subtree within [start, end): points
    awarded, deducted, households, and points awarded per household; best first (by
    points per household, then awarded, then name). For #积分排名 and the bulletins."""
    villages = list(session.exec(
        select(OrgUnit).where(col(OrgUnit.path).startswith(unit.path), OrgUnit.level == "村")
    ).all())  # fmt: skip
    if not villages:
        return []
    ids = select(OrgUnit.id).where(col(OrgUnit.path).startswith(unit.path), OrgUnit.level == "村")
    sums: dict[tuple[int, str], int] = {}
    rows = session.exec(
        select(PointEntry.unit_id, PointEntry.kind, func.sum(PointEntry.delta))
        .where(col(PointEntry.created_at) >= start, col(PointEntry.created_at) < end,
               col(PointEntry.kind).in_((AWARD, DEDUCT)), col(PointEntry.status).in_(COUNTED),
               col(PointEntry.unit_id).in_(ids))
        .group_by(col(PointEntry.unit_id), col(PointEntry.kind))
    ).all()  # fmt: skip
    for uid, kind, s in rows:
        sums[(uid, kind)] = int(s or 0)
    counts = dict(session.exec(
        select(Household.unit_id, func.count()).where(col(Household.unit_id).in_(ids))
        .group_by(col(Household.unit_id))
    ).all())  # fmt: skip
    out = []
    for v in villages:
        assert v.id is not None
        awarded = sums.get((v.id, AWARD), 0)
        hh = int(counts.get(v.id, 0))
        out.append(VillageActivity(v, awarded, -sums.get((v.id, DEDUCT), 0), hh,
                                   awarded / hh if hh else 0.0))  # fmt: skip
    out.sort(key=lambda a: (-a.per_household, -a.awarded, a.village.name))
    return out


def week_entries(session: Session, start: datetime, end: datetime, after_id: int | None = None
                 ) -> dict[int, list[tuple[PointEntry, str]]]:  # fmt: skip
    """Entries created in (start, end] (or, with `after_id`, every entry after that one
    created by `end`), by village id, each with its household's name, in order;
    cancelled and expired ones left out. For the weekly 公示."""
    since = col(PointEntry.id) > after_id if after_id is not None else col(PointEntry.created_at) > start
    rows = session.exec(
        select(PointEntry, Household.name)
        .join(Household, col(Household.id) == col(PointEntry.household_id))
        .where(since, col(PointEntry.created_at) <= end,
               col(PointEntry.status).not_in((CANCELLED, EXPIRED)))
        .order_by(col(PointEntry.unit_id), col(PointEntry.id))
    ).all()  # fmt: skip
    out: dict[int, list[tuple[PointEntry, str]]] = {}
    for entry, name in rows:
        out.setdefault(entry.unit_id, []).append((entry, name))
    return out


# -- describing entries -----------------------------------------------------------------


def what(entry: PointEntry) -> str:
    """What an entry is for: its rule, its reason, or what was redeemed."""
    base = entry.rule or entry.reason
    if entry.kind == REDEEM:
        base = f"兑换 {entry.reason}"
    return f"撤销#{entry.reverses_id} {base}" if entry.reverses_id else base


def status_label(entry: PointEntry, now: datetime, expiry: timedelta,
                 reversed_by: int | None = None) -> str:  # fmt: skip
    if entry.status == PENDING:
        return "已过期" if entry.created_at + expiry <= now else "待确认"
    if entry.status == EXPIRED:
        return "已过期"
    if entry.status == CANCELLED:
        return "已作废"
    if entry.status == FROZEN:
        return "冻结"
    if reversed_by is not None:
        return f"已撤销#{reversed_by}"
    if entry.effective_at > now and entry.delta > 0:
        return "待生效"
    return ""


def signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def day_text(when: datetime, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    return f"{local.month}月{local.day}日"


def entry_line(entry: PointEntry, now: datetime, zone: ZoneInfo, expiry: timedelta, *,
               household: str | None = None, reversed_by: int | None = None) -> str:  # fmt: skip
    """'#17 6月3日 张三家 +10 六净六有（待确认）'."""
    label = status_label(entry, now, expiry, reversed_by)
    who = f" {household}" if household else ""
    tail = f"（{label}）" if label else ""
    return f"#{entry.id} {day_text(entry.created_at, zone)}{who} {signed(entry.delta)} {what(entry)}{tail}"


# -- writing the ledger -----------------------------------------------------------------


def _locked(q: Any) -> Any:
    """SELECT … FOR UPDATE (PostgreSQL; SQLite ignores it: its transactions already
    hold the single writer lock), refreshing rows this session had loaded before."""
    return q.with_for_update().execution_options(populate_existing=True)


def lock_household(session: Session, household_id: int) -> Household:
    """The household row, locked for the rest of the transaction: redemptions and
    capped awards of one household happen one after the other."""
    hh = session.exec(
        _locked(select(Household).where(Household.id == household_id))
    ).one()
    return hh


def lock_entry(session: Session, entry_id: int) -> PointEntry | None:
    return session.exec(_locked(select(PointEntry).where(PointEntry.id == entry_id))).first()


def _stale(entry: PointEntry, now: datetime, expiry: timedelta) -> bool:
    return entry.status == PENDING and entry.created_at + expiry <= now


def rule_uses(session: Session, household_id: int, rule: str, since: datetime,
              now: datetime, expiry: timedelta) -> int:  # fmt: skip
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
    )  # fmt: skip
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
) -> PointEntry:
    """Award (kind AWARD) or deduct (DEDUCT) points by a rule, or ad hoc by `amount`
    (a positive number) with a reason. Awards wait for a second evaluator where the
    village requires it, and for the publicity period before they can be redeemed."""
    assert household.id is not None
    if kind == AWARD and actor.household_id == household.id:
        raise PointsError(f"不能给自己家加分（{household.name}）")
    if rule is not None:
        if (rule.points > 0) != (kind == AWARD):
            raise PointsError(f"“{rule.name}”是{'加' if rule.points > 0 else '扣'}分项，"
                              f"请用 #{'加分' if rule.points > 0 else '扣分'}")  # fmt: skip
        if amount is not None and amount != abs(rule.points):
            raise PointsError(f"“{rule.name}”按规则是 {signed(rule.points)} 分")
        delta = rule.points
    else:
        assert amount is not None and amount > 0
        if amount > pol.adhoc_cap:
            raise PointsError(f"临时{'加' if kind == AWARD else '扣'}分每次最多 {pol.adhoc_cap} 分")
        delta = amount if kind == AWARD else -amount
    lock_household(session, household.id)
    if rule is not None and rule.cap_period:
        since = period_start(rule.cap_period, now, config.zone)
        if rule_uses(session, household.id, rule.name, since, now, pol.expiry) >= rule.cap_count:
            raise PointsError(f"{household.name}{PERIOD_NOW[rule.cap_period]}已有“{rule.name}”"
                              f"（{rule.cap_text}）")  # fmt: skip
    pending = kind == AWARD and pol.confirmations >= 2
    publicity = timedelta(days=pol.publicity_days) if kind == AWARD else timedelta(0)
    entry = PointEntry(
        household_id=household.id, unit_id=household.unit_id, kind=kind, delta=delta,
        rule=rule.name if rule else None, reason="" if rule else simplify(reason)[:200],
        actor_id=actor.id, msg_id=msg_id, created_at=now, effective_at=now + publicity,
        status=PENDING if pending else ACTIVE,
    )  # fmt: skip
    session.add(entry)
    session.flush()
    if pending:
        # Expiry is also enforced on read; the job tells the group, outside quiet hours.
        upsert_job(session, f"points_expiry:{entry.id}", EXPIRY_KIND,
                   after_quiet_hours(now + pol.expiry, config), now,
                   unit_id=household.unit_id, payload={"entry": entry.id},
                   created_by=actor.id)  # fmt: skip
    return entry


def _drop_expiry_job(session: Session, entry: PointEntry, now: datetime) -> None:
    upsert_job(session, f"points_expiry:{entry.id}", EXPIRY_KIND, None, now,
               unit_id=entry.unit_id, payload={"entry": entry.id})  # fmt: skip


def confirm(session: Session, entry_id: int, actor: Person, now: datetime, pol: Policy
            ) -> PointEntry:  # fmt: skip
    """A second evaluator confirms a pending award."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise PointsError(f"没有第{entry_id}条积分记录")
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
    entry.status = ACTIVE
    entry.confirmed_by, entry.confirmed_at = actor.id, now
    entry.effective_at = now + timedelta(days=pol.publicity_days)
    _drop_expiry_job(session, entry, now)
    return entry


def expire(session: Session, entry_id: int, now: datetime) -> PointEntry | None:
    """Mark a pending award expired; the entry if it was still pending."""
    entry = lock_entry(session, entry_id)
    if entry is None or entry.status != PENDING:
        return None
    entry.status = EXPIRED
    return entry


def _reversal(session: Session, entry: PointEntry, actor_id: str, msg_id: str | None,
              now: datetime) -> PointEntry:  # fmt: skip
    if entry.kind == REDEEM and entry.good_id is not None:
        good = session.exec(_locked(select(Good).where(Good.id == entry.good_id))).one()
        good.stock += entry.quantity or 0
        good.updated_at = now
    rev = PointEntry(
        household_id=entry.household_id, unit_id=entry.unit_id, kind=entry.kind,
        delta=-entry.delta, rule=entry.rule, reason=entry.reason, actor_id=actor_id,
        msg_id=msg_id, created_at=now, effective_at=max(now, entry.effective_at),
        status=ACTIVE, reverses_id=entry.id, good_id=entry.good_id, quantity=entry.quantity,
    )  # fmt: skip
    session.add(rev)
    session.flush()
    return rev


def reverse(session: Session, entry_id: int, actor: Person, msg_id: str | None,
            now: datetime, pol: Policy) -> tuple[PointEntry, PointEntry | None]:  # fmt: skip
    """Reverse an entry with an opposite one (a redemption also goes back into stock).
    A pending award is withdrawn instead (it never counted). Returns the entry and the
    reversing entry (None when withdrawn)."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise PointsError(f"没有第{entry_id}条积分记录")
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
        _drop_expiry_job(session, entry, now)
        return entry, None
    if entry.kind == DEDUCT and actor.household_id == entry.household_id:
        # Giving back a deduction is an award: not to one's own household.
        raise PointsError(f"第{entry_id}条是扣您自己家的分，需要另一位评议员或管理员撤销")
    return entry, _reversal(session, entry, actor.id, msg_id, now)


def object_to(session: Session, entry_id: int, person: Person, reason: str,
              msg_id: str | None, now: datetime, pol: Policy) -> PointEntry:  # fmt: skip
    """Freeze an entry under a villager's objection until it is reviewed."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise PointsError(f"没有第{entry_id}条积分记录")
    if entry.kind == REDEEM:
        raise PointsError(f"第{entry_id}条是兑换记录，有问题请找超市管理员")
    if entry.reverses_id is not None:
        raise PointsError(f"第{entry_id}条是撤销记录，不能提异议")
    if entry.status == FROZEN:
        raise PointsError(f"第{entry_id}条已有异议，正在等待复核")
    if entry.status != ACTIVE or _stale(entry, now, pol.expiry):
        raise PointsError(f"第{entry_id}条还没有生效（{status_label(entry, now, pol.expiry)}），"
                          "不用提异议")  # fmt: skip
    done = reversals_of(session, [entry_id])
    if done:
        raise PointsError(f"第{entry_id}条已被第{done[entry_id]}条撤销")
    decided = session.exec(
        select(PointObjection).where(PointObjection.entry_id == entry_id,
                                     col(PointObjection.decision).is_not(None))
    ).first()  # fmt: skip
    if decided is not None:
        # A review is final: otherwise one villager could keep an entry frozen for ever.
        raise PointsError(f"第{entry_id}条已复核（{decided.decision}），不能再提异议")
    entry.status = FROZEN
    session.add(PointObjection(entry_id=entry_id, person_id=person.id, reason=simplify(reason)[:200],
                               created_at=now, msg_id=msg_id))  # fmt: skip
    return entry


def review(session: Session, entry_id: int, actor: Person, is_admin: bool, decision: str,
           msg_id: str | None, now: datetime) -> tuple[PointEntry, PointObjection, PointEntry | None]:  # fmt: skip
    """Decide an objection: KEEP unfreezes the entry; REVERSE unfreezes it and writes
    the opposite entry. An evaluator may not review their own entry."""
    entry = lock_entry(session, entry_id)
    if entry is None:
        raise PointsError(f"没有第{entry_id}条积分记录")
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
    ).first()  # fmt: skip
    assert objection is not None
    objection.decision, objection.decided_by, objection.decided_at = decision, actor.id, now
    entry.status = ACTIVE
    rev = _reversal(session, entry, actor.id, msg_id, now) if decision == REVERSE else None
    return entry, objection, rev


# -- goods and redemption ---------------------------------------------------------------

_PACK = re.compile(r"^(\d+)\s*(\D{1,4})$")


def parse_pack(text: str) -> tuple[int, str]:
    """'10个' → (10, '个')."""
    m = _PACK.match(simplify(text))
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"expected a pack like 10个, got {text!r}")
    return int(m.group(1)), m.group(2)


def village_goods(session: Session, village: OrgUnit, config: Config, now: datetime) -> list[Good]:
    """The village supermarket's goods; a village without any starts with the config's."""
    rows = list(session.exec(
        select(Good).where(Good.unit_id == village.id).order_by(col(Good.id))
    ).all())  # fmt: skip
    if rows or not config.goods:
        return rows
    try:
        with session.begin_nested():
            for g in config.goods:
                size, unit = parse_pack(g.pack)
                session.add(Good(unit_id=village.id, name=simplify(g.name), pack_size=size,  # type: ignore[arg-type]
                                 pack_unit=unit, price=g.price, stock=g.stock, updated_at=now))  # fmt: skip
    except IntegrityError:  # another transaction stocked them first
        pass
    return list(session.exec(
        select(Good).where(Good.unit_id == village.id).order_by(col(Good.id))
    ).all())  # fmt: skip


def find_good(goods: Sequence[Good], name: str) -> Good | None:
    n = simplify(name)
    exact = [g for g in goods if g.name == n]
    if exact:
        return exact[0]
    near = [g for g in goods if n in g.name or g.name in n]
    return near[0] if len(near) == 1 else None


def stock_good(session: Session, village: OrgUnit, config: Config, name: str, *,
               pack: tuple[int, str] | None, price: int | None, stock: int | None,
               add: int | None, actor: Person, now: datetime) -> tuple[Good, bool]:  # fmt: skip
    """Add a good to the village supermarket or change it (pack, price, stock set or
    added to). True if it is new."""
    village_goods(session, village, config, now)
    good = session.exec(
        _locked(select(Good).where(Good.unit_id == village.id, Good.name == simplify(name)))
    ).first()  # fmt: skip
    created = good is None
    if good is None:
        if price is None:
            raise PointsError(f"新商品“{simplify(name)}”要写每份多少分")
        good = Good(unit_id=village.id, name=simplify(name), price=price, updated_at=now)  # type: ignore[arg-type]
        session.add(good)
    if pack is not None:
        good.pack_size, good.pack_unit = pack
    if price is not None:
        good.price = price
    if stock is not None:
        good.stock = stock
    if add is not None:
        if good.stock + add < 0:
            raise PointsError(f"{good.name}库存只有 {good.stock}{good.pack_unit}，不能减少 {-add}")
        good.stock += add
    good.updated_by, good.updated_at = actor.id, now
    session.flush()
    return good, created


def good_text(g: Good) -> str:
    return f"{g.name} {g.pack_size}{g.pack_unit}/份 {g.price}分 库存{g.stock}{g.pack_unit}"


@dataclass(frozen=True)
class Want:
    """Part of a redemption as typed: a good, and a count in items (or in packs when
    `unit` is 份); no count: one pack."""

    name: str
    count: int | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Redemption:
    entries: list[PointEntry]
    goods: list[Good]
    cost: int
    balance: Balance


PACK_WORDS = ("份",)


def redeem(session: Session, *, household: Household, village: OrgUnit, wants: Sequence[Want],
           actor: Person, msg_id: str | None, now: datetime, config: Config) -> Redemption:  # fmt: skip
    """Take whole packs of goods for points: the household's balance and the goods'
    stock change together, or not at all. The household row and then the goods rows
    (in id order) are locked first, so two keepers redeeming at once cannot overdraw
    either."""
    assert household.id is not None
    pol = policy(config, village)
    lock_household(session, household.id)
    available = village_goods(session, village, config, now)
    need: dict[int, int] = {}
    by_id: dict[int, Good] = {}
    for w in wants:
        good = find_good(available, w.name)
        if good is None:
            names = "、".join(g.name for g in available) or "（暂无商品）"
            raise PointsError(f"本村超市没有“{simplify(w.name)}”。现有：{names}")
        assert good.id is not None
        if w.count is None:
            items = good.pack_size
        elif w.unit in PACK_WORDS:
            items = w.count * good.pack_size
        elif w.unit in (None, "", good.pack_unit):
            items = w.count
        else:
            raise PointsError(f"{good.name}按{good.pack_unit}计，每份{good.pack_size}{good.pack_unit}")
        if items <= 0:
            raise PointsError("兑换数量要大于0")
        if items % good.pack_size:
            lower = items // good.pack_size * good.pack_size
            upper = lower + good.pack_size
            nearest = upper if lower == 0 or items - lower > upper - items else lower
            raise NotWholePacks(good, items, nearest)
        need[good.id] = need.get(good.id, 0) + items
        by_id[good.id] = good
    locked = {g.id: g for g in session.exec(
        _locked(select(Good).where(col(Good.id).in_(sorted(need))).order_by(col(Good.id)))
    ).all()}  # fmt: skip
    cost = 0
    for gid, items in need.items():
        good = locked[gid]
        if good.stock < items:
            raise PointsError(f"{good.name}库存只有 {good.stock}{good.pack_unit}，不够 {items}{good.pack_unit}")
        cost += items // good.pack_size * good.price
    bal = balance_detail(session, household.id, now, pol.expiry)
    if bal.redeemable < cost:
        held = []
        if bal.frozen:
            held.append(f"冻结 {bal.frozen} 分")
        if bal.upcoming > 0:
            held.append(f"待生效 {bal.upcoming} 分")
        extra = f"（另有{'、'.join(held)}暂不能用）" if held else ""
        have = f"可兑换 {bal.redeemable} 分{extra}" if bal.redeemable >= 0 else f"余额 {bal.total} 分"
        raise PointsError(f"{household.name}{have}，这次要 {cost} 分，积分不够")
    entries = []
    for gid, items in need.items():
        good = locked[gid]
        packs = items // good.pack_size
        good.stock -= items
        good.updated_at = now
        entry = PointEntry(
            household_id=household.id, unit_id=household.unit_id, kind=REDEEM,
            delta=-packs * good.price, reason=f"{good.name}{items}{good.pack_unit}",
            actor_id=actor.id, msg_id=msg_id, created_at=now, effective_at=now, status=ACTIVE,
            good_id=gid, quantity=items,
        )  # fmt: skip
        session.add(entry)
        entries.append(entry)
    session.flush()
    after = replace(bal, total=bal.total - cost, redeemable=bal.redeemable - cost)
    return Redemption(entries, [locked[g] for g in need], cost, after)
