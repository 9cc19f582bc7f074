"""The ledger's hash chain (issue 18 §6): an edited, deleted or reordered row is found,
`villagebot verify` says where, concurrent writers do not fork a village's chain, and
the migration chains an old database's rows. On SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot.config import load_config
from bot.db import Database, make_engine
from bot.migrate import alembic_config, upgrade_head
from bot.models.core import Household, OrgUnit, Person
from bot.models.points import AWARD, HouseholdLink, LedgerHead, PointEntry
from bot.org import create_unit, register_household
from bot.points import chain, policy, record
from tests.conftest import START

CFG = load_config()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    d.create_schema()
    d.run_sync(_fill)
    yield d
    d.close()


def _fill(s: Session) -> None:
    """Two villages, five entries interleaved between them."""
    town = create_unit(s, "吴城乡", "乡", None, START)
    a, b = create_unit(s, "皇叔洼村", "村", town, START), create_unit(s, "东坪村", "村", town, START)
    eva = Person(id="eva", name="评议员", updated_at=START)
    s.add(eva)
    ha = register_household(s, a, "张三家", START).household
    hb = register_household(s, b, "李四家", START).household
    for i, hh in enumerate([ha, hb, ha, ha, hb]):
        village = a if hh is ha else b
        record(s, household=hh, kind=AWARD, rule=None, amount=10 + i, reason=f"事{i}", actor=eva,
               msg_id=f"m{i}", now=START + timedelta(minutes=i), pol=policy(CFG, village), config=CFG)


def _verify(d: Database) -> chain.Verified:
    return d.run_sync(chain.verify)


def _sql(d: Database, *statements: str) -> None:
    with d.engine.begin() as conn:
        for st in statements:
            conn.execute(text(st))


def test_intact_chain(db: Database) -> None:
    v = _verify(db)
    assert (v.villages, v.entries, v.broken) == (2, 5, None)
    rows = db.run_sync(lambda s: s.exec(select(PointEntry).order_by(PointEntry.id)).all())
    assert [r.prev_hash == "" for r in rows] == [True, True, False, False, False]
    assert rows[2].prev_hash == rows[0].hash and rows[4].prev_hash == rows[1].hash


def test_edited_row(db: Database) -> None:
    _sql(db, "UPDATE point_entry SET delta = 99 WHERE id = 3")
    broken = _verify(db).broken
    assert broken is not None and broken.entry_id == 3
    assert broken.problem == "第3条的内容与哈希不符：这条记录被改动过"


def test_deleted_row(db: Database) -> None:
    _sql(db, "DELETE FROM point_entry WHERE id = 3")
    broken = _verify(db).broken
    assert broken is not None and broken.entry_id == 4
    assert broken.problem.startswith("第4条的前一哈希对不上：第1条之后有记录被删除")


def test_deleted_last_row(db: Database) -> None:
    _sql(db, "DELETE FROM point_entry WHERE id = 4")
    broken = _verify(db).broken
    assert broken is not None and broken.entry_id == 3
    assert broken.problem.startswith("链头与最后一条（第3条）不符")


def test_reordered_rows(db: Database) -> None:
    """Rows 3 and 4 swapped (everything but the id, hashes included)."""
    cols = "household_id, unit_id, kind, delta, rule, reason, actor_id, msg_id, created_at, prev_hash, hash"
    _sql(db, f"CREATE TABLE swap AS SELECT id, {cols} FROM point_entry WHERE id IN (3, 4)",
         *(f"UPDATE point_entry SET {c} = (SELECT {c} FROM swap WHERE swap.id = 7 - point_entry.id) "
           "WHERE id IN (3, 4)" for c in cols.split(", ")),
         "DROP TABLE swap")
    broken = _verify(db).broken
    assert broken is not None and broken.entry_id == 3


def test_verify_command(db: Database, db_url: str) -> None:
    def cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "verify", "--db", db_url],
                              capture_output=True, text=True, timeout=120)

    p = cli()
    assert (p.returncode, p.stdout.strip()) == (0, "台账完整：2 个村，5 条记录，哈希链无误")
    _sql(db, "UPDATE point_entry SET reason = '改过' WHERE id = 2")
    p = cli()
    assert p.returncode == 1
    assert p.stdout.strip() == "台账校验失败：东坪村，第2条的内容与哈希不符：这条记录被改动过"


def test_two_writers_in_one_village_do_not_fork(db: Database) -> None:
    def add(s: Session, n: int, who: str) -> None:
        village = s.exec(select(OrgUnit).where(OrgUnit.name == "皇叔洼村")).one()
        hh = s.exec(select(Household).where(Household.name == "张三家")).one()
        actor = s.get(Person, who) or Person(id=who, name=who, updated_at=START)
        record(s, household=hh, kind=AWARD, rule=None, amount=1, reason=f"{who}{n}", actor=actor,
               msg_id=None, now=START + timedelta(hours=1, seconds=n), pol=policy(CFG, village),
               config=CFG)

    errors: list[BaseException] = []

    def worker(who: str) -> None:
        try:
            for n in range(8):
                db.run_sync(lambda s, n=n: add(s, n, who))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    v = _verify(db)
    assert v.broken is None and v.entries == 21
    heads = db.run_sync(lambda s: s.exec(select(LedgerHead)).all())
    assert len(heads) == 2


def test_migration_backfills_the_chain_and_links(db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    try:
        command.upgrade(alembic_config(engine), "0001")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO org_unit (id, name, level, path, created_at) VALUES "
                              "(1, '皇叔洼村', '村', '/1/', '2019-06-03 01:00:00')"))
            conn.execute(text("INSERT INTO household (id, unit_id, name, created_at) VALUES "
                              "(1, 1, '张三家', '2019-06-03 01:00:00')"))
            conn.execute(text("INSERT INTO person (id, name, household_id, updated_at) VALUES "
                              "('zs', '张三', 1, '2019-06-03 01:00:00')"))
            for i in (1, 2, 3):
                conn.execute(text(
                    "INSERT INTO point_entry (id, household_id, unit_id, kind, delta, reason, actor_id,"
                    " created_at, effective_at, status) VALUES "
                    f"({i}, 1, 1, 'award', {i * 10}, '旧{i}', 'eva', '2019-06-0{i} 01:00:00.123456',"
                    " '2019-06-03 01:00:00', 'active')"))
            if engine.dialect.name == "postgresql":  # ids were given: move the sequences on
                for table, last in (("org_unit", 1), ("household", 1), ("point_entry", 3)):
                    conn.execute(text(f"SELECT setval('{table}_id_seq', {last})"))
        upgrade_head(engine)
        d = Database(db_url)
        try:
            v = _verify(d)
            assert (v.entries, v.broken) == (3, None)
            links = d.run_sync(lambda s: [(x.person_id, x.household_id, x.until)
                                          for x in s.exec(select(HouseholdLink)).all()])
            assert links == [("zs", 1, None)]
            # New entries continue the backfilled chain.
            def more(s: Session) -> None:
                village = s.get(OrgUnit, 1)
                hh = s.get(Household, 1)
                assert village is not None and hh is not None
                record(s, household=hh, kind=AWARD, rule=None, amount=5, reason="新",
                       actor=Person(id="eva2", name="评议员", updated_at=START), msg_id=None,
                       now=START + timedelta(days=3), pol=policy(CFG, village), config=CFG)
            d.run_sync(more)
            assert _verify(d).broken is None
        finally:
            d.close()
    finally:
        engine.dispose()
