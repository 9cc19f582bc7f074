"""Reminders as a group uses them: #例会, #提醒, #提醒列表, #取消提醒, the monthly
assessment reminder, and a month of virtual time checking every firing time. Whole-bot
tests on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlmodel import col, select

from bot.models.core import AuditEntry
from bot.models.jobs import Job, JobRun
from tests import helpers
from tests.conftest import SHANGHAI
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

CADRE = "wxid_liuwei"
HQ_ID = "wxid_hq"
VILLAGE, TOWN, COUNTY, CITY = (ROOMS[k][0] for k in ("village", "town", "county", "city"))
MINE = ("【例会提醒】", "【提醒】", "【月度考核提醒】")


def t(day: int, hh: int, mm: int = 0, month: int = 6) -> datetime:
    return datetime(2019, month, day, hh, mm, tzinfo=SHANGHAI)


async def setup(chat) -> None:
    await build_tree(chat)
    await appoint(chat, "village", CADRE, "刘伟", "干部")
    await appoint(chat, "city", HQ_ID, "白主任", "指挥部")


# The one say of tests/helpers.py: in the village group, everyone shown as 刘伟.
say = partial(helpers.say, room=VILLAGE, default_name="刘伟")


def fired(sent) -> list[tuple[datetime, str, str]]:
    """(local time, room, text) of this area's reminders, in order."""
    return [(o.at.astimezone(SHANGHAI), o.room, o.text) for o in sent if o.text.startswith(MINE)]


async def test_a_month_of_reminders_fire_on_time(chat, app) -> None:
    await setup(chat)
    reply = await say(chat, "#例会 每周一 09:00 村两委例会 提前1小时", CADRE)
    assert reply == [
        "已设置例会提醒 1：每周一 09:00 村两委例会"
        "（提前1小时提醒，节假日暂停）。下次提醒：6月10日（周一）08:00"
    ]
    # 6月7日 is 端午: a Friday meeting is not reminded that week...
    reply = await say(chat, "#例会 周五16:00 周五碰头会 提前半小时", CADRE)
    assert reply[0].endswith("下次提醒：6月14日（周五）15:30"), reply
    # ...unless the group says it is held on holidays too. HQ may set it in a county group.
    reply = await say(chat, "#例会 星期五 下午四点 县例会 准时 节假日照常", HQ_ID, room=COUNTY)
    assert "每周五 16:00 县例会（准时提醒，节假日照常）" in reply[0], reply
    assert reply[0].endswith("下次提醒：6月7日（周五）16:00")
    reply = await say(chat, "#提醒 6月28日 17:00 报送月度考核材料", HQ_ID, room=TOWN)
    assert reply[0].endswith("：6月28日（周五）17:00 报送月度考核材料"), reply
    reply = await say(chat, "#提醒 明天 8点半 交危房改造台账", CADRE)
    assert reply[0].endswith("：6月4日（周二）08:30 交危房改造台账"), reply

    sent = await chat.advance(t(1, 10, month=7))
    meeting = "【例会提醒】今天 09:00 村两委例会，请准时参加。"
    friday = "【例会提醒】今天 16:00 周五碰头会，请准时参加。"
    county = "【例会提醒】县例会 现在开始（今天 16:00）。"
    assess_v = "【月度考核提醒】6月考核按月底进度排名，请在6月30日前报齐本村各项任务的进度（例：#进度 危房改造 42）。"
    assess_up = (
        "【月度考核提醒】6月考核按月底进度排名，请督促下属各单位在6月30日前报齐各项任务的进度。"
    )
    assert fired(sent) == [
        (t(4, 8, 30), VILLAGE, "【提醒】交危房改造台账"),
        (t(7, 16), COUNTY, county),
        (t(10, 8), VILLAGE, meeting),
        (t(14, 15, 30), VILLAGE, friday),
        (t(14, 16), COUNTY, county),
        (t(17, 8), VILLAGE, meeting),
        (t(21, 15, 30), VILLAGE, friday),
        (t(21, 16), COUNTY, county),
        (t(24, 8), VILLAGE, meeting),
        # To every county, township and village group; not to the city HQ's.
        (t(25, 9), COUNTY, assess_up),
        (t(25, 9), TOWN, assess_up),
        (t(25, 9), VILLAGE, assess_v),
        (t(28, 15, 30), VILLAGE, friday),
        (t(28, 16), COUNTY, county),
        (t(28, 17), TOWN, "【提醒】报送月度考核材料"),
        (t(1, 8, month=7), VILLAGE, meeting),
    ]
    # Every occurrence is recorded once, on time; the one-offs are done.
    runs = app.db.run_sync(lambda s: s.exec(select(JobRun.outcome)).all())
    assert set(runs) == {"ran"}
    oneoffs = app.db.run_sync(
        lambda s: s.exec(select(Job.active).where(Job.kind == "oneoff")).all()
    )
    assert oneoffs == [False, False]


