"""Whole-bot tests of #排名, #积分排名 and the weekly and monthly bulletins (streaks that
survive a restart, forecasts, holiday rules), and the bulletin export; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import col, func, select
from typer.testing import CliRunner

from bot.cli import cli
from bot.clock import VirtualClock
from bot.config import load_config
from bot.dashboard import rankings_section, screen
from bot.drivers.memory import MemoryChat
from bot.models.core import OrgUnit
from bot.models.jobs import Job, JobRun
from bot.rankings.kinds import monthly_next as _monthly_next
from bot.rankings.kinds import weekly_next as _weekly_next
from bot.wiring import build_app
from tests.conftest import SHANGHAI, texts
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

CITY, COUNTY, TOWN, VILLAGE = (ROOMS[k][0] for k in ("city", "county", "town", "village"))
TOWN2, TOWN3, VILLAGE2 = "r_town2", "r_town3", "r_village2"
HQ = "wxid_hq"
CADRES = {TOWN: "wxid_wu", TOWN2: "wxid_guan", TOWN3: "wxid_ci"}
EVAL = "wxid_eval"
PNG = b"\x89PNG\r\n\x1a\n"


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2019, month, day, hour, minute, tzinfo=SHANGHAI)


async def setup(chat: MemoryChat) -> None:
    """浑源县 with three townships (吴城乡, 官儿乡, 大磁窑镇), each with a cadre and a
    危房改造 target of 50 from 5月1日 to 6月30日; 吴城乡 has two villages."""
    await build_tree(chat)
    for room, text in ((TOWN2, "#绑定 乡 官儿乡 上级 浑源县"), (TOWN3, "#绑定 镇 大磁窑镇 上级 浑源县"),
                       (VILLAGE2, "#绑定 村 东坪村 上级 吴城乡")):
        sent = await chat.say(text, sender=ADMIN, room=room)
        assert "绑定" in sent[0].text, sent
    await appoint(chat, "city", HQ, "赵主任", "指挥部")
    for room, cadre in CADRES.items():
        sent = await chat.say("#任命 @干部 干部", sender=ADMIN, room=room, mentions=((cadre, "干部"),))
        assert "已任命" in sent[0].text
        sent = await chat.say("#目标 危房改造 50 截止 6月30日 开始 5月1日", sender=HQ, room=room)
        assert sent[0].text.startswith("已设定"), sent


async def report(chat: MemoryChat, figures: dict[str, int], task: str = "危房改造") -> None:
    for room, n in figures.items():
        sent = await chat.say(f"#进度 {task} {n}", sender=CADRES[room], room=room)
        assert sent[0].text.startswith("已记录"), sent


# -- #排名 -------------------------------------------------------------------------------


async def test_rank_orders_marks_and_attaches_a_chart(chat, app) -> None:
    await setup(chat)
    await report(chat, {TOWN: 40, TOWN2: 30, TOWN3: 20})
    sent = await chat.say("#排名 危房改造", sender="wxid_anyone", room=COUNTY)
    assert texts(sent) == [
        "浑源县 危房改造排名（6月3日，序时进度 55%）：\n"
        "1. 吴城乡 40/50 处，完成 80%，超前 25 个百分点\n"
        "2. 官儿乡 30/50 处，完成 60%，超前 5 个百分点\n"
        "3. 大磁窑镇【末位】 20/50 处，完成 40%，滞后 15 个百分点\n"
        "滞后 1 个：大磁窑镇"
    ]
    assert sent[0].image is not None and sent[0].image.startswith(PNG)
    assert sent[0].reply_to is not None
    # Forgiving: Traditional script, an alias of the task, full-width '＃'; one task set
    # means #排名 alone ranks it.
    again = await chat.say("＃排名 危改", sender="wxid_anyone", room=COUNTY)
    assert texts(again) == texts(sent)
    assert texts(await chat.say("#排名", sender="wxid_anyone", room=COUNTY)) == texts(sent)
    assert texts(await chat.say("#排名 危房改造", sender="wxid_anyone", room=COUNTY)) == texts(sent)


async def test_rank_ties_share_a_rank_and_both_are_last(chat, app) -> None:
    await setup(chat)
    await report(chat, {TOWN: 40, TOWN2: 20, TOWN3: 20})
    sent = await chat.say("#排名", sender="wxid_anyone", room=COUNTY)
    assert texts(sent)[0].splitlines()[1:] == [
        "1. 吴城乡 40/50 处，完成 80%，超前 25 个百分点",
        "2. 大磁窑镇【末位】 20/50 处，完成 40%，滞后 15 个百分点",
        "2. 官儿乡【末位】 20/50 处，完成 40%，滞后 15 个百分点",
        "滞后 2 个：大磁窑镇、官儿乡",
    ]


async def test_composite_ranking_and_the_city_view(chat, app) -> None:
    await setup(chat)
    for room in (TOWN, TOWN2):
        await chat.say("#目标 易地搬迁 20 截止 7月31日 开始 5月1日", sender=HQ, room=room)
    await report(chat, {TOWN: 40, TOWN2: 30, TOWN3: 20})
    await report(chat, {TOWN: 5, TOWN2: 12}, task="易地搬迁")
    sent = await chat.say("#排名", sender="wxid_anyone", room=COUNTY)
    # 易地搬迁: 33/91 days = 36%. 吴城乡 (80+25)/2 vs (55+36)/2 …; 大磁窑镇 has one task.
    assert texts(sent) == [
        "浑源县 综合排名（6月3日，危房改造、易地搬迁 2 项任务平均）：\n"
        "1. 官儿乡 完成 60%，序时 46%，超前 14 个百分点\n"
        "2. 吴城乡 完成 53%，序时 46%，超前 7 个百分点\n"
        "3. 大磁窑镇【末位】 完成 40%，序时 55%，滞后 15 个百分点（1项）\n"
        "分任务排名请发：#排名 危房改造"
    ]
    assert sent[0].image is not None and sent[0].image.startswith(PNG)
    one = await chat.say("#排名 易地搬迁", sender="wxid_anyone", room=COUNTY)
    assert texts(one)[0].splitlines()[1:] == [
        "1. 官儿乡 12/20 户，完成 60%，超前 24 个百分点",
        "2. 吴城乡【末位】 5/20 户，完成 25%，滞后 11 个百分点",
        "滞后 1 个：吴城乡",
    ]
    city = await chat.say("#排名 危房改造", sender="wxid_anyone", room=CITY)
    assert texts(city)[0].splitlines()[1] == "1. 浑源县 90/150 处，完成 60%，超前 5 个百分点"


async def test_rank_refusals(chat, app) -> None:
    await setup(chat)
    sent = await chat.say("#排名", sender="wxid_anyone", room=VILLAGE)
    assert texts(sent) == ["#排名 只能在市/县/乡级的群里使用，本村进度请用 #进度查询"]
    sent = await chat.say("#排名 修路", sender="wxid_anyone", room=COUNTY)
    assert texts(sent) == ["没有“修路”这项任务。任务有：危房改造、易地搬迁、产业扶贫、贫困村提升、"
                           "光伏扶贫。例：#排名 危房改造"]
    sent = await chat.say("#排名 光伏", sender="wxid_anyone", room=COUNTY)
    assert texts(sent) == ["浑源县的下级单位还没有光伏扶贫的目标，无法排名"]
    sent = await chat.say("#排名", sender="wxid_anyone", room=TOWN)  # its villages: no targets
    assert texts(sent) == ["吴城乡的下级单位还没有设定任务目标，无法排名"]
    sent = await chat.say("#排名 危房改造 易地搬迁", sender="wxid_anyone", room=COUNTY)
    assert texts(sent) == ["一次排一项任务，或不写任务看综合排名。例：#排名 危房改造"]
    sent = await chat.say("#积分排名", sender="wxid_anyone", room=VILLAGE)
    assert texts(sent) == ["#积分排名 只能在市/县/乡级的群里使用，本村十佳请用 #积分榜"]


# -- #积分排名 ---------------------------------------------------------------------------


async def test_points_ranking_per_household_this_month(chat, app) -> None:
    await setup(chat)
    await appoint(chat, "town", EVAL, "评议员甲", "评议员")
    sent = await chat.say("#绑定 村 小西村 上级 吴城乡", sender=ADMIN, room="r_village3")
    assert "绑定" in sent[0].text
    for room, text, who in ((VILLAGE, "#登记 @张三 户 张三家", ("wxid_zs", "张三")),
                            (VILLAGE, "#登记 @李四 户 李四家", ("wxid_ls", "李四")),
                            (VILLAGE2, "#登记 @王五 户 王五家", ("wxid_ww", "王五"))):
        sent = await chat.say(text, sender=ADMIN, room=room, mentions=(who,))
        assert sent[0].text.startswith("已登记"), sent
    for room, text, who in ((VILLAGE, "#加分 @张三 六净六有", "wxid_zs"),
                            (VILLAGE, "#加分 @李四 公益活动", "wxid_ls"),
                            (VILLAGE, "#扣分 @李四 打架斗殴", "wxid_ls"),
                            (VILLAGE2, "#加分 @王五 红白事", "wxid_ww")):
        sent = await chat.say(text, sender=EVAL, room=room, mentions=(who,))
        assert "分" in sent[0].text and "需要" not in sent[0].text, sent
    sent = await chat.say("#积分排名", sender="wxid_anyone", room=TOWN)
    assert texts(sent) == [
        "吴城乡 6月积分排名（按户均加分，6月1日—6月3日）：\n"
        "1. 东坪村 户均 30.0 分（加 30 分，1 户）\n"
        "2. 皇叔洼村 户均 12.5 分（加 25 分，扣 20 分，2 户）\n"
        "3. 小西村 户均 0.0 分（加 0 分，未登记农户）"
    ]
    assert sent[0].image is not None and sent[0].image.startswith(PNG)
    county = await chat.say("#积分排名 本月", sender="wxid_anyone", room=COUNTY)
    assert texts(county)[0].splitlines()[1] == "1. 吴城乡·东坪村 户均 30.0 分（加 30 分，1 户）"
    # The monthly bulletin tells the month's points activity of the villages.
    july = bulletins(await chat.advance(at(7, 1, 12)))
    monthly = [o for o in july[COUNTY] if o.text.startswith("【月通报】")]
    assert monthly[0].text.splitlines()[-1] == (
        "爱心积分（6月，按户均加分）：前2名 吴城乡·东坪村 30.0分、吴城乡·皇叔洼村 12.5分；"
        "共加 55 分、扣 20 分；没有加分的村 1 个：吴城乡·小西村"
    )
    # Next month starts from zero.
    sent = await chat.say("#积分排名", sender="wxid_anyone", room=TOWN)
    assert texts(sent)[0].splitlines() == [
        "吴城乡 7月积分排名（按户均加分，7月1日）：",
        "1. 东坪村 户均 0.0 分（加 0 分，1 户）",
        "1. 小西村 户均 0.0 分（加 0 分，未登记农户）",
        "1. 皇叔洼村 户均 0.0 分（加 0 分，2 户）",
        "本月各村还没有加分记录",
    ]


# -- bulletins -------------------------------------------------------------------------


def bulletins(sent) -> dict[str, list]:
    out: dict[str, list] = {}
    for o in sent:
        if o.text.startswith(("【周通报】", "【月通报】")):
            out.setdefault(o.room, []).append(o)
    return out


async def test_weekly_bulletins_streaks_survive_a_restart_and_the_monthly_one(app, chat, db_url,
                                                                          config) -> None:
    await setup(chat)
    await report(chat, {TOWN: 40, TOWN2: 30, TOWN3: 20})
    week1 = bulletins(await chat.advance(at(6, 10, 9)))
    # To the HQ and county groups only; each with its chart.
    assert sorted(week1) == [CITY, COUNTY]
    assert all(o.image is not None and o.image.startswith(PNG) for os in week1.values() for o in os)
    assert [o.text for o in week1[COUNTY]] == [
        "【周通报】浑源县进度排名（6月10日）\n"
        "危房改造（序时进度 67%）\n"
        "1. 吴城乡 40/50 处，完成 80%，超前 13 个百分点\n"
        "2. 官儿乡 30/50 处，完成 60%，滞后 7 个百分点；按任务开始以来的进度预计7月7日完成，超期7天\n"
        "3. 大磁窑镇【末位】 20/50 处，完成 40%，滞后 27 个百分点；按任务开始以来的进度预计8月9日完成，超期40天"
    ]
    assert [o.text for o in week1[CITY]] == [
        "【周通报】大同市进度排名（6月10日）\n"
        "危房改造（序时进度 67%）\n"
        "1. 浑源县 90/150 处，完成 60%，滞后 7 个百分点；按任务开始以来的进度预计7月7日完成，超期7天"
    ]
    await chat.advance(at(6, 14, 10))
    await report(chat, {TOWN: 46, TOWN2: 38, TOWN3: 22})
    week2 = bulletins(await chat.advance(at(6, 17, 9)))
    assert week2[COUNTY][0].text.splitlines()[2:] == [
        "1. 吴城乡 46/50 处，完成 92%，超前 14 个百分点",
        "2. 官儿乡 38/50 处，完成 76%，滞后 2 个百分点；按近两周进度预计7月8日完成，超期8天",
        "3. 大磁窑镇【连续2周末位】 22/50 处，完成 44%，滞后 34 个百分点；"
        "按近两周进度预计12月30日完成，超期183天",
    ]
    app.close()

    # A restart: a new process on the same database, the clock where it was.
    app2 = build_app(config, clock=VirtualClock(at(6, 17, 9)), db_url=db_url, admins=[ADMIN])
    try:
        chat2 = MemoryChat(app2)
        week3 = bulletins(await chat2.advance(at(6, 24, 9)))
        # Nobody reported in the week of 6月17日: each is marked 本周未报 with the date
        # of its figure, and no forecast is made from the old figures.
        assert week3[COUNTY][0].text.splitlines()[2:] == [
            "1. 吴城乡【本周未报（数据截至6月14日）】 46/50 处，完成 92%，超前 2 个百分点",
            "2. 官儿乡【本周未报（数据截至6月14日）】 38/50 处，完成 76%，滞后 14 个百分点",
            "3. 大磁窑镇【本周未报（数据截至6月14日），连续3周末位】 22/50 处，完成 44%，"
            "滞后 46 个百分点",
        ]
        # (A new MemoryChat numbers its messages from m1 again: give this one its own id.)
        sent = await chat2.say("#进度 危房改造 50", sender=CADRES[TOWN3], room=TOWN3,
                               msg_id="after-restart")
        assert sent[0].text.startswith("已记录 大磁窑镇 危房改造 50/50 处"), sent
        july = bulletins(await chat2.advance(at(7, 1, 10)))
        weekly, monthly = july[COUNTY]
        assert weekly.text.startswith("【周通报】浑源县进度排名（7月1日）")
        # 大磁窑镇 finished: 官儿乡 is last now, and its streak starts again.
        assert "2. 吴城乡【本周未报（数据截至6月14日）】 46/50 处" in weekly.text
        assert "3. 官儿乡【本周未报（数据截至6月14日），末位】 38/50 处" in weekly.text
        assert monthly.text.splitlines() == [
            "【月通报】浑源县6月进度排名（截至6月30日）",
            "危房改造（序时进度 100%）",
            "1. 大磁窑镇 50/50 处，完成 100%，与序时进度持平",
            "2. 吴城乡【本周未报（数据截至6月14日）】 46/50 处，完成 92%，滞后 8 个百分点",
            "3. 官儿乡【本周未报（数据截至6月14日），末位】 38/50 处，完成 76%，滞后 24 个百分点",
            "请以下单位在月度例会上说明情况：吴城乡（危房改造滞后 8 个百分点）、"
            "官儿乡（危房改造末位，滞后 24 个百分点）",
            "爱心积分（6月，按户均加分）：各村本月都没有加分记录",
        ]
        assert monthly.image is not None and monthly.image.startswith(PNG)
        assert [o.text.splitlines()[0] for o in july[CITY]] == [
            "【周通报】大同市进度排名（7月1日）", "【月通报】大同市6月进度排名（截至6月30日）",
        ]
    finally:
        app2.close()


async def test_stale_figures_are_marked_and_an_ahead_unit_gets_no_contradiction(app, chat
                                                                                  ) -> None:
    await setup(chat)
    await report(chat, {TOWN: 45, TOWN2: 30, TOWN3: 20})  # 6月3日
    await chat.advance(at(6, 14, 10))
    # 吴城乡 is well ahead but gained 1 in two weeks; 大磁窑镇 does not report again.
    await report(chat, {TOWN: 46, TOWN2: 40})
    week = bulletins(await chat.advance(at(6, 17, 9)))
    assert week[COUNTY][0].text.splitlines() == [
        "【周通报】浑源县进度排名（6月17日）",
        "危房改造（序时进度 78%）",
        "1. 吴城乡 46/50 处，完成 92%，超前 14 个百分点；"
        "但按近两周进度预计8月12日完成，有超期43天的风险",
        "2. 官儿乡 40/50 处，完成 80%，超前 2 个百分点；"
        "但按近两周进度预计7月1日完成，有超期1天的风险",
        # No forecast from a figure that is not this week's.
        "3. 大磁窑镇【本周未报（数据截至6月3日），连续2周末位】 20/50 处，完成 40%，"
        "滞后 38 个百分点",
    ]
    assert not any("超前" in line and "超期" in line and "但按近两周进度" not in line
                   for line in week[COUNTY][0].text.splitlines())
    rank = await chat.say("#排名 危房改造", sender="wxid_anyone", room=COUNTY)
    assert "3. 大磁窑镇【本周未报（数据截至6月3日），末位】 20/50 处" in rank[0].text
    # The city's ranking of the county: some of its townships reported, so it is current.
    assert "本周未报" not in week[CITY][0].text
    # The dashboard marks it too (the big screen of the county; the city's table a week
    # later, when the county has no report of that week), with no forecast.
    now = at(6, 17, 10)
    later = at(6, 24, 10)
    section = app.db.run_sync(lambda s: rankings_section(s, app.config, later))
    row = next(r for t in section["tables"] if t["title"] == "危房改造 · 大同市" for r in t["rows"])
    assert row["unit"] == "浑源县" and row["tags"][0] == "本周未报（数据截至6月14日）"
    assert row["forecast"] == ""
    county = app.db.run_sync(lambda s: s.exec(select(OrgUnit).where(OrgUnit.name == "浑源县")).one())
    big = app.db.run_sync(lambda s: screen(s, app.config, now, county.id))
    assert big is not None
    stale = {r["unit"]: r["stale"] for r in big["rankings"][0]["rows"]}
    assert stale == {"吴城乡": None, "官儿乡": None, "大磁窑镇": "6月3日"}


def test_bulletins_follow_the_holiday_calendar(config) -> None:
    # 2019-10-07 (Monday) is a National Day holiday: the weekly bulletin moves to Tuesday.
    assert _weekly_next(None, at(9, 30, 9), config) == at(10, 8, 8, 30)
    # The Spring Festival week (2月4日–10日) has no working day: no bulletin that week.
    assert _weekly_next(None, datetime(2019, 2, 1, tzinfo=SHANGHAI), config) == datetime(
        2019, 2, 11, 8, 30, tzinfo=SHANGHAI
    )
    # 10月1日 is a holiday: the monthly bulletin waits for the first working day.
    assert _monthly_next(None, at(9, 2), config) == at(10, 8, 9)
    assert _monthly_next(None, at(6, 3), config) == at(7, 1, 9)
    plain = config.with_overrides(schedules={"holidays": False})
    assert _weekly_next(None, at(9, 30, 9), plain) == at(10, 7, 8, 30)


async def test_a_missed_bulletin_is_sent_once_marked_late(db_url, config) -> None:
    clock = VirtualClock(at(6, 3, 9))
    app = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        await setup(chat)
        await report(chat, {TOWN: 40, TOWN2: 30, TOWN3: 20})
    finally:
        app.close()
    # Down over Monday 08:30; back at 09:00 (within the grace): one 补发 per group.
    app = build_app(config, clock=VirtualClock(at(6, 10, 9)), db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        sent = await chat.advance(at(6, 10, 9, 1))
        got = bulletins(sent)
        assert sorted(got) == [CITY, COUNTY] and all(len(v) == 1 for v in got.values())
        assert got[COUNTY][0].text.endswith("（补发）")
    finally:
        app.close()


async def test_each_groups_bulletin_is_its_own_job_and_a_week_is_published_once(
        db_url, config) -> None:
    clock = VirtualClock(at(6, 3, 9))
    app = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        await setup(chat)
        await report(chat, {TOWN: 40, TOWN2: 30, TOWN3: 20})
        got = bulletins(await chat.advance(at(6, 10, 9)))
        assert sorted(got) == [CITY, COUNTY] and all(len(v) == 1 for v in got.values())
        # One one-off job per group's scope (each its own transaction), each run once.
        runs = app.db.run_sync(lambda s: s.exec(
            select(Job.key, func.count(col(JobRun.id)))
            .join(JobRun, col(JobRun.job_id) == col(Job.id))
            .where(col(Job.key).startswith("bulletin:week:2019-06-10:"))
            .group_by(col(Job.key))
        ).all())
        assert len(runs) == 2 and all(n == 1 for _, n in runs)
    finally:
        app.close()
    # The operator moves the weekly bulletin to 10:00 and restarts at 09:30: this week's
    # bulletins are out already and are not sent again.
    later = config.with_overrides(schedules={"weekly_bulletin": "周一 10:00"})
    app = build_app(later, clock=VirtualClock(at(6, 10, 9, 30)), db_url=db_url, admins=[ADMIN])
    try:
        assert bulletins(await MemoryChat(app).advance(at(6, 10, 11))) == {}
    finally:
        app.close()


async def test_export_bulletin_workbook(chat, app, db_url, tmp_path: Path) -> None:
    await setup(chat)
    await report(chat, {TOWN: 40, TOWN2: 30, TOWN3: 20})
    await chat.advance(at(6, 17, 9))  # two weekly bulletins: 6月10日, 6月17日
    out = tmp_path / "bulletin.xlsx"
    result = CliRunner().invoke(cli, ["export", "bulletin", "--month", "2019-06", str(out),
                                      "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "2019年6月通报：排名 4 行，周通报 8 行，2 个村" in result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["月度排名", "周通报记录", "爱心积分"]
    ranks = [tuple(r) for r in wb["月度排名"].iter_rows(values_only=True)][2:]
    assert ranks[0][:5] == ("范围", "任务", "计量", "名次", "单位")
    # Measured on 6月30日: everyone is behind; 大磁窑镇 last.
    assert [(r[0], r[3], r[4], r[7], r[8], r[9], r[10], r[13]) for r in ranks[1:]] == [
        ("大同市", 1, "浑源县", 60, 100, -40, "本周未报（数据截至6月3日）、滞后", "是"),
        ("浑源县", 1, "吴城乡", 80, 100, -20, "本周未报（数据截至6月3日）、滞后", "是"),
        ("浑源县", 2, "官儿乡", 60, 100, -40, "本周未报（数据截至6月3日）、滞后", "是"),
        ("浑源县", 3, "大磁窑镇", 40, 100, -60, "本周未报（数据截至6月3日）、滞后、末位", "是"),
    ]
    weeks = [tuple(r) for r in wb["周通报记录"].iter_rows(values_only=True)][3:]
    assert [(r[0].date().isoformat(), r[1], r[4], r[11]) for r in weeks if r[11]] == [
        ("2019-06-10", "浑源县", "大磁窑镇", "末位"), ("2019-06-17", "浑源县", "大磁窑镇", "末位"),
    ]
    villages = [tuple(r) for r in wb["爱心积分"].iter_rows(values_only=True)][3:]
    assert sorted(v[0] for v in villages) == ["浑源县·吴城乡·东坪村", "浑源县·吴城乡·皇叔洼村"]
    bad = CliRunner().invoke(cli, ["export", "bulletin", "--month", "六月", str(out), "--db", db_url])
    assert bad.exit_code == 2 and "--month" in bad.output


def test_month_parsing() -> None:
    from datetime import date

    from bot.rankings.files import parse_month

    assert parse_month("2019-06") == date(2019, 6, 1)
    assert parse_month("2019年6月") == date(2019, 6, 1)
    assert parse_month("2019/12") == date(2019, 12, 1)
    assert parse_month("2019-13") is None and parse_month("六月") is None


def test_default_config_has_the_bulletin_times() -> None:
    s = load_config().schedules
    assert (s.weekly_bulletin, s.monthly_bulletin_day, s.monthly_bulletin_time) == ("周一 08:30", 1, "09:00")
