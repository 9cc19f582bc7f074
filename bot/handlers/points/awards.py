"""#加分 #扣分 #确认 #撤销: writing the ledger."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.handlers.points.common import IdsArgs, domain, parse_ids
from bot.models.points import AWARD, DEDUCT
from bot.points import UnknownRule
from bot.points import wording as W
from bot.points.ledger import award, confirm_all, confirm_repeats, reverse_one
from bot.points.targets import Target
from bot.router import Ctx, Refusal, Usage
from bot.text import Args


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
    if args.sign == ("-" if kind == AWARD else "+"):
        raise Usage(W.wrong_sign(kind, args.sign))
    try:
        result = award(ctx.session, kind=kind, village=village, targets=args.targets,
                       rule_word=args.rule, amount=args.amount, reason=args.reason,
                       actor=ctx.person, msg_id=ctx.msg.id, room_id=ctx.msg.room, now=ctx.now,
                       config=ctx.config, org=ctx.org)
    except UnknownRule as e:
        raise Usage(str(e)) from None
    if not result.done and not result.held:
        raise Refusal(W.award_refusal(result))
    for a in result.done:
        entry = a.entry
        ctx.audit("points", entry=entry.id, household=a.household.id, kind=kind,
                  delta=entry.delta, rule=entry.rule, reason=entry.reason, status=entry.status)
    for h in result.held:
        ctx.audit("points_held", household=h.household.id, kind=kind, repeats=h.earlier.id)
    ctx.reply(W.award_text(result, ctx.zone))


@domain
def run_award(ctx: Ctx, args: AwardArgs) -> None:
    _record_all(ctx, args, AWARD)


@domain
def run_deduct(ctx: Ctx, args: AwardArgs) -> None:
    _record_all(ctx, args, DEDUCT)


def parse_one_id(args: Args) -> IdsArgs:
    parsed = parse_ids(args)
    if len(parsed.ids) > 1:
        raise Usage("一次撤销一条")
    return parsed


def parse_confirm(args: Args) -> IdsArgs:
    """#确认 17 …: a second evaluator's confirmation; a bare #确认: the sender's own
    award held as a likely repeat."""
    return parse_ids(args) if args.words() else IdsArgs(())


@domain
def run_confirm(ctx: Ctx, args: IdsArgs) -> None:
    village = ctx.require_unit("村")
    if not args.ids:
        repeats = confirm_repeats(ctx.session, village, ctx.person, ctx.now, ctx.config)
        if not repeats.done:
            raise Refusal("\n".join(f"{f.target}：{f.reason}" for f in repeats.failed))
        for a in repeats.done:
            ctx.audit("points", entry=a.entry.id, household=a.household.id, kind=a.entry.kind,
                      delta=a.entry.delta, rule=a.entry.rule, reason=a.entry.reason,
                      status=a.entry.status, repeat=True)
        ctx.reply(W.repeats_text(repeats))
        return
    result = confirm_all(ctx.session, args.ids, village, ctx.person, ctx.now, ctx.config)
    if not result.done:
        raise Refusal("\n".join(result.failed))
    for c in result.done:
        ctx.audit("points_confirm", entry=c.entry.id)
    ctx.reply(W.confirm_text(result, ctx.zone))


@domain
def run_reverse(ctx: Ctx, args: IdsArgs) -> None:
    r = reverse_one(ctx.session, args.ids[0], ctx.require_unit(), ctx.person, ctx.roles,
                    ctx.msg.id, ctx.now, ctx.config)
    if r.reversal is None:
        ctx.audit("points_cancel", entry=r.entry.id, reason=args.reason)
    else:
        ctx.audit("points_reverse", entry=r.entry.id, reversal=r.reversal.id, reason=args.reason)
    ctx.reply(W.reverse_text(r))
