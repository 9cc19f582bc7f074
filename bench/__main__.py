"""`make bench`: how fast and how big the bot is on this machine.

Figures, not assertions: each line is printed with what it measures. PostgreSQL lines
are skipped when no server answers at VILLAGEBOT_PG (default 127.0.0.1:5432).
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import App
from bot.clock import VirtualClock
from bot.config import load_config
from bot.drivers.memory import MemoryTransport
from bot.messages import Inbound, Mention
from bot.sender import OutboxSender
from bot.wiring import build_app

PG = os.environ.get("VILLAGEBOT_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = datetime(2019, 6, 3, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ADMIN = "wxid_admin"


def line(what: str, value: float, unit: str) -> None:
    print(f"{what:<58} {value:>12,.1f} {unit}")


def _msg(i: int, text: str, sender: str = ADMIN, room: str = "r_village",
         mentions: tuple[Mention, ...] = ()) -> Inbound:  # fmt: skip
    return Inbound("memory", f"b{i}", sender, "", text, START, room=room, mentions=mentions)


async def _setup(app: App) -> None:
    for i, (room, text) in enumerate([
        ("r_city", "#绑定 市 大同市"), ("r_county", "#绑定 县 浑源县 上级 大同市"),
        ("r_town", "#绑定 乡 吴城乡 上级 浑源县"), ("r_village", "#绑定 村 皇叔洼村 上级 吴城乡"),
    ]):  # fmt: skip
        await app.handle(_msg(-1 - i, text, room=room))


async def _throughput(url: str, n: int) -> tuple[float, float, float]:
    clock = VirtualClock(START)
    # The per-sender rate limit would drop most of one sender's burst: lift it here.
    config = load_config().with_overrides(limits={"burst": 10**9})
    app = build_app(config, clock=clock, db_url=url, admins=[ADMIN])
    sender = OutboxSender(app.db, {"memory": MemoryTransport()}, clock)
    try:
        await _setup(app)
        # Commands that write: register a household and link a person, each its own message.
        t0 = time.perf_counter()
        for i in range(n):
            await app.handle(_msg(i, f"#登记 @户主{i} 户 第{i}户", mentions=(Mention(f"p{i}"),)))
        writes = n / (time.perf_counter() - t0)
        # Ordinary chat: parsed and dropped, no database work.
        t0 = time.perf_counter()
        for i in range(n):
            await app.handle(_msg(n + i, "今天下午几点开会？"))
        chat_us = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        sent = await sender.flush()
        flush = sent / (time.perf_counter() - t0)
        return writes, chat_us, flush
    finally:
        app.close()


def _pg_database() -> tuple[str, Callable[[], None]] | None:
    try:
        import psycopg

        with psycopg.connect(PG, autocommit=True, connect_timeout=3) as conn:
            name = f"vb_bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as e:  # no server: skip those lines
        print(f"(PostgreSQL lines skipped: {e.__class__.__name__})")
        return None

    def drop() -> None:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG.rsplit('/', 1)[0]}/{name}", drop


def _startup() -> tuple[float, float]:
    times, rss = [], []
    code = (
        "import resource,time;t=time.perf_counter();"
        "from bot.wiring import build_app;a=build_app(db_url='sqlite://');a.close();"
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        t, r = out.stdout.split()
        times.append(float(t))
        rss.append(int(r) / 1024)
    return statistics.median(times), statistics.median(rss)


def _replay_speed(n: int) -> float:
    import io
    import json

    from bot.drivers.replay import replay

    lines = [json.dumps({"at": START.isoformat(), "room": "r1", "from": ADMIN,
                         "text": "#绑定 市 大同市", "id": "x0"})]  # fmt: skip
    for i in range(n):
        at = (START + timedelta(seconds=i + 1)).isoformat()
        lines.append(json.dumps({"at": at, "room": "r1", "from": f"u{i % 50}", "text": "#帮助",
                                 "id": f"x{i + 1}"}))  # fmt: skip
    t0 = time.perf_counter()
    asyncio.run(replay(lines, io.StringIO(), load_config(), "sqlite://", [ADMIN]))
    return n / (time.perf_counter() - t0)


def main() -> None:
    n = int(os.environ.get("BENCH_N", "2000"))
    print(f"villagebot bench (n={n}; python {sys.version.split()[0]})")
    with tempfile.TemporaryDirectory() as tmp:
        w, chat, flush = asyncio.run(_throughput(f"sqlite:///{Path(tmp) / 'b.db'}", n))
    line("SQLite file: write commands handled, one transaction each", w, "msg/s")
    line("SQLite file: per write command", 1e6 / w, "µs")
    line("ordinary chat recognised and dropped", chat, "µs/msg")
    line("SQLite file: outbox delivered (in-memory transport)", flush, "msg/s")
    pg = _pg_database()
    if pg is not None:
        url, drop = pg
        try:
            w, _, flush = asyncio.run(_throughput(url, n))
        finally:
            drop()
        line("PostgreSQL: write commands handled, one transaction each", w, "msg/s")
        line("PostgreSQL: per write command", 1e6 / w, "µs")
        line("PostgreSQL: outbox delivered (in-memory transport)", flush, "msg/s")
    line("replay: #帮助 lines per second (in-memory SQLite)", _replay_speed(n), "lines/s")
    t, rss = _startup()
    line("start-up: import and build_app (in-memory SQLite)", t * 1000, "ms")
    line("start-up: max RSS", rss, "MiB")
    line("this process: max RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB")


if __name__ == "__main__":
    main()
