"""The rankings' words: bulletins, `#排名` and `#积分排名` replies, as pure functions of
the data objects (`Bulletin`, `Standing`, `PointsStanding`); nothing here reads the
database."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from bot.models.core import OrgUnit
from bot.points import VillageActivity
from bot.progress import day, lead_words
from bot.rankings.bulletin import Bulletin, Section
from bot.rankings.kinds import bulletin_kind
from bot.rankings.ranking import (
    COMPOSITE,
    PACE_WINDOW,
    POINTS_HEAD,
    RANKING_LEVELS,
    Forecast,
    NothingToRank,
    NoVillages,
    PointsStanding,
    Ranked,
    Standing,
    UnknownTask,
    common_schedule,
)

_CN = "零一二三四五六七八九十"


def cn_number(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十; larger ones as digits."""
    if 1 <= n <= 10:
        return _CN[n]
    if n < 20:
        return "十" + _CN[n - 10]
    if n < 100:
        return _CN[n // 10] + "十" + (_CN[n % 10] if n % 10 else "")
    return str(n)


def date_text(d: date, today: date) -> str:
    return day(d) if d.year == today.year else f"{d.year}年{day(d)}"


def forecast_text(fc: Forecast, on: date, ahead: bool = False) -> str:
    """Where the recent pace leads: '按近两周进度预计7月4日完成，超期4天'. For a unit
    ahead of (or on) schedule it is a risk, not a verdict: '…，有超期4天的风险'."""
    # The pace is of the last two weeks, or (a shorter history) since the task started.
    span = "近两周" if fc.window_days == PACE_WINDOW.days else "任务开始以来"
    if fc.finish is None:
        if fc.overdue_days:
            return f"{span}没有进展，已超期{fc.overdue_days}天"
        return f"{span}没有进展，{'有无法按期完成的风险' if ahead else '按当前进度无法按期完成'}"
    when = f"按{span}{'的' if fc.window_days != PACE_WINDOW.days else ''}进度预计{date_text(fc.finish, on)}完成"
    if ahead:
        return f"{when}，有超期{fc.overdue_days}天的风险"
    return f"{when}，超期{fc.overdue_days}天"


def stale_mark(stale_on: date, on: date) -> str:
    """'本周未报（数据截至5月31日）': the figure ranked is not this week's."""
    return f"本周未报（数据截至{date_text(stale_on, on)}）"


def streak_mark(kind: str, streak: int) -> str:
    """'末位', or '连续3周末位' for the `kind` bulletin (WEEK, MONTH)."""
    if streak < 2:
        return "末位"
    return f"连续{streak}{bulletin_kind(kind).streak_word}末位"


def rank_line(r: Ranked, unit_word: str, *, show_schedule: bool, label: str | None = None,
              mark: str | None = None, extra: str = "", total_tasks: int = 0) -> str:
    """'2. 官儿乡【末位】10/50 处，完成 20%，序时 50%，滞后 30 个百分点'."""
    e = r.entry
    stale = stale_mark(e.stale_on, e.fig.on if e.fig else e.stale_on) if e.stale_on else ""
    marks = [m for m in ("" if e.reported else "未报送", stale,
                         mark or ("末位" if r.last else "")) if m]
    name = (label or e.unit.name) + (f"【{'，'.join(marks)}】" if marks else "")
    body = f"{e.fig.done}/{e.fig.target} {unit_word}，" if e.fig is not None else ""
    body += f"完成 {e.completion_pct}%"
    if show_schedule:
        body += f"，序时 {e.schedule_pct}%"
    body += f"，{lead_words(e.lead_pct)}"
    if e.fig is None and total_tasks and e.tasks != total_tasks:
        body += f"（{e.tasks}项）"
    return f"{r.rank}. {name} {body}{extra}"


def section_head(sec: Section) -> str:
    """'危房改造（序时进度 67%）' when every unit shares the 序时进度, else the task."""
    common = common_schedule(sec.ranked)
    return f"{sec.task}（序时进度 {common}%）" if common is not None else sec.task


def section_lines(sec: Section, kind: str, on: date) -> list[str]:
    common = common_schedule(sec.ranked)
    lines = [section_head(sec)]
    for r in sec.ranked:
        uid = r.unit.id or 0
        fc = sec.forecasts.get(uid)
        mark = streak_mark(kind, sec.streaks.get(uid, 1)) if r.last else None
        ahead = r.entry.lead_pct >= 0
        # Ahead of schedule but too slow lately: said as a risk, after a 但.
        extra = f"；{'但' if ahead else ''}{forecast_text(fc, on, ahead)}" if fc else ""
        lines.append(rank_line(r, sec.measure, show_schedule=common is None, mark=mark,
                               extra=extra))
    return lines


def per_household(a: VillageActivity) -> str:
    return f"{a.per_household:.1f}"


# -- bulletins -------------------------------------------------------------------------


def bulletin_text(b: Bulletin) -> str:
    k = b.kind
    as_of = f"{k.as_of}{day(b.on)}"
    lines = [f"【{k.title}】{b.scope.name}{k.span(b.period)}进度排名（{as_of}）"]
    many = len(b.sections) > 1
    for i, sec in enumerate(b.sections, start=1):
        sl = section_lines(sec, k.name, b.on)
        lines.append(f"{cn_number(i)}、{sl[0]}" if many else sl[0])
        lines += sl[1:]
    if k.review:
        lines.append(explain_text(b))
        if b.activity:
            lines.append(activity_text(b))
    return "\n".join(lines)


def explain_text(b: Bulletin) -> str:
    """The units that must explain themselves at the meeting: 末位 and behind schedule."""
    reasons: dict[int, list[str]] = defaultdict(list)
    units: dict[int, OrgUnit] = {}
    for sec in b.sections:
        for r in sec.ranked:
            uid = r.unit.id or 0
            why = []
            if r.last:
                why.append(streak_mark(b.kind.name, sec.streaks.get(uid, 1)))
            if r.behind:
                why.append(f"滞后 {-r.entry.lead_pct} 个百分点")
            if why:
                reasons[uid].append(f"{sec.task}{'，'.join(why)}")
                units[uid] = r.unit
    if not reasons:
        return "本月没有滞后或末位的单位"
    parts = [f"{units[uid].name}（{'；'.join(rs)}）" for uid, rs in reasons.items()]
    return "请以下单位在月度例会上说明情况：" + "、".join(parts)


def activity_text(b: Bulletin, top: int = 3, idle_names: int = 10) -> str:
    """The villages' points activity of the month: the most active, and those idle."""
    label = b.labels
    active = [a for a in b.activity if a.awarded > 0]
    idle = [a for a in b.activity if a.awarded <= 0]
    head = f"爱心积分（{b.period.month}月，按户均加分）："
    if not active:
        return f"{head}各村本月都没有加分记录"
    best = "、".join(f"{label[a.village.id or 0]} {per_household(a)}分" for a in active[:top])
    text = f"{head}前{min(top, len(active))}名 {best}"
    text += f"；共加 {sum(a.awarded for a in b.activity)} 分、扣 {sum(a.deducted for a in b.activity)} 分"
    if idle:
        shown = "、".join(label[a.village.id or 0] for a in idle[:idle_names])
        more = "等" if len(idle) > idle_names else ""
        text += f"；没有加分的村 {len(idle)} 个：{shown}{more}"
    return text


# -- #排名 and #积分排名 ---------------------------------------------------------------------


def standing_text(st: Standing) -> str:
    if st.composite:
        lines = [f"{st.scope} {COMPOSITE}排名（{day(st.on)}，{'、'.join(st.tasks)} {len(st.tasks)} 项任务平均）："]
        lines += [rank_line(r, "", show_schedule=True, total_tasks=len(st.tasks)) for r in st.ranked]
        lines.append(f"分任务排名请发：#排名 {st.tasks[0]}")
        return "\n".join(lines)
    common = common_schedule(st.ranked)
    sched = f"，序时进度 {common}%" if common is not None else ""
    lines = [f"{st.scope} {st.tasks[0]}排名（{day(st.on)}{sched}）："]
    lines += [rank_line(r, st.measure, show_schedule=common is None) for r in st.ranked]
    behind = [r.unit.name for r in st.ranked if r.behind]
    if behind:
        lines.append(f"滞后 {len(behind)} 个：{'、'.join(behind)}")
    return "\n".join(lines)


def points_standing_text(ps: PointsStanding) -> str:
    rows, shown = ps.rows, ps.shown
    span = f"{day(ps.first)}—{day(ps.today)}" if ps.today.day > 1 else day(ps.first)
    lines = [f"{ps.scope} {ps.first.month}月积分排名（按户均加分，{span}）："]
    for i, (r, a) in enumerate(shown):
        if len(shown) < len(rows) and i == POINTS_HEAD:
            lines.append(f"……（共 {len(rows)} 个村）")
        detail = f"加 {a.awarded} 分" + (f"，扣 {a.deducted} 分" if a.deducted else "")
        hh = f"，{a.households} 户" if a.households else "，未登记农户"
        lines.append(f"{r}. {ps.labels[a.village.id or 0]} 户均 {per_household(a)} 分（{detail}{hh}）")
    if not any(a.awarded for _, a in rows):
        lines.append("本月各村还没有加分记录")
    return "\n".join(lines)


# -- refusals ----------------------------------------------------------------------------


def wrong_level(command: str, hint: str) -> str:
    return f"#{command} 只能在{'/'.join(RANKING_LEVELS)}级的群里使用{hint}"


def unknown_task(e: UnknownTask) -> str:
    return f"没有“{e.typed}”这项任务。任务有：{e.known}"


def nothing_to_rank(e: NothingToRank) -> str:
    if e.task is not None:
        return f"{e.scope}的下级单位还没有{e.task}的目标，无法排名"
    return f"{e.scope}的下级单位还没有设定任务目标，无法排名"


def no_villages(e: NoVillages) -> str:
    return f"{e.scope}下面还没有村"
