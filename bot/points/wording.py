"""All the points area's words: how an entry is described, and every reply and post,
as pure functions of result objects (no database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.models.core import Household
from bot.models.points import AWARD, CANCELLED, EXPIRED, FROZEN, PENDING, REDEEM, Good, PointEntry
from bot.points.phones import mask_phone

if TYPE_CHECKING:
    from bot.points.balance import Balance, Board, Card, Detail, VillageWeek
    from bot.points.claim import Claimed, Missed, Unlinked
    from bot.points.errors import NotWholePacks
    from bot.points.ledger import (
        Awarded,
        AwardResult,
        ConfirmResult,
        Expired,
        Objected,
        RepeatsResult,
        Reversed,
        Reviewed,
    )
    from bot.points.policy import Policy, Rule
    from bot.points.shop import Redeemed

MAX_CHARS = 1500  # one 公示 message; a longer week is split into numbered parts


# -- describing entries -----------------------------------------------------------------


def what(entry: PointEntry) -> str:
    """What an entry is for: its rule, its reason, or what was redeemed."""
    base = entry.rule or entry.reason
    if entry.kind == REDEEM:
        base = f"兑换 {entry.reason}"
    return f"撤销#{entry.reverses_id} {base}" if entry.reverses_id else base


def status_label(entry: PointEntry, now: datetime, expiry: timedelta,
                 reversed_by: int | None = None) -> str:
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
               household: str | None = None, reversed_by: int | None = None) -> str:
    """'#17 6月3日 张三家 +10 六净六有（待确认）'."""
    label = status_label(entry, now, expiry, reversed_by)
    who = f" {household}" if household else ""
    tail = f"（{label}）" if label else ""
    return f"#{entry.id} {day_text(entry.created_at, zone)}{who} {signed(entry.delta)} {what(entry)}{tail}"



def good_text(g: Good) -> str:
    return f"{g.name} {g.pack_size}{g.pack_unit}/份 {g.price}分 库存{g.stock}{g.pack_unit}"


def _about(entry: PointEntry, household: str) -> str:
    return f"{household} {signed(entry.delta)} {what(entry)}"


def _hours(expiry: timedelta) -> int:
    return int(expiry.total_seconds() // 3600)


# -- #加分 / #扣分 / #确认 / #撤销 ------------------------------------------------------------


def verb(kind: str) -> str:
    return "加分" if kind == AWARD else "扣分"


def wrong_sign(kind: str, sign: str) -> str:
    """An amount written with the other command's sign (#加分 @张三 -5 …)."""
    other = "扣分" if kind == AWARD else "加分"
    return f"#{verb(kind)} 的分数不带“{sign}”号；要{other}请用 #{other}"


def award_refusal(r: AwardResult) -> str:
    """Nothing was recorded: why."""
    if len(r.failed) == 1:
        return r.failed[0].reason
    return f"没有{verb(r.kind)}：\n" + "\n".join(f"{f.target}：{f.reason}" for f in r.failed)


def _awarded_line(a: Awarded, now: datetime) -> str:
    line = f"#{a.entry.id} {a.household.name} {signed(a.entry.delta)} {what(a.entry)}"
    if a.entry.status == PENDING:
        line += "（待确认）"
    elif a.entry.effective_at > now:
        line += "（待生效）"
    else:
        line += f"，余额 {a.balance} 分"
    return line


