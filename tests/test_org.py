"""Whole-bot tests of the foundation commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlmodel import func, select

from bot.messages import Inbound
from bot.models.core import AuditEntry, Household, OrgUnit, Person, RoleGrant, Room
from bot.org import roles_at, room_unit
from bot.router import Ctx
from tests.conftest import texts
from tests.helpers import ADMIN, ROOMS, appoint, build_tree


def count(app, model) -> int:
    return app.db.run_sync(lambda s: s.exec(select(func.count()).select_from(model)).one())


async def test_bind_four_levels_and_aliases(chat, app) -> None:
    await build_tree(chat)
    units = app.db.run_sync(lambda s: s.exec(select(OrgUnit).order_by(OrgUnit.id)).all())
    assert [(u.name, u.level) for u in units] == [
        ("大同市", "市"), ("浑源县", "县"), ("吴城乡", "乡"), ("皇叔洼村", "村"),
    ]
    assert units[3].path == f"/{units[0].id}/{units[1].id}/{units[2].id}/{units[3].id}/"
    # Traditional script and the short alias find the same unit.
    sent = await chat.say("#綁定 渾源縣", sender=ADMIN, room="r_county2", topic="浑源县二群")
    assert texts(sent) == ["已绑定：本群 → 浑源县（县，上级 大同市）"]
    sent = await chat.say("#绑定 浑源", sender=ADMIN, room="r_county3")
    assert texts(sent) == ["已绑定：本群 → 浑源县（县，上级 大同市）"]


async def test_bind_refusals_change_nothing(chat, app) -> None:
    await build_tree(chat)
    before = count(app, OrgUnit)
    cases = [
        ("#绑定 村 东坪村", "新建村“东坪村”要写明上级乡"),
        ("#绑定 村 东坪村 上级 浑源县", "村的上级应是乡，浑源县是县"),
        ("#绑定 村 东坪村 上级 没有乡",
         "找不到上级单位“没有乡”：请先绑定上级，在没有乡的群里发送 #绑定 乡 没有乡 上级 XX县"),
        ("#绑定", "请写一个单位名称"),
    ]
    for text, expected in cases:
        sent = await chat.say(text, sender=ADMIN, room="r_new")
        assert expected in sent[0].text, (text, sent)
        assert "例：#绑定 村 皇叔洼村 上级 吴城乡" in sent[0].text or "找不到" in sent[0].text
    # On a fresh database, bound bottom up: each step says to bind the level above first.
    for text, example in [("#绑定 村 西册田村 上级 西册田乡", "#绑定 乡 西册田乡 上级 XX县"),
                          ("#绑定 乡 西册田乡 上级 云州区", "#绑定 县 云州区 上级 XX市"),
                          ("#绑定 县 云州区 上级 忻州市", "#绑定 市 忻州市"),
                          ("#绑定 村 东坪村 上级 千佛岭", "#绑定 乡 千佛岭 上级 XX县")]:
        sent = await chat.say(text, sender=ADMIN, room="r_new")
        assert texts(sent) == [f"找不到上级单位“{text.split()[-1]}”：请先绑定上级，"
                               f"在{text.split()[-1]}的群里发送 {example}"]
    # Not an admin: refused with the role it needs.
    sent = await chat.say("#绑定 村 东坪村 上级 吴城乡", sender="wxid_x", room="r_new")
    assert texts(sent) == ["#绑定 需要管理员权限"]
    assert count(app, OrgUnit) == before


async def test_appoint_dismiss_and_subtree_roles(chat, app) -> None:
    await build_tree(chat)
    await appoint(chat, "county", "wxid_hq", "赵县长", "指挥部")
    # A county HQ role holds in the village below it.
    room, _ = ROOMS["village"]
    sent = await chat.say("#任命 @刘伟 干部", sender="wxid_hq", room=room,
                          mentions=(("wxid_liuwei", "刘伟"),))
    assert texts(sent) == ["已任命 刘伟 为 皇叔洼村干部"]
    sent = await chat.say("#任命 @刘伟 干部", sender="wxid_hq", room=room, mentions=("wxid_liuwei",))
    assert texts(sent) == ["刘伟 已是 皇叔洼村干部"]
    # HQ may not make admins.
    sent = await chat.say("#任命 @刘伟 管理员", sender="wxid_hq", room=room, mentions=("wxid_liuwei",))
    assert texts(sent) == ["任命管理员需要管理员权限"]
    # A cadre may not appoint.
    sent = await chat.say("#任命 @张三 评议员", sender="wxid_liuwei", room=room, mentions=("wxid_zs",))
    assert texts(sent) == ["#任命 需要管理员或指挥部权限"]
    # Dismissing a role granted higher up is explained, not silently ignored.
    sent = await chat.say("#免职 @赵县长 指挥部", sender=ADMIN, room=room, mentions=("wxid_hq",))
    assert "上级单位任命" in sent[0].text
    sent = await chat.say("#免职 @刘伟 干部", sender=ADMIN, room=room, mentions=("wxid_liuwei",))
    assert texts(sent) == ["已免去 刘伟 的 皇叔洼村干部 职务"]
    grants = app.db.run_sync(lambda s: s.exec(select(RoleGrant.person_id, RoleGrant.role)).all())
    assert sorted(grants) == [("wxid_hq", "指挥部")]


async def test_register_households(chat, app) -> None:
    await build_tree(chat)
    await appoint(chat, "village", "wxid_liuwei", "刘伟", "干部")
    room, _ = ROOMS["village"]
    sent = await chat.say("#登记 @张三 @张小三 户 张三家", sender="wxid_liuwei", room=room,
                          mentions=(("wxid_zs", "张三"), ("wxid_zs2", "张小三")))
    assert texts(sent) == ["已登记 张三家（皇叔洼村），成员：张三、张小三"]
    sent = await chat.say("#登记 户 王五家", sender="wxid_liuwei", room=room)
    assert texts(sent) == ["已登记 王五家（皇叔洼村），暂无成员"]
    # Moving someone out of their household takes an admin (issue 18 §3), not a cadre.
    sent = await chat.say("#登记 @张三 户 王五家", sender="wxid_liuwei", room=room, mentions=("wxid_zs",))
    assert texts(sent) == ["张三 已登记在 张三家，改户需要管理员"]
    sent = await chat.say("#登记 @张三 户 王五家", sender=ADMIN, room=room, mentions=("wxid_zs",))
    assert sent[0].text.endswith("张三 原属 张三家，已改到本户")
    # Only in a village group.
    sent = await chat.say("#登记 户 李四家", sender=ADMIN, room=ROOMS["town"][0])
    assert texts(sent) == ["#登记 只能在村级的群里使用"]
    # A villager may not register.
    sent = await chat.say("#登记 户 李四家", sender="wxid_zs", room=room)
    assert texts(sent) == ["#登记 需要管理员或干部权限"]
    assert count(app, Household) == 2
    zs = app.db.run_sync(lambda s: s.get(Person, "wxid_zs"))
    assert zs.household_id is not None


async def test_bare_names_resolve_or_ask(chat, app) -> None:
    await build_tree(chat)
    room, _ = ROOMS["village"]
    # Two different people called 张三 have spoken in this group.
    await chat.say("#帮助", sender="wxid_zs_a", name="张三", room=room)
    await chat.say("#帮助", sender="wxid_zs_b", name="张三", room=room)
    await chat.say("#帮助", sender="wxid_ww", name="王五", room=room)
    sent = await chat.say("#任命 张三 评议员", sender=ADMIN, room=room)
    assert texts(sent) == ["有两位张三，请用@指定"]
    sent = await chat.say("#任命 王五 评议员", sender=ADMIN, room=room)
    assert texts(sent) == ["已任命 王五 为 皇叔洼村评议员"]
    sent = await chat.say("#任命 赵六 评议员", sender=ADMIN, room=room)
    assert texts(sent) == ["本群找不到“赵六”，请用@指定"]


async def test_duplicates_chat_and_unknown(chat, app) -> None:
    await build_tree(chat)
    room, _ = ROOMS["village"]
    first = await chat.say("#登记 户 王五家", sender=ADMIN, room=room, msg_id="dup1")
    again = await chat.say("#登记 户 王五家", sender=ADMIN, room=room, msg_id="dup1")
    assert len(first) == 1 and again == []
    assert await chat.say("今天开会吗？", sender="wxid_x", room=room) == []
    assert await chat.say("收到", sender="wxid_x", room=room) == []
    # A '#' word that is no command is a topic: chat. Addressed by @mention, it is answered.
    assert await chat.say("#吃饭", sender="wxid_x", room=room) == []
    sent = await chat.say("@村务助手 吃饭", sender="wxid_x", room=room)
    assert texts(sent) == ["没有“吃饭”这个命令。发送 #帮助 查看可用的命令。"]
    # Only commands are journaled and audited.
    assert count(app, AuditEntry) == 5  # four binds and one household


async def test_help_lists_what_the_sender_may_use(chat, app) -> None:
    await build_tree(chat)
    room, _ = ROOMS["village"]
    villager = (await chat.say("#帮助", sender="wxid_v", room=room))[0].text
    admin = (await chat.say("#帮助", sender=ADMIN, room=room))[0].text
    assert "#登记" not in villager and "#任命" not in villager
    assert "#登记" in admin and "#任命" in admin and "#绑定" in admin
    detail = (await chat.say("#帮助 任命", sender="wxid_v", room=room))[0].text
    assert "例：#任命 @刘伟 干部" in detail
    # @mentioning the bot works like '#'.
    sent = await chat.say("@村务助手 帮助", sender="wxid_v", room=room)
    assert sent and sent[0].text == villager


async def test_help_offers_nothing_the_router_refuses(chat, app) -> None:
    await build_tree(chat)
    await appoint(chat, "village", "wxid_cadre", "刘伟", "干部")
    room, _ = ROOMS["village"]
    # A village cadre holds a role #目标 and #通知 name, but their checks refuse here.
    listed = (await chat.say("#帮助", sender="wxid_cadre", name="刘伟", room=room))[0].text
    assert "#进度查询" in listed and "#目标" not in listed and "#通知" not in listed
    refused = await chat.say("#目标 脱贫户 100户", sender="wxid_cadre", name="刘伟", room=room)
    assert refused[0].text.startswith("干部不能给本单位设定目标")
    # Whatever #帮助 offers anyone here, the router allows.
    for sender in ("wxid_cadre", "wxid_v", ADMIN):
        await chat.say("#帮助", sender=sender, room=room)
        offered, refused_ = app.db.run_sync(lambda s, who=sender: _offered(app, s, who, room))
        assert offered and refused_ == [], (sender, refused_)


def _offered(app, session, sender: str, room: str):
    """What #帮助 offers `sender` in `room`, and those of them the router refuses."""
    unit = room_unit(session, room)
    person = session.get(Person, sender)
    msg = Inbound(transport="memory", id="probe", sender=sender, sender_name="", text="#帮助",
                  at=app.clock.now(), room=room)
    ctx = Ctx(session=session, msg=msg, config=app.config, now=app.clock.now(),
              writer=app.writer, person=person, room=session.get(Room, room), unit=unit,
              roles=roles_at(session, sender, unit, app.config.bot.admins),
              command=app.router.lookup("帮助"), services=app.services)
    offered = app.router.usable(ctx)
    return [c.name for c in offered], [c.name for c in offered if app.router.allowed(ctx, c)]


