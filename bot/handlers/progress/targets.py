"""#目标: set or replace the group's unit's target for a task."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.handlers.progress.amounts import amount, joined
from bot.progress import (
    BadDate,
    ProgressError,
    UnknownTask,
    parse_day,
    set_unit_target,
    setter_denied,
)
from bot.progress import wording as W
from bot.router import Ctx, Refusal, Usage
from bot.text import Args

_DEADLINE_WORDS = ("截止日期", "截止到", "截至到", "截止", "截至", "期限", "完成时限", "到期")
_START_WORDS = ("开始日期", "开始", "起始")
# Dates are checked for form when parsed (a leap year, so 2月29日 passes) and resolved
# against the group's today when run.
_FORM_CHECK_DAY = date(2020, 1, 1)


@dataclass(frozen=True)
class TargetArgs:
    task: str
    amount: int
    deadline: str
    start: str | None


def _date_word(words: list[str], i: int, keyword: str, what: str) -> tuple[str, int]:
    """The date after (or glued to) a keyword at words[i]; returns it and the words used."""
    w = words[i]
    if w == keyword:
        if i + 1 >= len(words):
            raise Usage(f"“{keyword}”后面要写{what}，如 6月30日")
        return words[i + 1], 2
    return w[len(keyword) :], 1


def _dated(word: str, suffixes: tuple[str, ...]) -> str | None:
    """'6月30日前' → '6月30日': a date followed by one of the suffixes."""
    for suffix in suffixes:
        head = word.removesuffix(suffix)
        if head != word and parse_day(head, _FORM_CHECK_DAY) is not None:
            return head
    return None


def parse_target(args: Args) -> TargetArgs:
    words = args.words()
    deadline: str | None = None
    start: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        kw_end = next((k for k in _DEADLINE_WORDS if w.startswith(k)), None)
        kw_start = next((k for k in _START_WORDS if w.startswith(k)), None)
        if kw_end:
            deadline, used = _date_word(words, i, kw_end, "截止日期")
        elif kw_start:
            start, used = _date_word(words, i, kw_start, "开始日期")
        elif _dated(w, ("截止", "截至", "前")):
            deadline, used = _dated(w, ("截止", "截至", "前")), 1
        elif _dated(w, ("开始", "起")):
            start, used = _dated(w, ("开始", "起")), 1
        else:
            rest.append(w)
            used = 1
        i += used
    if not rest:
        raise Usage("请写任务、目标数和截止日期")
    task, amount_text = rest[0], joined(rest[1:], "", "目标数")
    if not amount_text:  # '危房改造50处'
        for j in range(1, len(task)):
            if not any(ch.isdigit() for ch in task[:j]) and amount(task[j:]):
                task, amount_text = task[:j], task[j:]
                break
    if not amount_text:
        raise Usage(f"“{task}”后面要写目标数")
    m = amount(amount_text)
    if m is None or m.group("of") is not None:
        raise Usage(f"看不懂目标数“{amount_text}”，要写整数")
    n = int(m.group("n")) * (-1 if m.group("sign") == "-" else 1)
    if n <= 0:
        raise Usage("目标数要大于 0")
    if deadline is None:
        raise Usage("请写截止日期，如“截止 6月30日”")
    for word, what in ((deadline, "截止日期"), (start, "开始日期")):
        if word is not None and parse_day(word, _FORM_CHECK_DAY) is None:
            raise Usage(f"看不懂{what}“{word}”，请写成 6月30日 或 2019-06-30")
    return TargetArgs(task, n, deadline, start)


def check_target(ctx: Ctx) -> str | None:
    """HQ, or a cadre on a unit strictly above this group's unit."""
    denied = setter_denied(ctx.session, ctx.unit, ctx.person.id, ctx.roles)
    return W.setter_denied_text(denied) if denied is not None else None


def run_target(ctx: Ctx, args: TargetArgs) -> None:
    unit = ctx.require_unit()
    try:
        result = set_unit_target(
            ctx.session, ctx.config, unit, args.task, args.amount, args.start, args.deadline,
            ctx.person.id, ctx.now, ctx.zone,
        )
    except UnknownTask as e:
        raise Usage(W.unknown_task(e)) from None
    except BadDate:
        raise Usage(W.BAD_DATE) from None
    except ProgressError as e:
        raise Refusal(str(e)) from None
    t = result.change.target
    ctx.audit("target", unit=unit.id, task=result.task, amount=t.amount, start=t.start,
              deadline=t.deadline, previous=result.change.previous)
    ctx.reply(W.target_set_text(result))
