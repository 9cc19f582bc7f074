"""Rankings and bulletins (PRODUCT.md §5). Plain functions over a session; they never
commit. Progress figures come from `bot.progress`, points from `bot.points`.

Ranking the direct sub-units of a unit on one task:
- by lead over 序时进度, then by completion — the whole percentages the chat shows, so
  an order can always be read off the lines; units equal on both share a rank (并列)
  and are listed by name;
- a unit behind schedule (lead < 0) is 滞后; the units on the last rank are 末位, when
  there is more than one rank (a lone unit, or all tied, is not last).
Without a task, and with several tasks set, `#排名` gives a composite (综合) ranking:
each sub-unit's completion (capped at 100 %: overshooting one task does not make up for
another) and schedule averaged over the tasks it has targets for, ranked the same way.

Bulletins (weekly and monthly) rank each task separately and store the outcome
(`BulletinRank`), so that a unit last in several bulletins running is named with its
streak; a skipped bulletin (a holiday week, downtime) does not break a streak.
A forecast comes from the pace of the last two weeks (`report_history`): the figure
gained since two weeks before the bulletin's date, extrapolated to the target. When
the unit's first report falls within those two weeks (or the target started then), the
pace is measured from the target's start instead; at least a week is needed to judge.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot import chart
from bot.calendar import at_local
from bot.config import Config
from bot.models.core import OrgUnit, Room
from bot.models.rankings import MONTH, WEEK, BulletinRank
from bot.org import names_of, unit_label
from bot.points import VillageActivity, village_activity
from bot.progress import (
    Figures,
    day,
    lead_words,
    measure,
    pct,
    report_history,
    sub_unit_figures,
    tasks_with_targets,
)

# Levels whose groups get the bulletins, and where #排名 / #积分排名 work.
BULLETIN_LEVELS = ("市", "县")
RANKING_LEVELS = ("市", "县", "乡")
PACE_WINDOW = timedelta(days=14)
MIN_PACE_DAYS = 7
MAX_STREAK = 104  # bulletins looked back on
COMPOSITE = "综合"


# -- ranking -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One sub-unit's standing: one task's figures, or a composite of several tasks."""

    unit: OrgUnit
    completion_pct: int
    schedule_pct: int
    lead_pct: int
    fig: Figures | None = None  # the task's figures (None in the composite)
    tasks: int = 1  # tasks averaged in the composite

    @property
    def reported(self) -> bool:
        return self.fig is None or self.fig.reported_units > 0


@dataclass(frozen=True)
class Ranked:
    rank: int
    entry: Entry
    last: bool  # 末位

    @property
    def unit(self) -> OrgUnit:
        return self.entry.unit

    @property
    def behind(self) -> bool:  # 滞后
        return self.entry.lead_pct < 0


def _key(e: Entry) -> tuple[int, int]:
    return (-e.lead_pct, -e.completion_pct)


def rank(entries: Iterable[Entry]) -> list[Ranked]:
    """Best first, as the module doc says: competition ranks (1, 2, 2, 4)."""
    ordered = sorted(entries, key=lambda e: (*_key(e), e.unit.name, e.unit.id or 0))
    ranks: list[int] = []
    for i, e in enumerate(ordered):
        ranks.append(ranks[-1] if i and _key(e) == _key(ordered[i - 1]) else i + 1)
    has_last = len(set(ranks)) > 1
    return [Ranked(r, e, has_last and r == ranks[-1]) for r, e in zip(ranks, ordered, strict=True)]


def task_ranking(session: Session, scope: OrgUnit, task: str, on: date) -> list[Ranked]:
    """The direct sub-units of `scope` with a target for `task`, ranked on `on`."""
    return rank(
        Entry(u, f.completion_pct, f.schedule_pct, f.lead_pct, f)
        for u, f in sub_unit_figures(session, scope, task, on)
    )


