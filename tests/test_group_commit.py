"""The database thread (issue 17): messages waiting together are committed together
(group commit), each in its own savepoint; a failed commit fails the whole batch; no
reply leaves before its commit; reads take no write lock on SQLite; two processes
writing one SQLite file at once lose and double nothing; a ranking's chart is drawn by
the sender, after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.app import ERROR_REPLY, App
from bot.clock import VirtualClock
from bot.config import Config
from bot.dashboard import collect
from bot.db import Database
from bot.drivers.memory import MemoryChat
from bot.jobs import run_due
from bot.messages import Inbound, Outgoing
from bot.models.core import InboundMessage, OutboxMessage, UnitAlias
from bot.outbox import pending
from bot.rankings.chart import Chart
from bot.router import Command, Ctx
from bot.sender import OutboxSender
from bot.text import Args
from bot.wiring import build_app, registries
from tests.conftest import ADMIN
from tests.test_rankings_bot import CADRES, HQ, PNG, at, report, setup

ROOT = Path(__file__).resolve().parents[1]


# -- commands of these tests (the bot's own registry, plus three) -----------------------


def _echo(ctx: Ctx, args: str) -> None:
    ctx.reply(f"回声 {args}")


def _boom(ctx: Ctx, args: str) -> None:
    ctx.reply("半截")
    raise RuntimeError("a poisoned message")


def _bad_commit(ctx: Ctx, args: str) -> None:
    """Writes a row whose foreign key dangles, checked only at COMMIT (SQLite)."""
    ctx.reply("不该发出")
    ctx.session.execute(text("PRAGMA defer_foreign_keys = ON"))
    ctx.session.add(UnitAlias(unit_id=999_999, alias="无此单位"))
    ctx.session.flush()


def _command(name: str, run: Callable[[Ctx, str], None]) -> Command:
    return Command(name=name, summary=name, usage=f"#{name}", example=f"#{name}",
                   parse=lambda a: a.text.strip() if isinstance(a, Args) else "", run=run,
                   scope="any")


EXTRA = (_command("回声", _echo), _command("坏", _boom), _command("毒", _bad_commit))


@pytest.fixture
def gapp(config: Config, clock: VirtualClock, db_url: str) -> Iterator[App]:
    a = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN],
                  commands=(*registries().commands, *EXTRA))
    yield a
    a.close()


@pytest.fixture
def sapp(config: Config, clock: VirtualClock, sqlite_url: str) -> Iterator[App]:
    a = build_app(config, clock=clock, db_url=sqlite_url, admins=[ADMIN],
                  commands=(*registries().commands, *EXTRA))
    yield a
    a.close()


def inbound(app: App, text_: str, msg_id: str, room: str = "r1") -> Inbound:
    return Inbound("memory", msg_id, "wxid_a", "甲", text_, app.clock.now(), room=room)


@contextlib.asynccontextmanager
async def held(db: Database) -> AsyncIterator[None]:
    """Every database thread kept busy until the block ends: what is submitted meanwhile
    waits in the queue, and the first thread free takes all of it as one batch."""
    release = threading.Event()
    started = threading.Semaphore(0)

    def hold() -> None:
        started.release()
        release.wait()

    holders = [asyncio.ensure_future(db.call(hold)) for _ in range(db.threads)]
    for _ in range(db.threads):
        await asyncio.to_thread(started.acquire)
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*holders)


async def queued(*coros: Any) -> list[asyncio.Future[Any]]:
    """Start each coroutine and let it reach the database queue."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    for _ in range(3):
        await asyncio.sleep(0)
    return tasks


class Commits:
    """COMMITs on the app's engine (an observer on the real engine)."""

    def __init__(self, db: Database) -> None:
        self.n = 0
        self.engine = db.engine
        event.listen(self.engine, "commit", self._hook)

    def _hook(self, _conn: Any) -> None:
        self.n += 1

    def close(self) -> None:
        event.remove(self.engine, "commit", self._hook)


def replies(app: App) -> dict[str, list[str]]:
    """The outbox texts by the message they answer."""
    out: dict[str, list[str]] = {}
    with app.db.transaction(deferred=True) as s:
        for r in s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all():
            out.setdefault(r.reply_to or "", []).append(r.text)
    return out


def journal(app: App) -> list[str]:
    with app.db.transaction(deferred=True) as s:
        return sorted(s.exec(select(InboundMessage.msg_id)).all())


# -- group commit ----------------------------------------------------------------------


