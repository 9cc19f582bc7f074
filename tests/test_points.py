"""Whole-bot tests of love-supermarket points (爱心积分), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlmodel import col, func, select

from bot.app import App
from bot.clock import VirtualClock
from bot.config import Config, load_config
from bot.drivers.memory import MemoryChat
from bot.messages import Outgoing
from bot.models.core import Household, OutboxMessage
from bot.models.jobs import Job
from bot.models.points import Good, PointEntry
from bot.points import balance, balance_detail
from bot.wiring import build_app
from tests import helpers
from tests.conftest import SHANGHAI, START, texts
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

V = ROOMS["village"][0]
TOWN = ROOMS["town"][0]
EVAL, EVAL2 = "wxid_tian", "wxid_wang"
KEEP, CADRE, HQ = "wxid_han", "wxid_liuwei", "wxid_hq"
ZS, ZS2, LS = "wxid_zs", "wxid_zs2", "wxid_ls"
NAMES = {
    ADMIN: "管理员", EVAL: "田秀英", EVAL2: "王德顺", KEEP: "韩桂兰", CADRE: "刘伟",
    HQ: "贾健刚", ZS: "张三", ZS2: "张小三", LS: "李四",
}


# The one say/one of tests/helpers.py, in this village with these names.
say = partial(helpers.say, room=V, names=NAMES)
one = partial(helpers.one, room=V, names=NAMES)


async def setup_village(chat: MemoryChat) -> None:
    """The tree, two evaluators, a keeper, a cadre, HQ, and four households in 皇叔洼村
    (王五家 has no phone; the evaluator 田秀英 has her own household)."""
    await build_tree(chat)
    await appoint(chat, "village", EVAL, NAMES[EVAL], "评议员")
    await appoint(chat, "village", EVAL2, NAMES[EVAL2], "评议员")
    await appoint(chat, "village", KEEP, NAMES[KEEP], "超市管理员")
    await appoint(chat, "village", CADRE, NAMES[CADRE], "干部")
    await appoint(chat, "city", HQ, NAMES[HQ], "指挥部")
    for text, ms in [("#登记 @张三 @张小三 户 张三家", (ZS, ZS2)), ("#登记 @李四 户 李四家", (LS,)),
                     ("#登记 户 王五家", ()), ("#登记 @田秀英 户 田家", (EVAL,))]:
        assert (await one(chat, text, ADMIN, *ms)).startswith("已登记")


def ours(sent: list[Outgoing]) -> list[Outgoing]:
    """The points area's scheduled messages (other areas' jobs run on the same clock)."""
    return [o for o in sent if "积分" in o.text or "加分" in o.text]


def entries(app: App) -> list[PointEntry]:
    return list(app.db.run_sync(lambda s: s.exec(select(PointEntry).order_by(PointEntry.id)).all()))


def hh_id(app: App, name: str) -> int:
    return app.db.run_sync(lambda s: s.exec(select(Household.id).where(Household.name == name)).one())


def bal(app: App, name: str) -> int:
    hid = hh_id(app, name)
    return app.db.run_sync(lambda s: balance(s, hid, app.clock.now()))


@pytest.fixture
def make_app(db_url: str) -> Iterator:
    """Build the app with a config of the test's own (the village's points policy)."""
    made: list[App] = []

    def make(config: Config) -> MemoryChat:
        a = build_app(config, clock=VirtualClock(START), db_url=db_url, admins=[ADMIN])
        made.append(a)
        return MemoryChat(a)

    yield make
    for a in made:
        a.close()


def village_policy(**values: object) -> Config:
    return load_config().with_overrides(points={"villages": {"皇叔洼村": values}})


# -- awarding and deducting ---------------------------------------------------------------


async def test_award_by_rule_alias_adhoc_and_many_at_once(chat, app) -> None:
    await setup_village(chat)
    # Several @mentions: each household once; a rule by its alias.
    out = await one(chat, "#加分 @张三 @李四 户容户貌", EVAL, ZS, LS)
    assert out == "已加分 2 户：\n#1 张三家 +10 六净六有，余额 10 分\n#2 李四家 +10 六净六有，余额 10 分"
    # A household by name, without a phone; an ad-hoc amount with a reason.
    assert await one(chat, "#加分 王五家 20 防汛值班", EVAL) == "已加分：#3 王五家 +20 防汛值班，余额 20 分"
    # Traditional script, full-width '＃', a Chinese numeral, the amount after the reason.
    out = await one(chat, "＃加分 王五 幫助孤寡老人 十五分", EVAL)
    assert out == "已加分：#4 王五家 +15 帮助孤寡老人，余额 35 分"
    # A person's bare name resolves to their household; deduction by rule.
    assert await one(chat, "#扣分 李四 打架斗殴", EVAL) == "已扣分：#5 李四家 -20 打架斗殴，余额 -10 分"
    assert (await one(chat, "#加分 公益活动 张三家", EVAL2)).startswith("已加分：#6 张三家 +15")
    assert await one(chat, "#撤销 6", EVAL2) == "已撤销 #6（张三家 +15 参加村集体防火防汛等公益活动），记为 #7 -15，张三家余额 10 分"
    assert await one(chat, "#减分 @张三 5 乱倒垃圾", EVAL2, ZS) == "已扣分：#8 张三家 -5 乱倒垃圾，余额 5 分"
    # A rule named with its amount is the rule, not an ad-hoc award.
    assert (await one(chat, "#加分 李四家 15 公益活动", EVAL2)).startswith("已加分：#9 李四家 +15 参加村集体")
    # Two members of one household in one message: the household once.
    out = await one(chat, "#加分 @张三 @张小三 十佳模范", EVAL2, ZS, ZS2)
    assert out == "已加分 1 户：\n#10 张三家 +50 十佳模范，余额 55 分\n未加分 1 个：\n@张小三：张三家 重复了，只记一次"
    assert [e.delta for e in entries(app)] == [10, 10, 20, 15, -20, 15, -15, -5, 15, 50]
    assert {e.msg_id for e in entries(app)} and all(e.actor_id in (EVAL, EVAL2) for e in entries(app))
    assert bal(app, "张三家") == 55 and bal(app, "李四家") == 5 and bal(app, "王五家") == 35


async def test_award_refusals_change_nothing(chat, app) -> None:
    await setup_village(chat)
    assert await one(chat, "#加分 @张三 六净六有", EVAL, ZS) == "已加分：#1 张三家 +10 六净六有，余额 10 分"
    cases = [
        ("#加分 @张三 六净六有", (ZS,), "张三家本月已有“六净六有”（每户每月限1次）"),
        ("#加分 @田秀英 公益活动", (EVAL,), "不能给自己家加分（田家）"),
        ("#加分 田家 公益活动", (), "不能给自己家加分（田家）"),
        ("#加分 @张三 60 救火", (ZS,), "临时加分每次最多 50 分"),
        ("#加分 @张三 打架斗殴", (ZS,), "“打架斗殴”是扣分项，请用 #扣分"),
        ("#扣分 @张三 六净六有", (ZS,), "“六净六有”是加分项，请用 #加分"),
        ("#加分 @张三 20 六净六有", (ZS,), "“六净六有”按规则是 +10 分"),
        ("#加分 @张三 吃饭", (ZS,), "没有“吃饭”这条规则（发送 #规则 查看）。例：#加分 @张三 六净六有"),
        ("#加分 @张三 20", (ZS,), "按分数加扣分要写明事由。例：#加分 @张三 六净六有"),
        ("#加分 六净六有", (), "请@要加扣分的人，或写户名。例：#加分 @张三 六净六有"),
        ("#加分", (), "请写规则名称，或分数和事由。例：#加分 @张三 六净六有"),
        ("#加分 赵六家 六净六有", (), "皇叔洼村找不到户或人“赵六家”，请@本人，或写登记过的户名"),
        ("#加分 @刘伟 六净六有", (CADRE,), "刘伟 还没有登记到户。请村干部先发送：#登记 @刘伟 户 刘伟家"),
    ]
    for text, ms, expected in cases:
        assert await one(chat, text, EVAL, *ms) == expected, text
    # Only in a village group.
    assert await one(chat, "#任命 @田秀英 评议员", ADMIN, EVAL, room=TOWN)
    assert await one(chat, "#加分 张三家 六净六有", EVAL, room=TOWN) == "#加分 只能在村级的群里使用"
    assert len(entries(app)) == 1


async def test_caps_by_period(chat, app) -> None:
    await setup_village(chat)
    assert (await one(chat, "#加分 张三家 六净六有", EVAL)).startswith("已加分")
    # Next month the monthly cap allows it again; 有脱贫产业 is once a year.
    await chat.advance(datetime(2019, 7, 1, 9, 0, tzinfo=SHANGHAI))
    assert (await one(chat, "#加分 张三家 六净六有", EVAL)).startswith("已加分：#2")
    assert (await one(chat, "#加分 张三家 脱贫产业", EVAL)).startswith("已加分：#3")
    assert await one(chat, "#加分 张三家 脱贫产业", EVAL) == "张三家今年已有“有脱贫产业”（每户每年限1次）"
    # A reversed award no longer counts toward the cap.
    assert (await one(chat, "#撤销 3", EVAL)).startswith("已撤销 #3")
    assert (await one(chat, "#加分 张三家 脱贫产业", EVAL)).startswith("已加分：#5")


# -- reversal ---------------------------------------------------------------------------------


async def test_reverse_writes_the_opposite_entry(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#加分 张三家 红白事", EVAL)
    await one(chat, "#加分 李四家 公益活动", EVAL)
    out = await one(chat, "#撤销 1 记错了户", EVAL2)
    assert out == "已撤销 #1（张三家 +30 不大操大办红白事），记为 #3 -30，张三家余额 0 分"
    assert await one(chat, "#撤销 1", EVAL) == "第1条已被第3条撤销"
    assert await one(chat, "#撤销 3", EVAL) == "第3条本身是撤销记录，不能再撤销"
    assert await one(chat, "#撤销 99", EVAL) == "皇叔洼村没有第99条积分记录"
    assert await one(chat, "#撤销 第2条 3", EVAL) == "一次撤销一条。例：#撤销 17"
    # The ledger keeps both rows; nothing is deleted.
    rows = entries(app)
    assert [(e.id, e.delta, e.reverses_id) for e in rows] == [(1, 30, None), (2, 15, None), (3, -30, 1)]
    # Shown in the household's ledger.
    detail = await one(chat, "#明细", ZS)
    assert "#1 6月3日 +30 不大操大办红白事（已撤销#3）" in detail
    assert "#3 6月3日 -30 撤销#1 不大操大办红白事" in detail


async def test_reverse_a_redemption_restocks(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#加分 张三家 红白事", EVAL)
    await one(chat, "#上架 粽子 库存 100", KEEP)
    assert (await one(chat, "#兑换 张三家 粽子 20", KEEP)).startswith("已兑换")
    # An evaluator reverses awards, not redemptions; a keeper the other way round.
    assert await one(chat, "#撤销 2", EVAL) == "撤销兑换记录需要超市管理员或管理员权限"
    assert await one(chat, "#撤销 1", KEEP) == "撤销加扣分需要评议员或管理员权限"
    out = await one(chat, "#撤销 2", KEEP)
    assert out == "已撤销 #2（张三家 -30 兑换 粽子20个），记为 #3 +30，张三家余额 30 分；粽子20个已退回库存"
    stock = app.db.run_sync(lambda s: s.exec(select(Good.stock)).one())
    assert stock == 100


# -- two evaluators, expiry, publicity ---------------------------------------------------------


async def test_two_evaluators_confirm_and_expiry(make_app) -> None:
    chat = make_app(village_policy(confirmations_required=2))
    app = chat.app
    await setup_village(chat)
    out = await one(chat, "#加分 @张三 @李四 红白事", EVAL, ZS, LS)
    assert out == ("已登记加分，待确认 2 户：\n#1 张三家 +30 不大操大办红白事（待确认）\n"
                   "#2 李四家 +30 不大操大办红白事（待确认）\n请另一位评议员发送：#确认 1 2（72小时内有效）")
    assert bal(app, "张三家") == 0
    assert "待确认 30 分" in await one(chat, "#查分", ZS)
    # Deductions need no confirmation.
    assert (await one(chat, "#扣分 李四家 破坏公共环境", EVAL)).startswith("已扣分：#3 李四家 -10")
    assert await one(chat, "#确认 1", EVAL) == "第1条是您登记的，需要另一位评议员确认"
    assert await one(chat, "#确认 3", EVAL2) == "第3条不需要确认"
    assert await one(chat, "#确认 1", EVAL2) == "已确认：#1 张三家 +30 不大操大办红白事，余额 30 分"
    assert await one(chat, "#确认 1", EVAL2) == "第1条已经确认过了"
    assert bal(app, "张三家") == 30
    # Pending entry 2 expires after 72 hours: lazily on read, and the job tells the group.
    hid = hh_id(app, "李四家")
    later = START + timedelta(hours=72, minutes=1)
    assert app.db.run_sync(lambda s: balance_detail(s, hid, START).awaiting) == 30
    assert app.db.run_sync(lambda s: balance_detail(s, hid, later).awaiting) == 0
    sent = ours(await chat.advance(later))
    assert texts(sent) == ["第2条加分（李四家 +30 不大操大办红白事）72小时内没有第二位评议员确认，已作废。"]
    assert sent[0].room == V
    assert await one(chat, "#确认 2", EVAL2) == "第2条超过72小时无人确认，已作废，请重新登记"
    assert bal(app, "李四家") == -10
    # The confirmed award's expiry job was dropped: nothing more is said.
    assert ours(await chat.advance(later + timedelta(days=3))) == []


async def test_withdrawing_a_pending_award(make_app) -> None:
    chat = make_app(village_policy(confirmations_required=2))
    app = chat.app
    await setup_village(chat)
    await one(chat, "#加分 张三家 六净六有", EVAL)
    assert await one(chat, "#撤销 1", EVAL) == "已作废 #1（张三家 +10 六净六有，待确认，未计分）"
    assert [e.status for e in entries(app)] == ["cancelled"]
    # The cap no longer counts it, and its expiry job is off.
    assert (await one(chat, "#加分 张三家 六净六有", EVAL)).startswith("已登记加分，待确认：#2")
    jobs = app.db.run_sync(lambda s: s.exec(select(Job.key, Job.active).where(Job.kind == "points_expiry")).all())
    assert sorted(jobs) == [("points_expiry:1", False), ("points_expiry:2", True)]


async def test_expiry_notice_waits_for_the_end_of_quiet_hours(make_app) -> None:
    chat = make_app(village_policy(confirmations_required=2))
    await setup_village(chat)
    await chat.advance(datetime(2019, 6, 3, 22, 30, tzinfo=SHANGHAI))
    assert (await one(chat, "#加分 张三家 公益活动", EVAL)).startswith("已登记加分，待确认：#1")
    # Expired at Thursday 22:30 (shown so at once), announced at 07:00 on Friday.
    assert ours(await chat.advance(datetime(2019, 6, 7, 6, 59, tzinfo=SHANGHAI))) == []
    assert "（已过期）" in await one(chat, "#查分", ZS)
    sent = ours(await chat.advance(datetime(2019, 6, 7, 7, 0, tzinfo=SHANGHAI)))
    assert [o.at.astimezone(SHANGHAI).hour for o in sent] == [7]


async def test_publicity_days_hold_awards_back(make_app) -> None:
    chat = make_app(village_policy(publicity_days=3))
    app = chat.app
    await setup_village(chat)
    out = await one(chat, "#加分 张三家 红白事", EVAL)
    assert out == "已加分：#1 张三家 +30 不大操大办红白事（待生效）\n公示3天，6月6日09:00起可兑换"
    assert bal(app, "张三家") == 0
    assert await one(chat, "#查分", ZS) == (
        "张三家（皇叔洼村）余额 0 分\n待生效 30 分（6月6日起陆续可兑换）\n最近记录：\n"
        "#1 6月3日 +30 不大操大办红白事（待生效）"
    )
    await one(chat, "#上架 粽子 库存 100", KEEP)
    out = await one(chat, "#兑换 @张三 粽子 10", KEEP, ZS)
    assert out == "张三家可兑换 0 分（另有待生效 30 分暂不能用），这次要 15 分，积分不够"
    # Deductions apply at once.
    assert (await one(chat, "#扣分 张三家 破坏公共环境", EVAL)).endswith("余额 -10 分")
    await chat.advance(START + timedelta(days=3))
    assert bal(app, "张三家") == 20
    assert (await one(chat, "#兑换 @张三 粽子 10", KEEP, ZS)).startswith("已兑换")


# -- objections ------------------------------------------------------------------------------


async def test_objection_freezes_until_review(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#加分 张三家 红白事", EVAL)
    await one(chat, "#扣分 李四家 打架斗殴", EVAL)
    await one(chat, "#加分 李四家 50 扑灭山火", EVAL)
    out = await one(chat, "#异议 1 他家办酒席摆了二十桌", LS)
    assert out == ("已收到对 #1（张三家 +30 不大操大办红白事）的异议，该条已冻结。"
                   "请管理员或另一位评议员复核：#复核 1 维持 或 #复核 1 撤销")
    assert await one(chat, "#异议 1 再说一次", LS) == "第1条已有异议，正在等待复核"
    assert await one(chat, "#异议 1", LS) == "请写明异议理由。例：#异议 17 当天他没有参加"
    # Frozen: in the balance, not redeemable.
    assert (await one(chat, "#查分", ZS)).startswith(
        "张三家（皇叔洼村）余额 30 分，其中冻结 30 分（有异议待复核），可兑换 0 分")
    await one(chat, "#上架 粽子 库存 100", KEEP)
    out = await one(chat, "#兑换 张三家 粽子 10", KEEP)
    assert out == "张三家可兑换 0 分（另有冻结 30 分暂不能用），这次要 15 分，积分不够"
    # A frozen deduction keeps counting: objecting never makes points spendable.
    await one(chat, "#异议 2 没有打架", ZS)
    assert app.db.run_sync(lambda s: balance_detail(s, hh_id(app, "李四家"), app.clock.now())).redeemable == 30
    assert await one(chat, "#撤销 1", EVAL) == "第1条有异议待复核，请用：#复核 1 撤销"
    # The evaluator who made the entry may not review it; another evaluator or an admin may.
    assert await one(chat, "#复核 1 维持", EVAL) == "第1条是您登记的，需要另一位评议员或管理员复核"
    assert await one(chat, "#复核 1 维持", EVAL2) == "复核 #1：维持（张三家 +30 不大操大办红白事），已解除冻结"
    assert await one(chat, "#复核 1 撤销", EVAL2) == "第1条没有待复核的异议"
    out = await one(chat, "#复核 2 撤销 监控显示没有打架", ADMIN)
    assert out == "复核 #2：撤销（李四家 -20 打架斗殴），记为 #4 +20，李四家余额 50 分"
    assert (await one(chat, "#兑换 张三家 粽子 10", KEEP)).startswith("已兑换")
    # Objections to redemptions and reversals are pointed elsewhere.
    assert await one(chat, "#异议 5 不对", ZS) == "第5条是兑换记录，有问题请找超市管理员"
    assert await one(chat, "#异议 4 不对", ZS) == "第4条是撤销记录，不能提异议"
    # Only the village's own people may object.
    assert await one(chat, "#异议 3 不对", "wxid_stranger") == "只有皇叔洼村的村民可以提异议（请先登记到户）"


async def test_a_review_is_final(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#加分 张三家 红白事", EVAL)
    await one(chat, "#异议 1 他家办酒席摆了二十桌", LS)
    assert (await one(chat, "#复核 1 维持", EVAL2)).startswith("复核 #1：维持")
    # Objecting again after the decision would freeze the entry for ever: refused.
    assert await one(chat, "#异议 1 还是不服", LS) == "第1条已复核（维持），不能再提异议"
    assert [e.status for e in entries(app)] == ["active"]


async def test_no_one_gives_points_back_to_their_own_household(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#扣分 田家 破坏公共环境", EVAL2)
    await one(chat, "#扣分 田家 打架斗殴", EVAL2)
    # Reversing a deduction of one's own household is an award to it.
    assert await one(chat, "#撤销 1", EVAL) == "第1条是扣您自己家的分，需要另一位评议员或管理员撤销"
    # Nor may an evaluator decide an objection about their own household.
    await one(chat, "#异议 2 看错人了", ZS)
    assert await one(chat, "#复核 2 撤销", EVAL) == "第2条是您自己家的记录，需要另一位评议员或管理员复核"
    assert [(e.delta, e.status) for e in entries(app)] == [(-10, "active"), (-20, "frozen")]
    assert (await one(chat, "#复核 2 撤销", ADMIN)).startswith("复核 #2：撤销")
    assert (await one(chat, "#撤销 1", ADMIN)).startswith("已撤销 #1")


async def test_a_signed_amount_must_agree_with_the_command(chat, app) -> None:
    await setup_village(chat)
    assert await one(chat, "#加分 @张三 -20 乱倒垃圾", EVAL, ZS) == (
        "#加分 的分数不带“-”号；要扣分请用 #扣分。例：#加分 @张三 六净六有")
    assert await one(chat, "#扣分 张三家 +20 乱倒垃圾", EVAL) == (
        "#扣分 的分数不带“+”号；要加分请用 #加分。例：#扣分 @李四 打架斗殴")
    assert entries(app) == []
    assert (await one(chat, "#扣分 张三家 -20 乱倒垃圾", EVAL)).startswith("已扣分：#1 张三家 -20")
    assert (await one(chat, "#加分 张三家 +20 修路", EVAL)).startswith("已加分：#2 张三家 +20")


# -- goods and redemption ----------------------------------------------------------------------


async def test_goods_and_redemption(chat, app) -> None:
    await setup_village(chat)
    # A new village starts with the config's goods (粽子, no stock).
    assert await one(chat, "#商品", ZS) == (
        "皇叔洼村爱心超市（每份所需积分）：\n· 粽子 10个/份 15分 库存0个\n兑换请找超市管理员，例：#兑换 @张三 粽子 10")
    assert await one(chat, "#上架 粽子 10个 15分 库存 1000", KEEP) == "已更新：粽子 10个/份 15分 库存1000个"
    assert await one(chat, "#上架 毛巾2条 十分 库存 一百", KEEP) == "已上架：毛巾 2条/份 10分 库存100条"
    assert await one(chat, "#上架 毛巾 库存 +20", KEEP) == "已更新：毛巾 2条/份 10分 库存120条"
    assert await one(chat, "#上架 洗衣粉 1袋", KEEP) == "新商品“洗衣粉”要写每份多少分"
    assert await one(chat, "#上架 洗衣粉 很多", KEEP) == "看不懂“很多”。例：#上架 粽子 10个 15分 库存 1000"
    await one(chat, "#加分 张三家 红白事", EVAL)
    await one(chat, "#加分 张三家 20 扑灭山火", EVAL)
    # Whole packs only, with the nearest valid count as the example.
    out = await one(chat, "#兑换 @张三 粽子 15", KEEP, ZS)
    assert out == "粽子按10个一份兑换，15个不是整份。例：#兑换 @张三 粽子 10"
    assert (await one(chat, "#兑换 张三家 粽子 7", KEEP)).endswith("例：#兑换 张三家 粽子 10")
    assert (await one(chat, "#兑换 张三家 粽子 27", KEEP)).endswith("例：#兑换 张三家 粽子 30")
    out = await one(chat, "#兑换 @张三 粽子 20 毛巾 2", KEEP, ZS)
    assert out == ("已兑换：张三家 粽子 2份（20个，#3）、毛巾 1份（2条，#4），扣 40 分，余 10 分；"
                   "粽子库存 980个，毛巾库存 118条")
    # Overdrawing the balance or the stock is refused and changes nothing.
    out = await one(chat, "#兑换 @张三 粽子 10", KEEP, ZS)
    assert out == "张三家可兑换 10 分，这次要 15 分，积分不够"
    await one(chat, "#上架 香皂 2块 1分 库存 2", KEEP)
    assert await one(chat, "#兑换 张三家 香皂 4", KEEP) == "香皂库存只有 2块，不够 4块"
    assert await one(chat, "#兑换 张三家 月饼", KEEP) == "本村超市没有“月饼”。现有：粽子、毛巾、香皂"
    # No count: one pack; "份" counts packs.
    assert (await one(chat, "#兑换 张三家 毛巾", KEEP)).startswith("已兑换：张三家 毛巾 1份（2条，#5），扣 10 分")
    await one(chat, "#加分 张三家 20 修路", EVAL)
    assert (await one(chat, "#兑换 张三家 毛巾 2份", KEEP)).startswith("已兑换：张三家 毛巾 2份（4条，#7），扣 20 分")
    goods = app.db.run_sync(lambda s: {g.name: g.stock for g in s.exec(select(Good)).all()})
    assert goods == {"粽子": 980, "毛巾": 112, "香皂": 2}
    assert bal(app, "张三家") == 0
    # Off the shelf: not listed, not redeemable, kept with its stock; #上架 puts it back.
    assert await one(chat, "#下架 香皂", ZS) == "#下架 需要超市管理员权限"
    assert await one(chat, "#下架 香皂", KEEP) == "已下架：香皂（库存 2块 保留；重新上架请发送 #上架 香皂）"
    assert "香皂" not in await one(chat, "#商品", ZS)
    assert await one(chat, "#兑换 张三家 香皂", KEEP) == "本村超市没有“香皂”。现有：粽子、毛巾"
    assert await one(chat, "#下架 香皂", KEEP) == "本村超市没有“香皂”"
    assert await one(chat, "#上架 香皂", KEEP) == "已上架：香皂 2块/份 1分 库存2块"
    assert "· 香皂 2块/份 1分 库存2块" in await one(chat, "#商品", ZS)
    # Each village has its own supermarket.
    assert (await one(chat, "#绑定 村 东坪村 上级 吴城乡", ADMIN, room="r_dp")).startswith("已新建并绑定")
    assert "库存0个" in await one(chat, "#商品", "wxid_x", room="r_dp")


# -- reading: balance, detail, board, rules, slip --------------------------------------------


async def test_balance_privacy(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#加分 张三家 六净六有", EVAL)
    own = await one(chat, "#查分", ZS)
    assert own == "张三家（皇叔洼村）余额 10 分\n最近记录：\n#1 6月3日 +10 六净六有"
    # A family member sees the same household, also by @mentioning a relative.
    assert await one(chat, "#查分", ZS2) == own
    assert await one(chat, "#查分 @张三", ZS2, ZS) == own
    # A villager may not look at another household; evaluators and keepers may.
    assert await one(chat, "#查分 @张三", LS, ZS) == "查看别户的积分需要评议员或超市管理员权限；查自己家请发送：#查分"
    assert await one(chat, "#明细 张三家", LS) == "查看别户的积分需要评议员或超市管理员权限；查自己家请发送：#查分"
    assert await one(chat, "#查分 @张三", EVAL2, ZS) == own
    assert await one(chat, "#积分 张三家", KEEP) == own
    # In a direct message: one's own household.
    sent = await chat.say("#查积分", sender=ZS, room=None)
    assert texts(sent) == [own] and sent[0].to == ZS
    sent = await chat.say("#查分 张三家", sender=ZS, room=None)
    assert texts(sent) == ["查别户的积分请在那户所在村的群里发送"]
    assert await one(chat, "#查分", "wxid_nobody") == "您还没有登记到户。请村干部帮您登记，例：#登记 @wxid_nobody 户 wxid_nobody家"


async def test_detail_board_rules_and_slip(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#加分 张三家 红白事", EVAL)
    await one(chat, "#加分 李四家 公益活动", EVAL)
    await one(chat, "#加分 王五家 公益活动", EVAL)
    await one(chat, "#扣分 张三家 破坏公共环境", EVAL)
    assert await one(chat, "#积分榜", ZS) == "皇叔洼村积分榜（2019年，前3户）：\n1. 张三家 20分\n2. 李四家 15分\n2. 王五家 15分"
    assert await one(chat, "#十佳 本月", ZS) == "皇叔洼村积分榜（6月，前3户）：\n1. 张三家 20分\n2. 李四家 15分\n2. 王五家 15分"
    assert await one(chat, "#积分榜", ZS, room=TOWN) == "#积分榜 是本村的十佳榜，请在村的群里发送；各村比较请用 #积分排名"
    assert await one(chat, "#明细", ZS) == (
        "张三家 2019年积分明细（共2条）：\n#1 6月3日 +30 不大操大办红白事\n#4 6月3日 -10 破坏公共环境\n余额 20 分")
    rules = await one(chat, "#规则", ZS)
    assert rules.startswith("皇叔洼村积分规则：\n加分：\n· 不大操大办红白事 +30")
    assert "· 六净六有 +10（每户每月限1次；也可写：户容户貌）" in rules and "· 打架斗殴 -20" in rules
    slip = await one(chat, "#代查 王五家", CADRE)
    assert slip == ("【爱心积分查询单】\n村：皇叔洼村（吴城乡）\n户：王五家\n余额：15 分（可兑换 15 分）\n"
                    "最近记录：\n  #3 6月3日 +15 参加村集体防火防汛等公益活动\n查询人：刘伟　2019年6月3日")
    # From the township group, with or without the village's name.
    assert await one(chat, "#任命 @刘伟 干部", ADMIN, CADRE, room=TOWN)
    assert (await one(chat, "#代查 王五", CADRE, room=TOWN)).startswith("【爱心积分查询单】\n村：皇叔洼村")
    assert (await one(chat, "#代查 皇叔洼村 王五家", CADRE, room=TOWN)).startswith("【爱心积分查询单】")
    assert await one(chat, "#代查 赵六家", CADRE, room=TOWN) == "吴城乡找不到户“赵六家”"
    # A village outside this group's unit is named as such, not as unknown.
    await one(chat, "#绑定 村 东坪村 上级 吴城乡", ADMIN, room="r_dp")
    assert await one(chat, "#代查 东坪村 王五家", CADRE) == "单位“东坪村”不在皇叔洼村范围内"


async def test_village_rules_override(make_app) -> None:
    config = village_policy(adhoc_cap=10, rules=[{"name": "门前三包", "points": 5, "cap_period": "week"}])
    chat = make_app(config)
    await setup_village(chat)
    assert await one(chat, "#积分规则", ZS) == (
        "皇叔洼村积分规则：\n加分：\n· 门前三包 +5（每户每周限1次）\n临时加扣分每次最多 10 分，须写明事由，例：#加分 @张三 20 防汛值班")
    assert await one(chat, "#加分 张三家 六净六有", EVAL) == "没有“六净六有”这条规则（发送 #规则 查看）。例：#加分 @张三 六净六有"
    assert await one(chat, "#加分 张三家 门前", EVAL) == "已加分：#1 张三家 +5 门前三包，余额 5 分"
    # Elsewhere (a direct message) the defaults are shown.
    sent = await chat.say("#规则", sender=ZS, room=None)
    assert sent[0].text.startswith("通用积分规则：\n加分：\n· 不大操大办红白事 +30")


# -- the weekly 公示 ---------------------------------------------------------------------------


async def test_weekly_publicity_posts_the_weeks_entries(chat, app) -> None:
    await setup_village(chat)
    await one(chat, "#加分 张三家 红白事", EVAL)
    await one(chat, "#扣分 李四家 打架斗殴", EVAL)
    await one(chat, "#上架 粽子 库存 100", KEEP)
    await one(chat, "#兑换 张三家 粽子 10", KEEP)
    sunday = datetime(2019, 6, 9, 18, 0, tzinfo=SHANGHAI)
    sent = ours(await chat.advance(sunday))
    assert [(o.room, o.text) for o in sent] == [(V, (
        "【积分公示】皇叔洼村 6月3日—6月9日，共3条：\n#1 6月3日 张三家 +30 不大操大办红白事\n"
        "#2 6月3日 李四家 -20 打架斗殴\n#3 6月3日 张三家 -15 兑换 粽子10个\n"
        "如有异议，请在本群发送：#异议 编号 理由"))]
    # A week without entries: nothing is posted. An entry made in the very minute of a
    # run, after it, is shown the next week.
    sent = await chat.advance(sunday + timedelta(days=7))
    assert ours(sent) == []
    await one(chat, "#加分 王五家 公益活动", EVAL)
    sent = ours(await chat.advance(sunday + timedelta(days=14)))
    assert [o.text.split("\n")[:2] for o in sent] == [
        ["【积分公示】皇叔洼村 6月16日—6月23日，共1条：", "#4 6月16日 王五家 +15 参加村集体防火防汛等公益活动"]]


def test_publicity_job_is_seeded_once(db_url: str) -> None:
    for _ in range(2):
        a = build_app(load_config(), clock=VirtualClock(START), db_url=db_url)
        jobs = a.db.run_sync(lambda s: s.exec(select(Job).where(Job.kind == "points_publicity")).all())
        a.close()
        assert len(jobs) == 1 and jobs[0].next_at == datetime(2019, 6, 9, 18, 0, tzinfo=SHANGHAI)
    # A changed time moves it.
    cfg = load_config().with_overrides(schedules={"publicity": "周六 10:00"})
    a = build_app(cfg, clock=VirtualClock(START), db_url=db_url)
    job = a.db.run_sync(lambda s: s.exec(select(Job).where(Job.kind == "points_publicity")).one())
    a.close()
    assert job.next_at == datetime(2019, 6, 8, 10, 0, tzinfo=SHANGHAI)


# -- failures and duplicates ---------------------------------------------------------------------


async def test_failure_between_ledger_and_reply_leaves_neither(chat, app, monkeypatch) -> None:
    await setup_village(chat)
    await one(chat, "#上架 粽子 库存 100", KEEP)
    await one(chat, "#加分 张三家 红白事", EVAL)
    real_put = app.writer.put
    failures = []

    def put_failing_once(session, text, **kw):
        if not failures and text.startswith("已兑换"):
            failures.append(text)
            raise RuntimeError("outbox write failed")
        return real_put(session, text, **kw)

    monkeypatch.setattr(app.writer, "put", put_failing_once)
    out = await say(chat, "#兑换 张三家 粽子 10", KEEP, msg_id="redeem-1")
    assert failures and out == ["处理出错了，已记录。请稍后再试，或联系管理员。"]
    # Neither the ledger row nor the stock change happened.
    assert [e.kind for e in entries(app)] == ["award"]
    assert app.db.run_sync(lambda s: s.exec(select(Good.stock)).one()) == 100
    # The same message delivered again is not handled twice; a new one goes through.
    assert await say(chat, "#兑换 张三家 粽子 10", KEEP, msg_id="redeem-1") == []
    out = await say(chat, "#兑换 张三家 粽子 10", KEEP, msg_id="redeem-2")
    assert out[0].startswith("已兑换")
    assert await say(chat, "#兑换 张三家 粽子 10", KEEP, msg_id="redeem-2") == []
    # Both: one ledger row, one stock change, one reply.
    assert [e.kind for e in entries(app)] == ["award", "redeem"]
    assert app.db.run_sync(lambda s: s.exec(select(Good.stock)).one()) == 90
    replies = app.db.run_sync(lambda s: s.exec(
        select(OutboxMessage.reply_to, func.count()).where(col(OutboxMessage.reply_to).like("redeem-%"))
        .group_by(OutboxMessage.reply_to).order_by(OutboxMessage.reply_to)).all())
    assert replies == [("redeem-1", 1), ("redeem-2", 1)]
