"""The ranking rules on constructed data: order, ties, 滞后/末位 marks, forecasts, and
the stored bulletin outcomes that streaks are counted from (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

from bot.db import Database
from bot.models.core import OrgUnit
from bot.models.rankings import MONTH, WEEK
from bot.progress import Figures
from bot.rankings import (
    Entry,
    Forecast,
    cn_number,
    composite_entry,
    figure_on,
    forecast,
    forecast_text,
    last_streak,
    rank,
    rank_line,
    record_outcome,
    streak_mark,
)

NOW = datetime(2019, 6, 10, 0, 30, tzinfo=UTC)


def unit(uid: int, name: str) -> OrgUnit:
    return OrgUnit(id=uid, name=name, level="乡", parent_id=1, path=f"/1/{uid}/", created_at=NOW)


def entry(uid: int, name: str, completion: int, schedule: int) -> Entry:
    return Entry(unit(uid, name), completion, schedule, completion - schedule)


def table(ranked) -> list[tuple[int, str, bool, bool]]:
    return [(r.rank, r.unit.name, r.behind, r.last) for r in ranked]


# -- order and marks ---------------------------------------------------------------------


def test_rank_by_lead_then_completion_with_shared_ranks_and_last_marks() -> None:
    ranked = rank([
        entry(2, "乙乡", 60, 50),  # +10
        entry(3, "丙乡", 80, 70),  # +10, more done: ahead of 乙乡
        entry(4, "丁乡", 40, 50),  # -10
        entry(5, "戊乡", 40, 50),  # -10, tied with 丁乡 on both: shared rank, by name
        entry(6, "己乡", 50, 50),  # 0: on schedule, not behind
    ])
    assert table(ranked) == [
        (1, "丙乡", False, False),
        (2, "乙乡", False, False),
        (3, "己乡", False, False),
        (4, "丁乡", True, True),
        (4, "戊乡", True, True),
    ]


def test_ties_on_lead_are_broken_by_completion_then_share_a_rank() -> None:
    ranked = rank([entry(2, "甲村", 30, 40), entry(3, "乙村", 50, 60), entry(4, "丙村", 50, 60)])
    assert [(r.rank, r.unit.name) for r in ranked] == [(1, "丙村"), (1, "乙村"), (3, "甲村")]
    assert [r.last for r in ranked] == [False, False, True]


def test_last_needs_more_than_one_rank() -> None:
    assert table(rank([entry(2, "甲乡", 10, 50)])) == [(1, "甲乡", True, False)]
    all_tied = rank([entry(2, "甲乡", 0, 44), entry(3, "乙乡", 0, 44)])
    assert table(all_tied) == [(1, "乙乡", True, False), (1, "甲乡", True, False)]
    assert rank([]) == []


def test_the_last_unit_is_marked_even_when_ahead_of_schedule() -> None:
    ranked = rank([entry(2, "甲乡", 90, 50), entry(3, "乙乡", 60, 50)])
    assert table(ranked) == [(1, "甲乡", False, False), (2, "乙乡", False, True)]


def test_order_is_stable_whatever_the_input_order() -> None:
    items = [entry(i, f"{n}乡", c, 50) for i, (n, c) in
             enumerate([("甲", 50), ("乙", 70), ("丙", 50), ("丁", 30)], start=2)]
    first = table(rank(items))
    assert table(rank(list(reversed(items)))) == first
    assert table(rank(items[1:] + items[:1])) == first


def test_rank_line_wording() -> None:
    fig = figures(done=20, target=50, start=date(2019, 5, 1), deadline=date(2019, 6, 30),
                  on=date(2019, 6, 10), completion=40, schedule=67)
    ranked = rank([Entry(unit(2, "甲乡"), 80, 67, 13), Entry(unit(3, "大磁窑镇"), 40, 67, -27, fig)])
    assert rank_line(ranked[1], "处", show_schedule=False) == (
        "2. 大磁窑镇【末位】 20/50 处，完成 40%，滞后 27 个百分点"
    )
    assert rank_line(ranked[1], "处", show_schedule=True, mark=streak_mark(WEEK, 3)) == (
        "2. 大磁窑镇【连续3周末位】 20/50 处，完成 40%，序时 67%，滞后 27 个百分点"
    )
    assert rank_line(ranked[0], "", show_schedule=True, total_tasks=2) == (
        "1. 甲乡 完成 80%，序时 67%，超前 13 个百分点（1项）"
    )
    assert streak_mark(MONTH, 2) == "连续2个月末位" and streak_mark(WEEK, 1) == "末位"


def test_a_composite_of_one_task_shows_that_tasks_figures() -> None:
    # 169/200 is 84.5 % exactly: 85 on the task's line, and 85 in the composite too
    # (a float 0.845 is a hair below it and would round to 84).
    day = date(2019, 6, 10)
    fig = figures(done=169, target=200, start=MAY1, deadline=date(2019, 6, 30), on=day,
                  completion=85, schedule=67)
    e = composite_entry(unit(2, "甲乡"), [fig])
    assert (e.completion_pct, e.schedule_pct, e.lead_pct, e.tasks) == (85, 67, 18, 1)
    over = figures(done=90, target=50, start=MAY1, deadline=date(2019, 6, 30), on=day,
                   completion=180, schedule=67)
    both = composite_entry(unit(2, "甲乡"), [fig, over])  # (84.5 + 100) / 2, capped
    assert (both.completion_pct, both.tasks) == (92, 2)


def test_cn_number() -> None:
    assert [cn_number(n) for n in (1, 5, 10, 11, 20, 23, 120)] == [
        "一", "五", "十", "十一", "二十", "二十三", "120",
    ]


# -- forecasts ---------------------------------------------------------------------------


def figures(*, done: int, target: int, start: date, deadline: date, on: date,
            completion: int = 0, schedule: int = 0, reported: bool = True) -> Figures:
    return Figures(
        done=done, target=target, exact_completion=Fraction(done, target),
        exact_schedule=Fraction(schedule, 100), completion_pct=completion, schedule_pct=schedule,
        lead_pct=completion - schedule, start=start, deadline=deadline, on=on,
        reported_on=on if reported else None, units=1, reported_units=1 if reported else 0,
    )


MAY1, JUN17 = date(2019, 5, 1), date(2019, 6, 17)


def test_forecast_from_the_last_two_weeks_pace() -> None:
    # 14 done in the two weeks since 6月3日 (20 → 34): 25 more days for the last 25.
    history = [(date(2019, 6, 1), 20), (date(2019, 6, 14), 34)]
    fig = figures(done=34, target=59, start=MAY1, deadline=date(2019, 6, 29), on=JUN17)
    fc = forecast(history, fig, JUN17)
    assert fc == Forecast(date(2019, 7, 12), 13, 14)
    assert forecast_text(fc, JUN17) == "按近两周进度预计7月12日完成，超期13天"


def test_no_forecast_when_the_pace_meets_the_deadline_or_the_work_is_done() -> None:
    history = [(date(2019, 5, 31), 20), (date(2019, 6, 14), 48)]
    fig = figures(done=48, target=59, start=MAY1, deadline=date(2019, 6, 29), on=JUN17)
    assert forecast(history, fig, JUN17) is None  # 28 in 2 weeks: 11 left take 6 days
    done = figures(done=59, target=59, start=MAY1, deadline=date(2019, 6, 29), on=JUN17)
    assert forecast([(date(2019, 6, 14), 59)], done, JUN17) is None


def test_a_first_report_within_the_window_is_paced_from_the_start() -> None:
    # The only report (20 on 6月5日) holds all the work since 5月1日: 20 in 47 days.
    history = [(date(2019, 6, 5), 20)]
    fig = figures(done=20, target=50, start=MAY1, deadline=date(2019, 6, 30), on=JUN17)
    fc = forecast(history, fig, JUN17)
    assert fc is not None and fc.window_days == 47
    assert fc.finish == date(2019, 8, 27)  # 30 more at 20/47 a day: 71 days
    assert fc.overdue_days == 58


def test_no_progress_and_overdue() -> None:
    history = [(date(2019, 5, 20), 10)]
    fig = figures(done=10, target=50, start=MAY1, deadline=date(2019, 6, 30), on=JUN17)
    fc = forecast(history, fig, JUN17)
    assert fc == Forecast(None, 0, 14)
    assert forecast_text(fc, JUN17) == "近两周没有进展，按当前进度无法按期完成"
    late = figures(done=10, target=50, start=MAY1, deadline=date(2019, 6, 12), on=JUN17)
    fc = forecast(history, late, JUN17)
    assert fc == Forecast(None, 5, 14)
    assert forecast_text(fc, JUN17) == "近两周没有进展，已超期5天"


def test_too_little_history_gives_no_forecast() -> None:
    fig = figures(done=0, target=50, start=date(2019, 6, 12), deadline=date(2019, 6, 30), on=JUN17)
    assert forecast([], fig, JUN17) is None


def test_forecast_across_the_year_names_the_year() -> None:
    on = date(2019, 12, 16)
    history = [(date(2019, 12, 1), 10), (date(2019, 12, 13), 24)]
    fig = figures(done=24, target=60, start=date(2019, 10, 1), deadline=date(2019, 12, 31), on=on)
    fc = forecast(history, fig, on)
    assert fc is not None and fc.finish == date(2020, 1, 21)
    assert forecast_text(fc, on) == "按近两周进度预计2020年1月21日完成，超期21天"


def test_figure_on() -> None:
    h = [(date(2019, 6, 3), 5), (date(2019, 6, 7), 9)]
    assert [figure_on(h, d) for d in (date(2019, 6, 2), date(2019, 6, 3), date(2019, 6, 10))] == [
        0, 5, 9,
    ]


# -- stored outcomes and streaks -----------------------------------------------------------


def test_streaks_count_consecutive_bulletins_and_survive_reopening(db_url: str) -> None:
    db = Database(db_url)
    db.create_schema()

    def setup(s):
        county = OrgUnit(name="浑源县", level="县", path="", created_at=NOW)
        s.add(county)
        s.flush()
        county.path = f"/{county.id}/"
        subs = []
        for name in ("甲乡", "乙乡", "丙乡"):
            u = OrgUnit(name=name, level="乡", parent_id=county.id, path="", created_at=NOW)
            s.add(u)
            s.flush()
            u.path = f"{county.path}{u.id}/"
            subs.append(u)
        return county.id, [u.id for u in subs]

    county_id, (a, b, c) = db.run_sync(setup)
    mondays = [date(2019, 6, 3), date(2019, 6, 10), date(2019, 6, 24), date(2019, 7, 1)]
    # Who was last each week (6月17日 had no bulletin): 丙, 丙, 丙, then 乙.
    lasts = [c, c, c, b]

    def publish(s, period, last_id, task="危房改造"):
        county = s.get(OrgUnit, county_id)
        units = {u: s.get(OrgUnit, u) for u in (a, b, c)}
        leads = {a: 10, b: 0, c: 0}
        leads[last_id] = -20
        ranked = rank(Entry(units[u], 50 + lead, 50, lead) for u, lead in leads.items())
        record_outcome(s, WEEK, period, county, task, ranked, NOW)

    for period, last_id in zip(mondays[:2], lasts[:2], strict=True):
        db.run_sync(lambda s, p=period, x=last_id: publish(s, p, x))
    assert db.run_sync(lambda s: last_streak(s, WEEK, county_id, "危房改造", c, mondays[1])) == 2
    db.close()

    db = Database(db_url)  # a restart: the streak is in the database, not in memory
    for period, last_id in zip(mondays[2:], lasts[2:], strict=True):
        db.run_sync(lambda s, p=period, x=last_id: publish(s, p, x))

    def streak(uid: int, period: date, kind: str = WEEK, task: str = "危房改造") -> int:
        return db.run_sync(lambda s: last_streak(s, kind, county_id, task, uid, period))

    assert streak(c, mondays[2]) == 3  # the week without a bulletin does not break it
    assert streak(c, mondays[3]) == 0  # no longer last
    assert streak(b, mondays[3]) == 1
    assert streak(a, mondays[3]) == 0
    assert streak(c, mondays[2], kind=MONTH) == 0  # monthly bulletins are counted apart
    assert streak(c, mondays[2], task="易地搬迁") == 0
    # Publishing a period again replaces its outcome instead of doubling it.
    db.run_sync(lambda s: publish(s, mondays[3], c))
    assert streak(c, mondays[3]) == 4
    db.close()
