"""`python -m bench.points`: the points ledger at scale, through the real domain code.

A synthetic city (10 counties, 1,000 villages, 100 households each) with a ledger of
BENCH_POINTS_ROWS rows (default 1,000,000), bulk-loaded; then the public read functions
and whole-bot commands are timed. Figures, not assertions; medians of repeated calls.
PostgreSQL lines are skipped when no server answers at VILLAGEBOT_PG.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, select

from bench.__main__ import ADMIN, START, _pg_database, line
from bot.clock import VirtualClock
from bot.config import load_config
from bot.db import Database
from bot.messages import Inbound, Mention
from bot.models.core import Household, OrgUnit
from bot.models.points import ACTIVE, AWARD, DEDUCT, REDEEM, PointEntry
from bot.points import balance, balance_detail, top_households, village_activity
from bot.wiring import build_app

COUNTIES, TOWNS, VILLAGES, HOUSEHOLDS = 10, 10, 10, 100  # per parent


def _median_ms(fn: Callable[[], object], n: int = 200) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _load(db: Database, rows: int) -> tuple[list[int], list[int], int]:
    """The city, its households and a ledger of `rows` rows over the last year."""
    rng = random.Random(7)
    with db.transaction() as s:
        city = OrgUnit(name="大同市", level="市", created_at=START)
        s.add(city)
        s.flush()
        city.path = f"/{city.id}/"
        villages: list[OrgUnit] = []
        for c in range(COUNTIES):
            county = OrgUnit(name=f"县{c}", level="县", parent_id=city.id, created_at=START)
            s.add(county)
            s.flush()
            county.path = f"{city.path}{county.id}/"
            for t in range(TOWNS):
                town = OrgUnit(name=f"乡{c}-{t}", level="乡", parent_id=county.id, created_at=START)
                s.add(town)
                s.flush()
                town.path = f"{county.path}{town.id}/"
                for v in range(VILLAGES):
                    village = OrgUnit(name=f"村{c}-{t}-{v}", level="村", parent_id=town.id,
                                      created_at=START)  # fmt: skip
                    s.add(village)
                    s.flush()
                    village.path = f"{town.path}{village.id}/"
                    villages.append(village)
        s.execute(insert(Household), [
            {"unit_id": v.id, "name": f"户{i}", "created_at": START}
            for v in villages for i in range(HOUSEHOLDS)
        ])  # fmt: skip
    with db.transaction() as s:
        hh = s.exec(select(Household.id, Household.unit_id)).all()
    village_ids = [v.id for v in villages if v.id is not None]
    chunk: list[dict[str, object]] = []
    for i in range(rows):
        hid, uid = hh[rng.randrange(len(hh))]
        when = START - timedelta(minutes=rng.randrange(365 * 24 * 60))
        kind = rng.choice((AWARD, AWARD, AWARD, DEDUCT, REDEEM))
        delta = {AWARD: rng.choice((10, 15, 30, 50)), DEDUCT: -rng.choice((10, 20, 30)),
                 REDEEM: -15}[kind]  # fmt: skip
        chunk.append({"household_id": hid, "unit_id": uid, "kind": kind, "delta": delta,
                      "reason": "bench", "actor_id": "bench", "created_at": when,
                      "effective_at": when, "status": ACTIVE})  # fmt: skip
        if len(chunk) == 20_000 or i == rows - 1:
            with db.transaction() as s:
                s.execute(insert(PointEntry), chunk)
            chunk = []
    return village_ids, [h for h, _ in hh], city.id or 0


def reads(url: str, rows: int, label: str) -> None:
    db = Database(url)
    db.create_schema()
    t0 = time.perf_counter()
    village_ids, household_ids, city_id = _load(db, rows)
    line(f"{label}: ledger bulk-loaded ({rows:,} rows)", time.perf_counter() - t0, "s")
    rng = random.Random(1)
    with Session(db.engine) as s:
        city = s.get(OrgUnit, city_id)
        county = s.exec(select(OrgUnit).where(OrgUnit.level == "县")).first()
        assert city is not None and county is not None
        month = START - timedelta(days=30)
        year = START - timedelta(days=365)
        line(f"{label}: balance() of a household", _median_ms(
            lambda: balance(s, rng.choice(household_ids), START)), "ms")  # fmt: skip
        line(f"{label}: balance_detail() of a household", _median_ms(
            lambda: balance_detail(s, rng.choice(household_ids), START)), "ms")  # fmt: skip
        line(f"{label}: top_households() of a village, this year", _median_ms(
            lambda: top_households(s, s.get(OrgUnit, rng.choice(village_ids)), since=year)), "ms")  # type: ignore[arg-type]  # fmt: skip
        line(f"{label}: village_activity() of a county (100 villages), a month", _median_ms(
            lambda: village_activity(s, county, month, START), 50), "ms")  # fmt: skip
        line(f"{label}: village_activity() of the city (1,000 villages), a month", _median_ms(
            lambda: village_activity(s, city, month, START), 10), "ms")  # fmt: skip
    db.close()


def commands(url: str, n: int, label: str) -> None:
    """Whole-bot redemptions and twenty-household awards, one transaction each."""
    config = load_config().with_overrides(limits={"burst": 10**9})
    app = build_app(config, clock=VirtualClock(START), db_url=url, admins=[ADMIN])

    async def go() -> tuple[float, float]:
        i = 0

        async def say(text: str, sender: str = ADMIN, room: str = "rv",
                      mentions: tuple[Mention, ...] = ()) -> None:  # fmt: skip
            nonlocal i
            i += 1
            await app.handle(Inbound("memory", f"p{i}", sender, "", text, START, room=room,
                                     mentions=mentions))  # fmt: skip

        for room, text in [("rc", "#绑定 市 大同市"), ("rx", "#绑定 县 浑源县 上级 大同市"),
                           ("rt", "#绑定 乡 吴城乡 上级 浑源县"), ("rv", "#绑定 村 皇叔洼村 上级 吴城乡")]:  # fmt: skip
            await say(text, room=room)
        await say("#任命 @评 评议员", mentions=(Mention("eva"),))
        await say("#任命 @店 超市管理员", mentions=(Mention("keep"),))
        for k in range(20):
            await say(f"#登记 @户主{k} 户 户{k}", mentions=(Mention(f"p{k}"),))
        await say("#上架 粽子 10个 15分 库存 100000000", sender="keep")
        names = " ".join(f"户{k}" for k in range(20))
        t0 = time.perf_counter()
        for _ in range(n // 20):
            await say(f"#加分 {names} 50 义务劳动", sender="eva")
        award = (time.perf_counter() - t0) / (n // 20) * 1000
        t0 = time.perf_counter()
        for k in range(n):
            await say(f"#兑换 户{k % 20} 粽子 10", sender="keep")
        redeem = n / (time.perf_counter() - t0)
        return award, redeem

    try:
        award, redeem = asyncio.run(go())
    finally:
        app.close()
    line(f"{label}: #加分 of 20 households in one message", award, "ms/msg")
    line(f"{label}: #兑换 handled, one transaction each", redeem, "msg/s")


def main() -> None:
    rows = int(os.environ.get("BENCH_POINTS_ROWS", "1000000"))
    n = int(os.environ.get("BENCH_N", "1000"))
    print(f"villagebot points bench (ledger rows={rows:,}, commands n={n})")
    with tempfile.TemporaryDirectory() as tmp:
        reads(f"sqlite:///{Path(tmp) / 'reads.db'}", rows, "SQLite")
        commands(f"sqlite:///{Path(tmp) / 'cmds.db'}", n, "SQLite")
    for what in (reads, commands):
        pg = _pg_database()
        if pg is None:
            return
        url, drop = pg
        try:
            what(url, rows if what is reads else n, "PostgreSQL")
        finally:
            drop()


if __name__ == "__main__":
    main()