def composite_ranking(session: Session, scope: OrgUnit, tasks: Sequence[str], on: date
                      ) -> list[Ranked]:  # fmt: skip
    figs: dict[int, list[Figures]] = defaultdict(list)
    units: dict[int, OrgUnit] = {}
    for task in tasks:
        for u, f in sub_unit_figures(session, scope, task, on):
            figs[u.id or 0].append(f)
            units[u.id or 0] = u
    return rank(composite_entry(units[uid], fs) for uid, fs in figs.items())


def composite_entry(unit: OrgUnit, figs: Sequence[Figures]) -> Entry:
    """The unit's completion (each task capped at 100 %) and schedule averaged over its
    tasks, exactly, then rounded like any other percentage."""
    n = len(figs)
    c = pct(sum((min(f.exact_completion, Fraction(1)) for f in figs), Fraction(0)) / n)
    s = pct(sum((f.exact_schedule for f in figs), Fraction(0)) / n)
    return Entry(unit, c, s, c - s, None, n)


# -- forecasts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    finish: date | None  # None: no progress in the window
    overdue_days: int  # days past the deadline (at `finish`, or already, without one)
    window_days: int


def figure_on(history: Sequence[tuple[date, int]], when: date) -> int:
    """The figure at the end of `when` in a `report_history` (0 before the first)."""
    figure = 0
    for d, f in history:
        if d > when:
            break
        figure = f
    return figure


def forecast(history: Sequence[tuple[date, int]], fig: Figures, on: date) -> Forecast | None:
    """Where the recent pace leads, if it misses the deadline; None when on course,
    done, or with less than a week to judge by."""
    if fig.done >= fig.target:
        return None
    since = max(on - PACE_WINDOW, fig.start)
    if not any(d <= since for d, _ in history):
        # The first report falls in the window: it holds all the work since the start.
        since = fig.start
    days = (on - since).days
    if days < MIN_PACE_DAYS:
        return None
    gained = fig.done - figure_on(history, since)
    if gained <= 0:
        return Forecast(None, max(0, (on - fig.deadline).days), days)
    finish = on + timedelta(days=math.ceil((fig.target - fig.done) * days / gained))
    if finish <= fig.deadline:
        return None
    return Forecast(finish, (finish - fig.deadline).days, days)


def date_text(d: date, today: date) -> str:
    return day(d) if d.year == today.year else f"{d.year}年{day(d)}"


def forecast_text(fc: Forecast, on: date) -> str:
    if fc.finish is None:
        span = "近两周" if fc.window_days == 14 else f"近{fc.window_days}天"
        over = f"，已超期{fc.overdue_days}天" if fc.overdue_days else "，按当前进度无法按期完成"
        return f"{span}没有进展{over}"
    return f"按当前进度预计{date_text(fc.finish, on)}完成，超期{fc.overdue_days}天"


# -- bulletin outcomes and streaks ---------------------------------------------------


def record_outcome(session: Session, kind: str, period: date, scope: OrgUnit, task: str,
                   ranked: Sequence[Ranked], now: datetime) -> None:  # fmt: skip
    """Store a published ranking (replacing one stored for the same period)."""
    session.execute(
        delete(BulletinRank).where(
            col(BulletinRank.kind) == kind, col(BulletinRank.scope_id) == scope.id,
            col(BulletinRank.task) == task, col(BulletinRank.period) == period,
        )  # fmt: skip
    )
    for r in ranked:
        e = r.entry
        session.add(BulletinRank(
            kind=kind, period=period, scope_id=scope.id or 0, task=task, unit_id=r.unit.id or 0,
            rank=r.rank, last=r.last, behind=r.behind, done=e.fig.done if e.fig else 0,
            target=e.fig.target if e.fig else 0, completion_pct=e.completion_pct,
            schedule_pct=e.schedule_pct, lead_pct=e.lead_pct, created_at=now,
        ))  # fmt: skip
    session.flush()


