"""The points domain without the chat: parsers, rules, rankings, village activity, and
the query plans that keep balances index-only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session

from bot.config import load_config
from bot.db import Database
from bot.handlers.points import (
    parse_award,
    parse_ids,
    parse_redeem,
    parse_review,
    parse_slip,
    parse_stock,
)
from bot.handlers.points.shop import StockArgs
from bot.messages import Mention
from bot.models.core import OrgUnit, Person
from bot.models.points import AWARD, DEDUCT
from bot.org import create_unit, register_household
from bot.points import (
    PointsError,
    Want,
    balance,
    find_rule,
    policy,
    record,
    redeem,
    reverse,
    stock_good,
    top_households,
    village_activity,
)
from bot.router import Usage
from bot.text import Args, normalize, tokenize
from tests.conftest import SHANGHAI, START

CFG = load_config()


def args(text: str, *mentions: str) -> Args:
    t = normalize(text)
    return Args(tokenize(t, tuple(Mention(f"id_{m}", m) for m in mentions)), t)


# -- parsers (pure) ------------------------------------------------------------------------


def test_parse_award_forms() -> None:
    a = parse_award(args("@张三 @李四 六净六有", "张三", "李四"))
    assert [t.id for t in a.targets] == ["id_张三", "id_李四"] and a.rule == "六净六有"
    a = parse_award(args("张三家 李四家 公益活动"))
    assert a.targets == ("张三家", "李四家") and a.rule == "公益活动"
    a = parse_award(args("@张三 二十分 防汛 值班", "张三"))
    assert (a.amount, a.reason, a.rule) == (20, "防汛 值班", None)
    a = parse_award(args("王五家 帮助孤寡老人 +15"))
    assert (a.targets, a.amount, a.reason, a.sign) == (("王五家",), 15, "帮助孤寡老人", "+")
    assert parse_award(args("@张三 -20 乱倒垃圾", "张三")).sign == "-"
    for bad, why in [("", "请写规则名称"), ("@张三 0 无", "分数要大于0"), ("张三家 20", "写明事由"),
                     ("六净六有", "请@要加扣分的人")]:
        with pytest.raises(Usage, match=why):
            parse_award(args(bad, "张三") if "@" in bad else args(bad))


def test_parse_stock_forms() -> None:
    s = parse_stock(args("粽子 10个 15分 库存 1000"))
    assert (s.name, s.pack, s.price, s.stock, s.add) == ("粽子", (10, "个"), 15, 1000, None)
    s = parse_stock(args("毛巾2条 十分 库存一百"))
    assert (s.name, s.pack, s.price, s.stock) == ("毛巾", (2, "条"), 10, 100)
    assert parse_stock(args("粽子 库存 +500")).add == 500
    assert parse_stock(args("粽子 库存-20")).add == -20
    assert parse_stock(args("食用油 每份1桶 价格50分")).pack == (1, "桶")
    assert parse_stock(args("粽子")) == StockArgs("粽子")  # back on the shelf, or refused there
    for bad in ["", "10个 粽子", "粽子 很多", "粽子 库存", "粽子 10份"]:
        with pytest.raises(Usage):
            parse_stock(args(bad))


def test_parse_redeem_ids_review_slip() -> None:
    r = parse_redeem(args("@张三 粽子 20 毛巾2条 香皂", "张三"))
    assert r.wants == (Want("粽子", 20, None), Want("毛巾", 2, "条"), Want("香皂"))
    r = parse_redeem(args("张三家 粽子 1份"))
    assert r.target == "张三家" and r.wants == (Want("粽子", 1, "份"),)
    # The count in any order, in items or in packs (issue 13 §7).
    for typed, want in [("张三家 10 粽子", Want("粽子", 10, None)), ("张三家 粽子10个", Want("粽子", 10, "个")),
                       ("张三家 粽子 两份", Want("粽子", 2, "份")), ("张三家 2包 粽子", Want("粽子", 2, "包")),
                       ("张三家 粽子 一份", Want("粽子", 1, "份")), ("张三家 一品香", Want("一品香")),
                       ("张三家 20个粽子", Want("个粽子", 20, None, lead=True))]:
        assert parse_redeem(args(typed)).wants == (want,), typed
    for bad in ["", "张三家", "张三家 粽子 10 20", "张三家 10"]:
        with pytest.raises(Usage):
            parse_redeem(args(bad))
    with pytest.raises(Usage, match="不带正负号"):
        parse_redeem(args("张三家 粽子 -10"))
    assert parse_ids(args("第17条 18号 #19 17")).ids == (17, 18, 19)
    assert parse_ids(args("17 写错了")).reason == "写错了"
    assert parse_review(args("17 撤销 核实无此事")).decision == "撤销"
    assert parse_review(args("十七 驳回")).decision == "维持"
    with pytest.raises(Usage, match="维持"):
        parse_review(args("17 好的"))
    assert parse_slip(args("皇叔洼村 王五家")).village == "皇叔洼村"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="张三家李四 0123456789十百分个份库存+-#@第条号粽子毛巾撤销维持，,、 ", max_size=30))
def test_parsers_only_ever_answer_usage(raw: str) -> None:
    """Whatever is typed, a parser returns its arguments or explains with Usage."""
    for parse in (parse_award, parse_stock, parse_redeem, parse_ids, parse_review, parse_slip):
        with contextlib.suppress(Usage):
            parse(args(raw))


# -- rules and policy ------------------------------------------------------------------------


def test_rules_by_name_alias_or_part_and_village_overrides() -> None:
    pol = policy(CFG, None)
    assert find_rule(pol, "六淨六有").name == "六净六有"
    assert find_rule(pol, "最美家庭").name == "十佳模范"
    assert find_rule(pol, "防汛").name == "参加村集体防火防汛等公益活动"
    assert find_rule(pol, "公") is None and find_rule(pol, "吃饭") is None
    # A figure glued to a rule's name is refused, never dropped for the rule's own.
    with pytest.raises(PointsError, match="“六净六有”按规则是 \\+10 分，不用写分数"):
        find_rule(pol, "20户容户貌")
    cfg = CFG.with_overrides(points={"villages": {"皇叔洼": {
        "confirmations_required": 2, "publicity_days": 3, "rules": [
            {"name": "门前三包", "points": 5}, {"name": "门前雪", "points": 3}]}}})
    village = OrgUnit(name="皇叔洼村", level="村", path="/1/")
    pol = policy(cfg, village)
    assert (pol.confirmations, pol.publicity_days, pol.adhoc_cap) == (2, 3, 50)
    with pytest.raises(PointsError, match="可能是：门前三包、门前雪"):
        find_rule(pol, "门前")
    assert policy(cfg, OrgUnit(name="东坪村", level="村", path="/2/")).confirmations == 1


# -- the ledger in a database -------------------------------------------------------------------


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    d.create_schema()
    yield d
    d.close()


def _tree(s: Session) -> dict[str, OrgUnit]:
    city = create_unit(s, "大同市", "市", None, START)
    county = create_unit(s, "浑源县", "县", city, START)
    town = create_unit(s, "吴城乡", "乡", county, START)
    other_town = create_unit(s, "王庄堡镇", "乡", county, START)
    return {
        "county": county, "town": town,
        "a": create_unit(s, "皇叔洼村", "村", town, START),
        "b": create_unit(s, "东坪村", "村", town, START),
        "c": create_unit(s, "西坪村", "村", other_town, START),
    }


def test_rankings_and_village_activity(db: Database) -> None:
    eva = Person(id="eva", name="评议员", updated_at=START)

    def fill(s: Session) -> dict[str, OrgUnit]:
        s.add(eva)
        u = _tree(s)
        hh = {}
        for v, names in (("a", ["甲家", "乙家", "丙家", "丁家"]), ("b", ["戊家"]), ("c", ["己家", "庚家"])):
            for n in names:
                hh[n] = register_household(s, u[v], n, START).household
        pol = policy(CFG, None)

        def award(name: str, amount: int, when: datetime, kind: str = AWARD) -> int:
            e = record(s, household=hh[name], kind=kind, rule=None, amount=amount, reason="测试",
                       actor=eva, msg_id=None, now=when, pol=pol, config=CFG)
            assert e.id is not None
            return e.id

        june = START
        award("甲家", 30, june)
        award("乙家", 40, june)
        award("丙家", 30, june)
        award("丁家", 10, june, DEDUCT)
        reversed_id = award("乙家", 50, june)
        reverse(s, reversed_id, eva, None, june, pol)
        award("戊家", 20, june)
        award("己家", 10, june)
        award("甲家", 50, june - timedelta(days=40))  # April: outside this month
        stock_good(s, u["a"], CFG, "粽子", pack=None, price=None, stock=100, add=None, actor=eva, now=june)
        redeem(s, household=hh["甲家"], village=u["a"], wants=[Want("粽子", 20)], actor=eva,
               msg_id=None, now=june, config=CFG)
        return u

    u = db.run_sync(fill)
    month = datetime(2019, 6, 1, tzinfo=SHANGHAI)

    def read(s: Session):
        top_all = [(r.household.name, r.points) for r in top_households(s, u["a"])]
        top_june = [(r.household.name, r.points) for r in top_households(s, u["a"], since=month)]
        acts = [(a.village.name, a.awarded, a.deducted, a.households, a.per_household)
                for a in village_activity(s, u["county"], month, month + timedelta(days=30))]
        town = [a.village.name for a in village_activity(s, u["town"], month, month + timedelta(days=30))]
        return top_all, top_june, acts, town

    top_all, top_june, acts, town = db.run_sync(read)
    # Redemptions do not lower a rank; a reversed award does not count; 丁家 is below zero.
    assert top_all == [("甲家", 80), ("乙家", 40), ("丙家", 30)]
    assert top_june == [("乙家", 40), ("甲家", 30), ("丙家", 30)]
    assert acts == [("皇叔洼村", 100, 10, 4, 25.0), ("东坪村", 20, 0, 1, 20.0), ("西坪村", 10, 0, 2, 5.0)]
    assert town == ["皇叔洼村", "东坪村"]


def test_balance_queries_are_index_only_on_sqlite(sqlite_url: str) -> None:
    d = Database(sqlite_url)
    d.create_schema()
    try:
        with d.engine.connect() as c:
            plan = " ".join(str(r[-1]) for r in c.execute(text(
                "EXPLAIN QUERY PLAN SELECT coalesce(sum(delta), 0) FROM point_entry "
                "WHERE household_id = 1 AND status IN ('active', 'frozen') AND effective_at <= '2019-06-03'"
            )))
            assert "USING COVERING INDEX ix_point_balance" in plan, plan
            plan = " ".join(str(r[-1]) for r in c.execute(text(
                "EXPLAIN QUERY PLAN SELECT household_id, sum(delta) FROM point_entry "
                "WHERE unit_id = 4 AND kind IN ('award', 'deduct') AND status IN ('active', 'frozen') "
                "AND created_at >= '2019-06-01' GROUP BY household_id ORDER BY 2 DESC LIMIT 10"
            )))
            assert "USING COVERING INDEX ix_point_village" in plan, plan
    finally:
        d.close()


def test_balance_is_the_sum_of_effective_rows(db: Database) -> None:
    def go(s: Session) -> tuple[int, int, int]:
        u = _tree(s)
        eva = Person(id="eva", name="评议员", updated_at=START)
        s.add(eva)
        hh = register_household(s, u["a"], "甲家", START).household
        pol = policy(CFG.with_overrides(points={"publicity_days": 2}), u["a"])
        record(s, household=hh, kind=AWARD, rule=None, amount=30, reason="x", actor=eva,
               msg_id=None, now=START, pol=pol, config=CFG)
        record(s, household=hh, kind=DEDUCT, rule=None, amount=10, reason="y", actor=eva,
               msg_id=None, now=START, pol=pol, config=CFG)
        assert hh.id is not None
        return (balance(s, hh.id, START), balance(s, hh.id, START + timedelta(days=2)),
                balance(s, hh.id, START - timedelta(seconds=1)))

    assert db.run_sync(go) == (-10, 20, 0)
