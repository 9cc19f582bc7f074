"""Every points command, tried by every role: allowed where it should be, refused with
the role it needs (or the reason) where not, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.test_points import ADMIN, CADRE, EVAL, EVAL2, HQ, KEEP, LS, ZS, one, setup_village

# Who plays each role; the villager is 张三 of 张三家.
ROLES = {"admin": ADMIN, "hq": HQ, "cadre": CADRE, "evaluator": EVAL, "keeper": KEEP, "villager": ZS}


@dataclass(frozen=True)
class Case:
    name: str
    text: Callable[[int], str]  # the command as the i-th role types it
    allowed: dict[str, str]  # role → how the reply starts
    refused: str  # the reply to every other role
    mentions: tuple[str, ...] = ()
    other: dict[str, str] = field(default_factory=dict)  # role → an exact other reply


OTHERS = "查看别户的积分需要评议员或超市管理员权限；查自己家请发送：#查分"
NO_HH = "您还没有登记到户。"
CASES = [
    Case("加分", lambda i: f"#加分 王五家 {i + 1} 帮忙{i}", {"evaluator": "已加分"}, "#加分 需要评议员权限"),
    Case("扣分", lambda i: f"#扣分 王五家 1 迟到{i}", {"evaluator": "已扣分"}, "#扣分 需要评议员权限"),
    Case("确认", lambda i: "#确认 13", {"evaluator": "第13条不需要确认"}, "#确认 需要评议员权限"),
    Case("撤销", lambda i: f"#撤销 {i + 1}", {"evaluator": "已撤销 #", "admin": "已撤销 #"},
         "#撤销 需要评议员或管理员或超市管理员权限",
         other={"keeper": "撤销加扣分需要评议员或管理员权限"}),
    Case("查分", lambda i: "#查分", {"evaluator": "田家（皇叔洼村）余额 0 分", "villager": "张三家（皇叔洼村）余额 50 分",
                                   "admin": NO_HH, "hq": NO_HH, "cadre": NO_HH, "keeper": NO_HH}, ""),
    Case("查分 @张三", lambda i: "#查分 @张三", {"evaluator": "张三家（皇叔洼村）余额 50 分",
                                            "keeper": "张三家（皇叔洼村）余额 50 分",
                                            "villager": "张三家（皇叔洼村）余额 50 分"}, OTHERS, (ZS,)),
    Case("明细 @张三", lambda i: "#明细 @张三", {"evaluator": "张三家 2019年积分明细", "keeper": "张三家 2019年积分明细",
                                            "villager": "张三家 2019年积分明细"}, OTHERS, (ZS,)),
    Case("积分榜", lambda i: "#积分榜", dict.fromkeys(ROLES, "皇叔洼村积分榜（2019年"), ""),
    Case("规则", lambda i: "#规则", dict.fromkeys(ROLES, "皇叔洼村积分规则："), ""),
    Case("商品", lambda i: "#商品", dict.fromkeys(ROLES, "皇叔洼村爱心超市"), ""),
    Case("上架", lambda i: f"#上架 货{'甲乙丙丁戊己'[i]} 1个 5分", {"keeper": "已上架：货"}, "#上架 需要超市管理员权限"),
    Case("兑换", lambda i: "#兑换 @张三 粽子 10", {"keeper": "已兑换：张三家 粽子 1份（10个"}, "#兑换 需要超市管理员权限", (ZS,)),
    Case("异议", lambda i: f"#异议 {i + 1} 不属实", dict.fromkeys(ROLES, "已收到对 #"), ""),
    Case("复核", lambda i: f"#复核 {i + 7} 维持", {"admin": "复核 #", "evaluator": "复核 #"},
         "#复核 需要管理员或评议员权限"),
    Case("代查", lambda i: "#代查 张三家", {"cadre": "【爱心积分查询单】", "evaluator": "【爱心积分查询单】"},
         "#代查 需要干部或评议员权限"),
]


async def prepare(chat) -> None:
    """Entries 1–6 (to reverse or object to), 7–12 objected to (to review), 13 for 张三家."""
    await setup_village(chat)
    for i in range(6):
        assert (await one(chat, f"#加分 李四家 {i + 1} 事由{i}", EVAL2)).startswith("已加分")
    for i in range(6):
        await one(chat, f"#加分 李四家 {i + 1} 复核{i}", EVAL2)
        assert (await one(chat, f"#异议 {i + 7} 不属实", LS)).startswith("已收到")
    assert (await one(chat, "#加分 张三家 50 十佳", EVAL2)).startswith("已加分：#13")
    assert (await one(chat, "#上架 粽子 库存 1000", KEEP)).startswith("已更新")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_every_role(chat, app, case: Case) -> None:
    await prepare(chat)
    for i, (role, person) in enumerate(ROLES.items()):
        reply = await one(chat, case.text(i), person, *case.mentions)
        if role in case.other:
            assert reply == case.other[role], (case.name, role, reply)
        elif role in case.allowed:
            assert reply.startswith(case.allowed[role]), (case.name, role, reply)
        else:
            assert reply == case.refused, (case.name, role, reply)
