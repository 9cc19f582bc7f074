"""Whole-bot tests of notices (#通知, 收到, #回执, chases), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlmodel import func, select

from bot.app import App
from bot.clock import VirtualClock
from bot.config import Config, load_config
from bot.drivers.memory import MemoryChat, MemoryTransport
from bot.jobs import run_due
from bot.messages import Outgoing
from bot.models.core import InboundMessage, OutboxMessage
from bot.models.jobs import Job
from bot.models.notices import Notice, NoticeTarget
from bot.notices import open_notices, receipts
from bot.wiring import build_app
from tests.conftest import SHANGHAI, START, texts

ADMIN = "wxid_admin"
HQ = "wxid_hq"  # 贾健刚, 指挥部 on the city
HY_CADRE = "wxid_hy"  # 县干部 of 浑源县
VILLAGE_CADRE = "wxid_liuwei"  # 干部 of 皇叔洼村
VILLAGER = "wxid_zs"

# Three counties, each with a township and a village, every unit with its group.
TREE = [
    ("r_city", "#绑定 市 大同市"),
    ("r_hy", "#绑定 县 浑源县 上级 大同市"),
    ("r_wc", "#绑定 乡 吴城乡 上级 浑源县"),
    ("r_hsw", "#绑定 村 皇叔洼村 上级 吴城乡"),
    ("r_yg", "#绑定 县 阳高县 上级 大同市"),
    ("r_wgt", "#绑定 镇 王官屯镇 上级 阳高县"),
    ("r_ps", "#绑定 村 潘寺村 上级 王官屯镇"),
    ("r_yz", "#绑定 区 云州区 上级 大同市"),
    ("r_xp", "#绑定 镇 西坪镇 上级 云州区"),
    ("r_xct", "#绑定 村 西册田村 上级 西坪镇"),
]
HUNYUAN = {"r_hy", "r_wc", "r_hsw"}
ALL_BUT_CITY = {room for room, _ in TREE} - {"r_city"}
MONDAY = START.date()


def at(day: int, hh: int, mm: int = 0) -> datetime:
    """A time in the week of START: day 0 is Monday 2019-06-03."""
    return datetime(2019, 6, 3 + day, hh, mm, tzinfo=SHANGHAI)


async def build_city(chat: MemoryChat) -> None:
    for room, text in TREE:
        sent = await chat.say(text, sender=ADMIN, name="管理员", room=room, topic=room)
        assert "绑定" in sent[0].text, sent
    for room, person, name, role in [
        ("r_city", HQ, "贾健刚", "指挥部"),
        ("r_hy", HY_CADRE, "王县长", "干部"),
        ("r_hsw", VILLAGE_CADRE, "刘伟", "干部"),
    ]:
        sent = await chat.say(f"#任命 @{name} {role}", sender=ADMIN, room=room,
                              mentions=((person, name),))
        assert "已任命" in sent[0].text, sent


def rooms(sent: list[Outgoing]) -> Counter[str | None]:
    return Counter(o.room for o in sent)


def count(app: App, model: type) -> int:
    return app.db.run_sync(lambda s: s.exec(select(func.count()).select_from(model)).one())


async def notify(chat: MemoryChat, text: str, sender: str = HQ, room: str = "r_city",
                 msg_id: str | None = None) -> list[Outgoing]:
    return await chat.say(text, sender=sender, name="贾健刚", room=room, msg_id=msg_id)


# -- broadcasting ------------------------------------------------------------------


async def test_notice_to_a_county_posts_once_per_group(chat, app) -> None:
    await build_city(chat)
    sent = await notify(chat, "#通知 浑源县 明天上午9点召开脱贫攻坚推进会，请各乡村书记参加。")
    assert sent[0].room == "r_city" and sent[0].reply_to is not None
    assert sent[0].text == "通知 1 已发往浑源县 3 个群。发送 #回执 1 查看确认情况"
    posts = sent[1:]
    assert rooms(posts) == Counter(HUNYUAN)
    assert {o.text for o in posts} == {
        '【通知 1】明天上午9点召开脱贫攻坚推进会，请各乡村书记参加。 — 请回复"收到"'
    }
    assert all(o.kind == "notice" for o in posts)


async def test_scopes(chat, app) -> None:
    await build_city(chat)
    # 全体: every bound group but the author's own.
    sent = await notify(chat, "#通知 全体 周五前报送月度考核材料")
    assert "已发往全体 9 个群" in sent[0].text
    assert rooms(sent[1:]) == Counter(ALL_BUT_CITY)
    # Several units, with 、 or commas; short aliases; Traditional script.
    for text in ["#通知 浑源县、阳高县 内容一", "#通知 渾源縣，陽高縣：内容二", "#通知 浑源 阳高 内容三"]:
        sent = await notify(chat, text)
        assert "发往浑源县、阳高县 6 个群" in sent[0].text, (text, sent[0].text)
        assert rooms(sent[1:]) == Counter(HUNYUAN | {"r_yg", "r_wgt", "r_ps"})
    # A unit inside the scope after a space is the start of the text, not more scope.
    sent = await notify(chat, "#通知 浑源县 吴城乡 王乡长明天来县里")
    assert sent[1].text.startswith("【通知 5】吴城乡 王乡长明天来县里")
    assert rooms(sent[1:]) == Counter(HUNYUAN)
    # Overlapping units: each group once.
    sent = await notify(chat, "#通知 浑源县、吴城乡 内容四")
    assert rooms(sent[1:]) == Counter(HUNYUAN)
    # A single village.
    sent = await notify(chat, "＃通知　皇叔洼村　内容")
    assert rooms(sent[1:]) == Counter({"r_hsw"})


async def test_text_is_kept_as_typed(chat, app) -> None:
    await build_city(chat)
    sent = await notify(chat, "#通知 渾源縣 請於六月十日前完成四十二處危房改造（ＡＢ）。")
    assert sent[1].text == '【通知 1】請於六月十日前完成四十二處危房改造（ＡＢ）。 — 请回复"收到"'
    # Addressed by @mention, with an alias of the command.
    sent = await notify(chat, "@村务助手 通告 阳高县：請準時參加")
    assert sent[1].text == '【通知 2】請準時參加 — 请回复"收到"'
    multi = "第一段：周五开会。\n第二段：带好材料。"
    sent = await notify(chat, f"#通知 云州区\n{multi}")
    assert sent[1].text == f'【通知 3】{multi}\n— 请回复"收到"'


async def test_bad_scopes_change_nothing(chat, app) -> None:
    await build_city(chat)
    cases = [
        ("#通知 浑源县", "请在范围后面写通知内容。例：#通知 浑源县"),
        ("#通知", "请写发送范围和通知内容。例："),
        ("#通知 北京市 内容", "找不到单位“北京市”。例："),
        ("#通知 本县 内容", "本群是市级，没有“本县”，请写单位名称。例："),
    ]
    for text, expected in cases:
        sent = await notify(chat, text)
        assert texts(sent) and sent[0].text.startswith(expected), (text, sent)
    # A county group with no other group under it.
    await chat.say("#绑定 县 天镇县 上级 大同市", sender=ADMIN, room="r_tz")
    await chat.say("#任命 @贾 指挥部", sender=ADMIN, room="r_tz", mentions=((HQ, "贾健刚"),))
    sent = await notify(chat, "#通知 本县 内容", room="r_tz")
    assert texts(sent) == ["天镇县没有其他绑定的群，通知没有发出"]
    assert count(app, Notice) == 0 and count(app, NoticeTarget) == 0
    assert app.db.run_sync(lambda s: s.exec(select(Job).where(Job.kind == "notice_chase")).all()) == []


# -- permissions -------------------------------------------------------------------


async def test_permissions(chat, app) -> None:
    await build_city(chat)
    # A county cadre: within the own county, from the county group or a group below it.
    sent = await notify(chat, "#通知 浑源县 内容", sender=HY_CADRE, room="r_hy")
    assert "发往浑源县 2 个群" in sent[0].text
    assert rooms(sent[1:]) == Counter({"r_wc", "r_hsw"})
    sent = await notify(chat, "#通知 本县 另一条", sender=HY_CADRE, room="r_hsw")
    assert rooms(sent[1:]) == Counter({"r_hy", "r_wc"})
    sent = await notify(chat, "#通知 皇叔洼村 内容", sender=HY_CADRE, room="r_hy")
    assert rooms(sent[1:]) == Counter({"r_hsw"})
    # ... not outside it.
    before = count(app, Notice)
    for text, expected in [
        ("#通知 阳高县 内容", "通知阳高县需要指挥部权限（您可以通知浑源县）"),
        ("#通知 浑源县、潘寺村 内容", "通知潘寺村需要指挥部权限（您可以通知浑源县）"),
        ("#通知 全体 内容", "通知全体需要指挥部权限（您可以通知浑源县）"),
    ]:
        assert texts(await notify(chat, text, sender=HY_CADRE, room="r_hy")) == [expected]
    # A county cadre's role does not hold in another county's group.
    sent = await notify(chat, "#通知 阳高县 内容", sender=HY_CADRE, room="r_yg")
    assert texts(sent) == ["#通知 需要指挥部权限（县级干部可通知本县）"]
    # Village cadres, villagers, admins who are not HQ: refused with the role.
    for who, room in [(VILLAGE_CADRE, "r_hsw"), (VILLAGER, "r_hsw"), (ADMIN, "r_city")]:
        sent = await notify(chat, "#通知 皇叔洼村 内容", sender=who, room=room)
        assert texts(sent) == ["#通知 需要指挥部权限（县级干部可通知本县）"], who
    assert count(app, Notice) == before
    # HQ may notify anywhere, from any group.
    sent = await notify(chat, "#通知 潘寺村 内容", sender=HQ, room="r_hsw")
    assert rooms(sent[1:]) == Counter({"r_ps"})


# -- acknowledging -----------------------------------------------------------------


async def test_ack_variants(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 浑源县 第一条")
    say = chat.say
    # The cadre's bare 收到 acknowledges for them (the village's only cadre: the group
    # is done); a second one, by anyone, is ordinary chat.
    sent = await say("收到", sender=VILLAGE_CADRE, name="刘伟", room="r_hsw")
    assert texts(sent) == ["已记录：刘伟确认收到通知 1"]
    assert await say("收到！", sender=VILLAGER, name="张三", room="r_hsw") == []
    assert await say("收到 1", sender=VILLAGER, room="r_hsw") == []
    # With '#', a short note instead.
    sent = await say("#收到 1", sender=VILLAGER, room="r_hsw")
    assert texts(sent) == ["本群已于 6月3日 09:00 确认收到通知 1（刘伟）"]
    assert texts(await say("#收到", sender=VILLAGER, room="r_hsw")) == ["本群没有待确认的通知"]
    # Forgiving forms (吴城乡 has no cadre: anyone's 收到 counts there).
    sent = await say("已收到[抱拳]", sender=VILLAGER, room="r_wc")
    assert texts(sent) == ["已记录：本群确认收到通知 1"]
    # 收到十二 names notice 12, which does not exist: without '#' it stays silent.
    assert await say("收到十二", sender=VILLAGER, room="r_hy") == []
    sent = await say("#收到 十二", sender=VILLAGER, room="r_hy")
    assert texts(sent) == ["没有通知 12"]
    # A group the notice did not go to.
    assert await say("收到", sender=VILLAGER, room="r_yg") == []
    assert texts(await say("#收到 1", sender=VILLAGER, room="r_yg")) == ["通知 1 没有发到本群"]
    # The newest waiting notice first; the reply names what is still waiting.
    await notify(chat, "#通知 皇叔洼村 第二条")
    await notify(chat, "#通知 皇叔洼村 第三条")
    sent = await say("收到", sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ['已记录：刘伟确认收到通知 3。本群还有通知 2 未确认，请回复"收到 2"']
    sent = await say("收到2", sender=VILLAGE_CADRE, room="r_hsw")
    assert texts(sent) == ["已记录：刘伟确认收到通知 2"]
    assert await say("收到", sender=VILLAGE_CADRE, room="r_hsw") == []
    r = app.db.run_sync(lambda s: receipts(s, 1))
    assert [(g.room_id, g.acked_by) for g in r.acked] == [("r_hsw", VILLAGE_CADRE),
                                                         ("r_wc", VILLAGER)]


async def test_bare_ack_is_ordinary_chat_when_nothing_waits(chat, app) -> None:
    await build_city(chat)
    journaled = count(app, InboundMessage)
    for text in ["收到", "收到了", "收到收到", "收到 3", "好的，收到"]:
        assert await chat.say(text, sender=VILLAGER, room="r_hsw") == []
    # Nothing is written for them but the journal: judged once, so that a redelivery
    # is not judged again once a notice waits.
    assert count(app, InboundMessage) == journaled + 5
    # Unbound groups and direct messages too.
    assert await chat.say("收到", sender=VILLAGER, room="r_unbound") == []
    assert await chat.say("收到", sender=VILLAGER, room=None) == []
    sent = await chat.say("#收到", sender=VILLAGER, room=None)
    assert texts(sent) == ['请在收到通知的群里回复"收到"']
    # Words that only start like it are chat, not acknowledgements.
    await notify(chat, "#通知 皇叔洼村 内容")
    for text in ["收到吗？", "收到了吗？", "收到请回复", "收不到", "收到货了吗", "收到12份材料",
                 "没收到", "收到 2147483648", "收到 99999999999999999999"]:
        assert await chat.say(text, sender=VILLAGER, room="r_hsw") == []
    assert app.db.run_sync(lambda s: receipts(s, 1)).missing


# -- receipts ----------------------------------------------------------------------


async def test_receipts(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 全体 周五前报送材料")
    chat.app.clock.set(at(0, 9, 20))
    await chat.say("收到", sender=VILLAGE_CADRE, name="刘伟", room="r_hsw")
    chat.app.clock.set(at(0, 10, 5))
    await chat.say("收到", sender="wxid_yg", name="李县长", room="r_yg")
    sent = await chat.say("#回执 1", sender=HQ, room="r_city")
    assert texts(sent) == [
        "通知 1（6月3日 09:00 发往全体）：9 个群，已确认 2 个（22%）\n"
        "已确认：\n皇叔洼村 刘伟 6月3日 09:20\n阳高县 李县长 6月3日 10:05\n"
        "按人：\n浑源县：已确认 无；未确认 王县长\n皇叔洼村：已确认 刘伟\n"
        "没有干部的群（任何人回复即算确认）：吴城乡、阳高县、王官屯镇、潘寺村、云州区、西坪镇、西册田村\n"
        "未确认（7）：浑源县、吴城乡、王官屯镇、潘寺村、云州区、西坪镇、西册田村"
    ]
    # HQ anywhere may read it; the author may read their own; nobody else.
    assert (await chat.say("#回执 1", sender=HQ, room="r_ps"))[0].text.startswith("通知 1")
    await notify(chat, "#通知 浑源县 县里的通知", sender=HY_CADRE, room="r_hy")
    sent = await chat.say("#回执", sender=HY_CADRE, room="r_hy")
    assert sent[0].text.startswith("通知 2（6月3日 10:05 发往浑源县）：2 个群，已确认 0 个（0%）")
    assert texts(await chat.say("#回执 1", sender=HY_CADRE, room="r_hy")) == [
        "通知 1 的回执只有发布人和指挥部可以查看"
    ]
    assert texts(await chat.say("#回执 1", sender=VILLAGER, room="r_hsw")) == [
        "#回执 需要指挥部权限（通知的发布人也可查看自己的通知）"
    ]
    assert texts(await chat.say("#回执 99", sender=HQ, room="r_city")) == ["没有通知 99"]
    # The author may also ask in a direct message; so may 指挥部 (a role on some unit),
    # of any notice; nobody else.
    sent = await chat.say("#回执 2", sender=HY_CADRE, room=None)
    assert sent[0].to == HY_CADRE and sent[0].text.startswith("通知 2")
    assert (await chat.say("#回执 2", sender=HQ, room=None))[0].text.startswith("通知 2")
    assert texts(await chat.say("#回执 99", sender=HQ, room=None)) == ["没有通知 99"]
    assert texts(await chat.say("#回执 2", sender=VILLAGER, room=None)) == [
        "#回执 需要指挥部权限（通知的发布人也可查看自己的通知）"]
    # Everyone acknowledged (皇叔洼村: its cadre).
    await chat.say("收到", sender=VILLAGER, room="r_wc")
    await chat.say("收到", sender=VILLAGE_CADRE, room="r_hsw")
    assert (await chat.say("#回执 2", sender=HY_CADRE, room="r_hy"))[0].text.endswith("全部已确认")


async def test_open_notices_for_the_dashboard(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 浑源县 一")
    await notify(chat, "#通知 阳高县 二")
    for room in ["r_yg", "r_wgt", "r_ps"]:
        await chat.say("收到", sender=VILLAGER, room=room)
    await chat.say("收到", sender=HY_CADRE, room="r_hy")  # 浑源县's cadre
    got = app.db.run_sync(lambda s: open_notices(s, app.clock.now()))
    assert [(n.id, n.total, n.acked, n.missing, n.percent) for n in got] == [(1, 3, 1, 2, 33)]
    assert got[0].author_name == "贾健刚" and got[0].next_chase_at == at(0, 13)
    # Older than the window: not listed.
    assert app.db.run_sync(lambda s: open_notices(s, at(0, 9) + timedelta(days=31))) == []


# -- chases ------------------------------------------------------------------------


async def test_chases_then_the_list_to_the_author(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 浑源县 周五前报送材料")
    await chat.say("收到", sender=VILLAGE_CADRE, room="r_hsw")
    sent = await chat.advance(at(1, 9))
    got = [(o.at.astimezone(SHANGHAI).strftime("%d %H:%M"), o.room, o.text, o.mentions)
           for o in sent]
    # 浑源县's cadre is named and @-ed; 吴城乡 has no cadre: the whole group is reminded.
    chase = '【通知 1】第{}次提醒：{}还没有确认收到。内容：周五前报送材料 — 请回复"收到"'
    assert got == [
        ("03 13:00", "r_hy", chase.format(1, "王县长"), (HY_CADRE,)),
        ("03 13:00", "r_wc", chase.format(1, "本群"), ()),
        ("03 17:00", "r_hy", chase.format(2, "王县长"), (HY_CADRE,)),
        ("03 17:00", "r_wc", chase.format(2, "本群"), ()),
        ("03 21:00", "r_city",
         '通知 1 已提醒2次，仍有 2/3 个群未回复"收到"：浑源县（王县长）、吴城乡', ()),
    ]
    assert await chat.advance(at(3, 9)) == []


async def test_chases_wait_for_the_end_of_quiet_hours(chat, app) -> None:
    await build_city(chat)
    chat.app.clock.set(at(0, 19, 30))
    await notify(chat, "#通知 皇叔洼村 晚上的通知")
    sent = await chat.advance(at(2, 9))
    when = [(o.at.astimezone(SHANGHAI).strftime("%d %H:%M"), o.room) for o in sent]
    # 23:30 is quiet: the first chase waits until 07:00, the next counts from there.
    assert when == [("04 07:00", "r_hsw"), ("04 11:00", "r_hsw"), ("04 15:00", "r_city")]


async def test_chase_missed_while_down(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 皇叔洼村 内容")
    # Down from before 13:00 until 13:30: the chase is sent once, marked 补发.
    app.clock.set(at(0, 13, 30))
    await run_due(app, app.clock.now())
    sent = await chat.flush()
    assert texts(sent) == ['【通知 1】第1次提醒：刘伟还没有确认收到。内容：内容 — 请回复"收到"（补发）']
    await run_due(app, app.clock.now())
    assert await chat.flush() == []
    # Down past the grace: that chase is skipped; the next one comes on time.
    app.clock.set(at(0, 18, 30))
    await run_due(app, app.clock.now())
    assert await chat.flush() == []
    sent = await chat.advance(at(1, 9))
    assert [(o.at.astimezone(SHANGHAI).strftime("%H:%M"), o.room, o.text) for o in sent] == [
        ("21:00", "r_city", '通知 1 已提醒1次，仍有 1/1 个群未回复"收到"：皇叔洼村（刘伟）')
    ]


async def test_no_chase_once_everyone_has_acknowledged(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 浑源县 内容")
    sent = await chat.advance(at(0, 13, 30))
    assert rooms(sent) == Counter(HUNYUAN)
    await chat.say("收到", sender=HY_CADRE, room="r_hy")
    await chat.say("收到", sender=VILLAGER, room="r_wc")
    await chat.say("收到", sender=VILLAGE_CADRE, room="r_hsw")
    assert await chat.advance(at(2, 9)) == []
    job = app.db.run_sync(lambda s: s.exec(select(Job).where(Job.key == "notice:1")).one())
    assert not job.active


async def test_chase_names_the_notice_when_a_newer_one_waits(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 皇叔洼村 旧的")
    chat.app.clock.set(at(0, 10))
    await notify(chat, "#通知 皇叔洼村 新的")
    sent = await chat.advance(at(0, 13, 30))
    assert texts(sent) == ['【通知 1】第1次提醒：刘伟还没有确认收到。内容：旧的 — 请回复"收到 1"']


# -- long notices ------------------------------------------------------------------


@pytest.fixture
def short_config() -> Config:
    return load_config().with_overrides(notices={"max_chars": 100})


async def test_long_notice_is_split_and_numbered(short_config, db_url) -> None:
    app = build_app(short_config, clock=VirtualClock(START), db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        await build_city(chat)
        paras = [
            "一、" + "各村要把危房改造台账逐户核实，做到不漏一户。" * 2,
            "二、" + "乡镇要在周五前汇总上报，县里统一审核。" * 2,
            "三、" + "指挥部下周一例会通报进度，滞后的要说明原因。" * 2,
        ]
        body = "\n".join(paras)
        sent = await notify(chat, f"#通知 皇叔洼村 {body}")
        parts = [o.text for o in sent[1:]]
        assert len(parts) == 3
        assert all(len(p) <= 100 for p in parts)
        assert [p[: len("【通知 1】(1/3) ")] for p in parts] == [
            f"【通知 1】({i}/3) " for i in (1, 2, 3)
        ]
        assert [p.count("请回复") for p in parts] == [0, 0, 1]
        # Cut at the paragraph boundaries, nothing lost.
        assert parts[2].endswith('。 — 请回复"收到"')
        assert [p.split(") ", 1)[1].removesuffix(' — 请回复"收到"') for p in parts] == paras
        assert sent[0].text == "通知 1 已发往皇叔洼村 1 个群，每群3条。发送 #回执 1 查看确认情况"
    finally:
        app.close()


# -- no group gets a notice twice --------------------------------------------------


async def test_duplicate_delivery_of_the_command(chat, app) -> None:
    await build_city(chat)
    first = await notify(chat, "#通知 浑源县 内容", msg_id="wx-123")
    again = await notify(chat, "#通知 浑源县 内容", msg_id="wx-123")
    assert len(first) == 4 and again == []
    assert count(app, Notice) == 1 and count(app, NoticeTarget) == 3


async def test_the_same_notice_pasted_twice_is_sent_once(chat, app) -> None:
    await build_city(chat)
    await notify(chat, "#通知 浑源县 明天上午9点开会", msg_id="wx-1")
    again = await notify(chat, "#通知 浑源县  明天上午9点开会 ", msg_id="wx-2")
    assert texts(again) == ["同样的通知已于 6月3日 09:00 发往浑源县（通知 1），没有重发。发送 #回执 1 查看确认情况"]
    assert count(app, Notice) == 1 and count(app, NoticeTarget) == 3
    # Another text, another scope, or the same text later: a new notice.
    assert len(await notify(chat, "#通知 浑源县 明天上午10点开会")) == 4
    assert len(await notify(chat, "#通知 皇叔洼村 明天上午9点开会")) == 2
    chat.app.clock.set(at(0, 9, 31))
    assert len(await notify(chat, "#通知 浑源县 明天上午9点开会")) == 4


def _post_counts(app: App) -> Counter[str | None]:
    rows = app.db.run_sync(
        lambda s: s.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")).all()
    )
    return Counter(r.room_id for r in rows)


async def test_restart_between_commit_and_delivery(config, db_url) -> None:
    clock = VirtualClock(START)
    app = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    chat = MemoryChat(app)
    await build_city(chat)
    # The broadcast commits; the process dies before the outbox delivers anything.
    from bot.messages import Inbound

    app.handle_sync(Inbound(transport="memory", id="n1", sender=HQ, sender_name="贾健刚",
                            text="#通知 全体 内容", at=clock.now(), room="r_city"))
    app.close()
    # A new process on the same database delivers each post once.
    app2 = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    try:
        chat2 = MemoryChat(app2)
        sent = await chat2.flush()
        posts = [o for o in sent if o.kind == "notice"]
        assert rooms(posts) == Counter(ALL_BUT_CITY)
        assert await chat2.flush() == []
        # The same message delivered again after the restart changes nothing.
        assert await chat2.say("#通知 全体 内容", sender=HQ, room="r_city", msg_id="n1") == []
        assert _post_counts(app2) == Counter(ALL_BUT_CITY)
    finally:
        app2.close()


class _Crashing(MemoryTransport):
    """Delivers `ok` messages, then fails as if the process died mid-broadcast."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok

    async def send(self, out: Outgoing) -> None:
        if len(self.sent) >= self.ok:
            raise ConnectionError("gone")
        await super().send(out)