async def test_unbound_group_and_direct_message(chat, app) -> None:
    sent = await chat.say("#登记 户 王五家", sender=ADMIN, room="r_unbound")
    assert "本群还没有绑定单位" in sent[0].text
    sent = await chat.say("#帮助", sender="wxid_v", room=None)
    assert sent[0].to == "wxid_v" and "#帮助" in sent[0].text
    sent = await chat.say("#登记 户 王五家", sender=ADMIN, room=None)
    assert texts(sent) == ["#登记 请在工作群里使用。"]


async def test_rate_limit_warns_once(chat, app) -> None:
    room = "r_rl"
    replies = []
    for _ in range(app.config.limits.burst + 5):
        replies += await chat.say("#帮助", sender="wxid_fast", room=room)
    assert len(replies) == app.config.limits.burst + 1
    assert replies[-1].text.startswith("您发送命令太快了")


async def test_several_bare_names_are_all_appointed(chat, app) -> None:
    await build_tree(chat)
    room, _ = ROOMS["village"]
    await chat.say("#帮助", sender="wxid_zs", name="张三", room=room)
    await chat.say("#帮助", sender="wxid_ls", name="李四", room=room)
    sent = await chat.say("#任命 张三 李四 评议员", sender=ADMIN, room=room)
    assert texts(sent) == ["已任命 张三 为 皇叔洼村评议员\n已任命 李四 为 皇叔洼村评议员"]