def held_lines(r: AwardResult) -> list[str]:
    """Awards held as likely repeats: what they repeat, and how to record them anyway."""
    v = verb(r.kind)
    minutes = int(r.policy.repeat.total_seconds() // 60)
    lines = [f"{h.household.name}：{minutes}分钟内您已{v}过（#{h.earlier.id} "
             f"{signed(h.earlier.delta)} {what(h.earlier)}），看起来是重复，这次没有记"
             for h in r.held]
    lines.append(f"确实要再{v}，请在{minutes}分钟内发送：#确认")
    return lines


def award_text(r: AwardResult, zone: ZoneInfo) -> str:
    if not r.done:
        return "\n".join(held_lines(r) + [f"{f.target}：{f.reason}" for f in r.failed])
    v = verb(r.kind)
    lines = [_awarded_line(a, r.now) for a in r.done]
    pending = [a.entry for a in r.done if a.entry.status == PENDING]
    head = f"已登记{v}，待确认" if pending else f"已{v}"
    if len(r.done) == 1 and not r.failed:
        out = [f"{head}：{lines[0]}"]
    else:
        out = [f"{head} {len(r.done)} 户：", *lines]
        if r.failed:
            out += [f"未{v} {len(r.failed)} 个：", *(f"{f.target}：{f.reason}" for f in r.failed)]
    if pending:
        ids = " ".join(str(e.id) for e in pending)
        out.append(f"请另一位评议员发送：#确认 {ids}（{_hours(r.policy.expiry)}小时内有效）")
    elif any(a.entry.effective_at > r.now for a in r.done):
        first = min(a.entry.effective_at for a in r.done)
        out.append(f"公示{r.policy.publicity_days}天，{day_text(first, zone)}"
                   f"{first.astimezone(zone):%H:%M}起可兑换")
    if r.held:
        out += held_lines(r)
    return "\n".join(out)


def repeats_text(r: RepeatsResult) -> str:
    """A bare #确认: the repeats recorded after all."""
    lines = [_awarded_line(a, r.now) for a in r.done]
    head = "已按您的确认记录：" if len(lines) == 1 else f"已按您的确认记录 {len(lines)} 条："
    out = [head + lines[0]] if len(lines) == 1 else [head, *lines]
    out += [f"{f.target}：{f.reason}" for f in r.failed]
    pending = [a.entry for a in r.done if a.entry.status == PENDING]
    if pending:
        ids = " ".join(str(e.id) for e in pending)
        out.append(f"请另一位评议员发送：#确认 {ids}（{_hours(r.policy.expiry)}小时内有效）")
    return "\n".join(out)


def confirm_text(r: ConfirmResult, zone: ZoneInfo) -> str:
    lines = []
    for c in r.done:
        line = f"#{c.entry.id} {_about(c.entry, c.household)}"
        if c.balance is None:
            line += f"，{day_text(c.entry.effective_at, zone)}起可兑换"
        else:
            line += f"，余额 {c.balance} 分"
        lines.append(line)
    head = "已确认：" if len(lines) == 1 else f"已确认 {len(lines)} 条："
    text = head + lines[0] if len(lines) == 1 else "\n".join([head, *lines])
    return "\n".join([text, *r.failed])


def reverse_text(r: Reversed) -> str:
    about = _about(r.entry, r.household)
    if r.reversal is None:
        return f"已作废 #{r.entry.id}（{about}，待确认，未计分）"
    text = (f"已撤销 #{r.entry.id}（{about}），记为 #{r.reversal.id} {signed(r.reversal.delta)}，"
            f"{r.household}余额 {r.balance} 分")
    if r.entry.kind == REDEEM and r.entry.quantity:
        text += f"；{r.entry.reason}已退回库存"
    return text


def expiry_notice(e: Expired, hours: int) -> str:
    """The expiry job's post: an award nobody confirmed in time."""
    return (f"第{e.entry.id}条加分（{e.household} {signed(e.entry.delta)} "
            f"{what(e.entry)}）{hours}小时内没有第二位评议员确认，已作废。")


# -- #异议 / #复核 --------------------------------------------------------------------------


def object_text(r: Objected) -> str:
    i = r.entry.id
    return (f"已收到对 #{i}（{_about(r.entry, r.household)}）的异议，"
            f"该条已冻结。请管理员或另一位评议员复核：#复核 {i} 维持 或 #复核 {i} 撤销")


def review_text(r: Reviewed) -> str:
    about = _about(r.entry, r.household)
    if r.reversal is None:
        return f"复核 #{r.entry.id}：维持（{about}），已解除冻结"
    return (f"复核 #{r.entry.id}：撤销（{about}），记为 #{r.reversal.id} {signed(r.reversal.delta)}，"
            f"{r.household}余额 {r.balance} 分")


# -- #查分 / #明细 / #代查 / #积分榜 / #规则 -----------------------------------------------------


def balance_lines(b: Balance, zone: ZoneInfo) -> list[str]:
    first = f"余额 {b.total} 分"
    if b.frozen:
        first += f"，其中冻结 {b.frozen} 分（有异议待复核），可兑换 {max(0, b.redeemable)} 分"
    lines = [first]
    if b.upcoming:
        when = day_text(b.upcoming_from, zone) if b.upcoming_from else ""
        lines.append(f"待生效 {b.upcoming} 分（{when}起陆续可兑换）")
    if b.awaiting:
        lines.append(f"待确认 {b.awaiting} 分")
    return lines


def entry_lines(entries: Sequence[PointEntry], reversed_by: dict[int, int], now: datetime,
                zone: ZoneInfo, expiry: timedelta) -> list[str]:
    return [entry_line(e, now, zone, expiry, reversed_by=reversed_by.get(e.id or 0))
            for e in entries]


def card_text(c: Card, zone: ZoneInfo) -> str:
    """#查分."""
    bal = balance_lines(c.balance, zone)
    out = [f"{c.household.name}（{c.village.name if c.village else ''}）{bal[0]}", *bal[1:]]
    if c.recent:
        out += ["最近记录：", *entry_lines(c.recent, c.reversed_by, c.now, zone, c.expiry)]
    else:
        out.append("还没有积分记录")
    return "\n".join(out)


def detail_text(d: Detail, zone: ZoneInfo, shown_max: int) -> str:
    """#明细."""
    name = d.household.name
    if not d.entries:
        return f"{name} {d.year}年还没有积分记录。{balance_lines(d.balance, zone)[0]}"
    head = f"{name} {d.year}年积分明细（共{d.total}条"
    head += f"，只列最近{shown_max}条）：" if d.total > len(d.entries) else "）："
    return "\n".join([head, *entry_lines(d.entries, d.reversed_by, d.now, zone, d.expiry),
                      *balance_lines(d.balance, zone)])


def slip_text(c: Card, zone: ZoneInfo, asker: str) -> str:
    """#代查: a slip to print for a household without a phone."""
    b = c.balance
    local = c.now.astimezone(zone)
    out = [
        "【爱心积分查询单】",
        f"村：{c.village.name if c.village else ''}" + (f"（{c.parent.name}）" if c.parent else ""),
        f"户：{c.household.name}",
        f"余额：{b.total} 分（可兑换 {max(0, b.redeemable)} 分）",
    ]
    if b.upcoming:
        out.append(f"待生效：{b.upcoming} 分")
    if b.awaiting:
        out.append(f"待确认：{b.awaiting} 分")
    if c.recent:
        lines = entry_lines(c.recent, c.reversed_by, c.now, zone, c.expiry)
        out += ["最近记录：", *[f"  {line}" for line in lines]]
    else:
        out += ["最近记录：无"]
    out.append(f"查询人：{asker}　{local.year}年{local.month}月{local.day}日")
    return "\n".join(out)


def board_text(b: Board, now: datetime, zone: ZoneInfo) -> str:
    """#积分榜."""
    local = now.astimezone(zone)
    label = {"year": f"{local.year}年", "month": f"{local.month}月", "all": "累计"}[b.period]
    if not b.ranked:
        return f"{b.village.name}{label}还没有获得积分的农户"
    lines, rank, last = [], 0, None
    for i, r in enumerate(b.ranked, start=1):
        if r.points != last:
            rank, last = i, r.points
        lines.append(f"{rank}. {r.household.name} {r.points}分")
    return "\n".join([f"{b.village.name}积分榜（{label}，前{len(b.ranked)}户）：", *lines])


def rules_text(pol: Policy, where: str) -> str:
    """#规则: the rules in force (`where`: the village, or 通用)."""

    def line(r: Rule) -> str:
        extra = [f"也可写：{'、'.join(r.aliases)}"] if r.aliases else []
        if r.cap_text:
            extra.insert(0, r.cap_text)
        return f"· {r.name} {signed(r.points)}" + (f"（{'；'.join(extra)}）" if extra else "")

    plus = [line(r) for r in pol.rules if r.points > 0]
    minus = [line(r) for r in pol.rules if r.points < 0]
    out = [f"{where}积分规则："]
    if plus:
        out += ["加分：", *plus]
    if minus:
        out += ["扣分：", *minus]
    out.append(f"临时加扣分每次最多 {pol.adhoc_cap} 分，须写明事由，例：#加分 @张三 20 防汛值班")
    if pol.confirmations >= 2:
        out.append(f"加分须两位评议员确认，{_hours(pol.expiry)}小时内未确认作废")
    if pol.publicity_days:
        out.append(f"新加的分公示{pol.publicity_days}天后才能兑换")
    return "\n".join(out)


# -- #商品 / #上架 / #兑换 ----------------------------------------------------------------------


def goods_text(village: str, goods: Sequence[Good]) -> str:
    if not goods:
        return "本村超市还没有商品。超市管理员可发送：#上架 粽子 10个 15分 库存 1000"
    lines = [f"· {good_text(g)}" for g in goods]
    return "\n".join([f"{village}爱心超市（每份所需积分）：", *lines,
                      "兑换请找超市管理员，例：#兑换 @张三 粽子 10"])


def stock_text(good: Good, created: bool) -> str:
    return f"{'已上架' if created else '已更新'}：{good_text(good)}"


def unlisted_text(good: Good) -> str:
    return (f"已下架：{good.name}（库存 {good.stock}{good.pack_unit} 保留；"
            f"重新上架请发送 #上架 {good.name}）")


def not_whole_packs(e: NotWholePacks, target: str) -> str:
    return f"{e}。例：#兑换 {target} {e.good.name} {e.nearest}"


def redeem_text(r: Redeemed) -> str:
    """已兑换：张三家 粽子 2份（20个，#3），扣 30 分，余 70 分；粽子库存 980个"""
    name, x = r.household.name, r.redemption
    goods = {g.id: g for g in x.goods}
    items = []
    for e in x.entries:
        g = goods[e.good_id]
        items.append(f"{g.name} {(e.quantity or 0) // g.pack_size}份"
                     f"（{e.quantity}{g.pack_unit}，#{e.id}）")
    stock = "，".join(f"{g.name}库存 {g.stock}{g.pack_unit}" for g in x.goods)
    return f"已兑换：{name} {'、'.join(items)}，扣 {x.cost} 分，余 {x.balance.total} 分；{stock}"


# -- the weekly 公示 ----------------------------------------------------------------------


def publicity_parts(w: VillageWeek, first: datetime, end: datetime, now: datetime,
                    zone: ZoneInfo, expiry: timedelta) -> list[str]:
    """The 公示 of one village's week (from `first` to `end`), in as many messages as
    it takes."""
    head = (f"【积分公示】{w.village.name} {day_text(first, zone)}—{day_text(end, zone)}，"
            f"共{len(w.rows)}条：")
    lines = [entry_line(e, now, zone, expiry, household=name,
                        reversed_by=w.reversed_by.get(e.id or 0)) for e, name in w.rows]
    return _parts(head, lines, "如有异议，请在本群发送：#异议 编号 理由")


def _parts(head: str, lines: list[str], foot: str) -> list[str]:
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) + 1 > MAX_CHARS - len(head) - len(foot) - 10:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    n = len(parts)
    out = []
    for i, body in enumerate(parts, start=1):
        h = head if n == 1 else f"{head}（{i}/{n}）"
        out.append("\n".join([h, *body, *([foot] if i == n else [])]))
    return out


