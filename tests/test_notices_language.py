"""Whole-bot tests of the chat language around notices and commands (on SQLite and
PostgreSQL): quote-replies, the acknowledgement forms, '#' words that are no command,
near misses and how-to questions."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from bot.clock import VirtualClock
from bot.drivers.memory import MemoryChat
from bot.models.core import InboundMessage
from bot.models.progress import Report
from bot.notices import receipts
from tests.conftest import texts
from tests.test_notices import HQ, HY_CADRE, VILLAGE_CADRE, VILLAGER, build_city, count, notify

SEP = "- " * 14 + "-"


def quoting(quoted: str, reply: str, name: str = "村务助手") -> str:
    """A quote-reply as text-based puppets deliver it."""
    return f"「{name}：{quoted}」\n{SEP}\n{reply}"


def acked_rooms(app: App, notice_id: int) -> list[str]:
    r = app.db.run_sync(lambda s: receipts(s, notice_id))
    return [g.room_id for g in r.acked]


async def test_quote_reply_acknowledges_the_quoted_notice(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    first = await notify(chat, "#通知 皇叔洼村 周五前报送材料")
    await notify(chat, "#通知 皇叔洼村 明天开会")
    posted = [o.text for o in first if o.room == "r_hsw"][0]
    assert posted.startswith("【通知 1】")
    # (皇叔洼村 has a cadre: his acknowledgement is the one that counts.)
    # Two wait; the quoted one (the older) is acknowledged, not the newest.
    sent = await chat.say(quoting(posted, "收到"), sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ['已记录：刘伟确认收到通知 1。本群还有通知 2 未确认，请回复"收到 2"']
    # Quoting it again: it is acknowledged already, so this is chat (newest stays waiting).
    assert await chat.say(quoting(posted, "好的"), sender=VILLAGE_CADRE, room="r_hsw") == []
    assert acked_rooms(app, 2) == []
    # Any agreeing reply to a quoted notice counts; a reply to a person is no 收到.
    assert await chat.say(quoting("明天几点开会", "收到", "张三"), sender=VILLAGE_CADRE,
                          room="r_hsw") == []
    assert acked_rooms(app, 2) == []
    sent = await chat.say(quoting('【通知 2】明天开会 — 请回复"收到"', "好的[抱拳]"),
                          sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ["已记录：刘伟确认收到通知 2"]


async def test_quote_reply_runs_the_command_in_its_reply(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    sent = await chat.say(quoting("请大家看看怎么用", "#帮助 收到", "张三"), sender=VILLAGER,
                          room="r_hsw")
    assert texts(sent)[0].startswith("#收到：确认收到本群的通知")


async def test_acknowledgement_forms(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    await notify(chat, "#通知 浑源县 第一条")
    sent = await chat.say("杨家坪村收到", sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ["已记录：刘伟确认收到通知 1"]
    sent = await chat.say("收到，马上落实", sender=VILLAGER, room="r_wc")
    assert texts(sent) == ["已记录：本群确认收到通知 1"]
    sent = await chat.say("已閱", sender=HY_CADRE, name="王县长", room="r_hy")
    assert texts(sent) == ["已记录：王县长确认收到通知 1"]
    assert sorted(acked_rooms(app, 1)) == ["r_hsw", "r_hy", "r_wc"]


async def test_an_acknowledgement_said_to_someone(chat: MemoryChat, app: App) -> None:
    """'@贾主任 收到' (WeChat's U+2005 after the name) to the notice's author
    acknowledges, as 收到 does; said to anyone else it is an answer to them, and a
    question or a denial said to the author stays chat."""
    await build_city(chat)
    await notify(chat, "#通知 浑源县 第一条")  # by 贾健刚 (HQ)
    for text in ["@贾主任 收到了吗", "@贾主任\u2005没收到", "@贾主任 快递收到了"]:
        assert await chat.say(text, sender=VILLAGER, room="r_wc",
                              mentions=((HQ, "贾主任"),)) == [], text
    # To another member, or typed without picking anyone: chat with them.
    assert await chat.say("@张三\u2005收到", sender=VILLAGER, room="r_wc",
                          mentions=(("wxid_other", "张三"),)) == []
    assert await chat.say("@贾主任 收到", sender=VILLAGER, room="r_wc") == []
    assert acked_rooms(app, 1) == []
    sent = await chat.say("@贾主任\u2005收到", sender=HY_CADRE, name="王县长", room="r_hy",
                          mentions=((HQ, "贾主任"),))
    assert texts(sent) == ["已记录：王县长确认收到通知 1"]
    # The author among others, as the puppet lists them.
    sent = await chat.say("@贾主任 @王县长 收到，马上落实", sender=VILLAGER, room="r_wc",
                          mentions=((HQ, "贾主任"), (HY_CADRE, "王县长")))
    assert texts(sent) == ["已记录：本群确认收到通知 1"]
    assert sorted(acked_rooms(app, 1)) == ["r_hy", "r_wc"]


async def test_the_named_notice_is_acknowledged(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    clock = app.clock
    assert isinstance(clock, VirtualClock)
    for n in range(1, 39):  # notices 1–38 go elsewhere, a minute apart (the rate limit)
        clock.set(clock.now() + timedelta(minutes=1))
        await notify(chat, f"#通知 潘寺村 第{n}条")
    await notify(chat, "#通知 皇叔洼村 第39条")
    await notify(chat, "#通知 皇叔洼村 第40条")
    sent = await chat.say("收到39号通知", sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ['已记录：刘伟确认收到通知 39。本群还有通知 40 未确认，请回复"收到 40"']
    assert acked_rooms(app, 40) == []


async def test_no_acknowledgement_changes_nothing(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    await notify(chat, "#通知 皇叔洼村 内容")
    journaled = count(app, InboundMessage)
    for text in ["没收到", "收到了吗？", "收到请回复", "收不到", "收到货了吗",
                 "收到 99999999999999999999", "收到 2147483648"]:
        assert await chat.say(text, sender=VILLAGER, room="r_hsw") == [], text
    assert count(app, InboundMessage) == journaled
    assert acked_rooms(app, 1) == []
    # Addressed, an impossible number is answered, never a crash.
    for text in ["#收到 99999999999999999999", "#收到 2147483648"]:
        sent = await chat.say(text, sender=VILLAGER, room="r_hsw")
        assert texts(sent) == ["没有这个编号的通知。例：收到 12"]
    # A bare 收到 with nothing waiting stays chat.
    assert await chat.say("收到", sender=VILLAGER, room="r_yg") == []
    # A number that is no notice of this group, while one waits: told which one.
    assert await chat.say("收到 3", sender=VILLAGER, room="r_hsw") == []  # not his to say
    sent = await chat.say("收到 3", sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ["没有通知 3。本群待确认的是通知 1，请回复“收到 1”"]
    assert acked_rooms(app, 1) == []


async def test_hashtags_that_are_no_command_get_no_reply(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    journaled = count(app, InboundMessage)
    post = "#接龙\n明天推进会参会人员\n例 张三 皇叔洼村"
    for n, who in enumerate(["张三", "李四", "王五"], start=1):
        post += f"\n{n}. {who}"
        assert await chat.say(post, sender=f"wxid_{n}", name=who, room="r_hsw") == []
    for text in ["#乡村振兴#", "#话题 今天的好人好事", "#吃饭"]:
        assert await chat.say(text, sender=VILLAGER, room="r_hsw") == []
    assert count(app, InboundMessage) == journaled


async def test_a_near_miss_gets_one_suggestion(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    sent = await chat.say("#进渡 危房改造 42", sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ["您是不是要 #进度？例：#进度 危房改造 42"]
    assert count(app, Report) == 0


async def test_how_to_questions_get_the_commands_help(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    want = texts(await chat.say("#帮助 加分", sender=VILLAGER, room="r_hsw"))
    assert texts(await chat.say("#怎么加分", sender=VILLAGER, room="r_hsw")) == want
    progress = texts(await chat.say("#帮助 进度", sender=VILLAGER, room="r_hsw"))
    sent = await chat.say("@村务助手 怎么报进度", sender=VILLAGER, room="r_hsw")
    assert texts(sent) == progress
    # Not addressed, it is chat.
    assert await chat.say("怎么报进度", sender=VILLAGER, room="r_hsw") == []


async def test_a_notice_sent_as_a_quote_reply_keeps_its_text_as_typed(chat: MemoryChat) -> None:
    await build_city(chat)
    sent = await notify(chat, quoting("材料要求见群文件", "#通知 皇叔洼村 請於周五前報送（ＡＢ）", "张三"))
    assert [o.text for o in sent if o.room == "r_hsw"] == ['【通知 1】請於周五前報送（ＡＢ） — 请回复"收到"']