async def test_restart_in_the_middle_of_delivery(config, db_url) -> None:
    clock = VirtualClock(START)
    app = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    chat = MemoryChat(app)
    await build_city(chat)
    crashing = _Crashing(ok=4)
    chat.transport = crashing
    chat.sender.transports = {"memory": crashing}
    await notify(chat, "#通知 全体 内容")
    delivered = list(crashing.sent)
    assert len(delivered) == 4  # the reply and three posts
    app.close()
    clock.set(START + timedelta(minutes=5))  # past the retry backoff
    app2 = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    try:
        rest = await MemoryChat(app2).flush()
        posts = [o for o in delivered + rest if o.kind == "notice"]
        assert rooms(posts) == Counter(ALL_BUT_CITY)  # each group exactly once
    finally:
        app2.close()


# -- export ------------------------------------------------------------------------


async def test_export_notices_xlsx(chat, app, tmp_path) -> None:
    from openpyxl import load_workbook

    from bot.notices import export_notices

    await build_city(chat)
    await notify(chat, "#通知 浑源县 一")
    chat.app.clock.set(at(0, 9, 30))
    await chat.say("收到", sender=VILLAGE_CADRE, name="刘伟", room="r_hsw")
    path = tmp_path / "notices.xlsx"
    n, rows = app.db.run_sync(lambda s: export_notices(s, path, app.config.zone))
    assert (n, rows) == (1, 3)
    wb = load_workbook(path)
    summary = list(wb["通知"].iter_rows(values_only=True))[2:]
    assert summary[1][:3] == (1, datetime(2019, 6, 3, 9, 0), "贾健刚")
    assert summary[1][6:] == (3, 1, 2, 33)
    detail = list(wb["回执"].iter_rows(values_only=True))[2:]
    assert [(r[2], r[6], r[7]) for r in detail[1:]] == [
        ("浑源县", None, None), ("吴城乡", None, None),
        ("皇叔洼村", datetime(2019, 6, 3, 9, 30), "刘伟"),
    ]


def test_export_command_line(sqlite_url, config, tmp_path) -> None:
    import asyncio
    import subprocess
    import sys

    async def setup() -> None:
        app = build_app(config, clock=VirtualClock(START), db_url=sqlite_url, admins=[ADMIN])
        try:
            chat = MemoryChat(app)
            await build_city(chat)
            await notify(chat, "#通知 全体 内容")
        finally:
            app.close()

    asyncio.run(setup())
    out = tmp_path / "out.xlsx"
    p = subprocess.run([sys.executable, "-m", "bot", "export", "notices", str(out), "--db",
                        sqlite_url], capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    assert "已导出 1 条通知、9 行回执" in p.stdout and out.stat().st_size > 0
