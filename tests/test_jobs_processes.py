"""Exactly once across processes: two bot processes on one database run the same two
weeks of schedules at the same time; every reminder is sent once (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.clock import VirtualClock
from bot.config import load_config
from bot.drivers.memory import MemoryChat
from bot.models.core import OutboxMessage, Room
from bot.reminders import set_oneoff
from bot.wiring import build_app
from tests.conftest import ADMIN, SHANGHAI, START
from tests.helpers import ROOMS, appoint, build_tree

ROOT = Path(__file__).resolve().parents[1]
MINE = ("【例会提醒】", "【提醒】", "【月度考核提醒】")

# One bot process: build the app on the shared database, wait for the starting signal,
# then run every occurrence due by `until`: "advance" moves its own virtual clock from
# `start` through the window (as replay does); "now" runs at the fixed time `start`,
# as the timer does with the system clock.
DRIVER = """
import json, os, sys, time
from datetime import datetime
from bot.wiring import build_app
from bot.clock import VirtualClock
from bot.config import load_config
from bot.jobs import run_due_sync
url, start, until, go, mode = sys.argv[1:6]
clock = VirtualClock(datetime.fromisoformat(start))
app = build_app(load_config(), clock=clock, db_url=url)
open(go + ".ready." + str(os.getpid()), "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
until = datetime.fromisoformat(until)
results = run_due_sync(app, until, advance=clock.set if mode == "advance" else None)
app.close()
print(json.dumps([[r.job_id, r.due_at.isoformat(), r.outcome] for r in results]))
"""


async def _set_up(db_url: str) -> int:
    """The org tree and the reminders; returns how many of them fall in the window."""
    app = build_app(load_config(), clock=VirtualClock(START), db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        await build_tree(chat)
        for key in ("village", "town", "county"):
            await appoint(chat, key, f"wxid_{key}", f"{key}干部", "干部")

        async def say(key: str, text: str) -> None:
            sent = await chat.say(text, sender=f"wxid_{key}", room=ROOMS[key][0])
            assert sent[0].text.startswith("已设置"), (text, sent)

        await say("village", "#例会 每周一 09:00 村两委例会 提前1小时")  # 6/10, 6/17 08:00
        await say("town", "#例会 每周三 15:00 乡例会 准时")  # 6/5, 6/12
        await say("county", "#例会 每周五 16:00 县例会 提前30分钟")  # 6/14 (6/7 端午)
        start = datetime(2019, 6, 4, 8, 0, tzinfo=SHANGHAI)
        for i in range(24):  # every half hour on the 4th
            at = start + timedelta(minutes=30 * i)
            await say("village", f"#提醒 6月4日 {at:%H:%M} 第{i + 1}项工作")
        return 2 + 2 + 1 + 24
    finally:
        app.close()


def _run_two(db_url: str, start: datetime, until: datetime, tmp: Path,
             mode: str) -> list[list[list[str]]]:
    go = tmp / "go"
    args = [db_url, start.isoformat(), until.isoformat(), str(go), mode]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DRIVER, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp.glob("go.ready.*"))) < 2:
            assert time.monotonic() < deadline, "the bot processes did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.02)
        go.touch()  # both start running due jobs at the same moment
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outs.append(json.loads(out))
        return outs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_two_processes_send_each_reminder_once(backend: str, request, tmp_path: Path) -> None:
    db_url = request.getfixturevalue("pg_url" if backend == "postgres" else "sqlite_url")
    expected = await _set_up(db_url)
    until = datetime(2019, 6, 17, 10, 0, tzinfo=SHANGHAI)
    outs = _run_two(db_url, START, until, tmp_path, "advance")

    # Each occurrence was handled by exactly one of the two processes.
    handled = [(job, due) for out in outs for job, due, outcome in out if outcome != "taken"]
    assert len(handled) == len(set(handled))
    assert all(outcome == "ran" for out in outs for _, _, outcome in out), [
        x for out in outs for x in out if x[2] != "ran"
    ]
    # (Whether both processes got some of the work depends on the OS scheduler; it is
    # not asserted, so a busy CI machine cannot make this test flaky.)

    # And every reminder is in the outbox once: one row per room, text and due time.
    app = build_app(load_config(), clock=VirtualClock(until), db_url=db_url)
    try:
        rows = app.db.run_sync(lambda s: s.exec(
            select(OutboxMessage.room_id, OutboxMessage.text, OutboxMessage.created_at)).all())
    finally:
        app.close()
    mine = Counter((room, text, at) for room, text, at in rows if text.startswith(MINE))
    assert sum(mine.values()) == expected
    assert set(mine.values()) == {1}
    # Every message of every area's jobs, too: nothing doubled.
    jobs_rows = Counter(r for r in rows if not r[1].startswith("已"))
    assert max(jobs_rows.values()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_two_processes_share_a_burst(backend: str, request, tmp_path: Path) -> None:
    """200 reminders due at one instant, two processes on the system-clock path, each
    claiming due occurrences in batches (row locks skipped, not waited for, on
    PostgreSQL; one writer at a time on an SQLite file): each reminder once."""
    db_url = request.getfixturevalue("pg_url" if backend == "postgres" else "sqlite_url")
    due = datetime(2019, 6, 4, 9, 0, tzinfo=SHANGHAI)
    app = build_app(load_config(), clock=VirtualClock(START), db_url=db_url)
    try:

        def add(s) -> None:
            s.add(Room(id="r1", transport="memory"))
            s.flush()
            for i in range(200):
                set_oneoff(s, f"burst{i}", "r1", None, f"第{i}条", due, START, "test")

        app.db.run_sync(add)
    finally:
        app.close()
    outs = _run_two(db_url, due, due, tmp_path, "now")
    handled = [(job, d) for out in outs for job, d, outcome in out if outcome != "taken"]
    assert len(handled) == len(set(handled)) >= 200  # (other areas' jobs due then too)
    rows = Counter(_texts(db_url))
    assert len([t for t in rows if t.startswith("【提醒】第")]) == 200
    assert max(rows.values()) == 1


def _texts(db_url: str) -> list[str]:
    app = build_app(load_config(), clock=VirtualClock(START), db_url=db_url)
    try:
        return app.db.run_sync(lambda s: list(s.exec(select(OutboxMessage.text)).all()))
    finally:
        app.close()
