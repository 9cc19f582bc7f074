"""#提醒 with every time form (bot/timephrase.py), repeating reminders, monthly #例会 and
scheduled notices (#通知 … 定时), as a group uses them: the confirmation shows the
absolute date and weekday, and each fires at that virtual time. Whole-bot tests on
SQLite and PostgreSQL; restarts on the same database."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlmodel import select

from bot.app import App
from bot.clock import VirtualClock
from bot.config import load_config
from bot.drivers.memory import MemoryChat
from bot.messages import Outgoing
from bot.models.jobs import Job
from bot.wiring import build_app
from tests import helpers
from tests.conftest import ADMIN, SHANGHAI, START, texts
from tests.helpers import ROOMS, appoint, build_tree

CADRE = "wxid_liuwei"
HQ_ID = "wxid_zhao"
VILLAGE, TOWN, COUNTY = (ROOMS[k][0] for k in ("village", "town", "county"))


def t(day: int, hh: int, mm: int = 0, month: int = 6) -> datetime:
    return datetime(2019, month, day, hh, mm, tzinfo=SHANGHAI)


async def setup(chat: MemoryChat) -> None:
    await build_tree(chat)
    await appoint(chat, "village", CADRE, "刘伟", "干部")
    await appoint(chat, "county", HQ_ID, "赵主任", "指挥部")


# The one say of tests/helpers.py: in the village group, everyone shown as 刘伟.
say = partial(helpers.say, room=VILLAGE, default_name="刘伟")


def fired(sent: list[Outgoing], prefix: str = "【提醒】") -> list[tuple[datetime, str]]:
    return [(o.at.astimezone(SHANGHAI), o.text) for o in sent if o.text.startswith(prefix)]


# Said on Monday 3 June 2019 at 09:00: (typed after #提醒, its time as confirmed).
ONE_OFF = [
    ("今晚8点 开视频会", "6月3日（周一）20:00"),
    ("明早9点 交危房台账", "6月4日（周二）09:00"),
    ("6.28 下午5点 报送考核材料", "6月28日（周五）17:00"),
    ("6/20 9:00 光伏验收", "6月20日（周四）09:00"),
    ("28号下午5点 报送总结", "6月28日（周五）17:00"),
    ("后天 下午 3 点 入户核查", "6月5日（周三）15:00"),
    ("大后天上午9点 培训", "6月6日（周四）09:00"),
    ("晚上12点 防汛值班", "6月4日（周二）00:00"),
    ("明晚7点半 村民大会", "6月4日（周二）19:30"),
    ("今天 傍晚6点 巡查", "6月3日（周一）18:00"),
    ("明天中午12点 午间会", "6月4日（周二）12:00"),
    ("本周五 17:00 报周报", "6月7日（周五）17:00"),
    ("下周一 9点半 周例会", "6月10日（周一）09:30"),
    ("3点 开会", "6月3日（周一）15:00"),  # 1–5点 without 上午/下午: the afternoon
    ("2小时后 出发", "6月3日（周一）11:00"),
    ("30分钟后 集合", "6月3日（周一）09:30"),
]


async def test_every_one_off_form_confirms_the_day_and_fires_then(chat: MemoryChat, app: App) -> None:
    await setup(chat)
    expected = []
    for n, (typed, shown) in enumerate(ONE_OFF, start=1):
        content = typed.split()[-1]
        assert await say(chat, f"#提醒 {typed}", CADRE) == [f"已设置提醒 {n}：{shown} {content}"], typed
        month, rest = shown.split("月")
        day = int(rest.split("日")[0])
        hh, mm = shown[-5:].split(":")
        expected.append((t(day, int(hh), int(mm), int(month)), f"【提醒】{content}"))
    sent = await chat.advance(t(29, 0))
    assert sorted(fired(sent)) == sorted(expected)


async def test_unclear_times_are_refused_and_set_nothing(chat: MemoryChat, app: App) -> None:
    await setup(chat)

    def jobs() -> int:
        return len(app.db.run_sync(lambda s: s.exec(select(Job.id)).all()))

    before = jobs()
    cases = [
        ("#提醒 今晚 开会", "没看懂时间“今晚”：“今晚”后面要写几点"),
        ("#提醒 明天9点左右 开会", "没看懂时间“明天9点左右”：提醒要写一个准点时间"),
        ("#提醒 6.31 9点 开会", "没看懂时间“6.31 9点”：6月没有31日"),
        ("#提醒 晚上5点 开会", "没看懂时间“晚上5点”：晚上不能是5点"),
        ("#提醒 8点 开会", "6月3日（周一）08:00 已经过去了，请写以后的时间。要晚上请写“今晚8点”"),
        ("#提醒 开会 明天9点", "请把时间写在最前面"),
        ("#提醒 每月31日 9:00 开会", "月底请写“每月最后一天”"),
    ]
    for text, start in cases:
        reply = await say(chat, text, CADRE)
        assert len(reply) == 1 and start in reply[0], (text, reply)
        assert "例：#提醒 " in reply[0]
    assert jobs() == before


async def test_repeating_reminders_fire_every_time(chat: MemoryChat, app: App) -> None:
    await setup(chat)
    cases = [
        ("每天 18:00 打卡", "每天 18:00", "6月3日（周一）18:00"),
        ("每个工作日 8:30 晨会", "每个工作日 08:30", "6月4日（周二）08:30"),
        ("每周五 17:00 报送周报", "每周五 17:00", "6月7日（周五）17:00"),
        ("每月1日 9:00 党员学习", "每月1日 09:00", "7月1日（周一）09:00"),
        ("每月最后一个工作日 16:00 报月报", "每月最后一个工作日 16:00", "6月28日（周五）16:00"),
    ]
    for n, (typed, rule, first) in enumerate(cases, start=1):
        content = typed.split()[-1]
        assert await say(chat, f"#提醒 {typed}", CADRE) == [
            f"已设置重复提醒 {n}：{rule} {content}。下次提醒：{first}"
        ], typed

    # Two weeks: 端午 (Friday 7 June) is a holiday: no 晨会 that day; 每周五 still fires.
    sent = fired(await chat.advance(t(15, 0)))
    assert [x for x in sent if x[1] == "【提醒】打卡"] == [(t(d, 18), "【提醒】打卡") for d in range(3, 15)]
    assert [x[0] for x in sent if x[1] == "【提醒】晨会"] == [
        t(d, 8, 30) for d in (4, 5, 6, 10, 11, 12, 13, 14)
    ]
    assert [x[0] for x in sent if x[1] == "【提醒】报送周报"] == [t(7, 17), t(14, 17)]

    # #提醒列表 shows each rule and its next time.
    listing = (await say(chat, "#提醒列表", CADRE))[0]
    for line in [
        "1. 每天 18:00 打卡，下次提醒 6月15日（周六）18:00",
        "2. 每个工作日 08:30 晨会，下次提醒 6月17日（周一）08:30",
        "3. 每周五 17:00 报送周报，下次提醒 6月21日（周五）17:00",
        "5. 每月最后一个工作日 16:00 报月报，下次提醒 6月28日（周五）16:00",
        "4. 每月1日 09:00 党员学习，下次提醒 7月1日（周一）09:00",
    ]:
        assert line in listing, listing

    # Months: the 1st and the last workday, month after month.
    sent = fired(await chat.advance(t(2, 0, month=9)))
    assert [x[0] for x in sent if x[1] == "【提醒】党员学习"] == [
        t(1, 9, month=7), t(1, 9, month=8), t(1, 9, month=9)
    ]
    assert [x[0] for x in sent if x[1] == "【提醒】报月报"] == [
        t(28, 16), t(31, 16, month=7), t(30, 16, month=8)
    ]
    # Cancelled, a repeating reminder stops.
    assert (await say(chat, "#取消提醒 1", CADRE))[0].startswith("已取消提醒 1：每天 18:00 打卡")
    sent = fired(await chat.advance(t(4, 0, month=9)))
    assert "【提醒】打卡" not in [x[1] for x in sent]
    assert await say(chat, "#取消提醒 1", CADRE) == ["提醒 1 已经取消了"]


async def test_workdays_follow_the_national_day_holiday_and_make_up_days(chat: MemoryChat, app: App) -> None:
    await setup(chat)
    await chat.advance(t(26, 12, month=9))
    reply = await say(chat, "#提醒 每个工作日 9:00 打卡", CADRE, room=VILLAGE)
    assert reply == ["已设置重复提醒 1：每个工作日 09:00 打卡。下次提醒：9月27日（周五）09:00"]
    sent = fired(await chat.advance(t(10, 0, month=10)))
    # Sunday 29 September is a make-up workday; 1–7 October is the holiday.
    assert [x[0].date().isoformat() for x in sent] == [
        "2019-09-27", "2019-09-29", "2019-09-30", "2019-10-08", "2019-10-09"
    ]


async def test_monthly_meeting(chat: MemoryChat, app: App) -> None:
    await setup(chat)
    reply = await say(chat, "#例会 每月1日 9:00 党员大会", CADRE)
    assert reply == [
        "已设置例会提醒 1：每月1日 09:00 党员大会（提前1小时提醒，节假日暂停）。"
        "下次提醒：7月1日（周一）08:00"
    ]
    reply = await say(chat, "#例会 每月最后一个工作日 下午4点 月度总结会 提前30分钟", CADRE)
    assert reply == [
        "已设置例会提醒 2：每月最后一个工作日 16:00 月度总结会（提前30分钟提醒，节假日暂停）。"
        "下次提醒：6月28日（周五）15:30"
    ]
    # The weekly form keeps working beside them.
    reply = await say(chat, "#例会 每周一 09:00 指挥部例会 提前1小时", CADRE)
    assert reply[0].endswith("下次提醒：6月10日（周一）08:00"), reply
    # The same rule and time again is a change, not a second meeting.
    reply = await say(chat, "#例会 每月1日 9:00 党员大会 提前1天", CADRE)
    assert reply[0].startswith("已修改例会提醒 1：每月1日 09:00 党员大会（提前1天提醒"), reply
    assert (await say(chat, "#例会 每月1日 开会", CADRE))[0].startswith("没看懂时间“每月1日”：要写几点。例：#例会")
    sent = fired(await chat.advance(t(2, 0, month=8)), "【例会提醒】")
    assert sorted(x for x in sent if "指挥部例会" not in x[1]) == [
        (t(28, 15, 30), "【例会提醒】今天 16:00 月度总结会，请准时参加。"),
        (t(30, 9, 0), "【例会提醒】明天（7月1日 周一）09:00 党员大会，请准时参加。"),
        (t(31, 9, 0, month=7), "【例会提醒】明天（8月1日 周四）09:00 党员大会，请准时参加。"),
        (t(31, 15, 30, month=7), "【例会提醒】今天 16:00 月度总结会，请准时参加。"),
    ]


async def test_a_scheduled_notice_is_listed_cancellable_and_sent_once(chat: MemoryChat, app: App) -> None:
    await setup(chat)
    reply = await say(chat, "#通知 浑源县 定时 6月5日 9:00 明天上午召开推进会", HQ_ID, room=COUNTY)
    assert reply == [
        "已设置定时通知 1：6月5日（周三）09:00 发往浑源县 2 个群。"
        "查看发送 #提醒列表，取消发送 #取消提醒 1"
    ]
    reply = await say(chat, "#通知 浑源县 定时 明天下午3点 此条取消", HQ_ID, room=COUNTY)
    assert reply[0].startswith("已设置定时通知 2：6月4日（周二）15:00"), reply
    listing = (await say(chat, "#提醒列表", HQ_ID, room=COUNTY))[0]
    assert "2. 6月4日（周二）15:00 定时通知（浑源县）：此条取消" in listing, listing
    assert "1. 6月5日（周三）09:00 定时通知（浑源县）：明天上午召开推进会" in listing, listing
    assert (await say(chat, "#取消提醒 2", HQ_ID, room=COUNTY)) == [
        "已取消定时通知 2：6月4日（周二）15:00 定时通知（浑源县）：此条取消"
    ]
    # Nothing goes out before its time; then once, to each group, and the author is told.
    sent = await chat.advance(t(5, 8, 59))
    assert not [o for o in sent if "推进会" in o.text or "此条取消" in o.text]
    sent = await chat.advance(t(5, 9, 1))
    notice = [(o.room, o.at.astimezone(SHANGHAI)) for o in sent if "召开推进会" in o.text]
    assert sorted(notice) == [(TOWN, t(5, 9)), (VILLAGE, t(5, 9))]
    note = [o.text for o in sent if o.room == COUNTY and o.text.startswith("定时通知 1")]
    assert len(note) == 1 and note[0].startswith("定时通知 1 已发出：通知 1 已发往浑源县 2 个群"), note
    # Done: no longer listed.
    listing = (await say(chat, "#提醒列表", HQ_ID, room=COUNTY))[0]
    assert "推进会" not in listing


async def test_a_scheduled_notice_rechecks_the_author_when_due(chat: MemoryChat, app: App) -> None:
    await setup(chat)
    await say(chat, "#通知 浑源县 定时 明天 9:00 召开推进会", HQ_ID, room=COUNTY)
    refused = await say(chat, "#通知 大同市 定时 明天 9:00 全市会议", CADRE, room=VILLAGE)
    assert refused and "需要指挥部权限" in refused[0], refused
    refused = await say(chat, "#通知 浑源县 定时 每天 9:00 会议", HQ_ID, room=COUNTY)
    assert refused[0].startswith("定时通知只发一次"), refused
    # The author loses the role before it is due: it is not sent, and the group is told.
    sent = await chat.say("#免职 @赵主任 指挥部", sender=ADMIN, name="管理员", room=COUNTY,
                          mentions=((HQ_ID, "赵主任"),))
    assert sent and sent[0].text.startswith("已"), texts(sent)
    sent = await chat.advance(t(4, 9, 1))
    assert not [o for o in sent if "召开推进会" in o.text and o.room != COUNTY]
    note = [o.text for o in sent if o.text.startswith("定时通知 1")]
    assert len(note) == 1 and note[0].startswith("定时通知 1 没有发出："), note


async def test_repeating_reminders_survive_a_restart_and_catch_up_once(sqlite_url: str) -> None:
    def start(at: datetime) -> tuple[App, MemoryChat]:
        app = build_app(load_config(), clock=VirtualClock(at), db_url=sqlite_url, admins=[ADMIN])
        return app, MemoryChat(app)

    app, chat = start(START)
    await setup(chat)
    assert (await say(chat, "#提醒 每天 18:00 打卡", CADRE))[0].startswith("已设置重复提醒 1")
    assert (await say(chat, "#提醒 明天 17:45 报表", CADRE))[0].startswith("已设置提醒 2")
    assert fired(await chat.advance(t(3, 18, 1))) == [(t(3, 18), "【提醒】打卡")]
    app.close()

    # Down over Tuesday 17:45 and 18:00; back at 18:30, inside the grace: each once, 补发.
    app, chat = start(t(4, 18, 30))
    sent = fired(await chat.advance(t(4, 18, 30)))
    assert sorted(x[1] for x in sent) == sorted(["【提醒】报表（补发）", "【提醒】打卡（补发）"])
    app.close()
    # Again right away: nothing twice.
    app, chat = start(t(4, 18, 31))
    assert fired(await chat.advance(t(4, 18, 31))) == []
    app.close()
    # Down for days; back at 21:00 (three hours late): skipped, and on time the next day.
    app, chat = start(t(8, 21))
    assert fired(await chat.advance(t(8, 21))) == []
    assert fired(await chat.advance(t(9, 18, 1))) == [(t(9, 18), "【提醒】打卡")]
    # (A new MemoryChat numbers its messages afresh: give this one its own id.)
    listing = await chat.say("#提醒列表", sender=CADRE, room=VILLAGE, msg_id="after-restart")
    assert "1. 每天 18:00 打卡，下次提醒 6月10日（周一）18:00" in listing[0].text
    app.close()
