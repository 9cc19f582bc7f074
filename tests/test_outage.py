"""No command is lost while the database is unreachable (`bot.inbox`).

The fast tests drive the inbox with a handler that fails like an unreachable database.
The slow ones stop a private PostgreSQL cluster (its own data directory and port, as
the `postgres` user when run as root) mid-stream: once for 30 s with the bot running,
and once with the bot killed (-9) during the outage and started again after it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from bot.inbox import Inbox, Spool
from bot.messages import Inbound

AT = datetime(2019, 6, 3, 1, 0, tzinfo=UTC)
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
OUTAGE_SECONDS = 30


def msg(room: str, n: int, sender: str = "wxid_a") -> Inbound:
    return Inbound(
        transport="wechaty",
        id=f"{room}-{n}",
        sender=sender,
        sender_name=sender,
        text="#帮助",
        at=AT,
        room=room,
    )


def down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


# -- the inbox against a handler that fails --------------------------------------------


async def test_commands_wait_in_order_and_survive_in_the_spool(tmp_path: Path) -> None:
    handled: list[str] = []
    told: list[str] = []
    alerts: list[tuple[bool, int]] = []
    reachable = False

    async def handle(m: Inbound) -> None:
        if not reachable:
            raise down()
        handled.append(m.id)

    async def on_queued(m: Inbound) -> None:
        told.append(m.id)

    async def on_outage(is_down: bool, _seconds: float, waiting: int) -> None:
        alerts.append((is_down, waiting))

    spool = Spool(tmp_path / "inbox.db")
    inbox = Inbox(
        handle,
        spool,
        on_queued=on_queued,
        on_outage=on_outage,
        notice_after=0.2,
        retry_seconds=0.05,
        max_retry_seconds=0.1,
    )
    for n in range(3):
        inbox.put(msg("A", n))
    inbox.put(msg("B", 0, sender="wxid_b"))
    await asyncio.sleep(0.5)
    assert handled == []
    assert spool.count() == 4  # every waiting command is on disk
    assert sorted(told) == ["A-0", "B-0"]  # once per sender and group, not per command
    assert alerts == [(True, 4)]
    # What a restart would find: the spool in order.
    assert [m.id for _, m in Spool(tmp_path / "inbox.db").load()] == ["A-0", "A-1", "A-2", "B-0"]
    inbox.put(msg("A", 3))  # arriving during the outage: spooled at once
    assert spool.count() == 5
    reachable = True
    assert await inbox.join(5)
    assert [h for h in handled if h.startswith("A")] == ["A-0", "A-1", "A-2", "A-3"]
    assert spool.count() == 0
    await asyncio.sleep(0.05)
    assert alerts[-1][0] is False
    await inbox.close(0)
    assert not (tmp_path / "inbox.db").exists()  # an empty spool leaves no file


async def test_a_restart_handles_the_spooled_commands_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "inbox.db")
    for n in range(3):
        spool.add(msg("A", n))
    spool.close()
    handled: list[str] = []

    async def handle(m: Inbound) -> None:
        handled.append(m.id)

    inbox = Inbox(handle, Spool(tmp_path / "inbox.db"))
    assert inbox.restore() == 3
    inbox.put(msg("A", 3))
    assert await inbox.join(5)
    assert handled == ["A-0", "A-1", "A-2", "A-3"]
    await inbox.close(0)


async def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    handled: list[str] = []

    async def handle(m: Inbound) -> None:
        if m.id == "A-0":
            raise ValueError("a bug")
        handled.append(m.id)

    inbox = Inbox(handle, Spool(tmp_path / "inbox.db"))
    inbox.put(msg("A", 0))
    inbox.put(msg("A", 1))
    assert await inbox.join(5)
    assert handled == ["A-1"]
    await inbox.close(0)


async def test_the_console_says_it_and_keeps_running(app, config) -> None:
    import io

    from bot.drivers import console

    calls = 0
    real = app.handle

    async def flaky(m: Inbound) -> bool:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise down()
        return bool(await real(m))

    app.handle = flaky
    console.WAIT_SECONDS = 0.2
    out = io.StringIO()
    await console.run_console(app, io.StringIO("#帮助\n/who\n"), out)
    text = out.getvalue()
    assert console.QUEUED in text
    assert "管理员（console_admin）" in text  # it went on reading


# -- a real PostgreSQL that stops ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A private PostgreSQL cluster in a temporary directory."""

    def __init__(self) -> None:
        assert PG_BIN is not None
        self.dir = Path(tempfile.mkdtemp(prefix="vb-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(PG_BIN / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ]
            if self.as_root
            else [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.skip("no PostgreSQL binaries")
    c = Cluster()
    c.start()
    yield c
    c.remove()


def _journal(url: str) -> tuple[list[str], list[str]]:
    """The journaled message ids, in order, and the reply_to of every reply."""
    from bot.db import Database
    from bot.models.core import InboundMessage, OutboxMessage

    db = Database(url)
    try:
        return db.run_sync(
            lambda s: (
                list(s.exec(select(InboundMessage.msg_id).order_by(col(InboundMessage.id))).all()),
                [r for r in s.exec(select(OutboxMessage.reply_to)).all() if r is not None],
            )
        )
    finally:
        db.close()


@pytest.mark.slow
async def test_a_30_second_postgres_stop_loses_nothing(
    cluster: Cluster, tmp_path: Path, config
) -> None:
    from bot.clock import SystemClock
    from bot.wiring import build_app

    app = build_app(config, clock=SystemClock(), db_url=cluster.url)
    told: list[str] = []
    alerts: list[bool] = []

    async def on_queued(m: Inbound) -> None:
        told.append(m.id)

    async def on_outage(is_down: bool, _s: float, _w: int) -> None:
        alerts.append(is_down)

    inbox = Inbox(
        app.handle,
        Spool(tmp_path / "inbox.db"),
        on_queued=on_queued,
        on_outage=on_outage,
        notice_after=3,
        retry_seconds=0.2,
        max_retry_seconds=2,
    )
    try:
        sent: list[Inbound] = []
        for n in range(5):
            for room in ("A", "B"):
                sent.append(msg(room, n, sender=f"wxid_{room}"))
                inbox.put(sent[-1])
        assert await inbox.join(30)
        await asyncio.to_thread(cluster.stop)
        for n in range(5, 15):  # ten commands during the outage
            for room in ("A", "B"):
                sent.append(msg(room, n, sender=f"wxid_{room}"))
                inbox.put(sent[-1])
            await asyncio.sleep(0.2)
        await asyncio.sleep(OUTAGE_SECONDS - 2)
        assert inbox.waiting == 20
        assert Spool(tmp_path / "inbox.db").count() == 20
        assert sorted(told) == ["A-5", "B-5"]
        assert alerts == [True]
        await asyncio.to_thread(cluster.start)
        assert await inbox.join(60)
    finally:
        await inbox.close(0)
        app.close()
    journal, replies = _journal(cluster.url)
    for room in ("A", "B"):
        assert [j for j in journal if j.startswith(room)] == [f"{room}-{n}" for n in range(15)]
    assert sorted(replies) == sorted(m.id for m in sent)  # one reply each, none twice
    assert alerts == [True, False]


CHILD = textwrap.dedent("""
    import asyncio, sys
    from bot.clock import SystemClock
    from bot.config import load_config
    from bot.inbox import Inbox, Spool
    from bot.messages import Inbound
    from datetime import UTC, datetime
    from bot.wiring import build_app

    async def main(url, spool, count):
        app = build_app(load_config(), clock=SystemClock(), db_url=url)
        inbox = Inbox(app.handle, Spool(spool), retry_seconds=0.1, max_retry_seconds=0.5)
        inbox.restore()
        print("up", flush=True)
        while line := await asyncio.to_thread(sys.stdin.readline):
            room, n = line.split()
            inbox.put(Inbound(transport="wechaty", id=f"{room}-{n}", sender="wxid_" + room,
                              sender_name=room, text="#帮助", at=datetime.now(UTC), room=room))
            if int(n) == count - 1:
                break
        await inbox.join()
        print("done", flush=True)
        await inbox.close(0)
        app.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
""")


@pytest.mark.slow
def test_kill_9_during_the_outage_then_every_command_once(cluster: Cluster, tmp_path: Path) -> None:
    spool = tmp_path / "inbox.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def child(count: int) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-c", CHILD, cluster.url, str(spool), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "up"
        return p

    first = child(6)
    assert first.stdin is not None
    for n in range(2):  # handled while the database is up
        first.stdin.write(f"A {n}\nB {n}\n")
    first.stdin.flush()
    deadline = time.monotonic() + 30
    while len(_journal(cluster.url)[0]) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_journal(cluster.url)[0]) == 4
    cluster.stop()
    for n in range(2, 5):
        first.stdin.write(f"A {n}\nB {n}\n")
    first.stdin.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if spool.exists() and Spool(spool).count() == 6:
            break
        time.sleep(0.1)
    first.kill()  # -9, in the middle of the outage
    first.wait()
    assert Spool(spool).count() == 6
    cluster.start()
    second = child(1)
    assert second.stdin is not None and second.stdout is not None
    second.stdin.write("C 0\n")
    second.stdin.close()
    assert second.stdout.readline().strip() == "done"
    second.wait(30)
    journal, replies = _journal(cluster.url)
    for room in ("A", "B"):
        assert [j for j in journal if j.startswith(room)] == [f"{room}-{n}" for n in range(5)]
    assert sorted(replies) == sorted({*journal})  # every command answered once
    assert len(replies) == 11
    assert not spool.exists()
