"""#进度查询 (where the unit and its sub-units stand) and #未报 (who has not reported)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.progress import UnknownTask, overview, unreported
from bot.progress import wording as W
from bot.router import Ctx, Usage
from bot.text import Args


@dataclass(frozen=True)
class TaskArg:
    task: str | None


def parse_task_arg(args: Args) -> TaskArg:
    words = args.words()
    if len(words) > 1:
        raise Usage("一次查一项任务，或不写任务查全部")
    return TaskArg(words[0] if words else None)


def run_query(ctx: Ctx, args: TaskArg) -> None:
    unit = ctx.require_unit()
    try:
        result = overview(ctx.session, ctx.config, unit, args.task, ctx.local().date())
    except UnknownTask as e:
        raise Usage(W.unknown_task(e)) from None
    ctx.reply(W.overview_text(result))


def run_unreported(ctx: Ctx, args: TaskArg) -> None:
    unit = ctx.require_unit()
    try:
        result = unreported(ctx.session, ctx.config, unit, ctx.now, ctx.zone, args.task)
    except UnknownTask as e:
        raise Usage(W.unknown_task(e)) from None
    ctx.reply(W.unreported_text(result))
