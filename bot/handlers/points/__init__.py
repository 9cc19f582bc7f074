"""Commands of the points family (爱心积分), by sub-family: `awards` (#加分 #扣分 #确认
#撤销), `review` (#异议 #复核), `balance` (#查分 #明细 #积分榜 #规则 #代查), `shop`
(#商品 #上架 #下架 #兑换) and `claim` (#认领 #未认领).

Each handler parses its words, calls one function of `bot.points` and puts the result
into words with `bot.points.wording`.
"""

from __future__ import annotations

from typing import Any

from bot.handlers.points.awards import (
    parse_award,
    parse_confirm,
    parse_one_id,
    run_award,
    run_confirm,
    run_deduct,
    run_reverse,
)
from bot.handlers.points.balance import (
    parse_board,
    parse_slip,
    parse_who,
    run_balance,
    run_board,
    run_detail,
    run_rules,
    run_slip,
)
from bot.handlers.points.claim import parse_claim, run_claim, run_unlinked
from bot.handlers.points.common import parse_ids, parse_none
from bot.handlers.points.review import parse_object, parse_review, run_object, run_review
from bot.handlers.points.shop import (
    parse_redeem,
    parse_stock,
    parse_unlist,
    run_goods,
    run_redeem,
    run_stock,
    run_unlist,
)
from bot.org import ADMIN, CADRE, EVALUATOR, KEEPER
from bot.points.claim import TRIES_PER_DAY
from bot.router import Command

__all__ = ["COMMANDS", "parse_award", "parse_claim", "parse_ids", "parse_redeem", "parse_review",
           "parse_slip", "parse_stock"]


def _cmd(**kw: Any) -> Command:
    return Command(**kw)


