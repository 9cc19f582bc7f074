"""The timing layer with the system clock: `start_timer` wakes the engine when a job is
due, notices jobs another process added, and handles missed runs at start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.app import App
from bot.clock import SystemClock
from bot.config import load_config
from bot.jobs.timer import start_timer
from bot.models.core import OutboxMessage, Room
from bot.models.jobs import Job, JobRun
from bot.reminders import ONEOFF, set_oneoff
from bot.wiring import build_app


def _outbox(app: App) -> list[str]:
    return app.db.run_sync(
        lambda s: list(s.exec(select(OutboxMessage.text).order_by(col(OutboxMessage.id))).all())
    )


def _oneoff(app: App, key: str, at: datetime) -> int:
    def add(s) -> int:
        return set_oneoff(s, key, "r1", None, key, at, datetime.now(UTC), "test").id

    return app.db.run_sync(add)


async def _until(cond: Callable[[], bool], seconds: float = 15) -> bool:
    for _ in range(int(seconds / 0.05)):
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


async def test_timer_fires_due_jobs_with_the_system_clock(sqlite_url: str) -> None:
    app = build_app(load_config(), clock=SystemClock(), db_url=sqlite_url)
    now = datetime.now(UTC)
    app.db.run_sync(lambda s: s.add(Room(id="r1", transport="memory")))
    # Down while these fell due: one 10 minutes ago (补发), one 2 hours ago (skipped).
    _oneoff(app, "missed", now - timedelta(minutes=10))
    _oneoff(app, "too_late", now - timedelta(hours=2))
    # Due in a second and a half: the timer must wake for it by itself.
    soon = _oneoff(app, "soon", now + timedelta(seconds=1.5))
    timer = start_timer(app, poll_seconds=0.5)
    try:
        assert await _until(lambda: "【提醒】soon" in _outbox(app))
        assert _outbox(app) == ["【提醒】missed（补发）", "【提醒】soon"]
        run = app.db.run_sync(lambda s: s.exec(select(JobRun).where(JobRun.job_id == soon)).one())
        assert run.outcome == "ran" and run.ran_at >= run.due_at
        # Another process adds a job (no commit hook here): the poll notices it.
        _oneoff(app, "other", datetime.now(UTC) + timedelta(seconds=0.3))
        assert await _until(lambda: "【提醒】other" in _outbox(app))
        outcomes = app.db.run_sync(lambda s: sorted(s.exec(select(JobRun.outcome).join(
            Job, col(Job.id) == col(JobRun.job_id)).where(Job.kind == ONEOFF)).all()))
        assert outcomes == ["late", "ran", "ran", "skipped"]
    finally:
        timer.shutdown()
        app.close()


async def test_timer_rearms_after_a_command_commits(sqlite_url: str) -> None:
    """A reminder set by a command in this process is picked up at once, not at the
    next poll: the commit hook re-reads the next due time."""
    app = build_app(load_config(), clock=SystemClock(), db_url=sqlite_url)
    app.db.run_sync(lambda s: s.add(Room(id="r1", transport="memory")))
    timer = start_timer(app, poll_seconds=3600)
    try:
        assert await _until(lambda: timer.ticks >= 1)  # the start-up run
        at = datetime.now(UTC) + timedelta(seconds=1)
        _oneoff(app, "hooked", at)
        app.on_commit[-1]()  # what App.handle does after a command's commit
        assert await _until(lambda: timer.next_wake() == at), (timer.next_wake(), at)
        assert await _until(lambda: "【提醒】hooked" in _outbox(app))
        assert (
            app.db.run_sync(lambda s: s.exec(select(Job.active).where(Job.key == "hooked")).one())
            is False
        )
    finally:
        timer.shutdown()
        app.close()
    assert timer._on_commit not in app.on_commit
