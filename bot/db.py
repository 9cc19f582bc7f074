"""Engines, sessions, the database thread(s) and the dialect-neutral upserts.

The domain core is synchronous: each inbound message is one unit of work in a database
thread (`Database.unit`), committed with the others waiting beside it (group commit).
SQLite is the default; PostgreSQL is driven through psycopg 3.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
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
BEGIN_OPTION = "villagebot_sqlite_begin"  # an execution option: IMMEDIATE or DEFERRED


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

        # pysqlite's own transaction handling defers BEGIN until the first write and
        # knows nothing of SAVEPOINT. Emit BEGIN ourselves: IMMEDIATE (the write lock at
        # the start: one writer at a time, for code that reads before it writes) unless
        # the connection was opened with the DEFERRED option (`Database`: reads take no
        # write lock; a unit of work that writes first takes it with its first write).
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            mode = conn.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

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


# SQLite's answer when another connection holds the lock it needs.
_BUSY = ("database is locked", "database table is locked")
BUSY_ATTEMPTS = 5  # tries of a retryable unit (`run`) that SQLite refused as busy


def sqlite_busy(e: BaseException) -> bool:
    """SQLite refused for a lock: after busy_timeout, or at once when a transaction that
    has read must upgrade to write over a snapshot another writer has moved on from
    (WAL; the busy handler is not called then). Retrying the whole unit is the cure."""
    return isinstance(e, OperationalError) and any(b in str(e.orig) for b in _BUSY)


Outcome = tuple[bool, Any]  # (True, the unit's value) or (False, the exception it raised)


@dataclass
class _Job:
    fn: Callable[..., Any]
    future: Future[Any]
    unit: bool  # a unit of work (takes a session; may share a transaction), or a call
    alone: bool = False  # a unit that must have its transaction to itself


class Database:
    """An engine plus the database thread(s).

    Every piece of database work of the asyncio side goes through one queue, served by
    one thread on SQLite (one writer; an in-memory database is a single connection) or
    `workers` threads on PostgreSQL:
    - `unit(fn)`: a unit of work, `fn(session)`. The thread takes every unit waiting
      when it comes to one and runs them in ONE transaction, each in its own savepoint,
      then commits once (group commit): one fsync for the lot. A unit that raises rolls
      back only its savepoint; a failed commit fails every unit of the batch. Results
      are handed back only after the commit.
    - `run(fn)`: `fn(session)` as a transaction of its own (retried when SQLite is busy).
    - `call(fn)`: a plain callable that manages its own transactions.

    On SQLite, `unit` and `run` transactions begin DEFERRED: a read takes no write lock,
    so readers (the sender, the dashboard, another process) never queue behind a writer
    or make a writer wait. A unit should make its first statement a write (a message's
    journal insert): the lock is then taken at the start, waiting under busy_timeout,
    never upgraded from a read. `transaction()` begins IMMEDIATE by default, for code
    that reads before it writes and cannot be retried as a whole (the job loop).
    """

    def __init__(self, url: str, workers: int = 1, synchronous: str = "FULL",
                 max_batch: int = 64) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, synchronous)
        self._deferred = self.engine.execution_options(**{BEGIN_OPTION: "DEFERRED"})
        # SQLite has one writer: a second thread would only wait on its lock.
        self.threads = 1 if self.dialect == "sqlite" else max(1, workers)
        self.max_batch = max_batch
        self._queue: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, deferred: bool = False) -> Iterator[Session]:
        """One session, one transaction: committed on success, rolled back on error.
        SQLite: BEGIN IMMEDIATE (the write lock at once), or DEFERRED with `deferred`."""
        bind = self._deferred if deferred else self.engine
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    def run_sync(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` as one transaction (begun DEFERRED), in the calling thread; the
        whole of it tried again when SQLite refuses it as busy."""
        for attempt in range(1, BUSY_ATTEMPTS + 1):
            try:
                with self.transaction(deferred=True) as session:
                    return fn(session)
            except OperationalError as e:
                if not sqlite_busy(e) or attempt == BUSY_ATTEMPTS:
                    raise
                log.info("database busy; trying the transaction again (%s)", attempt)
                time.sleep(random.uniform(0.005, 0.02) * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def run_units(self, fns: Sequence[Callable[[Session], Any]]) -> list[Outcome]:
        """Units of work in one transaction (begun DEFERRED), in the calling thread: each
        in its own savepoint (a unit alone needs none: the transaction is its own), then
        one commit. An outcome per unit; raises what the commit (or the begin) raised."""
        with Session(self._deferred, expire_on_commit=False) as session:
            session.begin()
            try:
                if len(fns) == 1:
                    try:
                        outcomes: list[Outcome] = [(True, fns[0](session))]
                    except Exception as e:
                        session.rollback()
                        return [(False, e)]
                else:
                    outcomes = []
                    busy: Exception | None = None
                    for fn in fns:
                        if busy is not None:  # the rest would wait on that lock too
                            outcomes.append((False, busy))
                            continue
                        try:
                            with session.begin_nested():
                                outcomes.append((True, fn(session)))
                        except Exception as e:
                            outcomes.append((False, e))
                            if sqlite_busy(e):
                                busy = e
                session.commit()
            except BaseException:
                session.rollback()
                raise
        return outcomes

    def unit_sync(self, fn: Callable[[Session], T]) -> T:
        """One unit of work in its own transaction, in the calling thread (tests, tools)."""
        ok, value = self.run_units([fn])[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    # -- the database thread(s) ------------------------------------------------------

    async def unit(self, fn: Callable[[Session], T], alone: bool = False) -> T:
        """`fn(session)` in the database thread, batched with the other units waiting
        (`alone`: in a transaction of its own); returns once its transaction committed."""
        return await self._submit(_Job(fn, Future(), unit=True, alone=alone))

    async def run(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` as one transaction of its own in a database thread."""
        return await self._submit(_Job(partial(self.run_sync, fn), Future(), unit=False))

    async def call(self, fn: Callable[[], T]) -> T:
        """A plain callable in the database thread (it manages its own transactions)."""
        return await self._submit(_Job(fn, Future(), unit=False))

    async def _submit(self, job: _Job) -> Any:
        with self._cv:
            if self._closed:
                raise RuntimeError("the database is closed")
            self._queue.append(job)
            if len(self._threads) < self.threads:
                t = threading.Thread(target=self._serve, name=f"db-{len(self._threads)}",
                                     daemon=True)
                self._threads.append(t)
                t.start()
            self._cv.notify()
        return await asyncio.wrap_future(job.future)

    def _take(self) -> list[_Job] | None:
        """The next job, with every unit waiting behind it when it is a unit (calls keep
        their places); None once closed and drained."""
        with self._cv:
            while not self._queue:
                if self._closed:
                    return None
                self._cv.wait()
            first = self._queue.popleft()
            if not first.unit or first.alone:
                return [first]
            batch: list[_Job] = [first]
            skipped: list[_Job] = []
            while self._queue and len(batch) < self.max_batch:
                job = self._queue.popleft()
                (batch if job.unit and not job.alone else skipped).append(job)
            self._queue.extendleft(reversed(skipped))
            return batch

    def _serve(self) -> None:
        while (jobs := self._take()) is not None:
            jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
            if not jobs:
                continue
            if not jobs[0].unit:
                try:
                    jobs[0].future.set_result(jobs[0].fn())
                except BaseException as e:
                    jobs[0].future.set_exception(e)
                continue
            try:
                outcomes = self.run_units([j.fn for j in jobs])
            except BaseException as e:
                if len(jobs) > 1:
                    log.warning("the commit of %d messages failed: %r", len(jobs), e)
                for j in jobs:
                    j.future.set_exception(e)
                continue
            for j, (ok, value) in zip(jobs, outcomes, strict=True):
                if ok:
                    j.future.set_result(value)
                else:
                    j.future.set_exception(value)

    def create_schema(self) -> None:
        """`bot.migrate.create_schema` on this database (kept for older callers)."""
        from bot.migrate import create_schema

        create_schema(self.engine)

    def close(self) -> None:
        """Finish the queued work, stop the threads, close the connections."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join()
        self.engine.dispose()