async def test_other_areas_built_in_jobs_fire_in_the_month(chat, app) -> None:
    """Every built-in job any area seeds (the weekly chase, 公示, bulletins … as they are
    added) runs in a month of virtual time: once per occurrence, on time, without error."""
    seeded = app.db.run_sync(lambda s: s.exec(select(Job.id, Job.key, Job.kind)).all())
    assert "builtin:assessment" in {key for _, key, _ in seeded}
    await setup(chat)
    await chat.advance(t(1, 10, month=7))
    runs = app.db.run_sync(lambda s: s.exec(select(JobRun)).all())
    ran = {r.job_id for r in runs}
    for job_id, key, kind in seeded:
        assert job_id in ran, f"{key} ({kind}) never ran in June"
    assert {r.outcome for r in runs} == {"ran"}
    assert len({(r.job_id, r.due_at) for r in runs}) == len(runs)


async def test_list_and_cancel(chat, app) -> None:
    await setup(chat)
    # Each group numbers its own reminders 1, 2, 3 …
    assert (await say(chat, "#例会 每周一 09:00 村两委例会 提前1小时", CADRE))[0].startswith(
        "已设置例会提醒 1："
    )
    assert (await say(chat, "#提醒 6月28日 17:00 报送月度考核材料", CADRE))[0].startswith("已设置提醒 2：")
    assert (await say(chat, "#提醒 6月5日 9:00 入户核查", CADRE))[0].startswith("已设置提醒 3：")
    reply = await say(chat, "#提醒 6月20日 9:00 县里的事", HQ_ID, room=COUNTY)
    assert reply == ["已设置提醒 1：6月20日（周四）09:00 县里的事"]
    listing = await say(chat, "#提醒列表", CADRE)
    assert listing == ["\n".join([
        "本群的提醒：",
        "1. 每周一 09:00 村两委例会（提前1小时提醒，节假日暂停），下次提醒 6月10日（周一）08:00",
        "3. 6月5日（周三）09:00 入户核查",
        "2. 6月28日（周五）17:00 报送月度考核材料",
        "系统提醒：每月25日 09:00 月度考核提醒，下次 6月25日（周二）09:00",
        "取消请发：#取消提醒 编号",
    ])]
    assert await say(chat, "#提醒 列表", CADRE) == listing
    # Only this group's: the county has no reminder 3 (the village's stays).
    assert await say(chat, "#取消提醒 3", HQ_ID, room=COUNTY) == [
        "本群没有编号为 3 的提醒。发送 #提醒列表 查看编号"
    ]
    assert await say(chat, "#取消提醒 第3号", CADRE) == ["已取消提醒 3：6月5日（周三）09:00 入户核查"]
    assert await say(chat, "#取消例会 1", CADRE) == [
        "已取消例会提醒 1：每周一 09:00 村两委例会（提前1小时提醒，节假日暂停）"
    ]
    assert await say(chat, "#取消提醒 1", CADRE) == ["提醒 1 已经取消了"]
    # A bad number among good ones changes nothing.
    assert await say(chat, "#取消提醒 2 9999", CADRE) == [
        "本群没有编号为 9999 的提醒。发送 #提醒列表 查看编号"
    ]
    shown = (await say(chat, "#查看提醒", CADRE))[0]
    assert "2. 6月28日" in shown and "入户核查" not in shown and "村两委" not in shown
    # Numbers are not reused after a cancel.
    assert (await say(chat, "#提醒 6月6日 9:00 又一件事", CADRE))[0].startswith("已设置提醒 4：")
    # A cancelled reminder never fires.
    sent = await chat.advance(t(30, 0))
    assert [x[2] for x in fired(sent) if x[1] == VILLAGE] == [
        "【提醒】又一件事",
        "【月度考核提醒】6月考核按月底进度排名，请在6月30日前报齐本村各项任务的进度（例：#进度 危房改造 42）。",
        "【提醒】报送月度考核材料",
    ]
    assert await say(chat, "#取消提醒 2", CADRE) == ["提醒 2 已经提醒过了"]
    # The city HQ group gets no assessment reminder, so its list does not mention it.
    assert await say(chat, "#提醒列表", HQ_ID, room=CITY) == [
        "本群还没有设置提醒。例：#例会 每周一 09:00 指挥部例会 提前1小时"
    ]
    actions = app.db.run_sync(lambda s: s.exec(select(AuditEntry.action).where(
        col(AuditEntry.action).startswith("reminder_cancel"))).all())
    assert len(actions) == 2