async def test_bind_a_level_without_a_name(chat, app) -> None:
    sent = await chat.say("#绑定 县", sender=ADMIN, room="r_new")
    assert texts(sent) == ["“县”后面要写单位名称。例：#绑定 村 皇叔洼村 上级 吴城乡"]
    assert count(app, OrgUnit) == 0


async def test_command_words_and_the_bots_name(chat, app) -> None:
    room = "r_words"
    help_text = (await chat.say("#帮助", sender="wxid_v", room=room))[0].text
    # ASCII aliases in any case.
    assert texts(await chat.say("#HELP", sender="wxid_v", room=room)) == [help_text]
    assert "例：#任命 @刘伟 干部" in (await chat.say("#Help 任命", sender="wxid_v", room=room))[0].text
    # '@' + a name that only begins with the bot's is someone else: ordinary chat.
    assert await chat.say("@村务助手小王 明天几点开会", sender="wxid_v", room=room) == []
    # The bot's name followed by a space, punctuation or a command word is the bot.
    for text in ("@村务助手 帮助", "@村务助手，帮助", "@村务助手帮助"):
        assert texts(await chat.say(text, sender="wxid_v", room=room)) == [help_text], text


async def test_a_person_first_seen_without_a_name_keeps_a_later_one(chat, app) -> None:
    await chat.say("#帮助", sender="wxid_anon", room="r1")
    assert app.db.run_sync(lambda s: s.get(Person, "wxid_anon").name) == "wxid_anon"
    await chat.say("#帮助", sender="wxid_anon", name="赵六", room="r1")
    await chat.say("#帮助", sender="wxid_anon", room="r1")
    assert app.db.run_sync(lambda s: s.get(Person, "wxid_anon").name) == "赵六"