COMMANDS = (
    _cmd(name="加分", aliases=("奖励", "加积分", "奖分"), summary="按规则给农户加分",
         usage="#加分 @某人|户名 … 规则名  或  #加分 @某人 分数 事由",
         example="#加分 @张三 六净六有", parse=parse_award, run=run_award, roles=(EVALUATOR,), levels=("村",),
         detail="可一次@多人，每户各加一次；也可写户名：#加分 张三家 六净六有；"
                "临时加分：#加分 @张三 20 防汛值班。不能给自己家加分。"),
    _cmd(name="扣分", aliases=("减分", "扣积分", "罚分"), summary="按规则给农户扣分",
         usage="#扣分 @某人|户名 规则名  或  #扣分 @某人 分数 事由",
         example="#扣分 @李四 打架斗殴", parse=parse_award, run=run_deduct, roles=(EVALUATOR,), levels=("村",)),
    _cmd(name="确认", aliases=("确认加分",), summary="确认另一位评议员登记的加分",
         usage="#确认 [编号 …]", example="#确认 17", parse=parse_confirm, run=run_confirm,
         levels=("村",), roles=(EVALUATOR,),
         detail="带编号：本村要求两位评议员时，确认另一位评议员登记的加分（不能确认自己登记的）。"
                "不带编号：几分钟内重复的同一加扣分被拦下时，确认确实要再记一次。"),
    _cmd(name="撤销", aliases=("撤销积分", "冲正"), summary="撤销一条积分记录（记一条相反的）",
         usage="#撤销 编号 [理由]", example="#撤销 17", parse=parse_one_id, run=run_reverse,
         roles=(EVALUATOR, ADMIN, KEEPER),
         detail="加扣分由评议员或管理员撤销；兑换由超市管理员或管理员撤销，商品退回库存。"),
    _cmd(name="查分", aliases=("查积分", "积分", "余额", "我的积分", "积分查询", "查分数", "查余额", "积分余额"),
         summary="查看本户积分余额和最近记录", usage="#查分 [@某人]", example="#查分",
         parse=parse_who, run=run_balance, scope="any",
         detail="村民查自己家；评议员、超市管理员可查本村任一户：#查分 @张三"),
    _cmd(name="明细", aliases=("积分明细", "流水"), summary="本户今年的积分明细",
         usage="#明细", example="#明细", parse=parse_who, run=run_detail, scope="any"),
    _cmd(name="积分榜", aliases=("十佳", "积分排行", "光荣榜"), summary="本村积分前十户",
         usage="#积分榜 [今年|本月|全部]", example="#积分榜", parse=parse_board, run=run_board,
         levels=("村",)),
    _cmd(name="规则", aliases=("积分规则", "加分规则"), summary="本村的积分规则",
         usage="#规则", example="#规则", parse=parse_none, run=run_rules, scope="any"),
    _cmd(name="商品", aliases=("商品列表", "货架", "超市"), summary="本村爱心超市的商品",
         usage="#商品", example="#商品", parse=parse_none, run=run_goods, levels=("村",)),
    _cmd(name="上架", aliases=("上新", "补货", "改商品"), summary="上架或修改商品（价格、库存）",
         usage="#上架 商品名 每份数量 每份积分 库存 数量", example="#上架 粽子 10个 15分 库存 1000",
         parse=parse_stock, run=run_stock, roles=(KEEPER,), levels=("村",),
         detail="可只改一项：#上架 粽子 库存 2000；补货：#上架 粽子 库存 +500"),
    _cmd(name="下架", aliases=("撤下", "删除商品"), summary="把商品从货架上撤下",
         usage="#下架 商品名", example="#下架 粽子", parse=parse_unlist, run=run_unlist,
         roles=(KEEPER,), levels=("村",),
         detail="撤下后 #商品 不再列出、不能兑换；库存和兑换记录保留，#上架 粽子 即恢复。"),
    _cmd(name="兑换", aliases=("换购", "兑奖"), summary="用积分兑换商品",
         usage="#兑换 @某人|户名 商品 数量 …", example="#兑换 @张三 粽子 10",
         parse=parse_redeem, run=run_redeem, roles=(KEEPER,), levels=("村",),
         detail="按整份兑换（粽子10个一份）；数量不写即一份；可一次兑几样：#兑换 @张三 粽子 10 毛巾 2"),
    _cmd(name="异议", aliases=("申诉", "有异议"), summary="对一条积分记录提出异议（冻结待复核）",
         usage="#异议 编号 理由", example="#异议 17 当天他没有参加", parse=parse_object,
         run=run_object),
    _cmd(name="复核", aliases=("复议",), summary="复核有异议的记录：维持或撤销",
         usage="#复核 编号 维持|撤销", example="#复核 17 维持", parse=parse_review,
         run=run_review, roles=(ADMIN, EVALUATOR),
         detail="由管理员或另一位评议员（不是登记这条的人）复核。"),
    _cmd(name="代查", aliases=("打印积分", "查询单"), summary="为没有手机的农户打印积分查询单",
         usage="#代查 [村名] 户名", example="#代查 张三家", parse=parse_slip, run=run_slip,
         roles=(CADRE, EVALUATOR)),
    _cmd(name="认领", aliases=("认领本户", "认户", "绑定本户", "绑定手机"),
         summary="用本户登记的手机号绑定自己的户", usage="#认领 手机号", example="#认领 13812345678",
         parse=parse_claim, run=run_claim, levels=("村",),
         detail="村里导入农户名单时登记了手机号的，家人在本村群里发送这个手机号即可绑定本户，"
                f"之后 #查分 就是查自己家；也可写 #绑定 手机号。输错每天最多{TRIES_PER_DAY}次。"),
    _cmd(name="未认领", aliases=("未绑定", "未关联"), summary="本村还没有成员绑定的农户",
         usage="#未认领", example="#未认领", parse=parse_none, run=run_unlinked,
         roles=(ADMIN, CADRE, EVALUATOR), levels=("村",),
         detail="列出户名、户主和登记的手机号（只显示前3后4位）。"),
)