async def test_same_meeting_again_updates_it(chat, app) -> None:
    await setup(chat)
    first = await say(chat, "#例会 每周一 09:00 村两委例会 提前1小时", CADRE)
    again = await say(chat, "#例会 每周一 9点 村两委扩大会议 提前1天", CADRE)
    assert first[0].startswith("已设置例会提醒 1：")
    assert again == [
        "已修改例会提醒 1：每周一 09:00 村两委扩大会议（提前1天提醒，节假日暂停）。"
        "下次提醒：6月9日（周日）09:00"
    ]
    sent = await chat.advance(t(9, 9, 1))
    assert fired(sent) == [
        (t(9, 9), VILLAGE, "【例会提醒】明天（6月10日 周一）09:00 村两委扩大会议，请准时参加。")
    ]


async def test_permissions_and_bad_input_change_nothing(chat, app) -> None:
    await setup(chat)

    def jobs() -> int:
        return len(app.db.run_sync(lambda s: s.exec(select(Job.id)).all()))

    before = jobs()
    example = "例：#例会 每周一 09:00 指挥部例会 提前1小时"
    cases = [
        ("#例会", "请写每周几、几点和会议名称。" + example),
        ("#例会 09:00 例会", "请写每周几开会，如“每周一”。" + example),
        ("#例会 每周一 例会", "请写时间，如 09:00 或 下午3点。" + example),
        ("#例会 每周一 25:00 例会", "看不懂时间“25:00”，请写如 09:00。" + example),
        ("#例会 每周一 09:00 例会 提前", "提前多久？如“提前1小时”“提前30分钟”“提前1天”。" + example),
        ("#例会 每周一 09:00 例会 提前8天", "最多提前7天提醒。" + example),
        ("#例会 每周一 周三 09:00 例会", "一条例会只能写一个星期几，开几次就分几条设置。" + example),
        ("#提醒 6月28日 报材料", "没看懂时间“6月28日”：要写几点。例：#提醒 6月28日 17:00 报送月度考核材料"),
        ("#提醒 6月28日 17:00", "请写提醒的内容。例：#提醒 6月28日 17:00 报送月度考核材料"),
        ("#提醒 2月30日 17:00 报材料",
         "没看懂时间“2月30日 17:00”：2月没有30日。例：#提醒 6月28日 17:00 报送月度考核材料"),
        ("#提醒 8:00 开会", "6月3日（周一）08:00 已经过去了，请写以后的时间。要明天提醒请写“明天”。"
                           "例：#提醒 6月28日 17:00 报送月度考核材料"),
        ("#提醒 6月1日 17:00 报材料", "6月1日（周六）17:00 已经过去了，请写以后的时间。"
                                   "例：#提醒 6月28日 17:00 报送月度考核材料"),
        ("#提醒 2021年1月1日 9:00 元旦", "只能设置一年以内的提醒。例：#提醒 6月28日 17:00 报送月度考核材料"),
        ("#取消提醒", "请写要取消的提醒编号，编号见 #提醒列表。例：#取消提醒 3"),
        ("#取消提醒 那个", "“那个”不是提醒编号，编号见 #提醒列表。例：#取消提醒 3"),
    ]
    for text, expected in cases:
        assert await say(chat, text, CADRE) == [expected], text
    # A villager may not set, list or cancel reminders; the reply names the role.
    for text, name in [("#例会 每周一 09:00 例会", "例会"), ("#提醒 明天 9:00 开会", "提醒"),
                       ("#提醒列表", "提醒列表"), ("#取消提醒 1", "取消提醒")]:
        assert await say(chat, text, "wxid_villager") == [f"#{name} 需要干部或指挥部权限"]
    # An admin is not a cadre; a cadre of the village is not one in the town.
    assert await say(chat, "#提醒 明天 9:00 开会", CADRE, room=TOWN) == ["#提醒 需要干部或指挥部权限"]
    assert await say(chat, "#提醒 明天 9:00 开会", ADMIN) == ["#提醒 需要干部或指挥部权限"]
    assert jobs() == before