async def test_bot_mentioned_anywhere_in_the_transports_list(chat, app) -> None:
    await build_tree(chat)
    room, _ = ROOMS["village"]
    sent = await chat.say("@村务助手 任命 @刘伟 干部", sender=ADMIN, room=room,
                          mentions=(("wxid_liuwei", "刘伟"), ("wxid_bot", "村务助手")))
    assert texts(sent) == ["已任命 刘伟 为 皇叔洼村干部"]
    grants = app.db.run_sync(lambda s: s.exec(select(RoleGrant.person_id)).all())
    assert grants == ["wxid_liuwei"]


async def test_rebinding_needs_admin_of_the_current_unit(chat, app) -> None:
    await build_tree(chat)
    await chat.say("#绑定 乡 官儿乡 上级 浑源县", sender=ADMIN, room="r_town2")
    await appoint(chat, "town", "wxid_town_admin", "乡管理员", "管理员")
    # An admin of 吴城乡 may bind a new group to it, but not take over 官儿乡's group.
    sent = await chat.say("#绑定 吴城乡", sender="wxid_town_admin", room="r_other")
    assert texts(sent) == ["已绑定：本群 → 吴城乡（乡，上级 浑源县）"]
    sent = await chat.say("#绑定 吴城乡", sender="wxid_town_admin", room="r_town2")
    assert texts(sent) == ["本群已绑定 官儿乡，改绑需要它的管理员权限"]
    unit = app.db.run_sync(lambda s: s.get(OrgUnit, s.get(Room, "r_town2").unit_id).name)
    assert unit == "官儿乡"


def test_the_readme_setup_works_in_the_console(tmp_path: Path) -> None:
    """The README's "Setting up the groups" block, typed into `villagebot console` on a
    fresh database, as the README says (without the notes in brackets)."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split("Setting up the groups", 1)[1].split("```")[1]
    lines = [re.sub(r"\s+\(.*$", "", line).strip() for line in block.splitlines() if line.strip()]
    assert lines[0] == "#绑定 市 大同市" and len(lines) == 6
    p = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--db", f"sqlite:///{tmp_path / 'try.db'}"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120,
        check=False, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)})
    assert p.returncode == 0, p.stderr
    replies = [line.split("] ", 1)[1] for line in p.stdout.splitlines()]
    assert replies == [
        "已新建并绑定：本群 → 大同市（市）",
        "本群已从 大同市 改绑到 浑源县（县，上级 大同市）",
        "本群已从 浑源县 改绑到 吴城乡（乡，上级 浑源县）",
        "本群已从 吴城乡 改绑到 皇叔洼村（村，上级 吴城乡）",
        "已任命 刘伟 为 皇叔洼村干部",
        "已登记 张三家（皇叔洼村），成员：张三",
    ]
