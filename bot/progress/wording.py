"""The words of the progress area: reply and message text as pure functions of the
result objects the domain returns (no session, no queries)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.progress.errors import ReportRefused, UnknownTask
from bot.progress.figures import Figures

if TYPE_CHECKING:
    from bot.progress.reports import (
        Flag,
        Overview,
        Recorded,
        UnreportedItem,
        UnreportedList,
        Withdrawn,
    )
    from bot.progress.targets import DeadlineDue, SetterDenied, TargetSet

FLAG_HEAD = "【数据核实】"
BAD_DATE = "日期不对，请写成 6月30日 或 2019-06-30"


def day(d: date) -> str:
    return f"{d.month}月{d.day}日"


def when(t: datetime, zone: ZoneInfo) -> str:
    local = t.astimezone(zone)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def lead_words(lead_pct: int) -> str:
    if lead_pct > 0:
        return f"超前 {lead_pct} 个百分点"
    if lead_pct < 0:
        return f"滞后 {-lead_pct} 个百分点"
    return "与序时进度持平"


def describe(task: str, unit_word: str, fig: Figures) -> str:
    """'危房改造 42/50 处（84%），序时进度 70%，超前 14 个百分点' (without the task
    name when `task` is empty)."""
    return (f"{task + ' ' if task else ''}{fig.done}/{fig.target} {unit_word}"
            f"（{fig.completion_pct}%），序时进度 {fig.schedule_pct}%，{lead_words(fig.lead_pct)}")


def unknown_task(e: UnknownTask) -> str:
    return f"没有“{e.word}”这项任务。任务有：{'、'.join(e.known)}"


# -- #进度 -------------------------------------------------------------------------------


def recorded_text(unit: str, rec: Recorded) -> str:
    m = rec.measure
    verb = "已更正" if rec.report.correction else "已记录"
    text = f"{verb} {unit} {describe(rec.report.task, m, rec.figures)}"
    if rec.report.correction:
        text += f"（原为 {rec.previous} {m}）"
    if rec.as_of is not None:  # see bot.progress.intake: recorded on the message's day
        text += f"（截至{day(rec.as_of)}的数，记为{day(rec.report.report_date)}的进度）"
    over = rec.report.figure - rec.target.amount
    if over > 0:
        text += f"；超出目标 {over} {m}，请核实"
    return text


def refused_text(e: ReportRefused) -> str:
    """Every bad line of a report; with several lines, each named and a closing word."""
    many = e.lines > 1
    out = []
    for n, err in e.refused:
        prefix = f"第{n}行：" if many else ""
        out.append(prefix + (unknown_task(err) if isinstance(err, UnknownTask) else str(err)))
    if many:
        out.append("本条消息都没有记录，请改正后整条重发")
    return "\n".join(out)


def flag_text(f: Flag) -> str:
    """A data-quality note for the supervising groups."""
    m = f.measure
    if f.kind == "correction":
        return f"{FLAG_HEAD}{f.unit} {f.task} 从 {f.previous} {m}更正为 {f.figure} {m}（{f.who}报）"
    if f.kind == "over":
        return (f"{FLAG_HEAD}{f.unit} {f.task} 报 {f.figure} {m}，超过目标 "
                f"{f.target} {m}（{f.who}报）")
    return f"{FLAG_HEAD}{f.unit} {f.task} 连续 {f.run} 次报送都是 {f.figure} {m}，没有进展"


# -- #撤回 -------------------------------------------------------------------------------


def withdrawn_text(w: Withdrawn, zone: ZoneInfo) -> str:
    lines = []
    for item in w.items:
        r = item.report
        head = f"已撤回 {when(r.reported_at, zone)} 报的 {r.task} {r.figure} {item.measure}"
        if item.figures is not None:
            lines.append(f"{head}；现在 {w.unit} {describe(r.task, item.measure, item.figures)}")
        else:
            lines.append(f"{head}；{w.unit} {r.task} 现在没有报送")
    return "\n".join(lines)


# -- #目标 -------------------------------------------------------------------------------


def target_set_text(r: TargetSet) -> str:
    t, m = r.change.target, r.measure
    span = f"{day(t.start)}开始，{day(t.deadline)}截止"
    if r.change.previous is None:
        text = f"已设定 {r.unit} {r.task} 目标 {t.amount} {m}，{span}"
    else:
        amount, s, d = r.change.previous
        text = (f"已修改 {r.unit} {r.task} 目标为 {t.amount} {m}，{span}"
                f"（原为 {amount} {m}，{day(s)}至{day(d)}）")
    if r.rolled_up:
        text += f"\n下级单位已有{r.task}目标，本单位的进度按下级汇总"
    elif r.figures is not None:
        text += f"\n目前 {describe('', m, r.figures)}"
    return text


def setter_denied_text(d: SetterDenied) -> str:
    if d.own_cadre:
        return (f"干部不能给本单位设定目标。#目标 需要指挥部权限，或上级单位"
                f"{f'（{d.parent}及以上）' if d.parent is not None else ''}的干部权限")
    return "#目标 需要指挥部权限，或上级单位的干部权限"


# -- #进度查询 ---------------------------------------------------------------------------


def _sub_line(name: str, f: Figures) -> str:
    return f"{name} {f.done}/{f.target}（{f.completion_pct}%），{lead_words(f.lead_pct)}" + (
        "" if f.reported_units > 0 else "，还没有报送"
    )


def overview_text(o: Overview) -> str:
    if not o.sections:
        return f"{o.unit}还没有设定任务目标"
    out = []
    for s in o.sections:
        fig = s.figures
        if fig is None:
            out.append(f"{o.unit}还没有{s.task}的目标")
        elif not s.subs:
            status = f"（{day(fig.reported_on)}报）" if fig.reported_on else "（还没有报送）"
            out.append(f"{o.unit} {describe(s.task, s.measure, fig)}{status}")
        else:
            lines = [f"{o.unit} {describe(s.task, s.measure, fig)}，下级{len(s.subs)}个单位："]
            lines += ["· " + _sub_line(name, f) for name, f in s.subs]
            out.append("\n".join(lines))
    return "\n".join(out)


# -- #未报 and the weekly chase ------------------------------------------------------------


def unreported_text(r: UnreportedList, limit: int = 60) -> str:
    """The list of units that have not reported this week, as a reply or a message."""
    since = f"本周（{day(r.since)}起）"
    items = r.items
    if not items:
        if not r.has_targets:
            return f"{r.root}还没有设定任务目标"
        return f"{since}{r.root if r.root_is_village else r.root + '各单位'}都已报送进度"
    if len(items) == 1 and items[0].is_root:
        return f"{since}{r.root}还没有报送：{'、'.join(items[0].tasks)}"
    lines = [f"{since}还有 {len(items)} 个单位没有报送进度："]
    for item in items[:limit]:
        lines.append(f"{item.label}（{'、'.join(item.tasks)}）")
    if len(items) > limit:
        lines.append(f"……等共 {len(items)} 个单位")
    return "\n".join(lines)


def chase_text(item: UnreportedItem) -> str:
    """The reminder to a unit's own groups that it has not reported this week."""
    return (f"【进度提醒】{item.unit.name}本周还没有报送 {'、'.join(item.tasks)} 的进度，"
            f"请干部发送“#进度 {item.tasks[0]} 累计完成数”")


def deadline_text(d: DeadlineDue) -> str:
    return f"【截止提醒】{d.unit.name} {_deadline_line(d)}"


def deadlines_text(dues: list[DeadlineDue]) -> str:
    """One unit's reminders due at one time, as one message (one line per task)."""
    if len(dues) == 1:
        return deadline_text(dues[0])
    lines = "\n".join(f"· {_deadline_line(d)}" for d in dues)
    return f"【截止提醒】{dues[0].unit.name} {len(dues)} 项任务临近截止：\n{lines}"


def _deadline_line(d: DeadlineDue) -> str:
    m, fig = d.measure, d.figures
    head = f"{d.task} 还有 {d.days} 天截止（{day(d.deadline)}）"
    if fig is None:
        return head
    if fig.done >= fig.target:
        return f"{head}：已完成 {fig.done}/{fig.target} {m}，完成目标"
    return f"{head}：目前 {describe('', m, fig)}，还差 {fig.target - fig.done} {m}"
