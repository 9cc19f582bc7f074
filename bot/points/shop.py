"""The village's love supermarket: goods (stocked from the config the first time),
putting goods on the shelf, and redeeming points for whole packs of goods."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.config import Config
from bot.models.core import Household, OrgUnit, Person
from bot.models.points import ACTIVE, REDEEM, Good, PointEntry
from bot.points import chain
from bot.points.balance import Balance, balance_detail
from bot.points.errors import NotWholePacks, PointsError
from bot.points.ledger import for_update, lock_household
from bot.points.policy import policy
from bot.points.targets import Target, household_for
from bot.text import simplify

_PACK = re.compile(r"^(\d+)\s*(\D{1,4})$")


def parse_pack(text: str) -> tuple[int, str]:
    """'10个' → (10, '个')."""
    m = _PACK.match(simplify(text))
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"expected a pack like 10个, got {text!r}")
    return int(m.group(1)), m.group(2)


def village_goods(session: Session, village: OrgUnit, config: Config, now: datetime) -> list[Good]:
    """The village supermarket's goods on the shelf; a village without any (listed or
    not) starts with the config's."""
    rows = list(session.exec(
        select(Good).where(Good.unit_id == village.id).order_by(col(Good.id))
    ).all())
    if rows or not config.goods:
        return [g for g in rows if g.listed]
    try:
        with session.begin_nested():
            for g in config.goods:
                size, unit = parse_pack(g.pack)
                session.add(Good(unit_id=village.id, name=simplify(g.name), pack_size=size,  # type: ignore[arg-type]
                                 pack_unit=unit, price=g.price, stock=g.stock, updated_at=now))
    except IntegrityError:  # another transaction stocked them first
        pass
    return list(session.exec(
        select(Good).where(Good.unit_id == village.id).order_by(col(Good.id))
    ).all())


def find_good(goods: Sequence[Good], name: str) -> Good | None:
    n = simplify(name)
    exact = [g for g in goods if g.name == n]
    if exact:
        return exact[0]
    near = [g for g in goods if n in g.name or g.name in n]
    return near[0] if len(near) == 1 else None


def stock_good(session: Session, village: OrgUnit, config: Config, name: str, *,
               pack: tuple[int, str] | None, price: int | None, stock: int | None,
               add: int | None, actor: Person, now: datetime) -> tuple[Good, bool]:
    """Add a good to the village supermarket or change it (pack, price, stock set or
    added to). True if it is new."""
    village_goods(session, village, config, now)
    good = session.exec(
        for_update(select(Good).where(Good.unit_id == village.id, Good.name == simplify(name)))
    ).first()
    created = good is None
    if good is None:
        if price is None:
            raise PointsError(f"新商品“{simplify(name)}”要写每份多少分")
        good = Good(unit_id=village.id, name=simplify(name), price=price, updated_at=now)  # type: ignore[arg-type]
        session.add(good)
    elif good.listed and pack is None and price is None and stock is None and add is None:
        raise PointsError("请写每份数量、每份积分或库存。例：#上架 粽子 10个 15分 库存 1000")
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
    created = created or not good.listed  # back on the shelf
    good.listed = True
    good.updated_by, good.updated_at = actor.id, now
    session.flush()
    return good, created


def unlist_good(session: Session, village: OrgUnit, config: Config, name: str, *,
                actor: Person, now: datetime) -> Good:
    """#下架: take a good off the shelf (it stays in the database: the ledger's
    redemptions name it, and #上架 puts it back with its stock)."""
    good = find_good(village_goods(session, village, config, now), name)
    if good is None:
        raise PointsError(f"本村超市没有“{simplify(name)}”")
    locked = session.exec(for_update(select(Good).where(Good.id == good.id))).one()
    locked.listed = False
    locked.updated_by, locked.updated_at = actor.id, now
    session.flush()
    return locked


@dataclass(frozen=True)
class Want:
    """Part of a redemption as typed: a good, and a count in items (or in packs when
    `unit` is 份); no count: one pack."""

    name: str
    count: int | None = None
    unit: str | None = None
    lead: bool = False  # typed count-first and glued: `name` still starts with the unit


@dataclass(frozen=True)
class Redemption:
    entries: list[PointEntry]
    goods: list[Good]
    cost: int
    balance: Balance


PACK_WORDS = ("份", "包")  # a count in packs, unless the good is itself counted in 包


def _resolve(goods: Sequence[Good], want: Want) -> tuple[Want, Good | None]:
    """The good a want names. A want typed count-first and glued (`20个粽子`) arrives
    as name `个粽子` with `lead` set: the unit is split off the name here, where the
    goods (and so their names and units) are known."""
    if not want.lead:
        return want, find_good(goods, want.name)
    for k in range(1, min(4, len(want.name) - 1) + 1):
        unit, name = want.name[:k], want.name[k:]
        good = find_good(goods, name)
        if good is not None and (unit == good.pack_unit or unit in PACK_WORDS):
            return Want(name, want.count, unit), good
    return want, None


def redeem(session: Session, *, household: Household, village: OrgUnit, wants: Sequence[Want],
           actor: Person, msg_id: str | None, now: datetime, config: Config) -> Redemption:
    """Take whole packs of goods for points: the household's balance and the goods'
    stock change together, or not at all. The household row and then the goods rows
    (in id order) are locked first, so two keepers redeeming at once cannot overdraw
    either."""
    assert household.id is not None
    pol = policy(config, village)
    chain.lock_head(session, household.unit_id)
    lock_household(session, household.id)
    available = village_goods(session, village, config, now)
    need: dict[int, int] = {}
    by_id: dict[int, Good] = {}
    for w in wants:
        w, good = _resolve(available, w)
        if good is None:
            names = "、".join(g.name for g in available) or "（暂无商品）"
            raise PointsError(f"本村超市没有“{simplify(w.name)}”。现有：{names}")
        assert good.id is not None
        if w.count is None:
            items = good.pack_size
        elif w.unit == PACK_WORDS[0]:
            items = w.count * good.pack_size
        elif w.unit in (None, "", good.pack_unit):  # the good's own unit first: 2包 of 包 goods
            items = w.count
        elif w.unit in PACK_WORDS:
            items = w.count * good.pack_size
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
        for_update(select(Good).where(col(Good.id).in_(sorted(need))).order_by(col(Good.id)))
    ).all()}
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
        )
        session.add(entry)
        session.flush()
        chain.append(session, entry)
        entries.append(entry)
    after = replace(bal, total=bal.total - cost, redeemable=bal.redeemable - cost)
    return Redemption(entries, [locked[g] for g in need], cost, after)


@dataclass(frozen=True)
class Redeemed:
    household: Household
    redemption: Redemption


def redeem_for(session: Session, target: Target, village: OrgUnit, wants: Sequence[Want], *,
               actor: Person, msg_id: str | None, room_id: str | None, now: datetime,
               config: Config) -> Redeemed:
    """#兑换: the household meant by `target` takes `wants` for points."""
    hh = household_for(session, target, village, room_id=room_id, unit=village, now=now)
    return Redeemed(hh, redeem(session, household=hh, village=village, wants=wants, actor=actor,
                               msg_id=msg_id, now=now, config=config))