def last_streak(session: Session, kind: str, scope_id: int, task: str, unit_id: int,
                period: date) -> int:  # fmt: skip
    """How many stored bulletins of this ranking in a row, up to `period`, named the
    unit last (0 if the one of `period` did not)."""
    periods = session.exec(
        select(col(BulletinRank.period))
        .where(BulletinRank.kind == kind, BulletinRank.scope_id == scope_id,
               BulletinRank.task == task, col(BulletinRank.period) <= period)
        .distinct()
        .order_by(col(BulletinRank.period).desc())
        .limit(MAX_STREAK)
    ).all()  # fmt: skip
    if not periods:
        return 0
    mine: dict[date, bool] = dict(session.exec(
        select(col(BulletinRank.period), col(BulletinRank.last))
        .where(BulletinRank.kind == kind, BulletinRank.scope_id == scope_id,
               BulletinRank.task == task, BulletinRank.unit_id == unit_id,
               col(BulletinRank.period) <= period, col(BulletinRank.period) >= periods[-1])
    ).all())  # fmt: skip
    n = 0
    for p in periods:
        if not mine.get(p):
            break
        n += 1
    return n


# -- bulletins ---------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    task: str
    measure: str
    ranked: list[Ranked]
    streaks: dict[int, int] = field(default_factory=dict)  # unit id → bulletins last in a row
    forecasts: dict[int, Forecast] = field(default_factory=dict)  # unit id → forecast


@dataclass(frozen=True)
class Bulletin:
    kind: str  # WEEK or MONTH
    scope: OrgUnit
    period: date  # the week's Monday, the month's 1st
    on: date  # the date measured on
    sections: list[Section]
    activity: list[VillageActivity]  # monthly: the villages' points in the month


