"""The job engine on real databases: lateness rules, coalescing, one broken job not
blocking the others, never running an occurrence twice, and seeding from two sessions."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, func, select

from bot.clock import VirtualClock
from bot.config import load_config
from bot.jobs import (
    ON_TIME,
    JobCtx,
    JobKind,
    cancel,
    classify,
    next_due_at,
    once,
    run_due_sync,
    schedule,
    upsert_job,
)
from bot.models.core import OutboxMessage, Room
from bot.models.jobs import Job, JobRun
from bot.wiring import build_app
from tests.conftest import START

HOUR = timedelta(hours=1)


def hourly(job: Job, after: datetime, config) -> datetime:
    """Every hour on the hour."""
    return after.replace(minute=0, second=0, microsecond=0) + HOUR


def say_due(ctx: JobCtx) -> None:
    assert ctx.job.room_id is not None
    ctx.send(ctx.job.room_id, f"{ctx.job.key} {ctx.local():%d %H:%M}")


def explode(ctx: JobCtx) -> None:
    ctx.send("r1", "half-written")  # must not survive the failure
    raise RuntimeError("boom")


def bad_timing(job: Job, after: datetime, config) -> datetime:
    raise KeyError("weekday")  # e.g. a payload written by an older version


def retime_h(ctx: JobCtx) -> None:
    """Re-times job "h" (which may have run earlier in the same batch)."""
    schedule(ctx.session, "h", "hourly", START + 5 * HOUR, ctx.now, room_id="r1")


def to_nowhere(ctx: JobCtx) -> None:
    ctx.send("no_such_room", "lost")


KINDS = [JobKind("hourly", say_due, hourly), JobKind("broken", explode, hourly),
         JobKind("retime", retime_h), JobKind("nowhere", to_nowhere),
         JobKind("once", say_due, lambda job, after, config: None),
         JobKind("bad_timing", say_due, bad_timing), JobKind("oneoff", say_due)]


@pytest.fixture
def engine_app(db_url: str, clock: VirtualClock):
    app = build_app(load_config(), clock=clock, db_url=db_url, kinds=KINDS)
    app.db.run_sync(lambda s: s.add(Room(id="r1", transport="memory")))
    yield app
    app.close()


def add(app, key: str, kind: str, at: datetime) -> int:
    return app.db.run_sync(lambda s: upsert_job(s, key, kind, at, START, room_id="r1").id)


def outbox(app) -> list[str]:
    return app.db.run_sync(
        lambda s: list(s.exec(select(OutboxMessage.text).order_by(col(OutboxMessage.id))).all())
    )


def runs(app) -> list[tuple[int, datetime, str]]:
    return app.db.run_sync(lambda s: [(r.job_id, r.due_at, r.outcome) for r in s.exec(
        select(JobRun).order_by(col(JobRun.id))).all()])


def test_classify_boundaries() -> None:
    grace = timedelta(minutes=60)
    assert classify(timedelta(0), grace) == "ran"
    assert classify(ON_TIME, grace) == "ran"
    assert classify(ON_TIME + timedelta(seconds=1), grace) == "late"
    assert classify(grace - timedelta(seconds=1), grace) == "late"
    assert classify(grace, grace) == "skipped"  # "less than the grace" is sent; not equal
    # A grace of 0 means no 补发 at all, yet a run a few seconds late is still on time.
    assert classify(timedelta(seconds=5), timedelta(0)) == "ran"
    assert classify(timedelta(minutes=2), timedelta(0)) == "skipped"


def test_on_time_late_and_skipped(engine_app, clock) -> None:
    app = engine_app
    a = add(app, "a", "once", START + HOUR)
    b = add(app, "b", "once", START + 2 * HOUR)
    c = add(app, "c", "once", START + 3 * HOUR)
    # The virtual clock moves to each due time: on time.
    run_due_sync(app, START + HOUR, advance=clock.set)
    # The bot was down: b is 59 minutes late (补发), c at 13:00 is still in the future.
    clock.set(START + 2 * HOUR + timedelta(minutes=59))
    run_due_sync(app, clock.now())
    # Down again: c is exactly the grace late: skipped and logged.
    clock.set(START + 4 * HOUR)
    run_due_sync(app, clock.now())
    assert outbox(app) == ["a 03 10:00", "b 03 11:00（补发）"]
    assert [(j, o) for j, _, o in runs(app)] == [(a, "ran"), (b, "late"), (c, "skipped")]


def test_missed_occurrences_coalesce_into_the_newest(engine_app, clock, caplog) -> None:
    app = engine_app
    job = add(app, "h", "hourly", START + HOUR)
    # Down from 10:00 until 15:30: 10, 11, 12, 13, 14 are superseded by 15:00 (补发).
    clock.set(START + timedelta(hours=6, minutes=30))
    with caplog.at_level(logging.WARNING, logger="bot.jobs"):
        results = run_due_sync(app, clock.now())
    assert [(r.due_at, r.outcome) for r in results] == [(START + 6 * HOUR, "late")]
    assert outbox(app) == ["h 03 15:00（补发）"]
    assert sum("superseded" in r.message for r in caplog.records) == 5
    # Then on as usual: 16:00 on time, and 15:00 is never handled again.
    run_due_sync(app, START + 7 * HOUR, advance=clock.set)
    assert outbox(app) == ["h 03 15:00（补发）", "h 03 16:00"]
    assert len({(j, d) for j, d, _ in runs(app)}) == len(runs(app)) == 2
    nxt = app.db.run_sync(lambda s: s.get(Job, job).next_at)
    assert nxt == START + 8 * HOUR


def test_a_failing_kind_does_not_block_the_others(engine_app, clock, caplog) -> None:
    app = engine_app
    bad = add(app, "bad", "broken", START + HOUR)
    add(app, "good", "hourly", START + HOUR)
    with caplog.at_level(logging.ERROR, logger="bot.jobs"):
        run_due_sync(app, START + 2 * HOUR, advance=clock.set)
    assert outbox(app) == ["good 03 10:00", "good 03 11:00"]  # nothing half-written
    assert [o for j, _, o in runs(app) if j == bad] == ["failed", "failed"]
    assert "boom" in caplog.text
    assert app.db.run_sync(lambda s: s.get(Job, bad).next_at) == START + 3 * HOUR


def test_a_job_that_cannot_be_timed_is_switched_off(engine_app, clock, caplog) -> None:
    """An error outside the kind's run (its timing, its data) must not block the queue:
    the job is switched off with an error in the log, and the others run."""
    app = engine_app
    bad = add(app, "bad", "bad_timing", START + HOUR)
    add(app, "x", "once", START + HOUR)
    add(app, "y", "once", START + 2 * HOUR)
    with caplog.at_level(logging.ERROR):
        run_due_sync(app, START + 2 * HOUR, advance=clock.set)
    assert outbox(app) == ["x 03 10:00", "y 03 11:00"]
    assert app.db.run_sync(lambda s: s.get(Job, bad).active) is False
    assert "switched off" in caplog.text
    assert [j for j, _, _ in runs(app)].count(bad) == 0  # nothing half-recorded


def test_unknown_kind_is_deactivated(engine_app, clock, caplog) -> None:
    app = engine_app
    gone = add(app, "gone", "no_such_kind", START + HOUR)
    add(app, "x", "once", START + HOUR)
    with caplog.at_level(logging.ERROR, logger="bot.jobs"):
        run_due_sync(app, START + 2 * HOUR, advance=clock.set)
    assert outbox(app) == ["x 03 10:00"]
    assert app.db.run_sync(lambda s: s.get(Job, gone).active) is False
    assert "unknown kind" in caplog.text


def test_a_job_moved_back_onto_a_handled_time_is_not_rerun(engine_app, clock) -> None:
    app = engine_app
    job = add(app, "h", "hourly", START + HOUR)
    run_due_sync(app, START + HOUR, advance=clock.set)
    # Someone sets the job back onto 10:00, which already ran.
    app.db.run_sync(lambda s: upsert_job(s, "h", "hourly", START + HOUR, clock.now(), room_id="r1"))
    results = run_due_sync(app, START + HOUR + timedelta(minutes=30))
    assert [r.outcome for r in results] == ["taken"]
    assert outbox(app) == ["h 03 10:00"]
    assert app.db.run_sync(lambda s: s.get(Job, job).next_at) == START + 2 * HOUR


def test_a_kind_without_next_after_runs_once(engine_app, clock) -> None:
    app = engine_app
    assert KINDS[-1].next_after is once
    job = app.db.run_sync(lambda s: schedule(s, "o", "oneoff", START + HOUR, START, room_id="r1").id)
    app.db.run_sync(lambda s: schedule(s, "c", "oneoff", START + HOUR, START, room_id="r1"))
    assert app.db.run_sync(lambda s: cancel(s, "c")) is True
    assert app.db.run_sync(lambda s: cancel(s, "c")) is False  # already off
    results = run_due_sync(app, START + 3 * HOUR, advance=clock.set)
    assert [(r.job_id, r.outcome) for r in results] == [(job, "ran")]
    assert outbox(app) == ["o 03 10:00"]
    assert app.db.run_sync(lambda s: s.get(Job, job).active) is False


def test_duplicate_kind_names_are_refused(db_url: str, clock: VirtualClock) -> None:
    with pytest.raises(ValueError, match="declared twice"):
        build_app(load_config(), clock=clock, db_url=db_url, kinds=[*KINDS, KINDS[0]])


def test_upsert_keep_missed_and_payload(engine_app, clock) -> None:
    app = engine_app

    def up(at: datetime, now: datetime, **kw):
        return app.db.run_sync(
            lambda s: upsert_job(s, "k", "hourly", at, now, room_id="r1", **kw).next_at
        )

    assert up(START + HOUR, START, payload={"n": 1}) == START + HOUR
    # Not yet due: a seed with a new time moves it (the config changed).
    assert up(START + 2 * HOUR, START, keep_missed=True) == START + 2 * HOUR
    # Already due (missed while down): the seed leaves it for the engine's rules.
    later = START + 3 * HOUR
    assert up(START + 5 * HOUR, later, keep_missed=True) == START + 2 * HOUR
    assert up(START + 5 * HOUR, later) == START + 5 * HOUR
    payload = app.db.run_sync(lambda s: s.exec(select(Job.payload).where(Job.key == "k")).one())
    assert payload == '{"n": 1}'  # payload=None keeps it


@pytest.mark.postgres
def test_two_sessions_seed_the_same_key_at_once(pg_url: str, clock: VirtualClock) -> None:
    """Two processes starting together both seed the built-ins: one job, no error."""
    app = build_app(load_config(), clock=clock, db_url=pg_url, kinds=KINDS)
    try:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def seed() -> None:
            try:
                with app.db.transaction() as s:
                    s.exec(select(func.count()).select_from(Job)).one()
                    barrier.wait()
                    upsert_job(s, "builtin:race", "hourly", START + HOUR, START)
                    # Hold the transaction a moment so that both inserts overlap.
                    threading.Event().wait(0.2)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=seed) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        keys = app.db.run_sync(
            lambda s: s.exec(select(Job.key).where(Job.key == "builtin:race")).all()
        )
        assert keys == ["builtin:race"]
    finally:
        app.close()


def test_a_poisoned_job_in_a_batch_does_not_block_the_others(engine_app, clock, caplog) -> None:
    """Jobs due at one instant are claimed and run in one batch (one transaction, a
    savepoint each), on the system-clock path: a job whose timing cannot be computed is
    rolled back and switched off, a failing kind is recorded as failed with nothing
    half-written, and every other job of the batch runs once."""
    app = engine_app
    at = START + HOUR
    before = [add(app, f"a{i}", "oneoff", at) for i in range(3)]
    poisoned = add(app, "p", "bad_timing", at)
    failing = add(app, "f", "broken", at)
    after = [add(app, f"b{i}", "oneoff", at) for i in range(3)]
    clock.set(at)
    with caplog.at_level(logging.ERROR):
        results = run_due_sync(app, at)
    good = before + after
    assert sorted((r.job_id, r.outcome) for r in results) == sorted(
        [(j, "ran") for j in good] + [(failing, "failed")])
    assert outbox(app) == [f"{k} 03 10:00" for k in ("a0", "a1", "a2", "b0", "b1", "b2")]
    assert sorted((j, o) for j, _, o in runs(app)) == sorted(
        [(j, "ran") for j in good] + [(failing, "failed")])  # nothing of the poisoned one
    assert app.db.run_sync(lambda s: s.get(Job, poisoned).active) is False
    assert app.db.run_sync(lambda s: s.get(Job, failing).next_at) == START + 2 * HOUR
    assert "switched off" in caplog.text and "boom" in caplog.text
    # The failing job is retried at its next time, as before batching; nothing re-runs.
    clock.set(START + 2 * HOUR)
    again = run_due_sync(app, clock.now())
    assert [(r.job_id, r.outcome) for r in again] == [(failing, "failed")]
    assert len(outbox(app)) == 6


def test_a_burst_larger_than_a_batch_runs_each_once(engine_app, clock) -> None:
    from bot.jobs.loop import BATCH

    app = engine_app
    at = START + HOUR
    n = BATCH * 2 + 7
    app.db.run_sync(lambda s: [upsert_job(s, f"k{i}", "oneoff", at, START, room_id="r1")
                               for i in range(n)])
    clock.set(at)
    results = run_due_sync(app, at)
    assert len(results) == len({r.job_id for r in results}) == n
    # The loop reports the next due time (the built-in jobs') from its last read.
    assert results.next_at == app.db.run_sync(next_due_at) > at
    assert len(outbox(app)) == n


def test_a_job_re_timed_later_in_its_batch_keeps_the_new_time(engine_app, clock) -> None:
    """A batch writes its jobs' next times at its end: a job re-timed by another
    occurrence of the same batch, after its own ran, keeps that later change."""
    app = engine_app
    at = START + HOUR
    h = add(app, "h", "hourly", at)
    add(app, "r", "retime", at)
    clock.set(at)
    results = run_due_sync(app, at)
    assert [r.outcome for r in results] == ["ran", "ran"]
    assert outbox(app) == ["h 03 10:00"]
    job = app.db.run_sync(lambda s: s.get(Job, h))
    assert (job.next_at, job.active) == (START + 5 * HOUR, True)


def test_a_message_to_an_unknown_room_fails_its_occurrence_only(engine_app, clock,
                                                                 caplog) -> None:
    """Messages are put in the outbox when the batch ends, but what would be refused
    then is refused in the occurrence: it fails alone, the batch goes on."""
    app = engine_app
    at = START + HOUR
    lost = add(app, "n", "nowhere", at)
    ok = add(app, "a", "oneoff", at)
    clock.set(at)
    with caplog.at_level(logging.ERROR, logger="bot.jobs"):
        results = run_due_sync(app, at)
    assert sorted((r.job_id, r.outcome) for r in results) == sorted(
        [(lost, "failed"), (ok, "ran")])
    assert outbox(app) == ["a 03 10:00"]
    assert "unknown room" in caplog.text
