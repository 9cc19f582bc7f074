"""`villagebot export bulletin --month 2019-06 FILE.xlsx`: a month's bulletin as a
workbook, for the HQ's office and the monthly meeting.

Sheets:
- 月度排名: every HQ and county unit's ranking of its sub-units per task, measured on
  the month's last day (or today, for the month in progress), with the marks, the
  forecasts and the units that must explain themselves;
- 周通报记录: what the weekly bulletins of the month published (rank, 滞后, 末位);
- 爱心积分: every village's points in the month (awarded, deducted, per household).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bot import tabular
from bot.config import Config
from bot.models.core import OrgUnit
from bot.models.rankings import MONTH, WEEK, BulletinRank
from bot.org import names_of, unit_label
from bot.points import village_activity
from bot.rankings.bulletin import build_bulletin, bulletin_scopes
from bot.rankings.kinds import MONTHLY, month_bounds
from bot.rankings.wording import forecast_text, stale_mark, streak_mark
from bot.tabular import DATE, PERCENT, POINTS, Sheet

RANK_HEADER = ("范围", "任务", "计量", "名次", "单位", "完成数", "目标数", "完成率%",
               "序时进度%", "超前(百分点)", "标记", "预计完成", "超期天数", "需在例会说明")
WEEK_HEADER = ("周（周一）", "范围", "任务", "名次", "单位", "完成数", "目标数", "完成率%",
               "序时进度%", "超前(百分点)", "滞后", "末位")
POINTS_HEADER = ("村", "户数", "加分", "扣分", "户均加分")
_MONTH = re.compile(r"^\s*(\d{4})\s*(?:-|/|年|\.)\s*(\d{1,2})\s*月?\s*$")


def parse_month(text: str) -> date | None:
    """'2019-06', '2019/6', '2019年6月' → the month's first day."""
    m = _MONTH.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    return date(int(m.group(1)), int(m.group(2)), 1)


def _month_end(first: date) -> date:
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def export_bulletin(session: Session, config: Config, path: str | Path, month: date,
                    now: datetime) -> tuple[int, int, int]:
    """Write the workbook; returns the rows of its three sheets."""
    today = now.astimezone(config.zone).date()
    on = min(_month_end(month), today)
    ranks: list[tuple[Any, ...]] = []
    weeks: list[tuple[Any, ...]] = []
    points: list[tuple[Any, ...]] = []
    scopes = bulletin_scopes(session, with_rooms=False)
    for scope in scopes:
        b = build_bulletin(session, config, scope, MONTHLY, month, on, now, store=False)
        if b is None:
            continue
        for sec in b.sections:
            for r in sec.ranked:
                e, uid = r.entry, r.unit.id or 0
                fc = sec.forecasts.get(uid)
                marks = [m for m in ("" if e.reported else "未报送",
                                     stale_mark(e.stale_on, on) if e.stale_on else "",
                                     "滞后" if r.behind else "",
                                     streak_mark(MONTH, max(1, sec.streaks.get(uid, 1)))
                                     if r.last else "") if m]
                ranks.append((
                    scope.name, sec.task, sec.measure, r.rank, r.unit.name,
                    e.fig.done if e.fig else None, e.fig.target if e.fig else None,
                    e.completion_pct, e.schedule_pct, e.lead_pct, "、".join(marks),
                    fc.finish if fc and fc.finish else (forecast_text(fc, on, e.lead_pct >= 0) if fc else None),
                    fc.overdue_days if fc else None, "是" if r.last or r.behind else "",
                ))
    names = {u.id: u.name for u in session.exec(select(OrgUnit)).all()}
    mondays = select(BulletinRank).where(
        BulletinRank.kind == WEEK, col(BulletinRank.period) >= month,
        col(BulletinRank.period) <= _month_end(month),
    )
    for row in session.exec(mondays.order_by(col(BulletinRank.period), col(BulletinRank.scope_id),
                                             col(BulletinRank.task), col(BulletinRank.rank),
                                             col(BulletinRank.id))).all():
        weeks.append((
            row.period, names.get(row.scope_id, "?"), row.task, row.rank,
            names.get(row.unit_id, "?"), row.done, row.target, row.completion_pct,
            row.schedule_pct, row.lead_pct, "滞后" if row.behind else "", "末位" if row.last else "",
        ))
    roots = [s for s in scopes if s.parent_id is None] or list(
        session.exec(select(OrgUnit).where(col(OrgUnit.parent_id).is_(None))).all()
    )
    start, end = month_bounds(month, config)
    for root in roots:
        acts = village_activity(session, root, start, end)
        labels = names_of(session, [a.village for a in acts])
        for a in acts:
            points.append((unit_label(a.village, labels, root), a.households, a.awarded,
                           a.deducted, round(a.per_household, 1)))
    label = f"{month.year}年{month.month}月"
    pct = {"完成率%": PERCENT, "序时进度%": PERCENT, "超前(百分点)": POINTS, "周（周一）": DATE}
    n_ranks, n_weeks, n_points = tabular.write_book(Path(path), f"截至 {on.isoformat()}", [
        Sheet("月度排名", f"{label}任务进度排名", RANK_HEADER, ranks, pct),
        Sheet("周通报记录", f"{label}周通报记录", WEEK_HEADER, weeks, pct),
        Sheet("爱心积分", f"{label}各村爱心积分", POINTS_HEADER, points, {"户均加分": "0.0"}),
    ])
    return n_ranks, n_weeks, n_points


def latest_day(session: Session) -> date | None:
    """The newest progress report's date: what "now" is for data from another year."""
    from sqlmodel import func

    from bot.models.progress import Report

    return session.exec(select(func.max(Report.report_date))).one()


def month_end(first: date) -> date:
    return _month_end(first)


def default_month(as_of: date) -> date:
    """The month before `as_of`'s: the last whole month's bulletin."""
    return (as_of.replace(day=1) - timedelta(days=1)).replace(day=1)
