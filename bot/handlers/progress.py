"""Targets and progress reports: #目标, #进度, #撤回, #进度查询, #未报."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.models.core import OrgUnit
from bot.org import CADRE, HQ, roles_at, supervising_rooms
from bot.progress import (
    ProgressError,
    Recorded,
    day,
    describe,
    find_task,
    has_targets_below,
    latest_report,
    lead_words,
    measure,
    parse_day,
    record_report,
    set_target,
    sub_unit_figures,
    task_names,
    tasks_with_targets,
    unit_figures,
    unreported_text,
    unreported_units,
    when,
    withdraw_last,
)
from bot.router import Command, Ctx, Refusal, Usage
from bot.text import Args, numerals_to_digits, split_words

_MEASURES = "处户个座家项件套间栋所人亩"
_AMOUNT = re.compile(rf"^(?P<sign>[+-])?(?P<n>\d+)[{_MEASURES}]?(?:/(?P<of>\d+)[{_MEASURES}]?)?$")
_CORRECTION = ("更正", "修正", "纠正", "改正")
_FILLER = ("累计完成", "已完成", "累计", "完成", "共计")
_LINES = re.compile(r"[\n;；]+")
# Later lines of a report may repeat the command word.
_REPEATED = re.compile(r"^[#＃]?\s*(?:进度报送|报进度|进度)(?!查询)\s*")


def _amount(text: str) -> re.Match[str] | None:
    return _AMOUNT.match(numerals_to_digits(text))


def _joined(words: list[str], prefix: str, what: str) -> str:
    """The amount's words as one ('42 / 50 处' → '42/50处'); two numbers side by side
    ('42 50') are refused rather than read as 4250."""
    for a, b in zip(words, words[1:], strict=False):
        if a[-1:].isdigit() and b[:1].isdigit():
            raise Usage(f"{prefix}“{a} {b}”是两个数，{what}只写一个，如 42 或 42/50")
    return "".join(words)


def _unknown_task(ctx: Ctx, word: str) -> str:
    return f"没有“{word}”这项任务。任务有：{task_names(ctx.config)}"


def _task(ctx: Ctx, word: str) -> str:
    task = find_task(ctx.config, word)
    if task is None:
        raise Usage(_unknown_task(ctx, word))
    return task.name


# -- #进度 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportLine:
    task: str  # as typed; resolved against the config when run
    value: int
    add: bool  # '+5': added to the last figure
    of: int | None  # '42/50': the target as the reporter knows it
    correction: bool


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
    if _amount(words[0]) and len(words) > 1:  # '42 危房改造'
        words = [*words[1:], words[0]]
    task, rest = words[0], _joined(words[1:], prefix, "完成数")
    if _amount(task):
        raise Usage(f"{prefix}请先写任务名称")
    if not rest:  # '危房改造四十二处': the shortest task name followed by an amount
        for i in range(1, len(task)):
            if not any(ch.isdigit() for ch in task[:i]) and _amount(
                _strip_filler(task[i:], front=True)
            ):
                task, rest = task[:i], task[i:]
                break
    task, rest = _strip_filler(task, front=False), _strip_filler(rest, front=True)
    if not rest:
        raise Usage(f"{prefix}“{task}”后面要写累计完成数")
    m = _amount(rest)
    if m is None:
        raise Usage(f"{prefix}看不懂“{rest}”：完成数要写整数，如 42、+5 或 42/50")
    if m.group("sign") == "-":
        raise Usage(
            f"{prefix}完成数不能是负数；如上次报多了，请加“更正”重报，如 #进度 {task} 30 更正"
        )
    of = m.group("of")
    return ReportLine(task, int(m.group("n")), m.group("sign") == "+",
                      int(of) if of is not None else None, correction)  # fmt: skip


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


def _recorded_text(ctx: Ctx, unit: OrgUnit, rec: Recorded) -> str:
    m = measure(ctx.config, rec.report.task)
    verb = "已更正" if rec.report.correction else "已记录"
    text = f"{verb} {unit.name} {describe(rec.report.task, m, rec.figures)}"
    if rec.report.correction:
        text += f"（原为 {rec.previous} {m}）"
    over = rec.report.figure - rec.target.amount
    if over > 0:
        text += f"；超出目标 {over} {m}，请核实"
    return text


def run_report(ctx: Ctx, args: ReportArgs) -> None:
    unit = ctx.require_unit()
    many = len(args.lines) > 1
    done: list[Recorded] = []
    errors: list[str] = []
    for i, line in enumerate(args.lines, start=1):
        prefix = f"第{i}行：" if many else ""
        task = find_task(ctx.config, line.task)
        if task is None:
            if not many:
                raise Usage(_unknown_task(ctx, line.task))  # the reply shows an example
            errors.append(prefix + _unknown_task(ctx, line.task))
            continue
        try:
            done.append(record_report(
                ctx.session, unit, task, value=line.value, add=line.add, of=line.of,
                correction=line.correction, reporter=ctx.person.id,
                reporter_name=ctx.person.name, room_id=ctx.msg.room, msg_id=ctx.msg.id,
                now=ctx.now, zone=ctx.zone,
            ))  # fmt: skip
        except ProgressError as e:
            errors.append(prefix + str(e))
    if errors:
        # One message is one report: a bad line leaves the whole message unrecorded, so
        # that sending it again, corrected, records each line once.
        if many:
            errors.append("本条消息都没有记录，请改正后整条重发")
        raise Refusal("\n".join(errors))
    ctx.reply("\n".join(_recorded_text(ctx, unit, rec) for rec in done))
    rooms = supervising_rooms(ctx.session, unit)
    for rec in done:
        ctx.audit("report", unit=unit.id, task=rec.report.task, figure=rec.report.figure,
                  previous=rec.previous, correction=rec.report.correction)  # fmt: skip
        for flag in rec.flags:
            for room in rooms:
                ctx.send(room.id, flag, kind="flag")


# -- #目标 -------------------------------------------------------------------------------

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
    task, amount_text = rest[0], _joined(rest[1:], "", "目标数")
    if not amount_text:  # '危房改造50处'
        for j in range(1, len(task)):
            if not any(ch.isdigit() for ch in task[:j]) and _amount(task[j:]):
                task, amount_text = task[:j], task[j:]
                break
    if not amount_text:
        raise Usage(f"“{task}”后面要写目标数")
    m = _amount(amount_text)
    if m is None or m.group("of") is not None:
        raise Usage(f"看不懂目标数“{amount_text}”，要写整数")
    amount = int(m.group("n")) * (-1 if m.group("sign") == "-" else 1)
    if amount <= 0:
        raise Usage("目标数要大于 0")
    if deadline is None:
        raise Usage("请写截止日期，如“截止 6月30日”")
    for word, what in ((deadline, "截止日期"), (start, "开始日期")):
        if word is not None and parse_day(word, _FORM_CHECK_DAY) is None:
            raise Usage(f"看不懂{what}“{word}”，请写成 6月30日 或 2019-06-30")
    return TargetArgs(task, amount, deadline, start)


def _target_check(ctx: Ctx) -> str | None:
    """HQ, or a cadre on a unit strictly above this group's unit."""
    if ctx.roles.has(HQ) or ctx.unit is None:
        return None
    parent = ctx.session.get(OrgUnit, ctx.unit.parent_id) if ctx.unit.parent_id else None
    if parent is not None and roles_at(ctx.session, ctx.person.id, parent, ()).has(CADRE):
        return None
    if ctx.roles.has(CADRE):
        return (f"干部不能给本单位设定目标。#目标 需要指挥部权限，或上级单位"
                f"{f'（{parent.name}及以上）' if parent else ''}的干部权限")  # fmt: skip
    return "#目标 需要指挥部权限，或上级单位的干部权限"


