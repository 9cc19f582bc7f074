"""Households from real sheets (户主, 联系电话) and claiming them by phone (#认领):
real files, the whole bot through the memory driver, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import col, func, select

from bot.app import App
from bot.drivers.memory import MemoryChat
from bot.models.core import Household, OrgUnit, Person
from bot.models.points import ClaimAttempt
from bot.points.claim import TRIES_PER_DAY
from bot.points.files import ImportFailed, import_households, read_table
from bot.points.phones import mask_phone, normalize_phone
from tests import helpers
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

V = ROOMS["village"][0]
CADRE, ZS, ZS2, LS, MALLORY = "wxid_liuwei", "wxid_zs", "wxid_zs2", "wxid_ls", "wxid_m"
NAMES = {ADMIN: "管理员", CADRE: "刘伟", ZS: "张三", ZS2: "张小三", LS: "李四", MALLORY: "路人"}
say = partial(helpers.say, room=V, names=NAMES)
one = partial(helpers.one, room=V, names=NAMES)

# A roster as a village keeps it: a title row, a note row, then the header; no 户名
# column (the household is named by its head), phones written as people write them.
ROSTER = """皇叔洼村农户花名册,,,,
填报单位：吴城乡（盖章）,,,,
序号,村名,户主姓名,联系电话,家庭人口
1,皇叔洼村,张三,135 2468 1357,4
2,皇叔洼村,李四,+86 139-0000-1111,3
3,皇叔洼村,王五,,2
"""


def test_phones_are_read_as_people_write_them() -> None:
    for written in ("13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678",
                    "0086-13812345678", "８６１３８１２３４５６７８", "(138)12345678"):
        assert normalize_phone(written) == "13812345678", written
    for bad in ("1381234567", "23812345678", "138123456789", "12812345678", "电话", "",
                "010-12345678", "1.38123E+10"):
        assert normalize_phone(bad) is None, bad
    assert mask_phone("13812345678") == "138****5678"


def _import(app: App, path: Path):  # type: ignore[no-untyped-def]
    return app.db.run_sync(lambda s: import_households(s, read_table(path), app.clock.now()))


def _households(app: App) -> list[tuple[str, str, str | None, list[str]]]:
    def q(s):  # type: ignore[no-untyped-def]
        out = []
        for hh in s.exec(select(Household).order_by(col(Household.id))).all():
            members = s.exec(select(Person.id).where(Person.household_id == hh.id)
                             .order_by(col(Person.id))).all()
            out.append((hh.name, hh.head_name, hh.phone, list(members)))
        return out

    return app.db.run_sync(q)


async def _village(chat: MemoryChat, app: App, tmp_path: Path) -> None:
    await build_tree(chat)
    await appoint(chat, "village", CADRE, NAMES[CADRE], "干部")
    f = tmp_path / "roster.csv"
    f.write_text(ROSTER, encoding="gbk")  # as Excel saves it in China
    r = _import(app, f)
    assert (r.households, r.created, r.phones, r.unclaimed) == (3, 3, 2, 2)


async def test_import_csv_with_title_rows_heads_and_phones(chat, app, tmp_path: Path) -> None:
    await _village(chat, app, tmp_path)
    assert _households(app) == [("张三", "张三", "13524681357", []),
                                ("李四", "李四", "13900001111", []), ("王五", "王五", None, [])]
    # Named by the head, called 王五家 in chat (as every example says it).
    await appoint(chat, "village", "wxid_rater", "评议员甲", "评议员")
    assert (await one(chat, "#加分 王五家 红白事", "wxid_rater")).startswith("已加分：#1 王五 +30")
    assert "户：王五\n余额：30 分" in await one(chat, "#代查 王五家", CADRE)


async def test_import_xlsx_and_a_bad_phone_changes_nothing(chat, app, tmp_path: Path) -> None:
    await build_tree(chat)
    good = tmp_path / "hh.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    # A 户名 column with 户主 and 手机号 beside it; Excel keeps typed numbers as numbers.
    for row in [("2019年农户信息表",), ("村", "户名", "户主", "手机号"),
                ("皇叔洼村", "张三家", "张三", 13812345678), ("皇叔洼村", "李四家", "李四", 13900001111.0),
                ("皇叔洼村", "王五家", None, None)]:
        ws.append(row)
    wb.save(good)
    r = _import(app, good)
    assert (r.households, r.phones) == (3, 2)
    before = _households(app)
    assert before == [("张三家", "张三", "13812345678", []), ("李四家", "李四", "13900001111", []),
                      ("王五家", "", None, [])]
    # A bad phone, two households with one phone, one household with two phones, one
    # with a phone another household has on file: each refused by its row; nothing changes.
    bad = tmp_path / "bad.csv"
    bad.write_text("村,户名,户主,电话\n"
                   "皇叔洼村,王五家,王五,1381234\n"
                   "皇叔洼村,赵六家,赵六,137 0000 2222\n"
                   "皇叔洼村,钱七家,钱七,13700002222\n"
                   "皇叔洼村,孙八家,孙八,13600003333\n"
                   "皇叔洼村,孙八家,孙八,13600004444\n"
                   "皇叔洼村,周九家,周九,13900001111\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as e:
        _import(app, bad)
    assert e.value.errors == [
        "第2行：联系电话“1381234”不是11位手机号（例：13812345678）",
        "第4行：手机号 137****2222 在第3行已登记给 赵六家，同村一个手机号只登记一户",
        "第6行：孙八家 在第5行已填手机号 136****3333，一户只登记一个手机号",
        "第7行：手机号 139****1111 已登记给皇叔洼村的 李四家，同村一个手机号只登记一户",
    ]
    assert _households(app) == before
    # The file may move a phone: 李四家 gets a new one, so 周九家 may have the old.
    moved = tmp_path / "moved.csv"
    moved.write_text("村,户名,电话\n皇叔洼村,李四家,13900005555\n皇叔洼村,周九家,13900001111\n",
                     encoding="utf-8")
    assert _import(app, moved).created == 1
    assert [(n, p) for n, _, p, _ in _households(app)][1:] == [("李四家", "13900005555"),
                                                                ("王五家", None), ("周九家", "13900001111")]


async def test_claim_by_phone(chat, app, tmp_path: Path) -> None:
    await _village(chat, app, tmp_path)
    # Unlinked, and named as the head of an unclaimed household: told how to claim it.
    assert await one(chat, "#查分", ZS) == (
        "您还没有绑定到户。本村户主“张三”的农户登记了手机号：发送 #认领 手机号 即可绑定本户")
    assert await one(chat, "#认领 123", ZS) == "手机号应是11位数字。例：#认领 13812345678"
    assert await one(chat, "#认领 13800000000", ZS) == (
        "本村没有登记这个手机号的农户。请核对后再发，例：#认领 13812345678（今天还可以再试 2 次）")
    assert await one(chat, "#认领 135-2468-1357", ZS, msg_id="c1") == (
        "已绑定：您是 张三（皇叔洼村）的成员，本户积分余额 0 分。发送 #查分 查看最近记录")
    assert await say(chat, "#认领 135-2468-1357", ZS, msg_id="c1") == []  # a redelivery
    assert _households(app)[0] == ("张三", "张三", "13524681357", [ZS])
    assert (await one(chat, "#查分", ZS)).startswith("张三（皇叔洼村）余额 0 分")
    assert await one(chat, "#认领 13524681357", ZS) == "您已登记在 张三（皇叔洼村），不用再认领。发送 #查分 查看本户积分"
    # Someone else with the same phone: the household already has a member.
    assert await one(chat, "#认领 13524681357", ZS2) == (
        "这个手机号登记的农户已有家人绑定。同户的家人请村干部帮您登记（#登记 @您 户 户名）"
        "（今天还可以再试 2 次）")
    # #绑定 with a phone is #认领, for anyone (not the admin's #绑定 of a unit).
    assert (await one(chat, "#绑定 +86 139 0000 1111", LS)).startswith("已绑定：您是 李四（皇叔洼村）")
    # Cadres see who is still unlinked; phones are masked there.
    assert await one(chat, "#未认领", CADRE) == (
        "皇叔洼村共 3 户，还有 1 户没有成员绑定：\n王五（没有手机号）\n"
        "有手机号的户，家人在本群发送 #认领 手机号 即可绑定；没有手机号的，请用 #登记 @成员 户 户名")
    assert await one(chat, "#未认领", LS) == "#未认领 需要管理员或干部或评议员权限"
    # No phone is ever shown whole.
    assert not any("13524681357" in t or "13900001111" in t for t in _outbox(app))


def _outbox(app: App) -> list[str]:
    from bot.models.core import OutboxMessage

    return list(app.db.run_sync(lambda s: s.exec(select(OutboxMessage.text)).all()))


async def test_unclaimed_list_masks_phones(chat, app, tmp_path: Path) -> None:
    await _village(chat, app, tmp_path)
    text = await one(chat, "#未认领", CADRE)
    assert text.splitlines()[:4] == ["皇叔洼村共 3 户，还有 3 户没有成员绑定：",
                                     "张三（135****1357）", "李四（139****1111）", "王五（没有手机号）"]


async def test_wrong_guesses_are_limited_per_day_in_the_database(chat, app, tmp_path: Path,
                                                                 db_url: str) -> None:
    await _village(chat, app, tmp_path)
    for i, left in enumerate(("还可以再试 2 次", "还可以再试 1 次", "的次数已用完，请明天再试")):
        reply = await one(chat, f"#认领 1370000000{i}", MALLORY)
        assert reply.endswith(f"（今天{left}）"), reply
    # The right phone does not help once today's tries are used; nothing is linked.
    limit = f"今天已认错 {TRIES_PER_DAY} 次，请明天再试，或请村干部帮您登记"
    assert await one(chat, "#认领 13524681357", MALLORY) == limit
    # The tries are journaled in the database: a restarted bot keeps the limit.
    assert app.db.run_sync(lambda s: s.exec(select(func.count()).select_from(ClaimAttempt)).one()) == 3
    from bot.wiring import build_app

    again = build_app(app.config, clock=app.clock, db_url=db_url, admins=[ADMIN])
    try:
        assert (await MemoryChat(again).say("#认领 13524681357", sender=MALLORY, room=V, msg_id="after-restart"))[0].text == limit
        # The next day (in the configured zone) there are new tries.
        midnight = app.clock.now().astimezone(app.config.zone).replace(hour=0, minute=0) + timedelta(days=1)
        again.clock.set(midnight)  # type: ignore[attr-defined]
        sent = await MemoryChat(again).say("#认领 13524681357", sender=MALLORY, room=V, msg_id="next-day")
        assert sent[0].text.startswith("已绑定：您是 张三（皇叔洼村）")
    finally:
        again.close()
    assert app.db.run_sync(lambda s: s.exec(select(Person.household_id).where(Person.id == MALLORY)).one())


async def test_claim_only_in_a_village_group(chat, app, tmp_path: Path) -> None:
    await _village(chat, app, tmp_path)
    town = ROOMS["town"][0]
    out = await helpers.one(chat, "#认领 13524681357", ZS, room=town, names=NAMES)
    assert out == "#认领 只能在村级的群里使用"
    village_id = app.db.run_sync(lambda s: s.exec(select(OrgUnit.id).where(OrgUnit.name == "皇叔洼村")).one())
    assert village_id and _households(app)[0][3] == []


def test_cli_import_says_how_many_households_can_claim(tmp_path: Path) -> None:
    from bot.db import Database
    from tests.test_points_files import _cli, _tree

    url = f"sqlite:///{tmp_path / 'state.db'}"
    d = Database(url)
    d.create_schema()
    d.run_sync(_tree)
    d.close()
    f = tmp_path / "roster.csv"
    f.write_text(ROSTER, encoding="utf-8")
    p = _cli("import", "households", str(f), "--db", url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == ("导入 3 户（新登记 3 户），关联成员 0 位；2 户登记了手机号，其中 2 户还没有成员绑定"
                                "（户里的人在本村群发送 #认领 手机号 即可）")
    bad = tmp_path / "bad.csv"
    bad.write_text("村,户主,手机\n皇叔洼村,赵六,1234\n", encoding="utf-8")
    p = _cli("import", "households", str(bad), "--db", url)
    assert p.returncode == 1 and "第2行：联系电话“1234”不是11位手机号" in p.stderr
