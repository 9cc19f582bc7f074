"""The baselines each goal is a ratio to: small, honest programs doing the least that
the goal's work needs, measured in the same run as the bot.

- `raw_sqlite`: stdlib `sqlite3`, WAL, synchronous=FULL, one row inserted and committed
  per transaction.
- `naive_bot`: what a straightforward async bot would do per report: one SQLModel
  `AsyncSession` (aiosqlite) transaction writing the four rows a report writes here
  (the message journal, the report, the outbox message, the audit entry), WAL + FULL.
- `pg_autocommit`: asyncpg, 8 connections, one-row autocommit inserts; psycopg 3's
  async connections when asyncpg is not installed (the output says which).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def raw_sqlite(path: Path, n: int) -> float:
    """One-row commits per second."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, room TEXT, text TEXT, at TEXT)")
    t0 = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (room, text, at) VALUES (?, ?, ?)",
                     ("r_v0", f"#进度 危房改造 {i}", datetime.now().isoformat()))
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


class NJournal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    msg_id: str = Field(unique=True)
    room_id: str
    sender_id: str
    text: str
    received_at: datetime


class NReport(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int
    task: str
    figure: int
    reported_at: datetime
    reporter_id: str


class NOutbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    room_id: str
    text: str
    created_at: datetime


class NAudit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    actor_id: str
    action: str
    detail: str
    at: datetime


async def _naive(path: Path, n: int) -> float:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    t0 = time.perf_counter()
    for i in range(n):
        now = datetime.now(UTC)
        async with AsyncSession(engine) as s:
            s.add(NJournal(msg_id=f"n{i}", room_id="r_v0", sender_id="c", text=f"#进度 危房改造 {i}",
                           received_at=now))
            s.add(NReport(unit_id=1, task="危房改造", figure=i, reported_at=now, reporter_id="c"))
            s.add(NOutbox(room_id="r_v0", text=f"已记录 危房改造 {i}", created_at=now))
            s.add(NAudit(actor_id="c", action="report", detail=str(i), at=now))
            await s.commit()
    rate = n / (time.perf_counter() - t0)
    await engine.dispose()
    return rate


def naive_bot(path: Path, n: int) -> float:
    """Reports per second, four rows each."""
    return asyncio.run(_naive(path, n))


def pg_driver() -> str:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return "psycopg 3 (asyncpg is not installed)"
    return "asyncpg"


async def _pg(url: str, n: int, conns: int) -> float:
    try:
        import asyncpg
    except ImportError:
        asyncpg = None
    sql = "INSERT INTO bench_t (room, text, at) VALUES ($1, $2, $3)"
    if asyncpg is not None:
        pool = [await asyncpg.connect(url) for _ in range(conns)]
        await pool[0].execute("CREATE TABLE IF NOT EXISTS bench_t "
                              "(id serial PRIMARY KEY, room text, text text, at timestamptz)")

        async def one(c: object, k: int) -> None:
            for i in range(k, n, conns):
                await c.execute(sql, "r_v0", f"#进度 {i}", datetime.now(UTC))  # type: ignore[attr-defined]
    else:
        import psycopg

        pool = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(conns)]
        await pool[0].execute("CREATE TABLE IF NOT EXISTS bench_t "
                              "(id serial PRIMARY KEY, room text, text text, at timestamptz)")
        sql = sql.replace("$1", "%s").replace("$2", "%s").replace("$3", "%s")

        async def one(c: object, k: int) -> None:
            for i in range(k, n, conns):
                await c.execute(sql, ("r_v0", f"#进度 {i}", datetime.now(UTC)))  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    await asyncio.gather(*(one(c, k) for k, c in enumerate(pool)))
    rate = n / (time.perf_counter() - t0)
    for c in pool:
        await c.close()
    return rate


def pg_autocommit(url: str, n: int, conns: int = 8) -> float:
    """One-row autocommit inserts per second over `conns` connections."""
    return asyncio.run(_pg(url.replace("postgresql+psycopg://", "postgresql://"), n, conns))
