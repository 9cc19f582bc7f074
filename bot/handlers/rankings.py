"""Rankings: #排名 [任务] and #积分排名, in HQ, county and township groups.

Each reply carries a bar chart of the ranking; a transport that cannot send images
sends the text alone. A chart that cannot be drawn here (ChartError) is logged and the
text goes without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.chart import ChartError
from bot.org import names_of, unit_label
from bot.progress import (
    day,
    find_task,
    measure,
    task_names,
    tasks_with_targets,
)
from bot.rankings import (
    COMPOSITE,
    RANKING_LEVELS,
    common_schedule,
    composite_ranking,
    month_bounds,
    per_household,
    points_chart,
    points_ranking,
    rank_line,
    ranking_chart,
    task_ranking,
)
from bot.router import Command, Ctx, Refusal, Usage
from bot.text import Args, simplify

log = logging.getLogger(__name__)

_COMPOSITE_WORDS = ("综合", "总", "总体", "全部", "所有", "综合排名", "总排名")
# A long points ranking shows its head and its tail.
POINTS_HEAD, POINTS_TAIL, POINTS_ALL = 10, 5, 20


def _chart(draw: Callable[[], bytes]) -> bytes | None:
    try:
        return draw()
    except ChartError:
        log.exception("ranking chart not drawn")
        return None


def _traditional(ctx: Ctx) -> bool:
    return ctx.config.bot.reply_script == "traditional"


def _require_scope(ctx: Ctx, hint: str) -> None:
    unit = ctx.require_unit()
    if unit.level not in RANKING_LEVELS:
        raise Refusal(f"#{ctx.command.name} 只能在{'/'.join(RANKING_LEVELS)}级的群里使用{hint}")


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
    scope, on = ctx.unit, ctx.local().date()
    if args.task is not None:
        task = find_task(ctx.config, args.task)
        if task is None:
            raise Usage(f"没有“{args.task}”这项任务。任务有：{task_names(ctx.config)}")
        tasks = [task.name]
    else:
        tasks = [t for t in tasks_with_targets(ctx.session, scope, ctx.config)
                 if task_ranking(ctx.session, scope, t, on)]  # fmt: skip
        if not tasks:
            raise Refusal(f"{scope.name}的下级单位还没有设定任务目标，无法排名")
    if len(tasks) == 1 and not args.composite:
        _task_reply(ctx, tasks[0])
    else:
        _composite_reply(ctx, tasks)


def _task_reply(ctx: Ctx, task: str) -> None:
    assert ctx.unit is not None
    scope, on = ctx.unit, ctx.local().date()
    ranked = task_ranking(ctx.session, scope, task, on)
    if not ranked:
        raise Refusal(f"{scope.name}的下级单位还没有{task}的目标，无法排名")
    m = measure(ctx.config, task)
    common = common_schedule(ranked)
    sched = f"，序时进度 {common}%" if common is not None else ""
    lines = [f"{scope.name} {task}排名（{day(on)}{sched}）："]
    lines += [rank_line(r, m, show_schedule=common is None) for r in ranked]
    behind = [r.unit.name for r in ranked if r.behind]
    if behind:
        lines.append(f"滞后 {len(behind)} 个：{'、'.join(behind)}")
    panel = f"{task}（序时进度 {common}%）" if common is not None else task
    png = _chart(lambda: ranking_chart(f"{scope.name} {task}排名 {day(on)}", [(panel, ranked)],
                                       _traditional(ctx)))  # fmt: skip
    ctx.reply("\n".join(lines), image=png)


def _composite_reply(ctx: Ctx, tasks: list[str]) -> None:
    assert ctx.unit is not None
    scope, on = ctx.unit, ctx.local().date()
    ranked = composite_ranking(ctx.session, scope, tasks, on)
    if not ranked:
        raise Refusal(f"{scope.name}的下级单位还没有设定任务目标，无法排名")
    lines = [f"{scope.name} {COMPOSITE}排名（{day(on)}，{'、'.join(tasks)} {len(tasks)} 项任务平均）："]
    lines += [rank_line(r, "", show_schedule=True, total_tasks=len(tasks)) for r in ranked]
    lines.append(f"分任务排名请发：#排名 {tasks[0]}")
    png = _chart(lambda: ranking_chart(f"{scope.name} {COMPOSITE}排名 {day(on)}",
                                       [(f"{'、'.join(tasks)} 平均", ranked)],
                                       _traditional(ctx)))  # fmt: skip
    ctx.reply("\n".join(lines), image=png)


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
    scope, now = ctx.unit, ctx.local()
    first = now.date().replace(day=1)
    rows = points_ranking(ctx.session, scope, *month_bounds(first, ctx.config))
    if not rows:
        raise Refusal(f"{scope.name}下面还没有村")
    names = names_of(ctx.session, [a.village for _, a in rows])
    labels = {a.village.id or 0: unit_label(a.village, names, scope) for _, a in rows}
    shown = rows if len(rows) <= POINTS_ALL else rows[:POINTS_HEAD] + rows[-POINTS_TAIL:]
    span = f"{day(first)}—{day(now.date())}" if now.day > 1 else day(first)
    lines = [f"{scope.name} {first.month}月积分排名（按户均加分，{span}）："]
    for i, (r, a) in enumerate(shown):
        if len(shown) < len(rows) and i == POINTS_HEAD:
            lines.append(f"……（共 {len(rows)} 个村）")
        detail = f"加 {a.awarded} 分" + (f"，扣 {a.deducted} 分" if a.deducted else "")
        hh = f"，{a.households} 户" if a.households else "，未登记农户"
        lines.append(f"{r}. {labels[a.village.id or 0]} 户均 {per_household(a)} 分（{detail}{hh}）")
    if not any(a.awarded for _, a in rows):
        lines.append("本月各村还没有加分记录")
    png = _chart(lambda: points_chart(f"{scope.name} {first.month}月积分排名", shown, labels,
                                      _traditional(ctx)))  # fmt: skip
    ctx.reply("\n".join(lines), image=png)


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
)  # fmt: skip