def month_bounds(first: date, config: Config) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar month starting `first`, as aware datetimes."""
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return at_local(first, time(0), config.zone), at_local(nxt, time(0), config.zone)


def build_bulletin(session: Session, config: Config, scope: OrgUnit, kind: str, period: date,
                   on: date, now: datetime, store: bool = True) -> Bulletin | None:  # fmt: skip
    """The bulletin for `scope`'s group: each task's ranking of its sub-units on `on`,
    with streaks and forecasts; with `store`, the outcome is recorded first (the
    bulletin is being published). None when no sub-unit has a target."""
    sections = []
    for task in tasks_with_targets(session, scope, config):
        ranked = task_ranking(session, scope, task, on)
        if not ranked:
            continue
        if store:
            record_outcome(session, kind, period, scope, task, ranked, now)
        streaks = {r.unit.id or 0: last_streak(session, kind, scope.id or 0, task,
                                               r.unit.id or 0, period)
                   for r in ranked if r.last}  # fmt: skip
        forecasts = {}
        for r in ranked:
            fig = r.entry.fig
            if fig is None or not r.entry.reported:
                continue
            fc = forecast(report_history(session, r.unit, task), fig, on)
            if fc is not None:
                forecasts[r.unit.id or 0] = fc
        sections.append(Section(task, measure(config, task), ranked, streaks, forecasts))
    if not sections:
        return None
    activity: list[VillageActivity] = []
    if kind == MONTH:
        activity = village_activity(session, scope, *month_bounds(period, config))
    return Bulletin(kind, scope, period, on, sections, activity)


def bulletin_scopes(session: Session, with_rooms: bool = True) -> list[OrgUnit]:
    """The HQ and county units (those with a group: where bulletins go), in tree order."""
    q = select(OrgUnit).where(col(OrgUnit.level).in_(BULLETIN_LEVELS))
    if with_rooms:
        q = q.where(col(OrgUnit.id).in_(select(Room.unit_id).where(col(Room.unit_id).is_not(None))))
    units = session.exec(q).all()
    return sorted(units, key=lambda u: [int(p) for p in u.path.strip("/").split("/") if p])


# -- wording -----------------------------------------------------------------------

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


def common_schedule(ranked: Sequence[Ranked]) -> int | None:
    """The 序时进度 every unit shares, if they do (then lines need not repeat it)."""
    values = {r.entry.schedule_pct for r in ranked}
    return values.pop() if len(values) == 1 else None


def streak_mark(kind: str, streak: int) -> str:
    if streak < 2:
        return "末位"
    return f"连续{streak}{'周' if kind == WEEK else '个月'}末位"


def rank_line(r: Ranked, unit_word: str, *, show_schedule: bool, label: str | None = None,
              mark: str | None = None, extra: str = "", total_tasks: int = 0) -> str:  # fmt: skip
    """'2. 官儿乡【末位】10/50 处，完成 20%，序时 50%，滞后 30 个百分点'."""
    e = r.entry
    marks = [m for m in ("" if e.reported else "未报送", mark or ("末位" if r.last else "")) if m]
    name = (label or e.unit.name) + (f"【{'，'.join(marks)}】" if marks else "")
    body = f"{e.fig.done}/{e.fig.target} {unit_word}，" if e.fig is not None else ""
    body += f"完成 {e.completion_pct}%"
    if show_schedule:
        body += f"，序时 {e.schedule_pct}%"
    body += f"，{lead_words(e.lead_pct)}"
    if e.fig is None and total_tasks and e.tasks != total_tasks:
        body += f"（{e.tasks}项）"
    return f"{r.rank}. {name} {body}{extra}"


def section_lines(sec: Section, kind: str, on: date) -> list[str]:
    common = common_schedule(sec.ranked)
    head = f"{sec.task}（序时进度 {common}%）" if common is not None else sec.task
    lines = [head]
    for r in sec.ranked:
        uid = r.unit.id or 0
        fc = sec.forecasts.get(uid)
        mark = streak_mark(kind, sec.streaks.get(uid, 1)) if r.last else None
        lines.append(rank_line(r, sec.measure, show_schedule=common is None, mark=mark,
                               extra="；" + forecast_text(fc, on) if fc else ""))  # fmt: skip
    return lines


def per_household(a: VillageActivity) -> str:
    return f"{a.per_household:.1f}"


def bulletin_text(session: Session, b: Bulletin) -> str:
    if b.kind == WEEK:
        lines = [f"【周通报】{b.scope.name}进度排名（{day(b.on)}）"]
    else:
        lines = [f"【月通报】{b.scope.name}{b.period.month}月进度排名（截至{day(b.on)}）"]
    many = len(b.sections) > 1
    for i, sec in enumerate(b.sections, start=1):
        sl = section_lines(sec, b.kind, b.on)
        lines.append(f"{cn_number(i)}、{sl[0]}" if many else sl[0])
        lines += sl[1:]
    if b.kind == MONTH:
        lines.append(explain_text(b))
        if b.activity:
            lines.append(activity_text(session, b))
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
                why.append(streak_mark(b.kind, sec.streaks.get(uid, 1)))
            if r.behind:
                why.append(f"滞后 {-r.entry.lead_pct} 个百分点")
            if why:
                reasons[uid].append(f"{sec.task}{'，'.join(why)}")
                units[uid] = r.unit
    if not reasons:
        return "本月没有滞后或末位的单位"
    parts = [f"{units[uid].name}（{'；'.join(rs)}）" for uid, rs in reasons.items()]
    return "请以下单位在月度例会上说明情况：" + "、".join(parts)


def activity_text(session: Session, b: Bulletin, top: int = 3, idle_names: int = 10) -> str:
    """The villages' points activity of the month: the most active, and those idle."""
    names = names_of(session, [a.village for a in b.activity])
    label = {a.village.id: unit_label(a.village, names, b.scope) for a in b.activity}
    active = [a for a in b.activity if a.awarded > 0]
    idle = [a for a in b.activity if a.awarded <= 0]
    head = f"爱心积分（{b.period.month}月，按户均加分）："
    if not active:
        return f"{head}各村本月都没有加分记录"
    best = "、".join(f"{label[a.village.id]} {per_household(a)}分" for a in active[:top])
    text = f"{head}前{min(top, len(active))}名 {best}"
    text += f"；共加 {sum(a.awarded for a in b.activity)} 分、扣 {sum(a.deducted for a in b.activity)} 分"
    if idle:
        shown = "、".join(label[a.village.id] for a in idle[:idle_names])
        more = "等" if len(idle) > idle_names else ""
        text += f"；没有加分的村 {len(idle)} 个：{shown}{more}"
    return text