async def test_a_batch_commits_once_and_a_poisoned_message_harms_none(gapp: App) -> None:
    """Five messages wait together: they are committed by one COMMIT. The one whose
    handler fails loses only its own writes (its savepoint) and gets the error reply;
    the duplicate delivery inside the batch is handled once."""
    app = gapp
    await app.handle(inbound(app, "#回声 预热", "warm"))  # schema, caches, first connection
    commits = Commits(app.db)
    try:
        async with held(app.db):
            tasks = await queued(*(app.handle(inbound(app, t, i)) for t, i in [
                ("#回声 甲", "a"), ("#坏", "bad"), ("#回声 乙", "b"),
                ("#回声 甲", "a"),  # the same delivery again, in the same batch
                ("#回声 丙", "c"),
            ]))
            assert commits.n == 0
        handled = await asyncio.gather(*tasks)
    finally:
        commits.close()
    # One commit for the batch, one for the failed message's error reply (it runs alone).
    assert commits.n == 2
    assert handled == [True, True, True, False, True]
    assert replies(app) == {"warm": ["回声 预热"], "a": ["回声 甲"], "b": ["回声 乙"],
                            "c": ["回声 丙"], "bad": [ERROR_REPLY]}
    assert journal(app) == ["a", "b", "bad", "c", "warm"]


async def test_a_failed_commit_fails_every_unit_of_its_batch(sapp: App) -> None:
    """At the database: a unit that only the COMMIT finds wrong (a deferred foreign
    key) fails the whole batch; every caller gets the error, nothing is kept."""
    db = sapp.db

    def alias(name: str, unit_id: int) -> Callable[[Session], str]:
        def unit(s: Session) -> str:
            if unit_id == 999_999:
                s.execute(text("PRAGMA defer_foreign_keys = ON"))
            s.add(UnitAlias(unit_id=unit_id, alias=name))
            s.flush()
            return name
        return unit

    with db.transaction() as s:
        s.execute(text("INSERT INTO org_unit (name, level, path, created_at) "
                       "VALUES ('甲村', '村', '/1/', '2019-06-03 01:00:00')"))
        unit_id = int(s.execute(text("SELECT id FROM org_unit")).scalar_one())
    async with held(db):
        tasks = await queued(db.unit(alias("一", unit_id)), db.unit(alias("毒", 999_999)),
                             db.unit(alias("二", unit_id)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r) for r in results] == [IntegrityError] * 3
    assert all(r is results[0] for r in results)  # the commit's own error, for each
    with db.transaction(deferred=True) as s:
        assert s.exec(select(UnitAlias)).all() == []
    # The same units alone: the good ones are kept, the poisoned one fails by itself.
    assert await db.unit(alias("一", unit_id)) == "一"
    with pytest.raises(IntegrityError):
        await db.unit(alias("毒", 999_999))
    with db.transaction(deferred=True) as s:
        assert [a.alias for a in s.exec(select(UnitAlias)).all()] == ["一"]


class Checked:
    """A transport at its edge that, at each send, reads the outbox row it was given
    through a connection of its own: only a committed row is visible there."""

    name = "memory"
    can_send_images = True

    def __init__(self, path: str) -> None:
        self.path = path
        self.sent: list[Outgoing] = []
        self.uncommitted: list[Outgoing] = []

    async def send(self, out: Outgoing) -> None:
        conn = sqlite3.connect(self.path)
        try:
            row = conn.execute("SELECT text FROM outbox WHERE id = ?", (out.id,)).fetchone()
        finally:
            conn.close()
        if row is None or row[0] != out.text:
            self.uncommitted.append(out)
        self.sent.append(out)


async def test_a_failed_commit_sends_nothing_and_each_message_is_retried_alone(
    sapp: App, sqlite_url: str
) -> None:
    """At the bot: the batch whose commit fails sends nothing of it; each message is
    tried again alone, so the good ones are answered once and the poisoned one gets
    the error reply. The sender runs all along and sends only committed rows."""
    app = sapp
    transport = Checked(sqlite_url.removeprefix("sqlite:///"))
    sender = OutboxSender(app.db, {"memory": transport}, app.clock)
    app.on_commit.append(sender.notify)
    running = asyncio.ensure_future(sender.run(poll_seconds=0.05))
    try:
        await app.handle(inbound(app, "#回声 预热", "warm"))
        async with held(app.db):
            tasks = await queued(*(app.handle(inbound(app, t, i)) for t, i in [
                ("#回声 甲", "a"), ("#毒", "poison"), ("#回声 乙", "b")]))
        assert await asyncio.gather(*tasks) == [True, True, True]
        for _ in range(500):
            if len(transport.sent) >= 4:
                break
            await sender.flush()
            await asyncio.sleep(0.01)
    finally:
        sender.stop()
        await running
    assert sorted(o.text for o in transport.sent) == sorted(
        ["回声 预热", "回声 甲", "回声 乙", ERROR_REPLY])
    assert transport.uncommitted == []
    assert replies(app) == {"warm": ["回声 预热"], "a": ["回声 甲"], "b": ["回声 乙"],
                            "poison": [ERROR_REPLY]}
    with app.db.transaction(deferred=True) as s:
        assert s.exec(select(UnitAlias)).all() == []


