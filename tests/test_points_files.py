"""`villagebot import households` and `villagebot export ledger`: real files, real
databases, the real command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, col, func, select

from bot.config import load_config
from bot.db import Database
from bot.models.core import Household, OrgUnit, Person
from bot.models.points import AWARD, DEDUCT, PointEntry
from bot.org import create_unit
from bot.points import Want, policy, record, redeem, reverse, stock_good
from bot.points.files import ImportFailed, export_ledger, import_households, read_table
from tests.conftest import START

CFG = load_config()
GOOD_CSV = """村,上级,户名,成员id,成员姓名
皇叔洼村,,张三家,wxid_zs,张三
皇叔洼村,,张三家,wxid_zs2,张小三
皇叔洼村,吴城乡,王五家,,王五
东坪村,吴城乡,李四家,wxid_ls,
"""


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    d.create_schema()
    d.run_sync(_tree)
    yield d
    d.close()


def _tree(s: Session) -> None:
    city = create_unit(s, "大同市", "市", None, START)
    county = create_unit(s, "浑源县", "县", city, START)
    town = create_unit(s, "吴城乡", "乡", county, START)
    create_unit(s, "皇叔洼村", "村", town, START)
    create_unit(s, "东坪村", "村", town, START)
    # A second 东坪村 under another township: a bare name is ambiguous.
    create_unit(s, "东坪村", "村", create_unit(s, "王庄堡镇", "乡", county, START), START)


def _households(d: Database) -> list[tuple[str, str, list[str]]]:
    def q(s: Session):
        out = []
        for hh, unit in s.exec(select(Household, OrgUnit).join(OrgUnit, col(OrgUnit.id) == col(Household.unit_id))
                               .order_by(col(Household.id))).all():
            members = s.exec(select(Person.id).where(Person.household_id == hh.id).order_by(col(Person.id))).all()
            out.append((unit.name, hh.name, list(members)))
        return out

    return d.run_sync(q)


def test_import_csv_links_members_by_id(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "hh.csv"
    f.write_text(GOOD_CSV, encoding="utf-8")
    result = db.run_sync(lambda s: import_households(s, read_table(f), START))
    assert (result.households, result.created, result.linked, result.names_only) == (3, 3, 3, 1)
    assert _households(db) == [("皇叔洼村", "张三家", ["wxid_zs", "wxid_zs2"]), ("皇叔洼村", "王五家", []),
                               ("东坪村", "李四家", ["wxid_ls"])]
    # Importing again changes nothing.
    again = db.run_sync(lambda s: import_households(s, read_table(f), START))
    assert (again.created, again.linked) == (0, 0)


def test_import_xlsx_with_bad_rows_changes_nothing(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "hh.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [("village", "household", "member_id"), ("皇叔洼村", "张三家", "wxid_zs"),
                ("东坪村", "李四家", None), ("没有村", "赵六家", None), ("皇叔洼村", None, None),
                (None, None, None), ("皇叔洼村", "钱七家", "wxid_zs")]:
        ws.append(row)
    wb.save(f)
    with pytest.raises(ImportFailed) as e:
        db.run_sync(lambda s: import_households(s, read_table(f), START))
    assert e.value.errors == [
        "第3行：有2个“东坪村”（吴城乡的东坪村、王庄堡镇的东坪村），请在“上级”列写明乡镇",
        "第4行：找不到村“没有村”",
        "第5行：缺少户名",
        "第7行：成员id wxid_zs 在第2行已属于 张三家",
    ]
    assert _households(db) == []
    f2 = tmp_path / "bad.csv"
    f2.write_text("名字,年龄\n张三,30\n", encoding="utf-8")  # 电话 is a known column
    with pytest.raises(ImportFailed, match="找不到表头：前2行里没有认得的列名（表头例如：村、户名）"):
        read_table(f2)


def _cli(*a: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *a], capture_output=True, text=True,
                          timeout=120, check=False)


def test_cli_import_then_export_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    d = Database(url)
    d.create_schema()
    d.run_sync(_tree)
    d.close()
    bad = tmp_path / "bad.csv"
    bad.write_text("村,户名\n没有村,赵六家\n", encoding="utf-8")
    p = _cli("import", "households", str(bad), "--db", url)
    assert p.returncode == 1 and "第2行：找不到村“没有村”" in p.stderr and "没有导入任何农户" in p.stderr
    good = tmp_path / "hh.csv"
    good.write_text(GOOD_CSV, encoding="gbk")  # as Excel saves it in China
    p = _cli("import", "households", str(good), "--db", url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "导入 3 户（新登记 3 户），关联成员 3 位，1 位成员没有联系人id、未关联"

    d = Database(url)

    def entries(s: Session) -> None:
        eva = Person(id="eva", name="田秀英", updated_at=START)
        s.add(eva)
        hh = {h.name: h for h in s.exec(select(Household)).all()}
        village = s.get(OrgUnit, hh["张三家"].unit_id)
        assert village is not None
        pol = policy(CFG, village)
        kw = dict(actor=eva, now=START, pol=pol, config=CFG)
        record(s, household=hh["张三家"], kind=AWARD, rule=None, amount=30, reason="修路",
               msg_id="m1", **kw)
        e = record(s, household=hh["王五家"], kind=DEDUCT, rule=None, amount=10, reason="乱倒垃圾",
                   msg_id="m2", **kw)
        assert e.id is not None
        reverse(s, e.id, eva, "m3", START, pol)
        stock_good(s, village, CFG, "粽子", pack=None, price=None, stock=100, add=None, actor=eva, now=START)
        redeem(s, household=hh["张三家"], village=village, wants=[Want("粽子", 10)], actor=eva,
               msg_id="m4", now=START, config=CFG)

    d.run_sync(entries)
    d.close()
    out = tmp_path / "ledger.xlsx"
    p = _cli("export", "ledger", str(out), "--db", url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"已导出 4 条积分记录 → {out}"
    assert "数据库：" in p.stderr
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))[2:]
    assert rows[0][:10] == ("编号", "时间", "县", "乡", "村", "户", "类型", "分值", "规则/事由", "状态")
    blank = rows.index((None,) * len(rows[0]))
    assert [r[:10] for r in rows[1:blank]] == [
        (1, START.replace(tzinfo=None), "浑源县", "吴城乡", "皇叔洼村", "张三家", "加分", 30, "修路", "有效"),
        (2, START.replace(tzinfo=None), "浑源县", "吴城乡", "皇叔洼村", "王五家", "扣分", -10, "乱倒垃圾", "已撤销#3"),
        (3, START.replace(tzinfo=None), "浑源县", "吴城乡", "皇叔洼村", "王五家", "扣分", 10, "撤销#2 乱倒垃圾", "有效"),
        (4, START.replace(tzinfo=None), "浑源县", "吴城乡", "皇叔洼村", "张三家", "兑换", -15, "兑换 粽子10个", "有效"),
    ]
    assert rows[1][10:] == (None, "田秀英", "eva", "m1") and rows[3][10] == 2
    # Below the entries: each village's chain head, the last entry and its hash.
    d = Database(url)
    head = d.run_sync(lambda s: s.get(PointEntry, 4))
    d.close()
    assert [r[:10] for r in rows[blank + 2:]] == [
        ("链头", None, None, None, "皇叔洼村", None, None, None, 4, head.hash)]
    # One unit's villages only.
    p = _cli("export", "ledger", str(out), "--db", url, "--unit", "王庄堡镇")
    assert p.returncode == 0 and p.stdout.startswith("已导出 0 条")


def test_export_counts_rows(db: Database, tmp_path: Path) -> None:
    n = db.run_sync(lambda s: export_ledger(s, CFG, tmp_path / "empty.xlsx", START))
    assert n == 0
    assert db.run_sync(lambda s: s.exec(select(func.count()).select_from(Household)).one()) == 0


def test_names_link_only_when_unique_in_the_village_group(db: Database, tmp_path: Path) -> None:
    from bot.models.core import Room, RoomMember

    def people(s: Session) -> None:
        village = s.exec(select(OrgUnit).where(OrgUnit.name == "皇叔洼村")).one()
        s.add(Room(id="r_hsw", transport="memory", topic="皇叔洼村群", unit_id=village.id))
        s.add(Room(id="r_other", transport="memory", topic="别的群"))
        s.flush()
        for pid, name, room in [("w1", "王五", "r_hsw"), ("z1", "张伟", "r_hsw"),
                                ("z2", "张伟", "r_hsw"), ("l1", "李四", "r_other")]:
            s.add(Person(id=pid, name=name, updated_at=START))
            s.add(RoomMember(room_id=room, person_id=pid, last_seen=START))

    db.run_sync(people)
    f = tmp_path / "hh.csv"
    f.write_text("花名册,,\n村名,户主姓名,姓名\n皇叔洼村,王五家,王五\n皇叔洼村,张家,张伟\n"
                 "皇叔洼村,李家,李四\n", encoding="utf-8")
    r = db.run_sync(lambda s: import_households(s, read_table(f), START))
    # 王五: one of that name in the village's group; 张伟: two; 李四: not in that group.
    assert (r.linked, r.by_name, r.names_only) == (1, 1, 2)
    assert _households(db) == [("皇叔洼村", "王五家", ["w1"]), ("皇叔洼村", "张家", []),
                               ("皇叔洼村", "李家", [])]
