"""The bot's side of each goal (P1–P6) and the SQL statement count per command, all
through the public entry points: `build_app`, `App.handle`/`handle_sync`, `run_due`."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text

from bench.common import (
    CADRE,
    HQ,
    RATER,
    START,
    Counter,
    Say,
    make_app,
    setup_city,
    write_text,
)
from bot.jobs import run_due, run_due_sync
from bot.models.core import Household, OrgUnit, Person, Room
from bot.models.points import ACTIVE, AWARD, DEDUCT, PointEntry
from bot.models.progress import Report, Target


def p1_sqlite(path: Path, n: int) -> float:
    """Reports and awards, alternating, end to end on SQLite WAL + FULL: msg/s."""
    app = make_app(f"sqlite:///{path}", full_sync=True)
    say = Say(app)
    try:
        setup_city(say, 1)

        async def go() -> float:
            t0 = time.perf_counter()
            for i in range(n):
                t, who = write_text(i)
                await say(t, sender=who)
            return n / (time.perf_counter() - t0)

        return asyncio.run(go())
    finally:
        app.close()


def p2_postgres(url: str, n: int, groups: int = 8) -> float:
    """Reports and awards from `groups` village groups at once on PostgreSQL: msg/s."""
    app = make_app(url)
    say = Say(app)
    try:
        rooms = setup_city(say, groups)

        async def stream(room: str, k: int) -> None:
            for i in range(k, n, groups):
                t, who = write_text(i // groups)
                await say(t, sender=who, room=room)

        async def go() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(*(stream(r, k) for k, r in enumerate(rooms)))
            return n / (time.perf_counter() - t0)

        return asyncio.run(go())
    finally:
        app.close()


def p3_latency(path: Path, rate: int, seconds: float) -> float:
    """A mixed burst (reports, awards, #查分, chat) at `rate` msg/s: p99 latency in ms,
    from when each message was due to arrive to when its transaction had committed."""
    app = make_app(f"sqlite:///{path}")
    say = Say(app)
    try:
        rooms = setup_city(say, 4)
        mix = [lambda i: write_text(i), lambda i: write_text(i),
               lambda i: ("#查分 户0", RATER), lambda i: ("今天下午几点开会？", CADRE)]
        total = int(rate * seconds)
        lat: list[float] = []

        async def one(k: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            t, who = mix[k % 4](k // 4)
            await say(t, sender=who, room=rooms[k % len(rooms)])
            lat.append(time.perf_counter() - at)

        async def go() -> None:
            t0 = time.perf_counter() + 0.05
            await asyncio.gather(*(one(k, t0 + k / rate) for k in range(total)))

        asyncio.run(go())
        lat.sort()
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    finally:
        app.close()


def p5_reminders(url: str, n: int) -> float:
    """`n` one-off reminders due in the same minute: seconds the last one was queued
    after its due time (the clock stands at the due time when the loop starts)."""
    app = make_app(url)
    say = Say(app)
    try:
        rooms = setup_city(say, 10)
        for k in range(n):
            say.sync(f"#提醒 6月3日 10:00 入户核查{k}", sender=CADRE, room=rooms[k % len(rooms)])
        app.clock.set(START.replace(hour=10))  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        asyncio.run(run_due(app, app.clock.now()))
        return time.perf_counter() - t0
    finally:
        app.close()


_READY = """
import resource, sys, time
t = time.perf_counter()
from bot.transports.wechaty import load_wechaty
load_wechaty()
from bot.wiring import build_app
from sqlalchemy import text
app = build_app(db_url=sys.argv[1])
with app.db.transaction() as s:
    rooms = s.execute(text("SELECT id, topic, unit_id FROM room")).all()
assert len(rooms) >= int(sys.argv[2]), len(rooms)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def p6_ready(path: Path, groups: int) -> tuple[float, float]:
    """A fresh process: import wechaty and the bot, open a database of `groups` bound
    groups and read them: (seconds, max RSS MiB). No gateway handshake."""
    url = f"sqlite:///{path}"
    if not path.exists():
        app = make_app(url)
        with app.db.transaction() as s:
            city = OrgUnit(name="大同市", level="市", created_at=START)
            s.add(city)
            s.flush()
            s.execute(insert(Room), [{"id": f"g{k}@chatroom", "transport": "wechaty",
                                      "topic": f"村{k}工作群", "unit_id": city.id}
                                     for k in range(groups)])
        app.close()
    out = subprocess.run([sys.executable, "-c", _READY, url, str(groups)], capture_output=True,
                         text=True, check=True)
    t, rss = out.stdout.split()
    return float(t), float(rss)


# -- P4: the city's rankings over a large ledger ------------------------------------

VILLAGER = "wxid_p4_villager"  # linked to 户0 of the first village


def p4_load(url: str, villages: int, rows: int) -> object:
    """A city of 10 counties × 10 towns with `villages` villages, each with a target and
    a week of reports and 100 households; a points ledger of `rows` rows this month."""
    app = make_app(url, clock=None)
    say = Say(app, "p4_")
    say.sync("#绑定 市 大同市", room="r_city")
    say.sync("#任命 @指挥部 指挥部", room="r_city", mentions=(HQ,))
    rng = random.Random(7)
    with app.db.transaction() as s:
        city = s.execute(text("SELECT id, path FROM org_unit WHERE level = '市'")).one()
        vids: list[int] = []
        per_town = max(1, villages // 100)
        for c in range(10):
            county = OrgUnit(name=f"县{c}", level="县", parent_id=city.id, created_at=START)
            s.add(county)
            s.flush()
            county.path = f"{city.path}{county.id}/"
            for t in range(10):
                town = OrgUnit(name=f"乡{c}-{t}", level="乡", parent_id=county.id,
                               created_at=START)
                s.add(town)
                s.flush()
                town.path = f"{county.path}{town.id}/"
                for v in range(per_town):
                    vil = OrgUnit(name=f"村{c}-{t}-{v}", level="村", parent_id=town.id,
                                  created_at=START)
                    s.add(vil)
                    s.flush()
                    vil.path = f"{town.path}{vil.id}/"
                    vids.append(vil.id or 0)
        s.execute(insert(Target), [{"unit_id": v, "task": "危房改造", "amount": 100,
                                    "start": START.date().replace(month=1, day=1),
                                    "deadline": START.date().replace(month=12, day=31),
                                    "set_by": HQ, "set_at": START} for v in vids])
        s.execute(insert(Report), [{"unit_id": v, "task": "危房改造", "figure": d * 5 + rng.randrange(5),
                                    "report_date": (START - timedelta(days=7 - d)).date(),
                                    "reported_at": START - timedelta(days=7 - d),
                                    "reporter_id": CADRE} for v in vids for d in range(7)])
        s.execute(insert(Household), [{"unit_id": v, "name": f"户{i}", "created_at": START}
                                      for v in vids for i in range(100)])
    with app.db.transaction() as s:
        hh = s.execute(text("SELECT id, unit_id FROM household")).all()
    chunk: list[dict[str, object]] = []
    for i in range(rows):
        hid, uid = hh[rng.randrange(len(hh))]
        when = START - timedelta(minutes=rng.randrange(2 * 24 * 60))
        kind = rng.choice((AWARD, AWARD, AWARD, DEDUCT))
        delta = rng.choice((10, 15, 30, 50)) if kind == AWARD else -10
        chunk.append({"household_id": hid, "unit_id": uid, "kind": kind, "delta": delta,
                      "reason": "bench", "actor_id": "bench", "created_at": when,
                      "effective_at": when, "status": ACTIVE})
        if len(chunk) == 20_000 or i == rows - 1:
            with app.db.transaction() as s:
                s.execute(insert(PointEntry), chunk)
            chunk = []
    # A village room for #查分, and a villager of its household 户0 asking for the balance.
    with app.db.transaction() as s:
        s.execute(insert(Room), [{"id": "r_p4v", "transport": "memory", "unit_id": vids[0]}])
        hid = s.execute(text("SELECT id FROM household WHERE unit_id = :u AND name = '户0'"),
                        {"u": vids[0]}).scalar()
        s.execute(insert(Person), [{"id": VILLAGER, "name": "户主", "household_id": hid,
                                    "updated_at": START}])
    say.sync("#查分", sender=VILLAGER, room="r_p4v")
    with app.db.transaction() as s:  # what is timed is the balance, not a refusal
        reply = s.execute(text("SELECT text FROM outbox ORDER BY id DESC LIMIT 1")).scalar()
    assert reply is not None and reply.startswith("户0"), reply
    return app


# The bare SQL that gives each ranking's order: latest figure per village summed per
# county over the targets (#排名), points awarded this month per household (#积分排名).
RANK_SQL = """
SELECT c.id, SUM(r.figure) * 1.0 / SUM(t.amount) AS pct
FROM org_unit c
JOIN org_unit v ON v.path LIKE c.path || '%' AND v.level = '村'
JOIN progress_target t ON t.unit_id = v.id AND t.task = '危房改造'
JOIN progress_report r ON r.id = (SELECT MAX(id) FROM progress_report x
                                   WHERE x.unit_id = v.id AND x.task = '危房改造')
WHERE c.parent_id = :city
GROUP BY c.id ORDER BY pct DESC
"""
POINTS_SQL = """
SELECT p.unit_id, SUM(p.delta) * 1.0 / (SELECT COUNT(*) FROM household h
                                         WHERE h.unit_id = p.unit_id) AS per
FROM point_entry p
WHERE p.kind = 'award' AND p.status = 'active' AND p.effective_at >= :since
GROUP BY p.unit_id ORDER BY per DESC
"""


def _ms(fn: object, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1000


def p4_round(app: object, reps: int = 3) -> tuple[float, float, float, float, float]:
    """(#排名 ms, its SQL ms, #积分排名 ms, its SQL ms, #查分 ms), medians of `reps`."""
    a = app  # an App
    say = Say(a, f"p4r{random.random()}_")  # type: ignore[arg-type]
    with a.db.transaction() as s:  # type: ignore[attr-defined]
        city = s.execute(text("SELECT id FROM org_unit WHERE level = '市'")).scalar()

    def bare(sql: str, **kw: object) -> None:
        with a.db.transaction() as s:  # type: ignore[attr-defined]
            s.execute(text(sql), kw).all()

    month = START.replace(day=1)
    return (
        _ms(lambda: say.sync("#排名 危房改造", sender=HQ, room="r_city"), reps),
        _ms(lambda: bare(RANK_SQL, city=city), reps),
        _ms(lambda: say.sync("#积分排名", sender=HQ, room="r_city"), reps),
        _ms(lambda: bare(POINTS_SQL, since=month.astimezone().replace(tzinfo=None)), reps),
        _ms(lambda: say.sync("#查分", sender=VILLAGER, room="r_p4v"), max(reps, 20)),
    )


# -- statements per command -----------------------------------------------------------


def statement_counts(url: str = "sqlite://") -> dict[str, int]:
    """SQL statements each command sends (every statement through the app's engine)."""
    app = make_app(url)
    say = Say(app, "s")
    counter = Counter(app.db.engine)
    out: dict[str, int] = {}
    try:
        setup_city(say, 2)
        say.sync("#进度 危房改造 3", sender=CADRE, room="r_v1")
        say.sync("#加分 户0 10 义务劳动", sender=RATER, room="r_v1")
        # Ten reminders due together: occurrences are claimed and committed in batches,
        # so the figure is per occurrence of a (small) burst.
        for k in range(10):
            say.sync(f"#提醒 6月3日 10:00 入户核查{k}", sender=CADRE)
        # Each command twice in a group new to it: the first pays the per-process cache's
        # misses for that group (its village's households, its target: one load and one
        # token check each), the second is the steady state.
        for name, first, again, who, room in [
            ("report (#进度)", "#进度 危房改造 5", "#进度 危房改造 6", CADRE, "r_v0"),
            ("award (#加分)", "#加分 户0 10 义务劳动", "#加分 户0 10 防汛值班", RATER, "r_v0"),
            ("#查分", "#查分 户0", "#查分 户0", RATER, "r_v0"),
            ("#排名", "#排名 危房改造", "#排名 危房改造", HQ, "r_town"),
            ("#积分排名", "#积分排名", "#积分排名", HQ, "r_town"),
        ]:
            with counter.counting():
                say.sync(first, sender=who, room=room)
            out[f"{name} first in its group"] = counter.n
            with counter.counting():
                say.sync(again, sender=who, room=room)
            out[name] = counter.n
        app.clock.set(START.replace(hour=10))  # type: ignore[attr-defined]
        with counter.counting():
            results = run_due_sync(app, app.clock.now())
        ran = sum(1 for r in results if r.outcome in ("ran", "late")) or 1
        out["one reminder occurrence"] = counter.n // ran
        return out
    finally:
        app.close()
