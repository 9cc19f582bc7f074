"""The read-only dashboard's figures: progress against 序时进度 per unit, rankings, points
activity, open notices and their receipts.

`collect(session, config, now)` reads through the domain modules (`bot.progress`,
`bot.rankings`, `bot.points`, `bot.notices`) and returns plain tables for the page to
draw. A section whose module is missing (or fails) says so instead of breaking the rest.
`screen(session, config, now, unit_id)` is the meeting-room view of one unit (the city
first, then a county or township drilled into): its 序时进度 per task, its sub-units
ranked as #排名 ranks them, and who below it has not reported this week.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.config import Config
from bot.models.core import OrgUnit

log = logging.getLogger(__name__)

Table = dict[str, Any]
Section = dict[str, Any]
# Below this many rows per task the progress table goes down to the villages.
MAX_PROGRESS_ROWS = 120


def col_(key: str, label: str, kind: str = "text", **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": label, "kind": kind, **extra}


def collect(session: Session, config: Config, now: datetime) -> dict[str, Any]:
    sections: dict[str, Callable[[Session, Config, datetime], Section]] = {
        "progress": progress_section,
        "rankings": rankings_section,
        "points": points_section,
        "notices": notices_section,
    }
    out: dict[str, Section] = {}
    for key, fn in sections.items():
        try:
            with session.begin_nested():
                out[key] = fn(session, config, now)
        except ImportError:
            out[key] = {"note": "该功能尚未启用", "tables": []}
        except Exception:
            log.exception("dashboard section %s failed", key)
            out[key] = {"note": "这一栏暂时无法显示（已记录错误）", "tables": []}
    try:
        with session.begin_nested():
            first = roots(session)
            big = screen(session, config, now, first[0].id) if first else None
    except Exception:
        log.exception("dashboard screen failed")
        big = None
    zone = config.bot.timezone
    return {"now": now.isoformat(), "zone": zone, "sections": out, "screen": big}


def roots(session: Session) -> list[OrgUnit]:
    return list(
        session.exec(select(OrgUnit).where(col(OrgUnit.parent_id).is_(None)).order_by(col(OrgUnit.id)))
    )


# -- progress ------------------------------------------------------------------------


def _fig(fig: Any) -> dict[str, Any]:
    from bot.progress import pct

    # The same whole percentages the chat shows (rounded half up), as fractions.
    return {"done": fig.done, "target": fig.target,
            "completion": pct(fig.exact_completion) / 100,
            "schedule": pct(fig.exact_schedule) / 100, "lead": fig.lead_pct / 100,
            "reported": _md(fig.reported_on) if fig.reported_on else None}


def progress_section(session: Session, config: Config, now: datetime) -> Section:
    """One table per city: its units in tree order, one column per task, each cell the
    unit's done/target, completion against 序时进度 and its lead."""
    from bot import progress as P

    today = now.astimezone(config.zone).date()
    tables: list[Table] = []
    for root in roots(session):
        tasks = P.tasks_with_targets(session, root, config)
        figures: dict[int, dict[str, Any]] = {}
        units: dict[int, OrgUnit] = {}
        for task in tasks:
            fig = P.unit_figures(session, root, task, today)
            if fig is None:
                continue
            assert root.id is not None
            units[root.id] = root
            figures.setdefault(root.id, {})[task] = fig
            frontier = [root]
            while frontier:
                nxt = []
                for unit in frontier:
                    for sub, f in P.sub_unit_figures(session, unit, task, today):
                        assert sub.id is not None
                        units[sub.id] = sub
                        figures.setdefault(sub.id, {})[task] = f
                        nxt.append(sub)
                frontier = nxt
        if not units:
            continue
        shown = sorted(units.values(), key=lambda u: [int(i) for i in u.path.strip("/").split("/")])
        if len(shown) > MAX_PROGRESS_ROWS:
            shown = [u for u in shown if u.level != "村"]
        base = root.path.count("/")
        columns = [col_("unit", "单位", indent=True)]
        for task in tasks:
            scheds = {P.pct(f[task].exact_schedule) for f in figures.values() if task in f}
            label = f"{task}（{P.measure(config, task)}）"
            if len(scheds) == 1:
                label += f" 序时 {scheds.pop()}%"
            columns.append(col_(task, label, "figure"))
        columns.append(col_("reported", "最近报送"))
        rows = []
        for u in shown:
            assert u.id is not None
            figs = figures[u.id]
            row: dict[str, Any] = {"unit": u.name, "_depth": u.path.count("/") - base,
                                   "level": u.level}
            for task, f in figs.items():
                row[task] = _fig(f)
            days = [f.reported_on for f in figs.values() if f.reported_on]
            row["reported"] = _md(max(days)) if days else "未报"
            rows.append(row)
        tables.append({"title": f"{root.name} · 截至 {_md(today)}", "columns": columns,
                       "rows": rows})
    note = "" if tables else "还没有设定任何任务目标。"
    if tables:
        note = "每格：完成/目标、完成率；条形为完成率，竖线为序时进度；±为超前/滞后百分点。"
    return {"note": note, "tables": tables}


