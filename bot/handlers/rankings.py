"""Rankings: #排名 [任务] and #积分排名, in HQ, county and township groups.

Each reply carries a bar chart of the ranking; a transport that cannot send images
sends the text alone. The chart's data goes into the outbox with the reply and the
sender draws it after the commit (`bot.rankings.chart.Chart`): a chart that cannot be
drawn there (ChartError) is logged and the text goes without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.rankings import (
    RANKING_LEVELS,
    NothingToRank,
    NoVillages,
    UnknownTask,
    points_chart_data,
    points_standing,
    standing,
    standing_chart_data,
)
from bot.rankings import wording as W
from bot.router import Command, Ctx, Refusal, Usage
from bot.text import Args, simplify

log = logging.getLogger(__name__)

_COMPOSITE_WORDS = ("综合", "总", "总体", "全部", "所有", "综合排名", "总排名")


def _traditional(ctx: Ctx) -> bool:
    return ctx.config.bot.reply_script == "traditional"


def _require_scope(ctx: Ctx, hint: str) -> None:
    unit = ctx.require_unit()
    if unit.level not in RANKING_LEVELS:
        raise Refusal(W.wrong_level(ctx.command.name, hint))


# -- #排名 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankArgs:
    task: str | None  # as typed; None: decide from the targets set
    composite: bool = False


def parse_rank(args: Args) -> RankArgs:
    words = [w for w in args.words() if simplify(w) not in ("排名", "排行")]
    if len(words) > 1:
        raise Usage("一次排一项任务，或不写任务看综合排名")
    if not words:
        return RankArgs(None)
    if simplify(words[0]) in _COMPOSITE_WORDS:
        return RankArgs(None, composite=True)
    return RankArgs(words[0])


def run_rank(ctx: Ctx, args: RankArgs) -> None:
    _require_scope(ctx, "，本村进度请用 #进度查询")
    assert ctx.unit is not None
    try:
        st = standing(ctx.session, ctx.config, ctx.unit, ctx.local().date(), args.task,
                      args.composite)
    except UnknownTask as e:
        raise Usage(W.unknown_task(e)) from e
    except NothingToRank as e:
        raise Refusal(W.nothing_to_rank(e)) from e
    ctx.reply(W.standing_text(st), chart=standing_chart_data(st, _traditional(ctx)))


# -- #积分排名 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NoArgs:
    pass


def parse_points_rank(args: Args) -> NoArgs:
    words = [w for w in args.words() if simplify(w) not in ("本月", "这个月")]
    if words:
        raise Usage("#积分排名 不用写别的，它按本月户均加分给各村排名")
    return NoArgs()


def run_points_rank(ctx: Ctx, args: NoArgs) -> None:
    _require_scope(ctx, "，本村十佳请用 #积分榜")
    assert ctx.unit is not None
    try:
        ps = points_standing(ctx.session, ctx.config, ctx.unit, ctx.local().date())
    except NoVillages as e:
        raise Refusal(W.no_villages(e)) from e
    ctx.reply(W.points_standing_text(ps), chart=points_chart_data(ps, _traditional(ctx)))


COMMANDS = (
    Command(
        name="排名", aliases=("排行", "进度排名", "排行榜"), summary="下级各单位的进度排名（附图）", levels=RANKING_LEVELS,
        usage="#排名 [任务]", example="#排名 危房改造", parse=parse_rank, run=run_rank,
        detail="按超前/滞后序时进度的百分点排名，相同时比完成率；滞后的单位标“滞后”，最后一名标“末位”。"
               "不写任务：只有一项任务就排这一项，有几项就给综合排名（各项平均）。"
               "在市、县、乡的群里使用。",
    ),
    Command(
        name="积分排名", aliases=("村积分排名", "各村积分排名", "积分排名榜"), summary="各村本月户均加分排名（附图）", levels=RANKING_LEVELS,
        usage="#积分排名", example="#积分排名", parse=parse_points_rank, run=run_points_rank,
        detail="按本月每户平均加到的爱心积分给下面各村排名。在市、县、乡的群里使用。",
    ),
)
