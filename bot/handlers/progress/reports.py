"""#进度 (report the unit's cumulative figures) and #撤回 (withdraw the last report)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.progress import (
    ProgressError,
    ReportFormError,
    ReportRefused,
    UnknownTask,
    report_message,
    withdraw,
)
from bot.progress import wording as W
from bot.router import Ctx, Refusal, Usage
from bot.text import Args, split_words

# -- #进度 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportArgs:
    text: str  # the message after '#进度', normalised; read against the tasks and the unit


def parse_report(args: Args) -> ReportArgs:
    """The message as typed: how it is read depends on the configured tasks and on the
    group's unit (`bot.progress.form`), so it is read when it is recorded."""
    if not split_words(args.text):
        raise Usage("请写任务和累计完成数")
    return ReportArgs(args.text)


def run_report(ctx: Ctx, args: ReportArgs) -> None:
    unit = ctx.require_unit()
    try:
        batch = report_message(
            ctx.session, ctx.config, unit, args.text, reporter=ctx.person.id,
            reporter_name=ctx.person.name, room_id=ctx.msg.room, msg_id=ctx.msg.id,
            now=ctx.now, zone=ctx.zone, org=ctx.org,
        )
    except ReportFormError as e:
        raise Refusal(e.reason) from None  # it names the line and shows an example
    except ReportRefused as e:
        first = e.refused[0][1]
        if e.lines == 1 and isinstance(first, UnknownTask):
            raise Usage(W.unknown_task(first)) from None  # the reply shows an example
        raise Refusal(W.refused_text(e)) from None
    except ProgressError as e:
        raise Refusal(str(e)) from None
    ctx.reply("\n".join(W.recorded_text(batch.unit, rec) for rec in batch.recorded))
    for rec in batch.recorded:
        ctx.audit("report", unit=unit.id, task=rec.report.task, figure=rec.report.figure,
                  previous=rec.previous, correction=rec.report.correction)
        for flag in rec.flags:
            for room in batch.flag_rooms:
                ctx.send(room.id, W.flag_text(flag), kind="flag")


# -- #撤回 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoArgs:
    pass


def parse_withdraw(args: Args) -> NoArgs:
    if args.words():
        raise Usage("#撤回 不用写别的，它撤回您在本群最近一次的进度报送")
    return NoArgs()


def run_withdraw(ctx: Ctx, args: NoArgs) -> None:
    unit = ctx.require_unit()
    try:
        result = withdraw(ctx.session, ctx.config, unit, ctx.person.id, ctx.now, ctx.zone)
    except ProgressError as e:
        raise Refusal(str(e)) from None
    for item in result.items:
        r = item.report
        ctx.audit("withdraw", unit=unit.id, task=r.task, figure=r.figure, report=r.id)
    ctx.reply(W.withdrawn_text(result, ctx.zone))
