"""Commands of the points family (爱心积分): #加分 #扣分 #确认 #撤销 #查分 #明细 #积分榜
#规则 #商品 #上架 #兑换 #异议 #复核 #代查."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from sqlmodel import col, select

from bot import points as pts
from bot.messages import Mention
from bot.models.core import Household, OrgUnit, Person
from bot.models.points import AWARD, DEDUCT, PENDING, REDEEM, PointEntry
from bot.org import (
    ADMIN,
    CADRE,
    EVALUATOR,
    KEEPER,
    OrgError,
    find_household,
    find_unit,
    household_of,
)
from bot.router import Command, Ctx, Refusal, Usage
from bot.text import Args, numerals_to_digits, simplify

T = TypeVar("T")
Target = Mention | str
RECENT = 5  # entries shown by #查分 and #代查
DETAIL_MAX = 50  # entries shown by #明细


def _domain(fn: Callable[[Ctx, T], None]) -> Callable[[Ctx, T], None]:
    """A domain refusal becomes the reply (and the handler's writes are undone)."""

    @functools.wraps(fn)
    def run(ctx: Ctx, args: T) -> None:
        try:
            fn(ctx, args)
        except pts.PointsError as e:
            raise Refusal(str(e)) from None

    return run


# -- shared pieces ------------------------------------------------------------------------


def _name(p: Person) -> str:
    return p.name or p.id


def _target_text(t: Target) -> str:
    return f"@{t.name}" if isinstance(t, Mention) else t


def _person_household(ctx: Ctx, person: Person, village: OrgUnit) -> Household:
    hh = household_of(ctx.session, person)
    if hh is None:
        n = _name(person)
        raise Refusal(f"{n} 还没有登记到户。请村干部先发送：#登记 @{n} 户 {n}家")
    if hh.unit_id != village.id:
        raise Refusal(f"{_name(person)} 是别村的农户（{hh.name}），不在{village.name}")
    return hh


def find_target(ctx: Ctx, target: Target, village: OrgUnit) -> Household:
    """The household an @mention, a household name or a person's name means, in this
    village."""
    if isinstance(target, Mention) and target.id:
        return _person_household(ctx, ctx.resolve(target), village)
    name = simplify(target.name if isinstance(target, Mention) else target).lstrip("@")
    for candidate in (name,) if name.endswith("家") else (name, f"{name}家"):
        hh = find_household(ctx.session, village, candidate)
        if hh is not None:
            return hh
    try:
        person = ctx.resolve(Mention("", name))
    except Refusal as e:
        if "找不到" in str(e):
            raise Refusal(f"{village.name}找不到户或人“{name}”，请@本人，或写登记过的户名") from None
        raise
    return _person_household(ctx, person, village)


def _entry_here(ctx: Ctx, entry_id: int) -> PointEntry:
    """An entry of this group's village (or of a village below this group's unit)."""
    entry = ctx.session.get(PointEntry, entry_id)
    unit = ctx.require_unit()
    village = ctx.session.get(OrgUnit, entry.unit_id) if entry else None
    if entry is None or village is None or not village.path.startswith(unit.path):
        raise Refusal(f"{unit.name}没有第{entry_id}条积分记录")
    return entry


def _household_name(ctx: Ctx, household_id: int) -> str:
    hh = ctx.session.get(Household, household_id)
    return hh.name if hh else "?"


def _expiry(ctx: Ctx) -> timedelta:
    return timedelta(hours=ctx.config.points.pending_expiry_hours)


_ID = re.compile(r"^(?:第|#|no\.?)?(\d+)(?:条|号)?$", re.IGNORECASE)


def _entry_id(word: str) -> int | None:
    m = _ID.match(numerals_to_digits(word.strip()))
    return int(m.group(1)) if m else None


# -- #加分 / #扣分 -------------------------------------------------------------------------


@dataclass(frozen=True)
class AwardArgs:
    targets: tuple[Target, ...]
    rule: str | None
    amount: int | None
    reason: str
    sign: str = ""  # "+" or "-" when the amount was written with one


_AMOUNT = re.compile(r"^([+-]?)(\d+)(?:分|积分)?$")


def _amount(word: str) -> int | None:
    m = _AMOUNT.match(word)
    return int(m.group(2)) if m else None


def parse_award(args: Args) -> AwardArgs:
    mentions: list[Target] = list(args.mentions())
    words = args.words()
    idx = next((i for i, w in enumerate(words) if _amount(w) is not None), None)
    sign = ""
    if idx is None:
        if not words:
            raise Usage("请写规则名称，或分数和事由")
        names, rule, amount, reason = words[:-1], words[-1], None, ""
    else:
        amount = _amount(words[idx])
        sign = words[idx][0] if words[idx][0] in "+-" else ""
        if idx == len(words) - 1 and (idx >= 2 or (idx == 1 and mentions)):
            names, reason = words[: idx - 1], words[idx - 1]  # "… 防汛值班 20"
        else:
            names, reason = words[:idx], " ".join(words[idx + 1 :])
        rule = None
        if not amount:
            raise Usage("分数要大于0")
        if not reason:
            raise Usage("按分数加扣分要写明事由")
    targets = (*mentions, *names)
    if not targets:
        raise Usage("请@要加扣分的人，或写户名")
    return AwardArgs(targets, rule, amount, reason, sign)


def _record_all(ctx: Ctx, args: AwardArgs, kind: str) -> None:
    village = ctx.require_unit("村")
    pol = pts.policy(ctx.config, village)
    rule = None
    if args.rule is not None:
        rule = pts.find_rule(pol, args.rule)
        words = _rule_words(pol)
        swap = [t for t in args.targets if isinstance(t, str) and t in words]
        if rule is None and len(swap) == 1:  # "#加分 六净六有 张三家": the rule came first
            rule = pts.find_rule(pol, swap[0])
            args = replace(args, targets=tuple(t for t in args.targets if t != swap[0]) + (args.rule,))
        if rule is None:
            raise Usage(f"没有“{args.rule}”这条规则（发送 #规则 查看）")
    else:
        rule = pts.find_rule(pol, args.reason) if args.reason in _rule_words(pol) else None
    verb = "加分" if kind == AWARD else "扣分"
    if args.sign == ("-" if kind == AWARD else "+"):
        other = "扣分" if kind == AWARD else "加分"
        raise Usage(f"#{verb} 的分数不带“{args.sign}”号；要{other}请用 #{other}")
    done: list[tuple[pts.PointEntry, Household]] = []
    failed: list[str] = []
    reasons: list[str] = []
    seen: set[int] = set()
    for target in args.targets:
        try:
            with ctx.session.begin_nested():
                hh = find_target(ctx, target, village)
                if hh.id in seen:
                    raise Refusal(f"{hh.name} 重复了，只记一次")
                entry = pts.record(
                    ctx.session, household=hh, kind=kind, rule=rule, amount=args.amount,
                    reason=args.reason, actor=ctx.person, msg_id=ctx.msg.id, now=ctx.now,
                    pol=pol, config=ctx.config,
                )  # fmt: skip
        except (Refusal, pts.PointsError) as e:
            failed.append(f"{_target_text(target)}：{e}")
            reasons.append(str(e))
            continue
        assert hh.id is not None
        seen.add(hh.id)
        done.append((entry, hh))
        ctx.audit("points", entry=entry.id, household=hh.id, kind=kind, delta=entry.delta,
                  rule=entry.rule, reason=entry.reason, status=entry.status)  # fmt: skip
    if not done:
        if len(failed) == 1:
            raise Refusal(reasons[0])
        raise Refusal(f"没有{verb}：\n" + "\n".join(failed))
    lines = []
    for entry, hh in done:
        line = f"#{entry.id} {hh.name} {pts.signed(entry.delta)} {pts.what(entry)}"
        if entry.status == PENDING:
            line += "（待确认）"
        elif entry.effective_at > ctx.now:
            line += "（待生效）"
        else:
            assert hh.id is not None
            line += f"，余额 {pts.balance(ctx.session, hh.id, ctx.now)} 分"
        lines.append(line)
    pending = [e for e, _ in done if e.status == PENDING]
    head = f"已登记{verb}，待确认" if pending else f"已{verb}"
    if len(done) == 1 and not failed:
        out = [f"{head}：{lines[0]}"]
    else:
        out = [f"{head} {len(done)} 户：", *lines]
        if failed:
            out += [f"未{verb} {len(failed)} 个：", *failed]
    if pending:
        ids = " ".join(str(e.id) for e in pending)
        hours = int(pol.expiry.total_seconds() // 3600)
        out.append(f"请另一位评议员发送：#确认 {ids}（{hours}小时内有效）")
    elif any(e.effective_at > ctx.now for e, _ in done):
        first = min(e.effective_at for e, _ in done)
        out.append(f"公示{pol.publicity_days}天，{pts.day_text(first, ctx.zone)}"
                   f"{first.astimezone(ctx.zone):%H:%M}起可兑换")  # fmt: skip
    ctx.reply("\n".join(out))


def _rule_words(pol: pts.Policy) -> set[str]:
    return {w for r in pol.rules for w in (r.name, *r.aliases)}


@_domain
def run_award(ctx: Ctx, args: AwardArgs) -> None:
    _record_all(ctx, args, AWARD)


@_domain
def run_deduct(ctx: Ctx, args: AwardArgs) -> None:
    _record_all(ctx, args, DEDUCT)


# -- #确认 / #撤销 -------------------------------------------------------------------------


@dataclass(frozen=True)
class IdsArgs:
    ids: tuple[int, ...]
    reason: str = ""


def parse_ids(args: Args) -> IdsArgs:
    ids: list[int] = []
    words = args.words()
    for i, w in enumerate(words):
        n = _entry_id(w)
        if n is None:
            if not ids:
                raise Usage(f"“{w}”不是记录编号")
            return IdsArgs(tuple(ids), " ".join(words[i:]))
        ids.append(n)
    if not ids:
        raise Usage("请写记录编号")
    return IdsArgs(tuple(dict.fromkeys(ids)))


def parse_one_id(args: Args) -> IdsArgs:
    parsed = parse_ids(args)
    if len(parsed.ids) > 1:
        raise Usage("一次撤销一条")
    return parsed


@_domain
def run_confirm(ctx: Ctx, args: IdsArgs) -> None:
    village = ctx.require_unit("村")
    pol = pts.policy(ctx.config, village)
    lines, failed = [], []
    for entry_id in args.ids:
        try:
            with ctx.session.begin_nested():
                _entry_here(ctx, entry_id)
                entry = pts.confirm(ctx.session, entry_id, ctx.person, ctx.now, pol)
        except (Refusal, pts.PointsError) as e:
            failed.append(str(e))
            continue
        ctx.audit("points_confirm", entry=entry.id)
        name = _household_name(ctx, entry.household_id)
        line = f"#{entry.id} {name} {pts.signed(entry.delta)} {pts.what(entry)}"
        if entry.effective_at > ctx.now:
            line += f"，{pts.day_text(entry.effective_at, ctx.zone)}起可兑换"
        else:
            line += f"，余额 {pts.balance(ctx.session, entry.household_id, ctx.now)} 分"
        lines.append(line)
    if not lines:
        raise Refusal("\n".join(failed))
    head = "已确认：" if len(lines) == 1 else f"已确认 {len(lines)} 条："
    text = head + lines[0] if len(lines) == 1 else "\n".join([head, *lines])
    ctx.reply("\n".join([text, *failed]))


@_domain
def run_reverse(ctx: Ctx, args: IdsArgs) -> None:
    entry_id = args.ids[0]
    found = _entry_here(ctx, entry_id)
    if found.kind == REDEEM and not ctx.roles.has(ADMIN, KEEPER):
        raise Refusal("撤销兑换记录需要超市管理员或管理员权限")
    if found.kind != REDEEM and not ctx.roles.has(ADMIN, EVALUATOR):
        raise Refusal("撤销加扣分需要评议员或管理员权限")
    village = ctx.session.get(OrgUnit, found.unit_id)
    assert village is not None
    pol = pts.policy(ctx.config, village)
    entry, rev = pts.reverse(ctx.session, entry_id, ctx.person, ctx.msg.id, ctx.now, pol)
    name = _household_name(ctx, entry.household_id)
    about = f"{name} {pts.signed(entry.delta)} {pts.what(entry)}"
    if rev is None:
        ctx.audit("points_cancel", entry=entry.id, reason=args.reason)
        ctx.reply(f"已作废 #{entry.id}（{about}，待确认，未计分）")
        return
    ctx.audit("points_reverse", entry=entry.id, reversal=rev.id, reason=args.reason)
    text = (f"已撤销 #{entry.id}（{about}），记为 #{rev.id} {pts.signed(rev.delta)}，"
            f"{name}余额 {pts.balance(ctx.session, entry.household_id, ctx.now)} 分")  # fmt: skip
    if entry.kind == REDEEM and entry.quantity:
        text += f"；{entry.reason}已退回库存"
    ctx.reply(text)


# -- #查分 / #明细 / #代查 -----------------------------------------------------------------


@dataclass(frozen=True)
class WhoArgs:
    target: Target | None


def parse_who(args: Args) -> WhoArgs:
    targets: list[Target] = [*args.mentions(), *args.words()]
    if len(targets) > 1:
        raise Usage("一次查一户")
    return WhoArgs(targets[0] if targets else None)


def _whose(ctx: Ctx, args: WhoArgs) -> Household:
    own = household_of(ctx.session, ctx.person)
    if args.target is None:
        if own is None:
            n = _name(ctx.person)
            raise Refusal(f"您还没有登记到户。请村干部帮您登记，例：#登记 @{n} 户 {n}家")
        return own
    if ctx.msg.room is None or ctx.unit is None or ctx.unit.level != "村":
        raise Refusal("查别户的积分请在那户所在村的群里发送")
    hh = find_target(ctx, args.target, ctx.unit)
    if (own is None or hh.id != own.id) and not ctx.roles.has(EVALUATOR, KEEPER):
        raise Refusal("查看别户的积分需要评议员或超市管理员权限；查自己家请发送：#查分")
    return hh


def _balance_lines(ctx: Ctx, hh: Household) -> list[str]:
    assert hh.id is not None
    b = pts.balance_detail(ctx.session, hh.id, ctx.now, _expiry(ctx))
    first = f"余额 {b.total} 分"
    if b.frozen:
        first += f"，其中冻结 {b.frozen} 分（有异议待复核），可兑换 {b.redeemable} 分"
    lines = [first]
    if b.upcoming:
        when = pts.day_text(b.upcoming_from, ctx.zone) if b.upcoming_from else ""
        lines.append(f"待生效 {b.upcoming} 分（{when}起陆续可兑换）")
    if b.awaiting:
        lines.append(f"待确认 {b.awaiting} 分")
    return lines


def _entry_lines(ctx: Ctx, entries: list[PointEntry]) -> list[str]:
    rev = pts.reversals_of(ctx.session, [e.id for e in entries])
    return [pts.entry_line(e, ctx.now, ctx.zone, _expiry(ctx), reversed_by=rev.get(e.id or 0))
            for e in entries]  # fmt: skip


@_domain
def run_balance(ctx: Ctx, args: WhoArgs) -> None:
    hh = _whose(ctx, args)
    assert hh.id is not None
    village = ctx.session.get(OrgUnit, hh.unit_id)
    bal = _balance_lines(ctx, hh)
    out = [f"{hh.name}（{village.name if village else ''}）{bal[0]}", *bal[1:]]
    recent = pts.entries_of(ctx.session, hh.id, limit=RECENT)
    if recent:
        out += ["最近记录：", *_entry_lines(ctx, recent)]
    else:
        out.append("还没有积分记录")
    ctx.reply("\n".join(out))


@_domain
def run_detail(ctx: Ctx, args: WhoArgs) -> None:
    hh = _whose(ctx, args)
    assert hh.id is not None
    local = ctx.local()
    since = pts.period_start("year", ctx.now, ctx.zone)
    entries = pts.entries_of(ctx.session, hh.id, since=since, limit=DETAIL_MAX)
    total = pts.count_since(ctx.session, hh.id, since)
    if not entries:
        ctx.reply(f"{hh.name} {local.year}年还没有积分记录。{_balance_lines(ctx, hh)[0]}")
        return
    head = f"{hh.name} {local.year}年积分明细（共{total}条"
    head += f"，只列最近{DETAIL_MAX}条）：" if total > len(entries) else "）："
    ctx.reply("\n".join([head, *_entry_lines(ctx, list(reversed(entries))),
                         *_balance_lines(ctx, hh)]))  # fmt: skip


@dataclass(frozen=True)
class SlipArgs:
    village: str | None
    target: Target


def parse_slip(args: Args) -> SlipArgs:
    mentions, words = args.mentions(), args.words()
    if mentions and not words:
        return SlipArgs(None, mentions[0]) if len(mentions) == 1 else _slip_usage()
    if len(words) == 1 and not mentions:
        return SlipArgs(None, words[0])
    if len(words) == 2 and not mentions:
        return SlipArgs(words[0], words[1])
    if len(words) == 1 and len(mentions) == 1:
        return SlipArgs(words[0], mentions[0])
    return _slip_usage()


def _slip_usage() -> SlipArgs:
    raise Usage("请写一个户名（可在前面加村名）")


def _slip_household(ctx: Ctx, args: SlipArgs) -> Household:
    unit = ctx.require_unit()
    if args.village is not None:
        try:
            village = find_unit(ctx.session, args.village, "村", within=unit)
        except OrgError as e:
            raise Refusal(str(e)) from None
        return find_target(ctx, args.target, village)
    if unit.level == "村":
        return find_target(ctx, args.target, unit)
    if isinstance(args.target, Mention) and args.target.id:
        hh = household_of(ctx.session, ctx.resolve(args.target))
        home = ctx.session.get(OrgUnit, hh.unit_id) if hh else None
        if hh is None or home is None or not home.path.startswith(unit.path):
            raise Refusal(f"{unit.name}找不到 {_target_text(args.target)} 的户")
        return hh
    name = simplify(args.target if isinstance(args.target, str) else args.target.name)
    names = (name,) if name.endswith("家") else (name, f"{name}家")
    found = ctx.session.exec(
        select(Household, OrgUnit).join(OrgUnit, col(OrgUnit.id) == col(Household.unit_id))
        .where(col(Household.name).in_(names), col(OrgUnit.path).startswith(unit.path))
        .order_by(col(OrgUnit.name))
    ).all()  # fmt: skip
    if not found:
        raise Refusal(f"{unit.name}找不到户“{name}”")
    if len(found) > 1:
        places = "、".join(v.name for _, v in found)
        raise Refusal(f"有{len(found)}个{found[0][0].name}（{places}），"
                      f"请写村名，例：#代查 {found[0][1].name} {found[0][0].name}")  # fmt: skip
    return found[0][0]


@_domain
def run_slip(ctx: Ctx, args: SlipArgs) -> None:
    hh = _slip_household(ctx, args)
    assert hh.id is not None
    village = ctx.session.get(OrgUnit, hh.unit_id)
    parent = ctx.session.get(OrgUnit, village.parent_id) if village and village.parent_id else None
    b = pts.balance_detail(ctx.session, hh.id, ctx.now, _expiry(ctx))
    local = ctx.local()
    out = [
        "【爱心积分查询单】",
        f"村：{village.name if village else ''}" + (f"（{parent.name}）" if parent else ""),
        f"户：{hh.name}",
        f"余额：{b.total} 分（可兑换 {b.redeemable} 分）",
    ]
    if b.upcoming:
        out.append(f"待生效：{b.upcoming} 分")
    if b.awaiting:
        out.append(f"待确认：{b.awaiting} 分")
    recent = pts.entries_of(ctx.session, hh.id, limit=RECENT)
    out += ["最近记录：", *[f"  {line}" for line in _entry_lines(ctx, recent)]] if recent else \
        ["最近记录：无"]  # fmt: skip
    out.append(f"查询人：{_name(ctx.person)}　{local.year}年{local.month}月{local.day}日")
    ctx.audit("points_slip", household=hh.id)
    ctx.reply("\n".join(out))


# -- #积分榜 / #规则 ------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardArgs:
    period: str  # "year", "month" or "all"


_PERIODS = {"今年": "year", "本年": "year", "年": "year", "本月": "month", "月": "month",
            "这个月": "month", "全部": "all", "累计": "all", "总": "all"}  # fmt: skip


def parse_board(args: Args) -> BoardArgs:
    words = args.words()
    if not words:
        return BoardArgs("year")
    if len(words) == 1 and words[0] in _PERIODS:
        return BoardArgs(_PERIODS[words[0]])
    raise Usage("可写：今年、本月 或 全部")


@_domain
def run_board(ctx: Ctx, args: BoardArgs) -> None:
    village = ctx.require_unit()
    if village.level != "村":
        raise Refusal("#积分榜 是本村的十佳榜，请在村的群里发送；各村比较请用 #积分排名")
    since = None if args.period == "all" else pts.period_start(args.period, ctx.now, ctx.zone)
    local = ctx.local()
    label = {"year": f"{local.year}年", "month": f"{local.month}月", "all": "累计"}[args.period]
    ranked = pts.top_households(ctx.session, village, 10, since=since)
    if not ranked:
        ctx.reply(f"{village.name}{label}还没有获得积分的农户")
        return
    lines, rank, last = [], 0, None
    for i, r in enumerate(ranked, start=1):
        if r.points != last:
            rank, last = i, r.points
        lines.append(f"{rank}. {r.household.name} {r.points}分")
    ctx.reply("\n".join([f"{village.name}积分榜（{label}，前{len(ranked)}户）：", *lines]))


@dataclass(frozen=True)
class NoArgs:
    pass


def parse_none(args: Args) -> NoArgs:
    return NoArgs()


def run_rules(ctx: Ctx, args: NoArgs) -> None:
    village = ctx.unit if ctx.unit is not None and ctx.unit.level == "村" else None
    if village is not None:
        pol, where = pts.policy(ctx.config, village), village.name
    else:
        pol, where = pts.policy(ctx.config, None), "通用"

    def line(r: pts.Rule) -> str:
        extra = [f"也可写：{'、'.join(r.aliases)}"] if r.aliases else []
        if r.cap_text:
            extra.insert(0, r.cap_text)
        return f"· {r.name} {pts.signed(r.points)}" + (f"（{'；'.join(extra)}）" if extra else "")

    plus = [line(r) for r in pol.rules if r.points > 0]
    minus = [line(r) for r in pol.rules if r.points < 0]
    out = [f"{where}积分规则："]
    if plus:
        out += ["加分：", *plus]
    if minus:
        out += ["扣分：", *minus]
    out.append(f"临时加扣分每次最多 {pol.adhoc_cap} 分，须写明事由，例：#加分 @张三 20 防汛值班")
    if pol.confirmations >= 2:
        hours = int(pol.expiry.total_seconds() // 3600)
        out.append(f"加分须两位评议员确认，{hours}小时内未确认作废")
    if pol.publicity_days:
        out.append(f"新加的分公示{pol.publicity_days}天后才能兑换")
    ctx.reply("\n".join(out))


# -- #商品 / #上架 / #兑换 -----------------------------------------------------------------


@_domain
def run_goods(ctx: Ctx, args: NoArgs) -> None:
    village = ctx.require_unit("村")
    goods = pts.village_goods(ctx.session, village, ctx.config, ctx.now)
    if not goods:
        ctx.reply("本村超市还没有商品。超市管理员可发送：#上架 粽子 10个 15分 库存 1000")
        return
    lines = [f"· {pts.good_text(g)}" for g in goods]
    ctx.reply("\n".join([f"{village.name}爱心超市（每份所需积分）：", *lines,
                         "兑换请找超市管理员，例：#兑换 @张三 粽子 10"]))  # fmt: skip


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
    if pack is None and price is None and stock is None and add is None:
        raise Usage("请写每份数量、每份积分或库存")
    return StockArgs(name, pack, price, stock, add)


@_domain
def run_stock(ctx: Ctx, args: StockArgs) -> None:
    village = ctx.require_unit("村")
    good, created = pts.stock_good(
        ctx.session, village, ctx.config, args.name, pack=args.pack, price=args.price,
        stock=args.stock, add=args.add, actor=ctx.person, now=ctx.now,
    )  # fmt: skip
    ctx.audit("good", good=good.id, name=good.name, pack=good.pack_size, unit=good.pack_unit,
              price=good.price, stock=good.stock, created=created)  # fmt: skip
    ctx.reply(f"{'已上架' if created else '已更新'}：{pts.good_text(good)}")


@dataclass(frozen=True)
class RedeemArgs:
    target: Target
    wants: tuple[pts.Want, ...]


_WANT_GLUED = re.compile(r"^(\D+?)(\d+)(\D{0,2})$")
_WANT_COUNT = re.compile(r"^(\d+)(\D{0,2})$")


def parse_redeem(args: Args) -> RedeemArgs:
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
    wants: list[pts.Want] = []
    for w in words:
        c = _WANT_COUNT.match(w)
        if c:
            if not wants or wants[-1].count is not None:
                raise Usage("数量前面要写商品名")
            last = wants.pop()
            wants.append(pts.Want(last.name, int(c.group(1)), c.group(2) or None))
            continue
        g = _WANT_GLUED.match(w)
        if g and g.group(1) in ("-", "+"):
            raise Usage("数量只写数字，不带正负号")
        if g:
            wants.append(pts.Want(simplify(g.group(1)), int(g.group(2)), g.group(3) or None))
        else:
            wants.append(pts.Want(simplify(w)))
    if not wants:
        raise Usage("请写要兑换的商品和数量")
    return RedeemArgs(target, tuple(wants))


@_domain
def run_redeem(ctx: Ctx, args: RedeemArgs) -> None:
    village = ctx.require_unit("村")
    hh = find_target(ctx, args.target, village)
    try:
        r = pts.redeem(ctx.session, household=hh, village=village, wants=args.wants,
                       actor=ctx.person, msg_id=ctx.msg.id, now=ctx.now, config=ctx.config)  # fmt: skip
    except pts.NotWholePacks as e:
        raise Refusal(f"{e}。例：#兑换 {_target_text(args.target)} {e.good.name} {e.nearest}") from None
    for entry in r.entries:
        ctx.audit("redeem", entry=entry.id, household=hh.id, good=entry.good_id,
                  quantity=entry.quantity, delta=entry.delta)  # fmt: skip
    items = [f"{e.reason}（#{e.id} {e.delta}分）" for e in r.entries]
    stock = "，".join(f"{g.name}库存 {g.stock}{g.pack_unit}" for g in r.goods)
    ctx.reply(f"已兑换：{hh.name} {'、'.join(items)}，共 {r.cost} 分；"
              f"{hh.name}余额 {r.balance.total} 分；{stock}")  # fmt: skip


# -- #异议 / #复核 -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectArgs:
    entry_id: int
    reason: str


def parse_object(args: Args) -> ObjectArgs:
    parsed = parse_ids(args)
    if len(parsed.ids) > 1:
        raise Usage("一次对一条提异议")
    if not parsed.reason:
        raise Usage("请写明异议理由")
    return ObjectArgs(parsed.ids[0], parsed.reason)


@_domain
def run_object(ctx: Ctx, args: ObjectArgs) -> None:
    entry = _entry_here(ctx, args.entry_id)
    own = household_of(ctx.session, ctx.person)
    village = ctx.session.get(OrgUnit, entry.unit_id)
    assert village is not None
    if (own is None or own.unit_id != village.id) and not ctx.roles.names:
        raise Refusal(f"只有{village.name}的村民可以提异议（请先登记到户）")
    pol = pts.policy(ctx.config, village)
    entry = pts.object_to(ctx.session, args.entry_id, ctx.person, args.reason, ctx.msg.id,
                          ctx.now, pol)  # fmt: skip
    ctx.audit("points_object", entry=entry.id, reason=args.reason)
    name = _household_name(ctx, entry.household_id)
    ctx.reply(f"已收到对 #{entry.id}（{name} {pts.signed(entry.delta)} {pts.what(entry)}）的异议，"
              f"该条已冻结。请管理员或另一位评议员复核：#复核 {entry.id} 维持 或 #复核 {entry.id} 撤销")  # fmt: skip


@dataclass(frozen=True)
class ReviewArgs:
    entry_id: int
    decision: str
    reason: str


_DECISIONS = {"维持": pts.KEEP, "保持": pts.KEEP, "驳回": pts.KEEP, "有效": pts.KEEP,
              "撤销": pts.REVERSE, "取消": pts.REVERSE, "作废": pts.REVERSE}  # fmt: skip


def parse_review(args: Args) -> ReviewArgs:
    parsed = parse_ids(args)
    if len(parsed.ids) > 1:
        raise Usage("一次复核一条")
    words = parsed.reason.split()
    if not words or words[0] not in _DECISIONS:
        raise Usage("请写“维持”或“撤销”")
    return ReviewArgs(parsed.ids[0], _DECISIONS[words[0]], " ".join(words[1:]))


@_domain
def run_review(ctx: Ctx, args: ReviewArgs) -> None:
    _entry_here(ctx, args.entry_id)
    entry, objection, rev = pts.review(ctx.session, args.entry_id, ctx.person,
                                       ctx.roles.has(ADMIN), args.decision, ctx.msg.id, ctx.now)  # fmt: skip
    ctx.audit("points_review", entry=entry.id, objection=objection.id, decision=args.decision,
              reversal=rev.id if rev else None, reason=args.reason)  # fmt: skip
    name = _household_name(ctx, entry.household_id)
    about = f"{name} {pts.signed(entry.delta)} {pts.what(entry)}"
    if rev is None:
        ctx.reply(f"复核 #{entry.id}：维持（{about}），已解除冻结")
        return
    ctx.reply(f"复核 #{entry.id}：撤销（{about}），记为 #{rev.id} {pts.signed(rev.delta)}，"
              f"{name}余额 {pts.balance(ctx.session, entry.household_id, ctx.now)} 分")  # fmt: skip


def _cmd(**kw: Any) -> Command:
    return Command(**kw)


COMMANDS = (
    _cmd(name="加分", aliases=("奖励", "加积分", "奖分"), summary="按规则给农户加分",
         usage="#加分 @某人|户名 … 规则名  或  #加分 @某人 分数 事由",
         example="#加分 @张三 六净六有", parse=parse_award, run=run_award, roles=(EVALUATOR,), levels=("村",),
         detail="可一次@多人，每户各加一次；也可写户名：#加分 张三家 六净六有；"
                "临时加分：#加分 @张三 20 防汛值班。不能给自己家加分。"),
    _cmd(name="扣分", aliases=("减分", "扣积分", "罚分"), summary="按规则给农户扣分",
         usage="#扣分 @某人|户名 规则名  或  #扣分 @某人 分数 事由",
         example="#扣分 @李四 打架斗殴", parse=parse_award, run=run_deduct, roles=(EVALUATOR,), levels=("村",)),
    _cmd(name="确认", aliases=("确认加分",), summary="确认另一位评议员登记的加分",
         usage="#确认 编号 …", example="#确认 17", parse=parse_ids, run=run_confirm, levels=("村",),
         roles=(EVALUATOR,), detail="本村要求两位评议员时使用；不能确认自己登记的。"),
    _cmd(name="撤销", aliases=("撤销积分", "冲正"), summary="撤销一条积分记录（记一条相反的）",
         usage="#撤销 编号 [理由]", example="#撤销 17", parse=parse_one_id, run=run_reverse,
         roles=(EVALUATOR, ADMIN, KEEPER),
         detail="加扣分由评议员或管理员撤销；兑换由超市管理员或管理员撤销，商品退回库存。"),
    _cmd(name="查分", aliases=("查积分", "积分", "余额", "我的积分", "积分查询"),
         summary="查看本户积分余额和最近记录", usage="#查分 [@某人]", example="#查分",
         parse=parse_who, run=run_balance, scope="any",
         detail="村民查自己家；评议员、超市管理员可查本村任一户：#查分 @张三"),
    _cmd(name="明细", aliases=("积分明细", "流水"), summary="本户今年的积分明细",
         usage="#明细", example="#明细", parse=parse_who, run=run_detail, scope="any"),
    _cmd(name="积分榜", aliases=("十佳", "积分排行", "光荣榜"), summary="本村积分前十户",
         usage="#积分榜 [今年|本月|全部]", example="#积分榜", parse=parse_board, run=run_board),
    _cmd(name="规则", aliases=("积分规则", "加分规则"), summary="本村的积分规则",
         usage="#规则", example="#规则", parse=parse_none, run=run_rules, scope="any"),
    _cmd(name="商品", aliases=("商品列表", "货架", "超市"), summary="本村爱心超市的商品",
         usage="#商品", example="#商品", parse=parse_none, run=run_goods, levels=("村",)),
    _cmd(name="上架", aliases=("上新", "补货", "改商品"), summary="上架或修改商品（价格、库存）",
         usage="#上架 商品名 每份数量 每份积分 库存 数量", example="#上架 粽子 10个 15分 库存 1000",
         parse=parse_stock, run=run_stock, roles=(KEEPER,), levels=("村",),
         detail="可只改一项：#上架 粽子 库存 2000；补货：#上架 粽子 库存 +500"),
    _cmd(name="兑换", aliases=("换购", "兑奖"), summary="用积分兑换商品",
         usage="#兑换 @某人|户名 商品 数量 …", example="#兑换 @张三 粽子 10",
         parse=parse_redeem, run=run_redeem, roles=(KEEPER,), levels=("村",),
         detail="按整份兑换（粽子10个一份）；数量不写即一份；可一次兑几样：#兑换 @张三 粽子 10 毛巾 2"),
    _cmd(name="异议", aliases=("申诉", "有异议"), summary="对一条积分记录提出异议（冻结待复核）",
         usage="#异议 编号 理由", example="#异议 17 当天他没有参加", parse=parse_object,
         run=run_object),
    _cmd(name="复核", aliases=("复议",), summary="复核有异议的记录：维持或撤销",
         usage="#复核 编号 维持|撤销", example="#复核 17 维持", parse=parse_review,
         run=run_review, roles=(ADMIN, EVALUATOR),
         detail="由管理员或另一位评议员（不是登记这条的人）复核。"),
    _cmd(name="代查", aliases=("打印积分", "查询单"), summary="为没有手机的农户打印积分查询单",
         usage="#代查 [村名] 户名", example="#代查 张三家", parse=parse_slip, run=run_slip,
         roles=(CADRE, EVALUATOR)),
)  # fmt: skip
