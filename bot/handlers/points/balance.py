"""#查分 #明细 #代查 #积分榜 #规则: reading the ledger and the rules."""

from __future__ import annotations

from dataclasses import dataclass

from bot.handlers.points.common import NoArgs, domain
from bot.points import policy
from bot.points import wording as W
from bot.points.balance import DETAIL_MAX, board, household_card, household_detail, slip
from bot.points.targets import Target
from bot.router import Ctx, Usage
from bot.text import Args


@dataclass(frozen=True)
class WhoArgs:
    target: Target | None


def parse_who(args: Args) -> WhoArgs:
    targets: list[Target] = [*args.mentions(), *args.words()]
    if len(targets) > 1:
        raise Usage("一次查一户")
    return WhoArgs(targets[0] if targets else None)


@domain
def run_balance(ctx: Ctx, args: WhoArgs) -> None:
    card = household_card(ctx.session, args.target, ctx.person, ctx.roles, ctx.msg.room,
                          ctx.unit, ctx.now, ctx.config, ctx.org)
    ctx.reply(W.card_text(card, ctx.zone))


@domain
def run_detail(ctx: Ctx, args: WhoArgs) -> None:
    detail = household_detail(ctx.session, args.target, ctx.person, ctx.roles, ctx.msg.room,
                              ctx.unit, ctx.now, ctx.config)
    ctx.reply(W.detail_text(detail, ctx.zone, DETAIL_MAX))


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


@domain
def run_slip(ctx: Ctx, args: SlipArgs) -> None:
    card = slip(ctx.session, args.village, args.target, ctx.msg.room, ctx.require_unit(),
                ctx.now, ctx.config)
    ctx.audit("points_slip", household=card.household.id)
    ctx.reply(W.slip_text(card, ctx.zone, ctx.person.name or ctx.person.id))


@dataclass(frozen=True)
class BoardArgs:
    period: str  # "year", "month" or "all"


_PERIODS = {"今年": "year", "本年": "year", "年": "year", "本月": "month", "月": "month",
            "这个月": "month", "全部": "all", "累计": "all", "总": "all"}


def parse_board(args: Args) -> BoardArgs:
    words = args.words()
    if not words:
        return BoardArgs("year")
    if len(words) == 1 and words[0] in _PERIODS:
        return BoardArgs(_PERIODS[words[0]])
    raise Usage("可写：今年、本月 或 全部")


@domain
def run_board(ctx: Ctx, args: BoardArgs) -> None:
    b = board(ctx.session, ctx.require_unit(), args.period, ctx.now, ctx.config)
    ctx.reply(W.board_text(b, ctx.now, ctx.zone))


def run_rules(ctx: Ctx, args: NoArgs) -> None:
    village = ctx.unit if ctx.unit is not None and ctx.unit.level == "村" else None
    where = village.name if village is not None else "通用"
    ctx.reply(W.rules_text(policy(ctx.config, village), where))