def _md(d: Any) -> str:
    return f"{d.month}月{d.day}日"


# -- rankings ------------------------------------------------------------------------


def rankings_section(session: Session, config: Config, now: datetime) -> Section:
    """Each city's direct sub-units ranked as #排名 and the weekly bulletin rank them
    (bot.rankings): composite first, then per task, with 滞后/末位, streaks of weeks
    last, and forecasts of a missed deadline."""
    from bot import rankings as R
    from bot.calendar import week_start
    from bot.models.rankings import WEEK
    from bot.progress import tasks_with_targets

    today = now.astimezone(config.zone).date()
    monday = week_start(now, config.zone).astimezone(config.zone).date()
    columns = [
        col_("rank", "名次", "num"), col_("unit", "单位"), col_("done", "完成/目标"),
        col_("completion", "完成率", "pct"), col_("schedule", "序时", "pct"),
        col_("lead", "超前/滞后", "lead"), col_("tags", "", "tags"),
        col_("forecast", "预计", "wrap"),
    ]

    def row(r: Any, streak: int = 0, fc: Any = None) -> dict[str, Any]:
        e = r.entry
        tags = []
        if e.stale_on is not None:
            tags.append(R.stale_mark(e.stale_on, today))
        if r.behind:
            tags.append("滞后")
        if r.last:
            tags.append(R.streak_mark(WEEK, streak) if streak > 1 else "末位")
        return {
            "rank": r.rank, "unit": r.unit.name,
            "done": f"{e.fig.done}/{e.fig.target}" if e.fig else f"{e.tasks}项任务",
            "completion": e.completion_pct / 100, "schedule": e.schedule_pct / 100,
            "lead": e.lead_pct / 100, "tags": tags,
            "forecast": R.forecast_text(fc, today, e.lead_pct >= 0) if fc is not None else "",
        }

    tables: list[Table] = []
    for root in roots(session):
        tasks = tasks_with_targets(session, root, config)
        if len(tasks) > 1:
            ranked = R.composite_ranking(session, root, tasks, today)
            if ranked:
                tables.append({"title": f"{R.COMPOSITE}（{'、'.join(tasks)}平均） · {root.name}",
                               "columns": columns[:-1], "rows": [row(r) for r in ranked]})
        b = R.build_bulletin(session, config, root, WEEK, monday, today, now, store=False)
        for sec in b.sections if b else []:
            rows = [row(r, sec.streaks.get(r.unit.id or 0, 0), sec.forecasts.get(r.unit.id or 0))
                    for r in sec.ranked]
            cols = columns if any(r["forecast"] for r in rows) else columns[:-1]
            tables.append({"title": f"{sec.task} · {root.name}", "columns": cols, "rows": rows})
    return {"note": "" if tables else "还没有可排名的任务。", "tables": tables}


# -- points --------------------------------------------------------------------------

POINTS_DAYS = 30
RECENT_ENTRIES = 12