def run_target(ctx: Ctx, args: TargetArgs) -> None:
    unit = ctx.require_unit()
    task = _task(ctx, args.task)
    today = ctx.local().date()
    deadline = parse_day(args.deadline, today)
    start = parse_day(args.start, today) if args.start is not None else None
    if deadline is None or (args.start is not None and start is None):
        raise Usage("日期不对，请写成 6月30日 或 2019-06-30")
    try:
        change = set_target(ctx.session, unit, task, args.amount, start, deadline,
                            ctx.person.id, ctx.now, ctx.zone)  # fmt: skip
    except ProgressError as e:
        raise Refusal(str(e)) from None
    t, m = change.target, measure(ctx.config, task)
    ctx.audit("target", unit=unit.id, task=task, amount=t.amount, start=t.start,
              deadline=t.deadline, previous=change.previous)  # fmt: skip
    span = f"{day(t.start)}开始，{day(t.deadline)}截止"
    if change.previous is None:
        text = f"已设定 {unit.name} {task} 目标 {t.amount} {m}，{span}"
    else:
        amount, s, d = change.previous
        text = (f"已修改 {unit.name} {task} 目标为 {t.amount} {m}，{span}"
                f"（原为 {amount} {m}，{day(s)}至{day(d)}）")  # fmt: skip
    if has_targets_below(ctx.session, unit, task):
        text += f"\n下级单位已有{task}目标，本单位的进度按下级汇总"
    elif latest_report(ctx.session, unit.id or 0, task) is not None:
        fig = unit_figures(ctx.session, unit, task, today)
        if fig is not None:
            text += f"\n目前 {describe('', m, fig)}"
    ctx.reply(text)


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
        reports = withdraw_last(ctx.session, unit, ctx.person.id, ctx.now, ctx.zone)
    except ProgressError as e:
        raise Refusal(str(e)) from None
    today = ctx.local().date()
    lines = []
    for r in reports:
        m = measure(ctx.config, r.task)
        ctx.audit("withdraw", unit=unit.id, task=r.task, figure=r.figure, report=r.id)
        head = f"已撤回 {when(r.reported_at, ctx.zone)} 报的 {r.task} {r.figure} {m}"
        fig = unit_figures(ctx.session, unit, r.task, today)
        if latest_report(ctx.session, unit.id or 0, r.task) is not None and fig is not None:
            lines.append(f"{head}；现在 {unit.name} {describe(r.task, m, fig)}")
        else:
            lines.append(f"{head}；{unit.name} {r.task} 现在没有报送")
    ctx.reply("\n".join(lines))