async def test_forgiving_forms(chat, app) -> None:
    await setup(chat)
    # Traditional script, full-width, Chinese numerals, no spaces.
    reply = await say(chat, "＃例會　每週三下午三點　黨建學習會　提前一個半小時", CADRE)
    assert "每周三 15:00 党建学习会（提前1小时30分钟提醒，节假日暂停）" in reply[0], reply
    assert reply[0].endswith("下次提醒：6月5日（周三）13:30")
    reply = await say(chat, "#例会 每周四 3点 村务公开会 提前1小时提醒", CADRE)  # "3点" is 15:00
    assert "每周四 15:00 村务公开会（提前1小时提醒，节假日暂停）" in reply[0], reply
    reply = await say(chat, "#提醒 六月二十八日 下午五点 报送月度考核材料", CADRE)
    assert reply[0].endswith("6月28日（周五）17:00 报送月度考核材料"), reply
    reply = await say(chat, "#提醒 周五 9:00 交表", CADRE)  # this week's Friday
    assert reply[0].endswith("6月7日（周五）09:00 交表"), reply
    reply = await say(chat, "#提醒 周一 9:00 交表", CADRE)  # today's 09:00 has passed: next Monday
    assert reply[0].endswith("6月10日（周一）09:00 交表"), reply
    reply = await say(chat, "#提醒 下周一 上午十点 开会", CADRE)
    assert reply[0].endswith("6月10日（周一）10:00 开会"), reply
    reply = await say(chat, "#提醒 10:30 今天上午的会", CADRE)  # no date: today
    assert reply[0].endswith("6月3日（周一）10:30 今天上午的会"), reply
    reply = await say(chat, "#提醒 2020年1月5日 9:00 年初总结", CADRE)  # another year is shown
    assert reply[0].endswith("2020年1月5日（周日）09:00 年初总结"), reply
    # The detail of #帮助 documents the defaults.
    detail = await say(chat, "#帮助 例会", CADRE)
    assert "默认提前1小时" in detail[0] and "节假日照常" in detail[0]


async def test_meeting_texts_for_each_lead(chat, app) -> None:
    await setup(chat)
    await say(chat, "#例会 每周三 10:00 周三会 提前2天", CADRE)
    await say(chat, "#例会 每周四 10:00 周四会 提前30分钟", CADRE)
    sent = await chat.advance(t(6, 11))
    assert fired(sent) == [
        (t(3, 10), VILLAGE, "【例会提醒】6月5日（周三）10:00 周三会，请准时参加。"),
        (t(6, 9, 30), VILLAGE, "【例会提醒】今天 10:00 周四会，请准时参加。"),
    ]


async def test_reminders_ignore_quiet_hours(chat, app) -> None:
    await setup(chat)
    await say(chat, "#提醒 明天 23:30 夜间防汛巡查", CADRE)
    sent = await chat.advance(t(4, 23, 31))
    assert fired(sent) == [(t(4, 23, 30), VILLAGE, "【提醒】夜间防汛巡查")]


async def test_assessment_moves_off_a_weekend(chat, app) -> None:
    """2019-08-25 is a Sunday: the reminder comes on Friday the 23rd, before the deadline."""
    await setup(chat)
    sent = await chat.advance(t(26, 0, month=8))
    times = sorted({x[0] for x in fired(sent)})
    assert times == [t(25, 9), t(25, 9, month=7), t(23, 9, month=8)]


async def test_reminder_set_for_a_minute_ahead(chat, app) -> None:
    await setup(chat)
    reply = await say(chat, "#提醒 9:01 马上开会", CADRE)
    assert reply[0].endswith("6月3日（周一）09:01 马上开会")
    sent = await chat.advance(t(3, 9, 2))
    assert fired(sent) == [(t(3, 9, 1), VILLAGE, "【提醒】马上开会")]
