"""#异议 #复核: a villager's objection freezes an entry until it is reviewed."""

from __future__ import annotations

from dataclasses import dataclass

from bot.handlers.points.common import domain, parse_ids
from bot.org import ADMIN
from bot.points import KEEP, REVERSE
from bot.points import wording as W
from bot.points.ledger import object_one, review_one
from bot.router import Ctx, Usage
from bot.text import Args


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


@domain
def run_object(ctx: Ctx, args: ObjectArgs) -> None:
    r = object_one(ctx.session, args.entry_id, ctx.require_unit(), ctx.person, ctx.roles,
                   args.reason, ctx.msg.id, ctx.now, ctx.config)
    ctx.audit("points_object", entry=r.entry.id, reason=args.reason)
    ctx.reply(W.object_text(r))


@dataclass(frozen=True)
class ReviewArgs:
    entry_id: int
    decision: str
    reason: str


_DECISIONS = {"维持": KEEP, "保持": KEEP, "驳回": KEEP, "有效": KEEP,
              "撤销": REVERSE, "取消": REVERSE, "作废": REVERSE}


def parse_review(args: Args) -> ReviewArgs:
    parsed = parse_ids(args)
    if len(parsed.ids) > 1:
        raise Usage("一次复核一条")
    words = parsed.reason.split()
    if not words or words[0] not in _DECISIONS:
        raise Usage("请写“维持”或“撤销”")
    return ReviewArgs(parsed.ids[0], _DECISIONS[words[0]], " ".join(words[1:]))


@domain
def run_review(ctx: Ctx, args: ReviewArgs) -> None:
    r = review_one(ctx.session, args.entry_id, ctx.require_unit(), ctx.person,
                   ctx.roles.has(ADMIN), args.decision, ctx.msg.id, ctx.now)
    ctx.audit("points_review", entry=r.entry.id, objection=r.objection.id, decision=args.decision,
              reversal=r.reversal.id if r.reversal else None, reason=args.reason)
    ctx.reply(W.review_text(r))