def points_section(session: Session, config: Config, now: datetime) -> Section:
    """Each village's points activity over the last 30 days (awarded, deducted, per
    household, redeemed, its top households), and the newest ledger entries."""
    from sqlalchemy import func

    from bot import points as PT
    from bot.models.core import Household, Person
    from bot.models.points import COUNTED, REDEEM, PointEntry

    since = now - timedelta(days=POINTS_DAYS)
    expiry = timedelta(hours=config.points.pending_expiry_hours)
    tables: list[Table] = []
    for root in roots(session):
        activity = [a for a in PT.village_activity(session, root, since, now) if a.households]
        if not activity:
            continue
        ids = [a.village.id for a in activity]
        redeemed = dict(session.exec(
            select(PointEntry.unit_id, func.sum(PointEntry.delta))
            .where(PointEntry.kind == REDEEM, col(PointEntry.status).in_(COUNTED),
                   col(PointEntry.created_at) >= since, col(PointEntry.unit_id).in_(ids))
            .group_by(col(PointEntry.unit_id))
        ).all())
        rows = []
        for a in activity:
            top = PT.top_households(session, a.village, 3)
            rows.append({
                "village": a.village.name, "households": a.households, "awarded": a.awarded,
                "deducted": -a.deducted if a.deducted else 0,
                "per": round(a.per_household, 1),
                "redeemed": -int(redeemed.get(a.village.id or 0, 0) or 0),
                "top": "、".join(f"{r.household.name} {r.points}" for r in top) or "—",
            })
        columns = [
            col_("village", "村"), col_("households", "户数", "num"),
            col_("awarded", "加分", "signed"), col_("deducted", "扣分", "signed"),
            col_("per", "户均加分", "num"), col_("redeemed", "兑换（分）", "num"),
            col_("top", "积分前三户（累计）"),
        ]
        tables.append({"title": f"{root.name}各村 · 近{POINTS_DAYS}天", "columns": columns,
                       "rows": rows})
        entries = session.exec(
            select(PointEntry, Household.name, OrgUnit.name, Person.name)
            .join(Household, col(Household.id) == col(PointEntry.household_id))
            .join(OrgUnit, col(OrgUnit.id) == col(PointEntry.unit_id))
            .outerjoin(Person, col(Person.id) == col(PointEntry.actor_id))
            .where(col(OrgUnit.path).startswith(root.path), col(PointEntry.created_at) <= now)
            .order_by(col(PointEntry.id).desc())
            .limit(RECENT_ENTRIES)
        ).all()
        recent = [{
            "no": f"#{e.id}", "at": e.created_at.isoformat(), "village": village,
            "household": household, "delta": e.delta, "what": PT.what(e),
            "status": [x for x in [PT.status_label(e, now, expiry)] if x],
            "actor": actor or e.actor_id,
        } for e, household, village, actor in entries]
        tables.append({
            "title": "最新积分记录", "empty": "还没有积分记录",
            "columns": [col_("no", "编号"), col_("at", "时间", "time"), col_("village", "村"),
                        col_("household", "户"), col_("delta", "分", "signed"),
                        col_("what", "事由"), col_("actor", "经办"), col_("status", "", "tags")],
            "rows": recent,
        })
    return {"note": "" if tables else "还没有登记农户。", "tables": tables}


# -- notices -------------------------------------------------------------------------


def notices_section(session: Session, config: Config, now: datetime) -> Section:
    """Notices still waiting for acknowledgements, with the groups that have not, and
    per group (`groups`, for the receipts panel) the names acknowledged and missing."""
    from bot import notices as N

    rows = []
    for n in N.open_notices(session, now):
        receipt = N.receipts(session, n.id)
        missing = N.group_labels(receipt.missing) if receipt else []
        # Per group: who of its audience acknowledged and who has not (by name); where
        # anyone may answer, just whether the group has.
        groups = []
        if receipt:
            for g, label in zip(receipt.groups, N.group_labels(receipt.groups), strict=True):
                groups.append({
                    "group": label, "done": g.acked_at is not None, "anyone": g.anyone,
                    "acked": list(g.acked_names) if g.readers else
                    ([g.acked_by_name] if g.acked_at else []),
                    "missing": list(g.missing_names),
                })
        rows.append({
            "no": n.id, "at": n.created_at.isoformat(), "author": n.author_name,
            "scope": n.scope, "text": n.excerpt, "acked": f"{n.acked}/{n.total}",
            "percent": n.acked / n.total if n.total else 0,
            "missing": "、".join(missing) or "—",
            "chase": n.next_chase_at.isoformat() if n.next_chase_at else None,
            "groups": groups,
        })
    columns = [
        col_("no", "编号", "num"), col_("at", "发出", "time"), col_("author", "发布人"),
        col_("scope", "范围"), col_("text", "内容"), col_("acked", "已确认", "num"),
        col_("percent", "确认率", "pct"), col_("missing", "未确认的群", "wrap"),
        col_("chase", "下次催办", "time"),
    ]
    table = {"title": "", "columns": columns, "rows": rows,
             "empty": "近30天的通知都已确认收到。"}
    return {"note": "", "tables": [table]}