# -- claiming a household by its phone (#认领, #未认领) ------------------------------------

CLAIM_EXAMPLE = "#认领 13812345678"


def claimed_text(c: Claimed) -> str:
    """#认领 that linked the sender."""
    return (f"已绑定：您是 {c.household.name}（{c.village.name}）的成员，本户积分余额 {c.balance} 分。"
            "发送 #查分 查看最近记录")


def missed_text(m: Missed) -> str:
    """#认领 that linked no one."""
    if m.why == "linked":
        text = "这个手机号登记的农户已有家人绑定。同户的家人请村干部帮您登记（#登记 @您 户 户名）"
    elif m.why == "several":
        text = "这个手机号在本村登记了不止一户，请村干部帮您登记（#登记 @您 户 户名）"
    else:
        text = f"本村没有登记这个手机号的农户。请核对后再发，例：{CLAIM_EXAMPLE}"
    left = f"今天还可以再试 {m.left} 次" if m.left else "今天的次数已用完，请明天再试"
    return f"{text}（{left}）"


def claim_hint(hh: Household) -> str:
    """For someone unlinked whose name is an unclaimed household's head's."""
    return f"本村户主“{hh.head_name}”的农户登记了手机号：发送 #认领 手机号 即可绑定本户"


def household_label(hh: Household) -> str:
    """A household with its head and masked phone: 张三家（户主 张三，138****5678）."""
    parts = [f"户主 {hh.head_name}"] if hh.head_name and hh.head_name != hh.name else []
    parts.append(mask_phone(hh.phone) if hh.phone else "没有手机号")
    return f"{hh.name}（{'，'.join(parts)}）"


def unlinked_text(u: Unlinked) -> str:
    """#未认领."""
    name = u.village.name
    if not u.total:
        return f"{name}还没有登记农户。例：#登记 @张三 户 张三家"
    if not u.count:
        return f"{name}共 {u.total} 户，都已有成员绑定"
    lines = [f"{name}共 {u.total} 户，还有 {u.count} 户没有成员绑定：",
             *(household_label(h) for h in u.households)]
    if u.count > len(u.households):
        lines.append(f"……另有 {u.count - len(u.households)} 户未列出")
    lines.append("有手机号的户，家人在本群发送 #认领 手机号 即可绑定；"
                 "没有手机号的，请用 #登记 @成员 户 户名")
    return "\n".join(lines)
