"""Engines, sessions and the dialect-neutral upserts.

The domain core is synchronous: each inbound message runs as one transaction in a
database worker thread (`Database.run`). SQLite is the default; PostgreSQL is driven
through psycopg 3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

log = logging.getLogger(__name__)
T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Pick the synchronous driver for a URL: psycopg 3 for every PostgreSQL form.

    the product spec names `postgresql+asyncpg://`; the domain core is synchronous, so that
    form is accepted and driven through psycopg instead.
    """
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    elif u.get_backend_name() == "sqlite":
        u = u.set(drivername="sqlite")
    return u.render_as_string(hide_password=False)


SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")


def make_engine(url: str, synchronous: str = "FULL") -> Engine:
    """`synchronous` (SQLite): FULL by default, so a commit survives a power loss; in
    WAL mode a NORMAL commit "might roll back following a power loss" (SQLite's docs)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        memory = u.database in (None, "", ":memory:")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if memory:
            # One connection shared by every thread, or each would see its own empty db.
            kwargs["poolclass"] = StaticPool
        elif u.database:
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN until the first write, so a
        # read-then-write transaction could interleave with another writer. Emit BEGIN
        # IMMEDIATE ourselves: one writer at a time, decided at the start.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _insert(session: Session, model: type[SQLModel]) -> Any:
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    pg = session.get_bind().dialect.name == "postgresql"
    return (pg_insert if pg else sqlite_insert)(model.__table__)  # type: ignore[attr-defined]


def insert_ignore(session: Session, model: type[SQLModel], values: dict[str, Any],
                  keys: list[str]) -> bool:
    """INSERT … ON CONFLICT (keys) DO NOTHING; True if the row was inserted.

    One statement, no read first. Two transactions racing on the same key cannot both
    insert and neither fails: the loser waits for the winner, then does nothing.
    """
    table = model.__table__  # type: ignore[attr-defined]
    stmt = (
        _insert(session, model).values(**values).on_conflict_do_nothing(index_elements=keys)
        .returning(*[table.c[k] for k in keys])
    )
    return session.execute(stmt).first() is not None


def upsert(session: Session, model: type[SQLModel], values: dict[str, Any], keys: list[str],
           update: list[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET the `update` columns from `values`."""
    stmt = _insert(session, model).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in update}
    )
    session.execute(stmt)


class Database:
    """An engine plus the worker threads that run one transaction per call."""

    def __init__(self, url: str, workers: int = 1, synchronous: str = "FULL") -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, synchronous)
        is_sqlite = self.engine.dialect.name == "sqlite"
        # SQLite has one writer: a second thread would only wait on its lock.
        self._pool = ThreadPoolExecutor(
            max_workers=1 if is_sqlite else workers, thread_name_prefix="db"
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One session, one transaction: committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def run_sync(self, fn: Callable[[Session], T]) -> T:
        with self.transaction() as session:
            return fn(session)

    async def run(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` as one transaction in a database thread: one hop per call."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.run_sync, fn)

    async def call(self, fn: Callable[[], T]) -> T:
        """A plain callable in the database thread (it manages its own transactions)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn)

    def create_schema(self) -> None:
        """`bot.migrate.create_schema` on this database (kept for older callers)."""
        from bot.migrate import create_schema

        create_schema(self.engine)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.engine.dispose()