# -- the meeting-room view -------------------------------------------------------------

COMPOSITE_KEY = "综合"


def screen(session: Session, config: Config, now: datetime, unit_id: int | None
           ) -> dict[str, Any] | None:
    """One unit for the big screen: where it stands per task, its direct sub-units ranked
    (per task, and 综合 when there are several), and this week's 未报 below it. None if
    there is no such unit."""
    from bot import progress as P
    from bot import rankings as R
    from bot.calendar import week_start
    from bot.org import names_of, unit_label

    unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
    if unit is None:
        return None
    today = now.astimezone(config.zone).date()
    root = session.get(OrgUnit, int(unit.path.strip("/").split("/")[0]))
    assert root is not None
    tasks = P.tasks_with_targets(session, root, config)
    crumbs = [session.get(OrgUnit, int(i)) for i in unit.path.strip("/").split("/")]
    standing = []
    rankings = []
    per_task = []
    for task in tasks:
        fig = P.unit_figures(session, unit, task, today)
        if fig is not None:
            standing.append({"task": task, "measure": P.measure(config, task), **_fig(fig)})
        ranked = R.task_ranking(session, unit, task, today)
        if ranked:
            per_task.append(ranked)
            rankings.append({"task": task, "rows": [_ranked(r) for r in ranked]})
    if len(per_task) > 1:
        rankings.insert(0, {"task": COMPOSITE_KEY,
                            "rows": [_ranked(r) for r in R.composite_of(per_task)]})
    missing = P.unreported_units(session, unit, now, config.zone)
    names = names_of(session, [m.unit for m in missing]) if missing else {}
    unreported = [
        {"unit": m.unit.name if m.unit.id == unit.id else unit_label(m.unit, names, unit),
         "level": m.unit.level, "tasks": list(m.tasks)}
        for m in missing
    ]
    monday = week_start(now, config.zone).astimezone(config.zone).date()
    children = session.exec(
        select(OrgUnit).where(col(OrgUnit.parent_id) == unit.id).order_by(col(OrgUnit.id))
    ).all()
    return {
        "unit": {"id": unit.id, "name": unit.name, "level": unit.level},
        "path": [{"id": u.id, "name": u.name, "level": u.level} for u in crumbs if u],
        "children": [{"id": u.id, "name": u.name, "level": u.level} for u in children
                     if u.level != "村"],
        "standing": standing, "rankings": rankings,
        "unreported": unreported, "week": _md(monday), "today": _md(today),
    }


def _ranked(r: Any) -> dict[str, Any]:
    e = r.entry
    return {
        "id": r.unit.id, "rank": r.rank, "unit": r.unit.name, "level": r.unit.level,
        "done": e.fig.done if e.fig else None, "target": e.fig.target if e.fig else None,
        "completion": e.completion_pct, "schedule": e.schedule_pct, "lead": e.lead_pct,
        "behind": r.behind, "last": r.last, "reported": e.reported,
        "stale": _md(e.stale_on) if e.stale_on else None,  # 本周未报: its figure's date
        "drill": r.unit.level != "村",
    }


# -- exports ---------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What the dashboard's export buttons offer: the same workbooks as the CLI's exports.
EXPORTS = {"progress": "任务进度", "ledger": "积分台账", "notices": "通知回执",
           "rankings": "月度排名"}


def export(session: Session, config: Config, now: datetime, what: str) -> tuple[str, bytes]:
    """One of the `EXPORTS` workbooks written to a temporary file: (file name, bytes).
    KeyError if `what` is not one of them."""
    import tempfile
    from pathlib import Path

    label = EXPORTS[what]
    today = now.astimezone(config.zone).date()
    stamp = today.isoformat()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.xlsx"
        if what == "progress":
            from bot.progress.files import export_progress

            export_progress(session, config, path, today)
        elif what == "ledger":
            from bot.points.files import export_ledger

            export_ledger(session, config, path, now)
        elif what == "notices":
            from bot.notices.files import export_notices

            export_notices(session, path, config.zone)
        else:
            from bot.rankings.files import export_bulletin

            first = today.replace(day=1)
            export_bulletin(session, config, path, first, now)
            stamp = f"{first.year}年{first.month}月"
        return f"{label}_{stamp}.xlsx", path.read_bytes()
