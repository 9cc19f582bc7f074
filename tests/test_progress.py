"""Whole-bot tests of targets, progress reports, 序时进度 and the progress jobs, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import partial

from sqlmodel import func, select

from bot.drivers.memory import MemoryChat
from bot.models.core import AuditEntry, OrgUnit
from bot.models.jobs import Job
from bot.models.progress import Report, Target
from bot.progress import (
    report_history,
    sub_unit_figures,
    unit_figures,
    unreported_units,
)
from bot.wiring import build_app
from tests import helpers
from tests.conftest import SHANGHAI
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

VILLAGE, TOWN, COUNTY, CITY = (ROOMS[k][0] for k in ("village", "town", "county", "city"))
VILLAGE2 = "r_village2"
HQ_ID, TOWN_CADRE, CADRE, CADRE2, VILLAGER = (
    "wxid_hq",
    "wxid_wang",
    "wxid_liuwei",
    "wxid_li",
    "wxid_zs",
)


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2019, month, day, hour, minute, tzinfo=SHANGHAI)


def count(app, model) -> int:
    return app.db.run_sync(lambda s: s.exec(select(func.count()).select_from(model)).one())


async def setup(chat: MemoryChat) -> None:
    """The four-level tree, a second village, HQ in the city, a town cadre, two village
    cadres."""
    await build_tree(chat)
    sent = await chat.say(
        "#绑定 村 东坪村 上级 吴城乡", sender=ADMIN, room=VILLAGE2, topic="东坪村群"
    )
    assert "东坪村" in sent[0].text
    await appoint(chat, "city", HQ_ID, "赵主任", "指挥部")
    await appoint(chat, "town", TOWN_CADRE, "王乡长", "干部")
    await appoint(chat, "village", CADRE, "刘伟", "干部")
    sent = await chat.say(
        "#任命 @李强 干部", sender=ADMIN, room=VILLAGE2, mentions=((CADRE2, "李强"),)
    )
    assert "已任命" in sent[0].text


NAMES = {HQ_ID: "赵主任", TOWN_CADRE: "王乡长", CADRE: "刘伟", CADRE2: "李强", VILLAGER: "张三"}
# The one say of tests/helpers.py, in this village with these names.
say = partial(helpers.say, room=VILLAGE, names=NAMES)


async def targets(chat: MemoryChat) -> None:
    assert (await say(chat, "#目标 危房改造 50 截止 6月30日", TOWN_CADRE))[0].startswith("已设定")
    assert (await say(chat, "#目标 危房改造 40 截止 6月30日", HQ_ID, room=VILLAGE2))[0].startswith(
        "已设定"
    )


# -- targets ---------------------------------------------------------------------------


async def test_target_permissions_and_validation_change_nothing(chat, app) -> None:
    await setup(chat)
    refused = [
        (CADRE, "#目标 危房改造 50 截止 6月30日",
         "干部不能给本单位设定目标。#目标 需要指挥部权限，或上级单位（吴城乡及以上）的干部权限"),
        (VILLAGER, "#目标 危房改造 50 截止 6月30日", "#目标 需要指挥部权限，或上级单位的干部权限"),
        (TOWN_CADRE, "#目标 危房改造 0 截止 6月30日", "目标数要大于 0。例：#目标 危房改造 50 截止 6月30日"),
        (TOWN_CADRE, "#目标 危房改造 -5 截止 6月30日", "目标数要大于 0。例：#目标 危房改造 50 截止 6月30日"),
        (TOWN_CADRE, "#目标 危房改造 50", "请写截止日期，如“截止 6月30日”。例：#目标 危房改造 50 截止 6月30日"),
        (TOWN_CADRE, "#目标 修路 50 截止 6月30日",
         "没有“修路”这项任务。任务有：危房改造、易地搬迁、产业扶贫、贫困村提升、光伏扶贫。例：#目标 危房改造 50 截止 6月30日"),
        (TOWN_CADRE, "#目标 危房改造 50 截止 6月1日", "截止日期 6月1日 已经过了"),
        (TOWN_CADRE, "#目标 危房改造 50 截止 6月10日 开始 6月20日",
         "截止日期（6月10日）要晚于开始日期（6月20日）"),
    ]
    for sender, text, expected in refused:
        assert await say(chat, text, sender) == [expected], text
    # A cadre of the town sets a target in the town's own group: that is its own unit.
    assert (await say(chat, "#目标 危房改造 50 截止 6月30日", TOWN_CADRE, room=TOWN))[0].startswith(
        "干部不能"
    )
    assert count(app, Target) == 0


async def test_target_set_and_replaced_is_audited(chat, app) -> None:
    await setup(chat)
    assert await say(chat, "#目標 危房改造 五十 截止 六月三十日", TOWN_CADRE) == [
        "已设定 皇叔洼村 危房改造 目标 50 处，6月3日开始，6月30日截止"
    ]
    await chat.advance(at(6, 10))
    assert await say(chat, "#进度 危房改造 20", CADRE) == [
        "已记录 皇叔洼村 危房改造 20/50 处（40%），序时进度 26%，超前 14 个百分点"
    ]
    # Replaced: the start stays (an amendment of a running target); the reply shows the
    # progress against the new figure.
    assert await say(chat, "#目标 危房改造 40 截止 6月30日", HQ_ID) == [
        "已修改 皇叔洼村 危房改造 目标为 40 处，6月3日开始，6月30日截止（原为 50 处，6月3日至6月30日）\n"
        "目前 20/40 处（50%），序时进度 26%，超前 24 个百分点"
    ]
    assert count(app, Target) == 1
    audits = app.db.run_sync(lambda s: s.exec(
        select(AuditEntry).where(AuditEntry.action == "target").order_by(AuditEntry.id)).all())
    assert [a.actor_id for a in audits] == [TOWN_CADRE, HQ_ID]
    assert json.loads(audits[1].detail)["previous"] == [50, "2019-06-03", "2019-06-30"]


# -- reports ---------------------------------------------------------------------------


async def test_report_reply_at_the_edges_of_the_schedule(chat, app) -> None:
    await setup(chat)
    # A target that starts next week: before its start the schedule is 0.
    assert await say(chat, "#目标 危房改造 50 截止 6月30日 开始 6月10日", TOWN_CADRE) == [
        "已设定 皇叔洼村 危房改造 目标 50 处，6月10日开始，6月30日截止"
    ]
    assert await say(chat, "#进度 危房改造 0", CADRE) == [
        "已记录 皇叔洼村 危房改造 0/50 处（0%），序时进度 0%，与序时进度持平"
    ]
    await chat.advance(at(6, 20))  # 10 of 20 days
    assert await say(chat, "#进度 危房改造 25/50", CADRE) == [
        "已记录 皇叔洼村 危房改造 25/50 处（50%），序时进度 50%，与序时进度持平"
    ]
    await chat.advance(at(6, 30, 18))  # on the deadline
    assert await say(chat, "#进度 危房改造 45", CADRE) == [
        "已记录 皇叔洼村 危房改造 45/50 处（90%），序时进度 100%，滞后 10 个百分点"
    ]
    await chat.advance(at(7, 8))  # after it: still 100 %
    assert await say(chat, "#进度 危房改造 +5", CADRE) == [
        "已记录 皇叔洼村 危房改造 50/50 处（100%），序时进度 100%，与序时进度持平"
    ]


async def test_the_products_example_and_forms(chat, app) -> None:
    await setup(chat)
    await targets(chat)
    await say(chat, "#目标 易地搬迁 10 截止 6月30日", TOWN_CADRE)
    await chat.advance(at(6, 22, 10))
    assert await say(chat, "#進度 危房改造 四十二", CADRE) == [
        "已记录 皇叔洼村 危房改造 42/50 处（84%），序时进度 70%，超前 14 个百分点"
    ]
    assert await say(chat, "#进度 危房改造四十三处", CADRE) == [
        "已记录 皇叔洼村 危房改造 43/50 处（86%），序时进度 70%，超前 16 个百分点"
    ]
    assert await say(chat, "#进度\n危改 ４４/５０\n易地搬遷 +3", CADRE) == [
        "已记录 皇叔洼村 危房改造 44/50 处（88%），序时进度 70%，超前 18 个百分点\n"
        "已记录 皇叔洼村 易地搬迁 3/10 户（30%），序时进度 70%，滞后 40 个百分点"
    ]
    rows = app.db.run_sync(lambda s: s.exec(select(Report).order_by(Report.id)).all())
    assert [(r.task, r.figure, r.reporter_id, r.report_date) for r in rows] == [
        ("危房改造", 42, CADRE, date(2019, 6, 22)), ("危房改造", 43, CADRE, date(2019, 6, 22)),
        ("危房改造", 44, CADRE, date(2019, 6, 22)), ("易地搬迁", 3, CADRE, date(2019, 6, 22)),
    ]
    assert rows[2].msg_id == rows[3].msg_id and rows[0].msg_id != rows[1].msg_id


async def test_report_refusals_change_nothing(chat, app) -> None:
    await setup(chat)
    assert await say(chat, "#进度 危房改造 5", CADRE) == [
        "皇叔洼村还没有危房改造的目标，请指挥部或上级单位的干部（如 赵主任、王乡长）先在本群设定，"
        "例：#目标 危房改造 50 截止 6月30日"
    ]
    await targets(chat)
    assert (await say(chat, "#进度 危房改造 10", CADRE))[0].startswith("已记录")
    before = count(app, Report)
    refused = [
        (VILLAGER, "#进度 危房改造 12", "#进度 需要干部权限"),
        (CADRE, "#进度 危房改造 12/60",
         "皇叔洼村危房改造的目标是 50 处，不是 60 处。如目标有变，请指挥部或上级干部用 #目标 修改"),
        (CADRE, "#进度 危房改造 8",
         "危房改造 8 处比上次报的 10 处少。累计数只增不减；如上次报错了，请加“更正”：#进度 危房改造 8 更正"),
        (CADRE, "#进度 危房改造 -2",
         "完成数不能是负数；如上次报多了，请加“更正”重报，如 #进度 危房改造 30 更正。例：#进度 危房改造 42"),
        (CADRE, "#进度 危房改造 -20 更正",
         "完成数不能是负数；如上次报多了，请加“更正”重报，如 #进度 危房改造 30 更正。例：#进度 危房改造 42"),
        (CADRE, "#进度 危房改造 -20 更正",
         "完成数不能是负数；如上次报多了，请加“更正”重报，如 #进度 危房改造 30 更正。例：#进度 危房改造 42"),
        (CADRE, "#进度 危房改造 很多", "看不懂“很多”：完成数要写整数，如 42、+5 或 42/50。例：#进度 危房改造 42"),
        (CADRE, "#进度", "请写任务和累计完成数。例：#进度 危房改造 42"),
        (CADRE, "#进度 修路 5", "没有“修路”这项任务。任务有：危房改造、易地搬迁、产业扶贫、贫困村提升、光伏扶贫。"
         "例：#进度 危房改造 42"),
        (CADRE, "#进度 危房改造 42 50", "“42 50”是两个数，完成数只写一个，如 42 或 42/50。例：#进度 危房改造 42"),
        # One bad line: the whole message is left unrecorded.
        (CADRE, "#进度\n危房改造 20\n光伏 5",
         "第2行：皇叔洼村还没有光伏扶贫的目标，请指挥部或上级单位的干部（如 赵主任、王乡长）先在本群设定，"
         "例：#目标 光伏扶贫 50 截止 6月30日\n本条消息都没有记录，请改正后整条重发"),
        # The town's figure is its villages' sum: it is not reported in the town's group.
        (TOWN_CADRE, "#进度 危房改造 60",
         "吴城乡的危房改造进度由下级单位汇总，请在下级单位的群里报送。查看汇总：#进度查询 危房改造"),
    ]
    for sender, text, expected in refused:
        room = TOWN if sender == TOWN_CADRE else VILLAGE
        assert await say(chat, text, sender, room=room) == [expected], text
    assert count(app, Report) == before
    # The cadre of one village may not report in another's group.
    assert await say(chat, "#进度 危房改造 12", CADRE, room=VILLAGE2) == ["#进度 需要干部权限"]
    # Ordinary chat gets no reply.
    assert await say(chat, "危房改造 12", CADRE) == []


async def test_corrections_and_data_quality_flags(chat, app) -> None:
    await setup(chat)
    await targets(chat)
    sent = await chat.say("#进度 危房改造 30", sender=CADRE, name="刘伟", room=VILLAGE)
    assert [o.room for o in sent] == [VILLAGE]
    # Lowered with 更正: accepted, and the town's group is told.
    sent = await chat.say("#进度 危房改造 25 更正", sender=CADRE, name="刘伟", room=VILLAGE)
    assert [(o.room, o.text) for o in sent] == [
        (
            VILLAGE,
            "已更正 皇叔洼村 危房改造 25/50 处（50%），序时进度 0%，超前 50 个百分点（原为 30 处）",
        ),
        (TOWN, "【数据核实】皇叔洼村 危房改造 从 30 处更正为 25 处（刘伟报）"),
    ]
    # Above the target: accepted with a note, and flagged.
    sent = await chat.say("#进度 危房改造 55", sender=CADRE, name="刘伟", room=VILLAGE)
    assert [(o.room, o.text) for o in sent] == [
        (VILLAGE, "已记录 皇叔洼村 危房改造 55/50 处（110%），序时进度 0%，超前 110 个百分点；"
                  "超出目标 5 处，请核实"),
        (TOWN, "【数据核实】皇叔洼村 危房改造 报 55 处，超过目标 50 处（刘伟报）"),
    ]
    # The same figure three times in a row: flagged once, on the third.
    rooms = []
    for _ in range(4):
        sent = await chat.say("#进度 危房改造 12", sender=CADRE2, name="李强", room=VILLAGE2)
        rooms.append([(o.room, o.text) for o in sent if o.room != VILLAGE2])
    assert rooms == [
        [],
        [],
        [(TOWN, "【数据核实】东坪村 危房改造 连续 3 次报送都是 12 处，没有进展")],
        [],
    ]


async def test_flags_go_to_the_nearest_group_above(chat, app) -> None:
    await setup(chat)
    # 官儿乡 has no group of its own (its room was bound elsewhere): its village's flags
    # go to the county's group.
    for room, text in (("r_tmp", "#绑定 乡 官儿乡 上级 浑源县"), ("r_new", "#绑定 村 新村 上级 官儿乡"),
                       ("r_tmp", "#绑定 乡 大磁窑镇 上级 浑源县")):
        assert "绑" in (await say(chat, text, ADMIN, room=room))[0]
    assert (await say(chat, "#目标 危房改造 10 截止 6月30日", HQ_ID, room="r_new"))[0].startswith("已设定")
    sent = await chat.say("#任命 @新干部 干部", sender=ADMIN, room="r_new",
                          mentions=(("wxid_new", "新干部"),))
    assert "已任命" in sent[0].text, sent
    sent = await chat.say("#进度 危房改造 12", sender="wxid_new", name="新干部", room="r_new")
    assert [(o.room, o.text) for o in sent][1:] == [
        (COUNTY, "【数据核实】新村 危房改造 报 12 处，超过目标 10 处（新干部报）"),
    ]


async def test_withdraw(chat, app) -> None:
    await setup(chat)
    await targets(chat)
    await say(chat, "#目标 易地搬迁 10 截止 6月30日", TOWN_CADRE)
    assert await say(chat, "#撤回", CADRE) == ["您在本群没有可撤回的进度报送"]
    await say(chat, "#进度 危房改造 10", CADRE)
    await chat.advance(at(6, 4))
    await say(chat, "#进度\n危房改造 14\n易地搬迁 2", CADRE)
    await say(chat, "#进度 危房改造 12", CADRE2, room=VILLAGE2)
    # Both lines of the newest message go; the other village's report stays.
    assert await say(chat, "#撤回", CADRE) == [
        "已撤回 6月4日 09:00 报的 危房改造 14 处；现在 皇叔洼村 危房改造 10/50 处（20%），序时进度 4%，超前 16 个百分点\n"
        "已撤回 6月4日 09:00 报的 易地搬迁 2 户；皇叔洼村 易地搬迁 现在没有报送"
    ]
    assert await say(chat, "#撤回 危房改造", CADRE) == [
        "#撤回 不用写别的，它撤回您在本群最近一次的进度报送。例：#撤回"
    ]
    assert await say(chat, "#撤回", VILLAGER) == ["#撤回 需要干部权限"]
    # The report of 6/3 09:00 is more than 24 h old now.
    await chat.advance(at(6, 4, 9, 1))
    assert await say(chat, "#撤回", CADRE) == [
        "您最近一次报送是 6月3日 09:00，已超过24小时，不能撤回。如数字有误，请加“更正”重报，例：#进度 危房改造 10 更正"
    ]
    figures = app.db.run_sync(lambda s: s.exec(
        select(Report.figure, Report.withdrawn_at).order_by(Report.id)).all())
    assert [(f, w is not None) for f, w in figures] == [
        (10, False),
        (14, True),
        (2, True),
        (12, False),
    ]
    # A withdrawn figure no longer bounds the next one from below.
    assert (await say(chat, "#进度 危房改造 11", CADRE))[0].startswith(
        "已记录 皇叔洼村 危房改造 11/50"
    )


# -- queries and roll-up ---------------------------------------------------------------


async def test_query_rolls_up_to_the_sub_units(chat, app) -> None:
    await setup(chat)
    await targets(chat)
    # A quota on the town: kept, but its figure is the villages' sum.
    assert await say(chat, "#目标 危房改造 100 截止 6月30日", HQ_ID, room=TOWN) == [
        "已设定 吴城乡 危房改造 目标 100 处，6月3日开始，6月30日截止\n下级单位已有危房改造目标，本单位的进度按下级汇总"
    ]
    await chat.advance(at(6, 12))
    await say(chat, "#进度 危房改造 20", CADRE)
    assert await say(chat, "#进度查询", VILLAGER) == [
        "皇叔洼村 危房改造 20/50 处（40%），序时进度 33%，超前 7 个百分点（6月12日报）"
    ]
    assert await say(chat, "#进度查询", VILLAGER, room=VILLAGE2) == [
        "东坪村 危房改造 0/40 处（0%），序时进度 33%，滞后 33 个百分点（还没有报送）"
    ]
    expected_town = [
        "吴城乡 危房改造 20/90 处（22%），序时进度 33%，滞后 11 个百分点，下级2个单位：\n"
        "· 皇叔洼村 20/50（40%），超前 7 个百分点\n"
        "· 东坪村 0/40（0%），滞后 33 个百分点，还没有报送"
    ]
    assert await say(chat, "#进度查询", VILLAGER, room=TOWN) == expected_town
    assert await say(chat, "#进度查詢 危改", VILLAGER, room=COUNTY) == [
        "浑源县 危房改造 20/90 处（22%），序时进度 33%，滞后 11 个百分点，下级1个单位：\n"
        "· 吴城乡 20/90（22%），滞后 11 个百分点"
    ]
    assert await say(chat, "#进度查询 光伏", VILLAGER, room=TOWN) == ["吴城乡还没有光伏扶贫的目标"]
    assert await say(chat, "#进度查询 修路", VILLAGER, room=TOWN) == [
        "没有“修路”这项任务。任务有：危房改造、易地搬迁、产业扶贫、贫困村提升、光伏扶贫。例：#进度查询 危房改造"
    ]

    def public(s):
        town = s.exec(select(OrgUnit).where(OrgUnit.name == "吴城乡")).one()
        city = s.exec(select(OrgUnit).where(OrgUnit.name == "大同市")).one()
        fig = unit_figures(s, town, "危房改造", date(2019, 6, 12))
        subs = [
            (u.name, f.done, f.target)
            for u, f in sub_unit_figures(s, town, "危房改造", date(2019, 6, 12))
        ]
        # As of a date before the report, it does not count.
        early = unit_figures(s, city, "危房改造", date(2019, 6, 11))
        return fig, subs, early, report_history(s, city, "危房改造")

    fig, subs, early, history = app.db.run_sync(public)
    assert (fig.done, fig.target, fig.units, fig.reported_units) == (20, 90, 2, 1)
    assert subs == [("皇叔洼村", 20, 50), ("东坪村", 0, 40)]
    assert early.done == 0 and early.target == 90
    assert history == [(date(2019, 6, 12), 20)]


async def test_report_history_sums_the_newest_figures_per_day(chat, app) -> None:
    await setup(chat)
    await targets(chat)
    for day, cadre, room, figure in [(4, CADRE, VILLAGE, 5), (4, CADRE, VILLAGE, 7),
                                     (5, CADRE2, VILLAGE2, 3), (6, CADRE, VILLAGE, 9)]:
        await chat.advance(at(6, day, 10))
        await say(chat, f"#进度 危房改造 {figure}", cadre, room=room)

    def history(s):
        town = s.exec(select(OrgUnit).where(OrgUnit.name == "吴城乡")).one()
        village = s.exec(select(OrgUnit).where(OrgUnit.name == "皇叔洼村")).one()
        return report_history(s, town, "危房改造"), report_history(s, village, "危房改造")

    town, village = app.db.run_sync(history)
    assert town == [(date(2019, 6, 4), 7), (date(2019, 6, 5), 10), (date(2019, 6, 6), 12)]
    assert village == [(date(2019, 6, 4), 7), (date(2019, 6, 6), 9)]


# -- #未报 and the jobs ------------------------------------------------------------------


def mine(sent):
    """The progress jobs' messages (other areas' jobs run on the same clock)."""
    return [o for o in sent if o.text.startswith(("【进度提醒】", "【未报进度】"))]


async def test_unreported_and_the_weekly_chase(chat, app) -> None:
    await setup(chat)
    await targets(chat)
    await say(chat, "#目标 易地搬迁 10 截止 6月30日", TOWN_CADRE)
    assert await say(chat, "#未报", VILLAGER, room=TOWN) == ["#未报 需要干部或指挥部权限"]
    assert await say(chat, "#未报", TOWN_CADRE, room=TOWN) == [
        "本周（6月3日起）还有 2 个单位没有报送进度：\n皇叔洼村（危房改造、易地搬迁）\n东坪村（危房改造）"
    ]
    assert await say(chat, "#未报 易地搬迁", HQ_ID, room=CITY) == [
        "本周（6月3日起）还有 1 个单位没有报送进度：\n浑源县·吴城乡·皇叔洼村（危房改造、易地搬迁）"
    ]
    assert await say(chat, "#未报", HQ_ID, room=COUNTY) == [
        "本周（6月3日起）还有 2 个单位没有报送进度：\n吴城乡·皇叔洼村（危房改造、易地搬迁）\n吴城乡·东坪村（危房改造）"
    ]
    assert await say(chat, "#未报", CADRE, room=VILLAGE) == [
        "本周（6月3日起）皇叔洼村还没有报送：危房改造、易地搬迁"
    ]
    await say(chat, "#进度\n危房改造 5\n易地搬迁 1", CADRE)
    # Friday 7 June 2019 is the Dragon Boat Festival: the chase moves to Thursday 17:00.
    sent = mine(await chat.advance(at(6, 6, 18)))
    assert [(o.room, o.text, o.at) for o in sent] == [
        (VILLAGE2, "【进度提醒】东坪村本周还没有报送 危房改造 的进度，请干部发送“#进度 危房改造 累计完成数”",
         at(6, 6, 17)),
        (CITY, "【未报进度】本周（6月3日起）还有 1 个单位没有报送进度：\n浑源县·吴城乡·东坪村（危房改造）",
         at(6, 6, 17)),
    ]
    assert mine(await chat.advance(at(6, 8))) == []
    # Next week: everyone reports, HQ hears so; a target already met is not chased.
    await chat.advance(at(6, 10))
    await say(chat, "#进度 危房改造 6", CADRE)
    await say(chat, "#进度 易地搬迁 10", CADRE)
    await say(chat, "#进度 危房改造 6", CADRE2, room=VILLAGE2)
    sent = mine(await chat.advance(at(6, 14, 18)))
    assert [(o.room, o.text) for o in sent] == [
        (CITY, "【未报进度】本周（6月10日起）大同市各单位都已报送进度")
    ]
    await chat.advance(at(6, 17, 8))

    def public(s):
        city = s.exec(select(OrgUnit).where(OrgUnit.name == "大同市")).one()
        return [(u.unit.name, u.tasks) for u in unreported_units(s, city, at(6, 17, 8), SHANGHAI)]

    assert app.db.run_sync(public) == [("皇叔洼村", ("危房改造",)), ("东坪村", ("危房改造",))]


async def test_deadline_reminders(chat, app, config, clock, db_url) -> None:
    await setup(chat)
    await targets(chat)
    await say(chat, "#进度 危房改造 30", CADRE)
    # Set less than 7 days before its deadline: only the 3- and 1-day reminders remain.
    await say(chat, "#目标 易地搬迁 10 截止 6月9日", TOWN_CADRE)
    sent = await chat.advance(at(6, 22, 10))
    assert [(o.room, o.text, o.at) for o in sent if "截止提醒" in o.text] == [
        (VILLAGE, "【截止提醒】皇叔洼村 易地搬迁 还有 3 天截止（6月9日）：目前 0/10 户（0%），序时进度 50%，"
                  "滞后 50 个百分点，还差 10 户", at(6, 6)),
        (VILLAGE, "【截止提醒】皇叔洼村 易地搬迁 还有 1 天截止（6月9日）：目前 0/10 户（0%），序时进度 83%，"
                  "滞后 83 个百分点，还差 10 户", at(6, 8)),
    ]
    # 东坪村 has met its target: it gets no reminder.
    await say(chat, "#进度 危房改造 50", CADRE2, room=VILLAGE2)
    sent = await chat.advance(at(7, 10))
    reminders = [(o.room, o.text, o.at) for o in sent if "截止提醒" in o.text]
    assert reminders == [
        (VILLAGE, "【截止提醒】皇叔洼村 危房改造 还有 7 天截止（6月30日）：目前 30/50 处（60%），序时进度 74%，"
                  "滞后 14 个百分点，还差 20 处", at(6, 23)),
        (VILLAGE, "【截止提醒】皇叔洼村 危房改造 还有 3 天截止（6月30日）：目前 30/50 处（60%），序时进度 89%，"
                  "滞后 29 个百分点，还差 20 处", at(6, 27)),
        (VILLAGE, "【截止提醒】皇叔洼村 危房改造 还有 1 天截止（6月30日）：目前 30/50 处（60%），序时进度 96%，"
                  "滞后 36 个百分点，还差 20 处", at(6, 29)),
    ]
    # A restart seeds the built-in jobs again without making more of them or moving them.
    jobs_before = app.db.run_sync(
        lambda s: [(j.key, j.next_at) for j in s.exec(select(Job).order_by(Job.id))]
    )
    again = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    try:
        jobs_after = again.db.run_sync(
            lambda s: [(j.key, j.next_at) for j in s.exec(select(Job).order_by(Job.id))]
        )
    finally:
        again.close()
    assert jobs_after == jobs_before
    assert [k for k, _ in jobs_before if k.startswith("builtin:progress")] == [
        "builtin:progress_chase", "builtin:progress_deadline",
    ]
    sent = await chat.advance(clock.now() + timedelta(days=30))
    assert [o.text for o in sent if "截止提醒" in o.text] == []


async def test_moving_a_jobs_time_after_it_ran_does_not_repeat_it(chat, app, config, clock,
                                                                  db_url) -> None:
    await setup(chat)
    await targets(chat)
    sent = await chat.advance(at(6, 28, 17, 30))  # the Friday chase ran at 17:00
    assert len([o for o in sent if "进度提醒" in o.text and o.at == at(6, 28, 17)]) == 2
    app.close()

    async def restart(overrides: dict[str, str], until: datetime) -> list[str]:
        again = build_app(config.with_overrides(schedules=overrides), clock=clock, db_url=db_url,
                          admins=[ADMIN])
        try:
            return [o.text for o in await MemoryChat(again).advance(until) if "提醒" in o.text]
        finally:
            again.close()

    # The operator moves the chase later the same day and restarts: it is not repeated.
    assert await restart({"report_due": "周五 18:00"}, at(6, 28, 19)) == []
    late = {"report_due": "周五 18:00", "deadline_reminder_time": "18:00"}
    # Nor the deadline reminders of a day (sent at 09:00 as before, then moved to 18:00).
    sent = await restart({"report_due": "周五 18:00"}, at(6, 29, 9, 30))
    assert len([t for t in sent if "还有 1 天截止" in t]) == 2
    assert await restart(late, at(6, 29, 19)) == []
    # The next week's chase comes at the new time.
    assert len([t for t in await restart(late, at(7, 5, 19)) if "进度提醒" in t]) == 2
