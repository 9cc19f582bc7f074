"""#商品 #上架 #下架 #兑换: the village's love supermarket."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.handlers.points.common import NoArgs, domain
from bot.points import NotWholePacks, Want, stock_good, unlist_good, village_goods
from bot.points import wording as W
from bot.points.shop import redeem_for
from bot.points.targets import Target, target_text
from bot.router import Ctx, Refusal, Usage
from bot.text import Args, numerals_to_digits, simplify


@domain
def run_goods(ctx: Ctx, args: NoArgs) -> None:
    village = ctx.require_unit("村")
    ctx.reply(W.goods_text(village.name, village_goods(ctx.session, village, ctx.config, ctx.now)))


@dataclass(frozen=True)
class StockArgs:
    name: str
    pack: tuple[int, str] | None = None
    price: int | None = None
    stock: int | None = None
    add: int | None = None


_GLUED = re.compile(r"^(\D+?)(\d.*)$")
_PRICE = re.compile(r"^(?:价格|每份)?(\d+)(?:积分|分)$")
_COUNT = re.compile(r"^([+-]?)(\d+)(\D{0,2})$")


def parse_stock(args: Args) -> StockArgs:
    words = args.words()
    if not words:
        raise Usage("请写商品名")
    m = _GLUED.match(words[0])
    if m:  # "粽子10个"
        words = [m.group(1), m.group(2), *words[1:]]
    name = simplify(words[0])
    if name[0].isdigit() or name.startswith("库存") or len(name) > 16:
        raise Usage("先写商品名")
    pack = price = stock = add = None
    rest = words[1:]
    i = 0
    while i < len(rest):
        w = rest[i]
        i += 1
        if w.startswith("库存"):
            num = w[2:] or (rest[i] if i < len(rest) else "")
            if not w[2:]:
                i += 1
            c = _COUNT.match(numerals_to_digits(num))
            if not c:
                raise Usage("“库存”后面写数量，如 库存 1000，或 库存 +500 表示补货")
            if c.group(1):
                add = int(c.group(2)) * (-1 if c.group(1) == "-" else 1)
            else:
                stock = int(c.group(2))
            continue
        p = _PRICE.match(w)
        if p:
            price = int(p.group(1))
            if price <= 0:
                raise Usage("每份积分要大于0")
            continue
        c = _COUNT.match(w.removeprefix("每份"))
        if c and not c.group(1) and c.group(3) and c.group(3) not in ("份", "分"):
            if int(c.group(2)) < 1:
                raise Usage("每份数量要大于0")
            pack = (int(c.group(2)), c.group(3))
            continue
        raise Usage(f"看不懂“{w}”")
    return StockArgs(name, pack, price, stock, add)  # the name alone: back on the shelf


@domain
def run_stock(ctx: Ctx, args: StockArgs) -> None:
    village = ctx.require_unit("村")
    good, created = stock_good(
        ctx.session, village, ctx.config, args.name, pack=args.pack, price=args.price,
        stock=args.stock, add=args.add, actor=ctx.person, now=ctx.now,
    )
    ctx.audit("good", good=good.id, name=good.name, pack=good.pack_size, unit=good.pack_unit,
              price=good.price, stock=good.stock, created=created)
    ctx.reply(W.stock_text(good, created))


@dataclass(frozen=True)
class UnlistArgs:
    name: str


def parse_unlist(args: Args) -> UnlistArgs:
    words = args.words()
    if len(words) != 1:
        raise Usage("请写一个商品名")
    return UnlistArgs(simplify(words[0]))


@domain
def run_unlist(ctx: Ctx, args: UnlistArgs) -> None:
    village = ctx.require_unit("村")
    good = unlist_good(ctx.session, village, ctx.config, args.name, actor=ctx.person,
                       now=ctx.now)
    ctx.audit("good_unlisted", good=good.id, name=good.name, stock=good.stock)
    ctx.reply(W.unlisted_text(good))


@dataclass(frozen=True)
class RedeemArgs:
    target: Target
    wants: tuple[Want, ...]


_WANT_GLUED = re.compile(r"^(\D+?)(\d+)(\D{0,2})$")  # 粽子10个
_WANT_COUNT = re.compile(r"^(\d+)(\D*)$")  # 10个, 2份, or 20个粽子 (count first, glued)


def _digits(word: str) -> str:
    # 两 is the usual way to say two of something (两份), and numerals_to_digits leaves
    # it, as it leaves 一 before some measure words (一份).
    word = re.sub(r"^一(?=[份个袋包盒瓶桶箱块条双斤支把套件张卷提壶听罐]$)", "1", word)
    return numerals_to_digits(re.sub(r"^两(?=\D)", "2", word))


def parse_redeem(args: Args) -> RedeemArgs:
    """Goods and counts in any order: `粽子 20`, `粽子20个`, `20个粽子`, `20个 粽子`,
    `粽子 两份`. A count belongs to the good before it if that one has none yet, else to
    the good after it; which unit means what is decided where the goods are known."""
    mentions, words = args.mentions(), args.words()
    if len(mentions) > 1:
        raise Usage("一次给一户兑换")
    target: Target
    if mentions:
        target = mentions[0]
    elif words:
        target, words = words[0], words[1:]
    else:
        raise Usage("请@兑换的人，或写户名")
    wants: list[Want] = []
    ahead: tuple[int, str | None] | None = None  # a count waiting for the good after it
    for i, raw in enumerate(words):
        w = _digits(raw)
        c = _WANT_COUNT.match(w)
        if c and len(c.group(2)) <= 2:
            count, unit = int(c.group(1)), c.group(2) or None
            if wants and wants[-1].count is None and ahead is None:
                last = wants.pop()
                wants.append(Want(last.name, count, unit))
            elif i + 1 < len(words) and ahead is None:
                ahead = (count, unit)
            else:
                raise Usage("数量前面或后面要写商品名")
            continue
        if c:  # 20个粽子
            wants.append(Want(simplify(c.group(2)), int(c.group(1)), None, lead=True))
            continue
        g = _WANT_GLUED.match(w)
        if g and g.group(1) in ("-", "+"):
            raise Usage("数量只写数字，不带正负号")
        if ahead is not None:
            if g:
                raise Usage(f"“{raw}”前面已有数量")
            wants.append(Want(simplify(w), *ahead))
            ahead = None
        elif g:
            wants.append(Want(simplify(g.group(1)), int(g.group(2)), g.group(3) or None))
        else:
            wants.append(Want(simplify(w)))
    if ahead is not None:
        raise Usage("数量后面要写商品名")
    if not wants:
        raise Usage("请写要兑换的商品和数量")
    return RedeemArgs(target, tuple(wants))


@domain
def run_redeem(ctx: Ctx, args: RedeemArgs) -> None:
    village = ctx.require_unit("村")
    try:
        r = redeem_for(ctx.session, args.target, village, args.wants, actor=ctx.person,
                       msg_id=ctx.msg.id, room_id=ctx.msg.room, now=ctx.now, config=ctx.config)
    except NotWholePacks as e:
        raise Refusal(W.not_whole_packs(e, target_text(args.target))) from None
    for entry in r.redemption.entries:
        ctx.audit("redeem", entry=entry.id, household=r.household.id, good=entry.good_id,
                  quantity=entry.quantity, delta=entry.delta)
    ctx.reply(W.redeem_text(r))