async def test_the_reply_is_committed_before_the_sender_is_woken(sapp: App, sqlite_url: str
                                                                 ) -> None:
    app = sapp
    path = sqlite_url.removeprefix("sqlite:///")
    seen: list[int] = []

    def woken() -> None:  # what another connection sees when the sender is woken
        conn = sqlite3.connect(path)
        try:
            seen.append(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        finally:
            conn.close()

    app.on_commit.append(woken)
    async with held(app.db):
        tasks = await queued(*(app.handle(inbound(app, f"#回声 {k}", f"m{k}")) for k in range(4)))
    await asyncio.gather(*tasks)
    assert seen == [4, 4, 4, 4]


# -- SQLite: reads take no write lock; two writers at once ---------------------------


@contextlib.contextmanager
def write_lock(path: str) -> Iterator[sqlite3.Connection]:
    """Another connection holding SQLite's write lock (a writer mid-transaction)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO unit_alias (unit_id, alias) VALUES (1, '锁')")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def test_reads_complete_while_another_connection_holds_the_write_lock(
    sapp: App, sqlite_url: str
) -> None:
    app = sapp
    chat = MemoryChat(app)
    assert (await chat.say("#回声 甲", sender="wxid_a", room="r1"))[0].text == "回声 甲"
    await app.handle(inbound(app, "#回声 乙", "queued"))  # a reply waiting in the outbox
    now = app.clock.now()
    with write_lock(sqlite_url.removeprefix("sqlite:///")):
        # The sender's read of what to send, and the dashboard, each a transaction of
        # its own; before issue 17 each began IMMEDIATE and failed "database is locked".
        waiting = await app.db.run(lambda s: pending(s, now=now))
        assert [o.text for o in waiting] == ["回声 乙"]
        data = await app.db.run(lambda s: collect(s, app.config, now))
        assert data is not None
        # A command waits for the lock (busy_timeout) and goes through once it is free.
        task = asyncio.ensure_future(app.handle(inbound(app, "#回声 丙", "late")))
        await asyncio.sleep(0.05)
        assert not task.done()
    assert await task is True
    assert replies(app)["late"] == ["回声 丙"]


async def test_a_read_then_write_run_is_tried_again_when_its_snapshot_is_stale(
    sapp: App, sqlite_url: str
) -> None:
    """SQLite (WAL) refuses at once to upgrade a read transaction whose snapshot another
    writer has moved past; `Database.run` tries the whole transaction again."""
    app = sapp
    path = sqlite_url.removeprefix("sqlite:///")
    with app.db.transaction() as s:
        s.execute(text("INSERT INTO org_unit (name, level, path, created_at) "
                       "VALUES ('甲村', '村', '/1/', '2019-06-03 01:00:00')"))
    calls: list[int] = []

    def read_then_write(s: Session) -> int:
        calls.append(1)
        n = len(s.exec(select(UnitAlias)).all())  # a read: the snapshot is taken here
        if len(calls) == 1:  # meanwhile another process writes and commits
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("INSERT INTO unit_alias (unit_id, alias) VALUES (1, '别处')")
            other.close()
        s.add(UnitAlias(unit_id=1, alias=f"第{n + 1}个"))
        s.flush()
        return n

    assert await app.db.run(read_then_write) == 1
    assert len(calls) == 2
    with app.db.transaction(deferred=True) as s:
        assert sorted(a.alias for a in s.exec(select(UnitAlias)).all()) == ["别处", "第2个"]


WRITER = """
import asyncio, sys
from bot.clock import VirtualClock
from bot.config import load_config
from bot.messages import Inbound
from bot.wiring import build_app, registries
from tests.conftest import START
from tests.test_group_commit import EXTRA
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = build_app(load_config(), clock=VirtualClock(START), db_url=url,
                commands=(*registries().commands, *EXTRA))

async def main():
    msgs = []
    for k in range(n):
        shared = f"shared{k}"  # delivered to both processes
        mine = f"{name}{k}"
        for i in (shared, mine):
            # A sender each: the rate limit is not what is tested here.
            msgs.append(Inbound("memory", i, f"wxid_{i}", "甲", f"#回声 {i}", START,
                                room=f"r{k % 4}"))
    await asyncio.gather(*(app.handle(m) for m in msgs))

asyncio.run(main())
app.close()
"""


def test_two_processes_writing_one_sqlite_file_lose_and_double_nothing(
    sapp: App, sqlite_url: str
) -> None:
    """Two bot processes handle their messages at once on one file (each batching
    what waits in it), a share of them delivered to both: every message is journaled
    once and answered once."""
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, sqlite_url, name, str(n)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("p", "q")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    expected = sorted([f"shared{k}" for k in range(n)] + [f"p{k}" for k in range(n)]
                      + [f"q{k}" for k in range(n)])
    assert journal(sapp) == expected
    answered = replies(sapp)
    assert sorted(answered) == expected
    assert all(texts == [f"回声 {i}"] for i, texts in answered.items())


# -- the chart is drawn at send time ---------------------------------------------------


async def test_the_ranking_chart_is_drawn_by_the_sender_after_the_commit(app: App) -> None:
    chat = MemoryChat(app)
    await setup(chat)
    await report(chat, dict(zip(CADRES, (40, 30, 20), strict=True)))
    await app.handle(Inbound("memory", "rank1", HQ, "", "#排名 危房改造", app.clock.now(),
                             room="r_county"))
    # Committed with the chart's data, not a picture drawn inside the transaction.
    with app.db.transaction(deferred=True) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.reply_to == "rank1")).one()
    assert row.image is None and row.chart is not None
    chart = Chart.from_json(row.chart)
    assert chart.title.startswith("浑源县 危房改造排名")
    assert [b.label[:5] for b in chart.panels[0].bars] == ["1 吴城乡", "2 官儿乡", "3 大磁窑"]
    # The transport gets the picture, drawn from that data.
    sent = await chat.flush()
    assert len(sent) == 1 and sent[0].chart is None
    assert sent[0].image is not None and sent[0].image.startswith(PNG)
    assert sent[0].image == chart.render()


async def test_a_bulletin_chart_is_drawn_by_the_sender_after_the_commit(app: App) -> None:
    chat = MemoryChat(app)
    await setup(chat)
    await report(chat, dict(zip(CADRES, (40, 30, 20), strict=True)))
    # The Monday bulletins fall due; their jobs commit before anything is sent.
    await run_due(app, at(6, 10, 9), advance=app.clock.set)  # type: ignore[attr-defined]
    with app.db.transaction(deferred=True) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "bulletin")
                      .order_by(col(OutboxMessage.id))).all()
    assert {r.room_id for r in rows} == {"r_city", "r_county"}
    # Committed with the chart's data, not a picture drawn inside the transaction.
    assert all(r.image is None and r.chart is not None for r in rows)
    charts = {r.room_id: Chart.from_json(r.chart or "") for r in rows}
    assert charts["r_county"].title == "浑源县 周通报 6月10日"
    assert [b.label for b in charts["r_county"].panels[0].bars] == [
        "1 吴城乡", "2 官儿乡", "3 大磁窑镇（末位）"]
    # The transport gets each picture, drawn from that data.
    sent = {o.room: o for o in await chat.flush() if o.text.startswith("【周通报】")}
    assert sorted(sent) == ["r_city", "r_county"]
    for room, o in sent.items():
        assert o.chart is None and o.image == charts[room].render()


def test_the_chart_data_survives_json_unchanged() -> None:
    from bot.rankings.chart import Bar, Panel

    c = Chart("标题", (Panel("栏", (Bar("1 甲", 12.5, "+12.5", "ahead"), Bar("2 乙", -3, "-3")),
                              signed=True),), note="注", traditional=True)
    assert Chart.from_json(c.to_json()) == c
    assert json.loads(c.to_json())["panels"][0]["bars"][1]["value"] == -3


def test_sqlite_commits_are_durable_by_default(sapp: App) -> None:
    """synchronous=FULL unless the config says otherwise (NORMAL is the documented
    trade-off: faster, but a power loss can take back acknowledged commits)."""
    assert Config().database.sqlite_synchronous == "FULL"
    with sapp.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
