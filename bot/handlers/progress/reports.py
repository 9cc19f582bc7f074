"""#进度 (report the unit's cumulative figures) and #撤回 (withdraw the last report)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.handlers.progress.amounts import amount, joined
from bot.progress import (
    ProgressError,
    ReportLine,
    ReportRefused,
    UnknownTask,
    record_reports,
    withdraw,
)
from bot.progress import wording as W
from bot.router import Ctx, Refusal, Usage
from bot.text import Args, split_words

_CORRECTION = ("更正", "修正", "纠正", "改正")
_FILLER = ("累计完成", "已完成", "累计", "完成", "共计")
_LINES = re.compile(r"[\n;；]+")
# Later lines of a report may repeat the command word.
_REPEATED = re.compile(r"^[#＃]?\s*(?:进度报送|报进度|进度)(?!查询)\s*")


# -- #进度 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportArgs:
    lines: tuple[ReportLine, ...]


def _strip_filler(word: str, *, front: bool) -> str:
    for f in _FILLER:
        if front and word.startswith(f) and len(word) > len(f):
            return word[len(f) :]
        if not front and word.endswith(f) and len(word) > len(f):
            return word[: -len(f)]
    return word


def parse_report_line(text: str, prefix: str = "") -> ReportLine:
    """One line: '危房改造 42', '危房改造 42/50 处', '危房改造 +5', '危房改造四十二处',
    '危房改造 30 更正'. `prefix` ('第2行：') starts every error."""
    correction = False
    words: list[str] = []
    for w in split_words(text):
        for c in _CORRECTION:
            if w.endswith(c):
                correction, w = True, w[: -len(c)]
                break
        if w and w not in _FILLER:
            words.append(w)
    if not words:
        raise Usage(f"{prefix}请写任务和累计完成数")
    if amount(words[0]) and len(words) > 1:  # '42 危房改造'
        words = [*words[1:], words[0]]
    task, rest = words[0], joined(words[1:], prefix, "完成数")
    if amount(task):
        raise Usage(f"{prefix}请先写任务名称")
    if not rest:  # '危房改造四十二处': the shortest task name followed by an amount
        for i in range(1, len(task)):
            if not any(ch.isdigit() for ch in task[:i]) and amount(
                _strip_filler(task[i:], front=True)
            ):
                task, rest = task[:i], task[i:]
                break
    task, rest = _strip_filler(task, front=False), _strip_filler(rest, front=True)
    if not rest:
        raise Usage(f"{prefix}“{task}”后面要写累计完成数")
    m = amount(rest)
    if m is None:
        raise Usage(f"{prefix}看不懂“{rest}”：完成数要写整数，如 42、+5 或 42/50")
    if m.group("sign") == "-":
        raise Usage(
            f"{prefix}完成数不能是负数；如上次报多了，请加“更正”重报，如 #进度 {task} 30 更正"
        )
    of = m.group("of")
    return ReportLine(task, int(m.group("n")), m.group("sign") == "+",
                      int(of) if of is not None else None, correction)


def parse_report(args: Args) -> ReportArgs:
    raw = [_REPEATED.sub("", line.strip(), count=1) for line in _LINES.split(args.text)]
    texts = [t for t in raw if split_words(t)]
    if not texts:
        raise Usage("请写任务和累计完成数")
    many = len(texts) > 1
    lines = tuple(
        parse_report_line(t, f"第{i}行：" if many else "") for i, t in enumerate(texts, start=1)
    )
    return ReportArgs(lines)


def run_report(ctx: Ctx, args: ReportArgs) -> None:
    unit = ctx.require_unit()
    try:
        batch = record_reports(
            ctx.session, ctx.config, unit, args.lines, reporter=ctx.person.id,
            reporter_name=ctx.person.name, room_id=ctx.msg.room, msg_id=ctx.msg.id,
            now=ctx.now, zone=ctx.zone,
        )
    except ReportRefused as e:
        first = e.refused[0][1]
        if e.lines == 1 and isinstance(first, UnknownTask):
            raise Usage(W.unknown_task(first)) from None  # the reply shows an example
        raise Refusal(W.refused_text(e)) from None
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