# -- #进度查询 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskArg:
    task: str | None


def parse_task_arg(args: Args) -> TaskArg:
    words = args.words()
    if len(words) > 1:
        raise Usage("一次查一项任务，或不写任务查全部")
    return TaskArg(words[0] if words else None)


def _sub_line(name: str, fig_done: int, fig_target: int, c: int, lead: int, reported: bool) -> str:
    return f"{name} {fig_done}/{fig_target}（{c}%），{lead_words(lead)}" + (
        "" if reported else "，还没有报送"
    )


def run_query(ctx: Ctx, args: TaskArg) -> None:
    unit = ctx.require_unit()
    today = ctx.local().date()
    if args.task is not None:
        tasks = [_task(ctx, args.task)]
    else:
        tasks = tasks_with_targets(ctx.session, unit, ctx.config)
        if not tasks:
            ctx.reply(f"{unit.name}还没有设定任务目标")
            return
    sections = []
    for task in tasks:
        m = measure(ctx.config, task)
        fig = unit_figures(ctx.session, unit, task, today)
        if fig is None:
            sections.append(f"{unit.name}还没有{task}的目标")
            continue
        subs = sub_unit_figures(ctx.session, unit, task, today)
        if not subs:
            status = f"（{day(fig.reported_on)}报）" if fig.reported_on else "（还没有报送）"
            sections.append(f"{unit.name} {describe(task, m, fig)}{status}")
            continue
        lines = [f"{unit.name} {describe(task, m, fig)}，下级{len(subs)}个单位："]
        for sub, f in subs:
            lines.append("· " + _sub_line(sub.name, f.done, f.target, f.completion_pct,
                                          f.lead_pct, f.reported_units > 0))  # fmt: skip
        sections.append("\n".join(lines))
    ctx.reply("\n".join(sections))


# -- #未报 -------------------------------------------------------------------------------


def run_unreported(ctx: Ctx, args: TaskArg) -> None:
    unit = ctx.require_unit()
    items = unreported_units(ctx.session, unit, ctx.now, ctx.zone)
    if args.task is not None:
        task = _task(ctx, args.task)
        items = [i for i in items if task in i.tasks]
    ctx.reply(unreported_text(ctx.session, unit, items, ctx.now, ctx.zone))


COMMANDS = (
    Command(
        name="目标", aliases=("设定目标", "下达目标"), summary="设定本单位的任务目标",
        usage="#目标 任务 目标数 截止 日期 [开始 日期]", example="#目标 危房改造 50 截止 6月30日",
        parse=parse_target, run=run_target, roles=(HQ, CADRE), check=_target_check,
        detail="指挥部，或上级单位的干部可用（干部不能给本单位定目标）。不写开始日期就从今天开始；"
               "再设一次就替换原目标（尚未到期的目标保留原来的开始日期）。",
    ),
    Command(
        name="进度", aliases=("报进度", "进度报送"), summary="报送本单位的累计完成数",
        usage="#进度 任务 累计数[/目标数] [更正]", example="#进度 危房改造 42",
        parse=parse_report, run=run_report, roles=(CADRE,),
        detail="累计数写到今天为止一共完成多少；“+5”在上次的数上加5；比上次少要加“更正”。"
               "一条消息可以报几项，每行一项。",
    ),
    Command(
        name="撤回", aliases=("撤回进度",), summary="撤回自己最近一次的进度报送（24小时内）",
        usage="#撤回", example="#撤回", parse=parse_withdraw, run=run_withdraw, roles=(CADRE,),
    ),
    Command(
        name="进度查询", aliases=("查进度", "查询进度", "进度情况"), summary="查看本单位（或下级各单位）的进度",
        usage="#进度查询 [任务]", example="#进度查询 危房改造", parse=parse_task_arg, run=run_query,
    ),
    Command(
        name="未报", aliases=("未报送", "谁没报"), summary="本周还没有报送进度的单位",
        usage="#未报 [任务]", example="#未报", parse=parse_task_arg, run=run_unreported,
        roles=(CADRE, HQ),
    ),
)  # fmt: skip
