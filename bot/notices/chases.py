"""Chasing a notice: one job per notice (`notice:<id>`, kind `notice_chase`, run by
`bot/schedules/notices.py`), scheduled when the notice is sent and cancelled once every
group has acknowledged. It runs `ack_chase_max` times, then reports to the author."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.calendar import after_quiet_hours
from bot.config import Config
from bot.jobs import cancel, schedule
from bot.notices.receipts import Receipt, newest_waiting, receipts

# The job kind that chases a notice (bot/schedules/notices.py).
CHASE_KIND = "notice_chase"


def job_key(notice_id: int) -> str:
    return f"notice:{notice_id}"


def chase_times(since: datetime, config: Config) -> list[datetime]:
    """When a notice's job runs: `ack_chase_max` chases, then the report to the author.

    Each comes `ack_chase_hours` after the one before (the first after the notice);
    one that falls in the quiet hours waits for their end, and the next counts from it.
    """
    step = timedelta(hours=config.notices.ack_chase_hours)
    out: list[datetime] = []
    t = since
    for _ in range(config.notices.ack_chase_max + 1):
        t = after_quiet_hours(t + step, config)
        out.append(t)
    return out


def schedule_chases(session: Session, notice_id: int, room_id: str | None, unit_id: int | None,
                    author_id: str, now: datetime, config: Config) -> None:
    """The notice's chase job, first due one interval after `now` (none when the config
    turns chases off)."""
    if config.notices.ack_chase_max <= 0:
        return
    schedule(session, job_key(notice_id), CHASE_KIND, chase_times(now, config)[0], now,
             room_id=room_id, unit_id=unit_id, created_by=author_id,
             payload={"notice": notice_id, "since": now.isoformat()})


def stop_chases(session: Session, notice_id: int) -> None:
    """Everyone has it: no more chases."""
    cancel(session, job_key(notice_id))


@dataclass(frozen=True)
class ChaseGroup:
    room_id: str
    # A plain 收到 there acknowledges this notice (it is the newest one waiting).
    bare: bool


@dataclass(frozen=True)
class DueChase:
    """What one run of a notice's chase job does: chase the missing groups (`step` ≤ the
    number of chases) or report them to the author's group."""

    receipt: Receipt
    step: int  # 1-based
    report: bool
    groups: tuple[ChaseGroup, ...]


def due_chase(session: Session, notice_id: int, since: datetime, due_at: datetime,
              config: Config) -> DueChase | None:
    """The chase due at `due_at`; None when there is nothing to do (no such notice, or
    every group has acknowledged)."""
    r = receipts(session, notice_id)
    if r is None or not r.missing:
        return None
    step = sum(1 for t in chase_times(since, config) if t <= due_at)
    if step > config.notices.ack_chase_max:
        return DueChase(r, step, True, ())
    groups = tuple(ChaseGroup(g.room_id, newest_waiting(session, g.room_id) == notice_id)
                   for g in r.missing)
    return DueChase(r, step, False, groups)