# -- charts ------------------------------------------------------------------------


def _bars(ranked: Sequence[Ranked], marks: dict[int, str] | None = None) -> list[chart.Bar]:
    marks = marks or {}
    return [
        chart.Bar(
            f"{r.rank} {r.unit.name}" + (f"（{marks.get(r.unit.id or 0, '末位')}）" if r.last else ""),
            r.entry.lead_pct, chart.signed(r.entry.lead_pct),
            "last" if r.last else "behind" if r.behind else "ahead",
        )  # fmt: skip
        for r in ranked
    ]


LEAD_NOTE = "条长：超前(+)或滞后(-)序时进度的百分点。蓝：超前或持平，橙：滞后，红：末位"


def ranking_chart(title: str, panels: Sequence[tuple[str, Sequence[Ranked]]],
                  traditional: bool = False, marks: Sequence[dict[int, str]] = ()) -> bytes:  # fmt: skip
    """A bar chart of one or more rankings (a panel each), bars = lead over schedule;
    `marks` per panel: what a last unit's label says (unit id → '连续3周末位')."""
    return chart.render(
        title,
        [chart.Panel(t, _bars(rs, marks[i] if i < len(marks) else None))
         for i, (t, rs) in enumerate(panels)],
        note=LEAD_NOTE, traditional=traditional,
    )  # fmt: skip


def bulletin_chart(b: Bulletin, traditional: bool = False) -> bytes:
    what = "周通报" if b.kind == WEEK else f"{b.period.month}月通报"
    panels = []
    for sec in b.sections:
        common = common_schedule(sec.ranked)
        panels.append((sec.task + (f"（序时进度 {common}%）" if common is not None else ""),
                       sec.ranked))  # fmt: skip
    marks = [{uid: streak_mark(b.kind, n) for uid, n in sec.streaks.items()} for sec in b.sections]
    return ranking_chart(f"{b.scope.name} {what} {day(b.on)}", panels, traditional, marks)


# -- points ranking ----------------------------------------------------------------


def points_ranking(session: Session, scope: OrgUnit, start: datetime, end: datetime
                   ) -> list[tuple[int, VillageActivity]]:  # fmt: skip
    """The villages of `scope` by points awarded per household in [start, end), with
    competition ranks (equal per-household points and awards share a rank)."""
    acts = village_activity(session, scope, start, end)
    out: list[tuple[int, VillageActivity]] = []
    for i, a in enumerate(acts):
        prev = acts[i - 1] if i else None
        same = prev is not None and (prev.per_household, prev.awarded) == (a.per_household, a.awarded)
        out.append((out[-1][0] if same else i + 1, a))
    return out


def points_chart(title: str, rows: Sequence[tuple[int, VillageActivity]], labels: dict[int, str],
                 traditional: bool = False) -> bytes:  # fmt: skip
    bars = [chart.Bar(f"{r} {labels[a.village.id or 0]}", a.per_household, per_household(a))
            for r, a in rows]  # fmt: skip
    return chart.render(title, [chart.Panel("", bars, signed=False)],
                        note="条长：本月每户平均加到的爱心积分（分）", traditional=traditional)  # fmt: skip
