"""Whole-bot tests of #进度 messages typed as templates (numbered lines, 【任务】, two
tasks on a line, the village's own name, 截至, remarks, emoji, 新增/累计, a signature),
on SQLite and PostgreSQL: the reply, the figures recorded, and refusals that record
nothing."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from bot.drivers.memory import MemoryChat
from bot.models.core import OrgUnit
from bot.models.progress import Report
from bot.org import add_alias
from bot.progress.intake import as_of_date
from tests.test_progress import CADRE, TOWN_CADRE, at, count, say, setup

SCHEDULE = 70  # 6月22日 10:00 of a target from 6月3日 to 6月30日


def recorded(task: str, n: int, target: int, measure: str) -> str:
    done = n * 100 // target
    lead = done - SCHEDULE
    words = (f"超前 {lead} 个百分点" if lead > 0 else f"滞后 {-lead} 个百分点" if lead < 0
             else "与序时进度持平")
    return f"已记录 皇叔洼村 {task} {n}/{target} {measure}（{done}%），序时进度 {SCHEDULE}%，{words}"


def house(n: int) -> str:
    return recorded("危房改造", n, 100, "处")


def move(n: int) -> str:
    return recorded("易地搬迁", n, 10, "户")


async def ready(chat: MemoryChat, app) -> None:
    await setup(chat)
    for text in ("#目标 危房改造 100 截止 6月30日", "#目标 易地搬迁 10 截止 6月30日"):
        assert (await say(chat, text, TOWN_CADRE))[0].startswith("已设定")

    def alias(s) -> None:
        village = s.exec(select(OrgUnit).where(OrgUnit.name == "皇叔洼村")).one()
        add_alias(s, village, "黄叔洼")
        s.commit()

    app.db.run_sync(alias)
    await chat.advance(at(6, 22, 10))


def figures(app) -> list[tuple[str, int]]:
    rows = app.db.run_sync(lambda s: s.exec(select(Report).order_by(Report.id)).all())
    return [(r.task, r.figure) for r in rows]


async def test_each_template_form_is_read(chat, app) -> None:
    await ready(chat, app)
    forms = [
        ("#进度 1.危房改造42户", [house(42)]),
        ("#进度 【危房改造】43处", [house(43)]),
        ("#进度 危房改造44处，易地搬迁3户", [house(44), move(3)]),
        ("#进度 皇叔洼村 危房改造 45", [house(45)]),
        ("#进度 吴城乡皇叔洼村：危房改造46处", [house(46)]),
        ("#进度 黄叔洼 危房改造 47", [house(47)]),  # an alias of the unit
        ("#进度 危房改造48处[强]👍", [house(48)]),
        ("#进度 截至6月22日，危房改造完成49处", [house(49)]),
        ("#进度 危房改造50处（其中新开工3处）", [house(50)]),
        ("#进度 易地搬迁 新增2户", [move(5)]),  # added to the last figure, 3
        ("#进度 易地搬迁 本周新增1户，累计7户", [move(7)]),  # 累计 wins
        ("#进度 42 危房改造", None),  # today's form, but lower: refused below
        ("#进度 截至6月20日，危房改造完成51处",
         [house(51) + "（截至6月20日的数，记为6月22日的进度）"]),
    ]
    for text, expected in forms:
        if expected is None:
            assert (await say(chat, text, CADRE))[0].startswith("危房改造 42 处比上次报的 50 处少")
            continue
        assert await say(chat, text, CADRE) == ["\n".join(expected)], text
    assert figures(app) == [
        ("危房改造", 42), ("危房改造", 43), ("危房改造", 44), ("易地搬迁", 3),
        ("危房改造", 45), ("危房改造", 46), ("危房改造", 47), ("危房改造", 48),
        ("危房改造", 49), ("危房改造", 50), ("易地搬迁", 5), ("易地搬迁", 7),
        ("危房改造", 51),
    ]
    # A 截至 date is the figure's day; the report is recorded on the message's day.
    rows = app.db.run_sync(lambda s: s.exec(select(Report).order_by(Report.id)).all())
    assert {r.report_date for r in rows} == {date(2019, 6, 22)}


async def test_wechat_template_with_signature(chat, app) -> None:
    await ready(chat, app)
    text = (
        "#进度\n皇叔洼村进度报送：\n\n1、危房改造：累计完成55处（其中新开工3处）；\n"
        "2、易地搬迁：完成8户；\n\n报送人：刘伟\n6月22日"
    )
    assert await say(chat, text, CADRE) == [house(55) + "\n" + move(8)]
    assert figures(app) == [("危房改造", 55), ("易地搬迁", 8)]
    rows = app.db.run_sync(lambda s: s.exec(select(Report)).all())
    assert len({r.msg_id for r in rows}) == 1  # one message, withdrawn together


async def test_ambiguous_or_refused_lines_record_nothing(chat, app) -> None:
    await ready(chat, app)
    assert await say(chat, "#进度 危房改造 40", CADRE) == [house(40)]
    before = count(app, Report)
    refused = [
        ("#进度\n1、危房改造：60处\n2、易地搬迁 本周完成2户\n报送人：刘伟",
         "第2行“2、易地搬迁 本周完成2户”看不懂“本周完成2”，易地搬迁后面写累计完成数，如 42 或 42/50。"
         "本条消息都没有记录，请改正后整条重发。例：#进度 危房改造 42"),
        ("#进度 危房改造60处，其中易地搬迁3处",
         "“其中易地搬迁3处”看不出是哪项任务的数，请每项任务分开写。例：#进度 危房改造 42"),
        ("#进度 危房改造 42 60", "“42 60”是两个数，完成数只写一个，如 42 或 42/50。例：#进度 危房改造 42"),
        ("#进度\n42 危房改造\n5 易地搬迁",
         "第1行“42 危房改造”数字要写在任务后面，如 危房改造 42。本条消息都没有记录，请改正后整条重发。"
         "例：#进度 危房改造 42"),
        # Another unit: by its name, or by a short name the org tree knows.
        ("#进度 东坪村 危房改造 60",
         "写的是“东坪村”，不能替其他单位报送；请在该单位的群里报，或去掉单位名。例：#进度 危房改造 42"),
        ("#进度 危房改造 60\n东坪 刘伟",
         "第2行“东坪 刘伟”写的是“东坪”，不能替其他单位报送；请在该单位的群里报，或去掉单位名。"
         "本条消息都没有记录，请改正后整条重发。例：#进度 危房改造 42"),
        # A 截至 date that is not recent is not recorded as today's figure.
        ("#进度 截至6月1日，危房改造完成60处",
         "“截至6月1日”是21天前的数，请报到今天为止的累计完成数。例：#进度 危房改造 42"),
        ("#进度 截至6月25日，危房改造完成60处",
         "“截至6月25日”还没到，请报到今天为止的累计完成数。例：#进度 危房改造 42"),
        # Read, but one item cannot be recorded: the line is named by its place.
        ("#进度\n皇叔洼村进度报送：\n危房改造 60\n光伏 5",
         "第3行：皇叔洼村还没有光伏扶贫的目标，请指挥部或上级单位的干部（如 赵主任、王乡长）先在本群设定，"
         "例：#目标 光伏扶贫 50 截止 6月30日\n本条消息都没有记录，请改正后整条重发"),
    ]
    for text, expected in refused:
        assert await say(chat, text, CADRE) == [expected], text
    assert count(app, Report) == before


def test_as_of_date_is_the_recent_one() -> None:
    today = date(2019, 6, 22)
    assert as_of_date(6, 17, today) == date(2019, 6, 17)
    assert as_of_date(6, 25, today) == date(2019, 6, 25)  # ahead: refused by the caller
    assert as_of_date(12, 30, date(2020, 1, 2)) == date(2019, 12, 30)
    assert as_of_date(2, 30, today) is None
