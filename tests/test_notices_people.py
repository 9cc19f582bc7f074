"""Per-person acknowledgement of notices (issue 14): a group's audience is its unit's
role holders, each of whom says 收到; 全员 is everyone; chases @ the missing and are
spaced per group; #回执 and the dashboard name who has and has not. SQLite and
PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from bot.app import App
from bot.dashboard import notices_section
from bot.drivers.memory import MemoryChat
from bot.jobs import run_due
from bot.models.notices import NoticeReader
from bot.notices import due_chase, mark_chased, receipts
from tests.conftest import texts
from tests.test_notices import (
    ADMIN,
    HQ,
    HY_CADRE,
    VILLAGE_CADRE,
    VILLAGER,
    at,
    build_city,
    notify,
)

SECOND_CADRE = "wxid_second"  # a second 干部 of 皇叔洼村


async def two_cadres(chat: MemoryChat) -> None:
    await build_city(chat)
    sent = await chat.say("#任命 @李娜 干部", sender=ADMIN, room="r_hsw",
                          mentions=((SECOND_CADRE, "李娜"),))
    assert "已任命" in sent[0].text, sent


async def test_the_notice_ats_the_cadres(chat: MemoryChat, app: App) -> None:
    await two_cadres(chat)
    sent = await notify(chat, "#通知 浑源县 周五前报送材料")
    mentions = {o.room: o.mentions for o in sent if o.room != "r_city"}
    # 浑源县's own cadre only (not in the village groups below), both village cadres,
    # and nobody in 吴城乡 (no role holders: anyone may answer there).
    assert mentions == {"r_hy": (HY_CADRE,), "r_wc": (), "r_hsw": (VILLAGE_CADRE, SECOND_CADRE)}


async def test_a_villagers_ack_is_chat_on_a_cadres_notice(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    await notify(chat, "#通知 皇叔洼村 周五前报送材料")
    assert await chat.say("收到", sender=VILLAGER, name="张三", room="r_hsw") == []
    assert await chat.say("收到1号通知", sender=VILLAGER, room="r_hsw") == []
    r = app.db.run_sync(lambda s: receipts(s, 1))
    assert r is not None and [g.room_id for g in r.missing] == ["r_hsw"]
    assert r.missing[0].missing_names == ("刘伟",)
    # With '#' it is answered, and still records nothing.
    sent = await chat.say("#收到 1", sender=VILLAGER, room="r_hsw")
    assert texts(sent) == ["通知 1 由本群干部确认，您不用回复"]
    read = app.db.run_sync(lambda s: s.exec(select(NoticeReader)).all())
    assert [(x.person_id, x.acked_at) for x in read] == [(VILLAGE_CADRE, None)]


async def test_two_cadres_each_acknowledge(chat: MemoryChat, app: App) -> None:
    await two_cadres(chat)
    await notify(chat, "#通知 皇叔洼村 周五前报送材料")
    chat.app.clock.set(at(0, 9, 30))
    sent = await chat.say("收到", sender=VILLAGE_CADRE, name="刘伟", room="r_hsw")
    assert texts(sent) == ["已记录：刘伟确认收到通知 1（本群还有 李娜 未确认）"]
    # Counts for him only: the group still waits, and his second 收到 is chat.
    assert await chat.say("收到", sender=VILLAGE_CADRE, room="r_hsw") == []
    r = app.db.run_sync(lambda s: receipts(s, 1))
    assert r is not None and r.acked == () and r.missing[0].acked_names == ("刘伟",)
    # The chase @s only the one who has not acknowledged.
    sent = await chat.advance(at(0, 13, 30))
    assert [(o.room, o.text, o.mentions) for o in sent] == [
        ("r_hsw", '【通知 1】第1次提醒：李娜还没有确认收到。内容：周五前报送材料 — 请回复"收到"',
         (SECOND_CADRE,)),
    ]
    sent = await chat.say("#回执 1", sender=HQ, room="r_city")
    assert texts(sent) == [
        "通知 1（6月3日 09:00 发往皇叔洼村）：1 个群，已确认 0 个（0%）\n"
        "按人：\n皇叔洼村：已确认 刘伟；未确认 李娜\n"
        "未确认（1）：皇叔洼村"
    ]
    # The last of them completes the group, and the chases stop.
    sent = await chat.say("收到", sender=SECOND_CADRE, name="李娜", room="r_hsw")
    assert texts(sent) == ["已记录：李娜确认收到通知 1"]
    assert (await chat.say("#回执 1", sender=HQ, room="r_city"))[0].text.endswith("全部已确认")
    assert await chat.advance(at(2, 9)) == []


async def test_everyone_notice(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    sent = await notify(chat, "#通知 皇叔洼村 全员 明天停水")
    assert [(o.room, o.text, o.mentions) for o in sent if o.room == "r_hsw"] == [
        ("r_hsw", '【通知 1】明天停水 — 请回复"收到"', ())
    ]
    sent = await chat.say("收到", sender=VILLAGER, name="张三", room="r_hsw")
    assert texts(sent) == ["已记录：本群确认收到通知 1"]
    sent = await chat.say("#回执 1", sender=HQ, room="r_city")
    assert texts(sent)[0].splitlines()[1] == "全员通知：群里任何人回复“收到”即算本群确认"
    assert texts(sent)[0].endswith("全部已确认")
    # At the end of the text too.
    sent = await notify(chat, "#通知 吴城乡 后天开会 全员")
    assert [o.text for o in sent if o.room == "r_wc"] == ['【通知 2】后天开会 — 请回复"收到"']
    # And before the scope ("全员" is no unit).
    sent = await notify(chat, "#通知 全员 吴城乡 周五大扫除")
    assert [o.text for o in sent if o.room == "r_wc"] == ['【通知 3】周五大扫除 — 请回复"收到"']
    sent = await chat.say("收到", sender=VILLAGER, name="张三", room="r_wc")
    assert texts(sent) == ['已记录：本群确认收到通知 3。本群还有通知 2 未确认，请回复"收到 2"']


async def test_receipt_names_people_and_the_groups_without_cadres(chat: MemoryChat,
                                                                 app: App) -> None:
    await build_city(chat)
    await notify(chat, "#通知 浑源县 周五前报送材料")
    await chat.say("收到", sender=VILLAGE_CADRE, name="刘伟", room="r_hsw")
    sent = await chat.say("#回执 1", sender=HQ, room="r_city")
    assert texts(sent) == [
        "通知 1（6月3日 09:00 发往浑源县）：3 个群，已确认 1 个（33%）\n"
        "已确认：\n皇叔洼村 刘伟 6月3日 09:00\n"
        "按人：\n浑源县：已确认 无；未确认 王县长\n皇叔洼村：已确认 刘伟\n"
        "没有干部的群（任何人回复即算确认）：吴城乡\n"
        "未确认（2）：浑源县、吴城乡"
    ]


async def test_a_group_is_chased_once_within_the_interval(chat: MemoryChat, app: App) -> None:
    await build_city(chat)
    await notify(chat, "#通知 皇叔洼村 内容")
    # A chase went out at 12:00 (say, a re-run): the one due at 13:00 skips the group.
    app.db.run_sync(lambda s: mark_chased(s, 1, ["r_hsw"], at(0, 12)))
    due = app.db.run_sync(lambda s: due_chase(s, 1, at(0, 9), at(0, 13), app.config, at(0, 13)))
    assert due is not None and due.groups == ()
    # Runs caught up after an outage reach the group once.
    app.db.run_sync(lambda s: mark_chased(s, 1, ["r_hsw"], at(0, 8)))
    app.clock.set(at(0, 17, 30))
    await run_due(app, app.clock.now())
    sent = await chat.flush()
    assert [o.room for o in sent] == ["r_hsw"]
    await run_due(app, app.clock.now())
    assert await chat.flush() == []


async def test_dashboard_receipts_by_person(chat: MemoryChat, app: App) -> None:
    await two_cadres(chat)
    await notify(chat, "#通知 浑源县 周五前报送材料")
    await chat.say("收到", sender=VILLAGE_CADRE, name="刘伟", room="r_hsw")
    await chat.say("收到", sender=VILLAGER, name="张三", room="r_wc")
    section = app.db.run_sync(lambda s: notices_section(s, app.config, app.clock.now()))
    [row] = section["tables"][0]["rows"]
    assert row["groups"] == [
        {"group": "浑源县", "done": False, "anyone": False, "acked": [], "missing": ["王县长"]},
        {"group": "吴城乡", "done": True, "anyone": True, "acked": ["张三"], "missing": []},
        {"group": "皇叔洼村", "done": False, "anyone": False, "acked": ["刘伟"],
         "missing": ["李娜"]},
    ]
