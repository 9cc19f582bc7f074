"""Issue 18 §3 (registration, own household, double taps) and issue 13 §7 (redemption
counts), through the whole bot, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.models.core import Household, Person
from bot.models.points import Good, HouseholdLink
from tests.helpers import ADMIN
from tests.test_points import (
    EVAL,
    EVAL2,
    KEEP,
    LS,
    NAMES,
    ZS,
    bal,
    entries,
    one,
    say,
    setup_village,
)

DP = "r_dp"
DP_CADRE = "wxid_dpcadre"
NAMES[DP_CADRE] = "东坪干部"


async def _second_village(chat) -> None:
    assert (await one(chat, "#绑定 村 东坪村 上级 吴城乡", ADMIN, room=DP)).startswith("已新建并绑定")
    assert (await one(chat, "#任命 @东坪干部 干部", ADMIN, DP_CADRE, room=DP)).startswith("已任命")


async def test_cadre_cannot_move_a_villager_of_another_village(chat, app) -> None:
    await setup_village(chat)
    await _second_village(chat)
    out = await one(chat, "#登记 @张三 户 张三家", DP_CADRE, ZS, room=DP)
    assert out == "张三 已登记在皇叔洼村的张三家，不能改登记到本村（需要皇叔洼村的管理员）"
    assert (await one(chat, "#查分", ZS)).startswith("张三家")
    zs = app.db.run_sync(lambda s: s.get(Person, ZS))
    assert zs.household_id is not None
    # Nothing of the refused command stays (not even the new household).
    assert app.db.run_sync(lambda s: s.exec(select(Household).where(Household.name == "张三家")).all()
                           ).__len__() == 1


async def test_cadre_cannot_move_within_his_village_without_admin(chat, app) -> None:
    await setup_village(chat)
    from tests.test_points import CADRE

    assert await one(chat, "#登记 @李四 户 张三家", CADRE, LS) == "李四 已登记在 李四家，改户需要管理员"
    assert (await one(chat, "#登记 @李四 户 张三家", ADMIN, LS)).endswith("李四 原属 李四家，已改到本户")
    # The move is in the link history: the old link closed, the new one open.
    links = app.db.run_sync(lambda s: [(link.household_id, link.until is None) for link in s.exec(
        select(HouseholdLink).where(HouseholdLink.person_id == LS).order_by(HouseholdLink.id)).all()])
    assert [open_ for _, open_ in links] == [False, True]


async def test_no_award_to_a_household_one_just_left(chat, app) -> None:
    """The evaluator re-linked to a temporary household awards his own by name, then
    links back: `record` used to check only the current link."""
    await setup_village(chat)
    assert (await one(chat, "#登记 @田秀英 户 临时户", ADMIN, EVAL)).endswith("已改到本户")
    out = await one(chat, "#加分 田家 20 打扫卫生", EVAL)
    assert out == "您90天内曾登记在田家，不能给这户加分，请另一位评议员办理"
    assert entries(app) == []
    # After the period it is another household like any other.
    await chat.advance(app.clock.now() + timedelta(days=91))
    assert (await one(chat, "#加分 田家 20 打扫卫生", EVAL)).startswith("已加分")
    # Another evaluator may award it at any time.
    assert (await one(chat, "#加分 田家 5 修路", EVAL2)).startswith("已加分")


async def test_a_double_tap_waits_for_confirm(chat, app) -> None:
    await setup_village(chat)
    assert (await one(chat, "#加分 张三家 公益活动", EVAL)).startswith("已加分：#1 张三家 +15")
    out = await one(chat, "#加分 张三家 公益活动", EVAL)
    assert out == ("张三家：10分钟内您已加分过（#1 +15 参加村集体防火防汛等公益活动），看起来是重复，这次没有记\n"
                   "确实要再加分，请在10分钟内发送：#确认")
    assert len(entries(app)) == 1 and bal(app, "张三家") == 15
    # A third tap replaces the held one: #确认 records one more, not two.
    await one(chat, "#加分 张三家 公益活动", EVAL)
    out = await one(chat, "#确认", EVAL)
    assert out == "已按您的确认记录：#2 张三家 +15 参加村集体防火防汛等公益活动，余额 30 分"
    assert len(entries(app)) == 2 and bal(app, "张三家") == 30
    assert (await one(chat, "#确认", EVAL)).startswith("没有等您确认的重复加扣分")
    # Ad hoc: the same amount and reason is a repeat, another reason is not.
    assert (await one(chat, "#扣分 李四家 5 乱倒垃圾", EVAL)).startswith("已扣分")
    assert "看起来是重复" in await one(chat, "#扣分 李四家 5 乱倒垃圾", EVAL)
    assert (await one(chat, "#扣分 李四家 5 占道", EVAL)).startswith("已扣分")
    # Another evaluator's identical award is not a double tap; nor one after the window.
    assert (await one(chat, "#加分 张三家 20 修路", EVAL2)).startswith("已加分")
    assert (await one(chat, "#加分 张三家 20 修路", EVAL)).startswith("已加分")
    await chat.advance(app.clock.now() + timedelta(minutes=11))
    assert (await one(chat, "#加分 张三家 公益活动", EVAL)).startswith("已加分")
    # The held one expired with the window.
    assert (await one(chat, "#确认", EVAL)).startswith("没有等您确认的重复加扣分")


async def test_redeem_counts_in_any_order_and_unit(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#上架 粽子 10个 15分 库存 1000", KEEP)
    for _ in range(2):
        await chat.advance(app.clock.now() + timedelta(minutes=11))
        await one(chat, "#加分 张三家 50 扑灭山火", EVAL)
    stock = lambda: app.db.run_sync(lambda s: s.exec(select(Good.stock).where(Good.name == "粽子")).one())  # noqa: E731
    # `20个粽子` used to redeem one pack (a silent misread): it is two.
    out = await one(chat, "#兑换 @张三 20个粽子", KEEP, ZS)
    assert out == "已兑换：张三家 粽子 2份（20个，#3），扣 30 分，余 70 分；粽子库存 980个"
    assert stock() == 980
    assert (await one(chat, "#兑换 张三家 粽子 两份", KEEP)).startswith("已兑换：张三家 粽子 2份（20个")
    assert (await one(chat, "#兑换 张三家 粽子10个", KEEP)).startswith("已兑换：张三家 粽子 1份（10个")
    # the product spec: a bare number is items (10 = one pack of 10个).
    assert (await one(chat, "#兑换 张三家 粽子 10", KEEP)).startswith("已兑换：张三家 粽子 1份（10个")
    assert bal(app, "张三家") == 100 - 30 - 30 - 15 - 15
    # Items that are not whole packs: refused with an example.
    assert await one(chat, "#兑换 张三家 15个粽子", KEEP) == "粽子按10个一份兑换，15个不是整份。例：#兑换 张三家 粽子 10"
    assert stock() == 1000 - 20 - 20 - 10 - 10


async def test_redeem_two_packs_by_pack_word(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#上架 粽子 10个 15分 库存 100", KEEP)
    await one(chat, "#加分 李四家 40 修路", EVAL)
    out = await say(chat, "#兑换 李四家 2包 粽子", KEEP)
    assert out == ["已兑换：李四家 粽子 2份（20个，#2），扣 30 分，余 10 分；粽子库存 80个"]
