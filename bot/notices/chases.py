"""Chasing a notice: one job per notice (`notice:<id>`, kind `notice_chase`, run by
`bot/schedules/notices.py`), scheduled when the notice is sent and cancelled once every
group has acknowledged. It runs `ack_chase_max` times, then reports to the author.

A chase @s the people of a group's audience who have not acknowledged (where anyone
may answer, nobody in particular). A group is never chased twice for one notice within
`ack_chase_hours` (`NoticeTarget.chased_at`): runs caught up after an outage, or a
chase re-run, would otherwise reach it several times in a few minutes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.calendar import after_quiet_hours
from bot.config import Config
from bot.jobs import cancel, schedule
from bot.models.notices import NoticeTarget
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
    # The audience still missing there: names, and the contact ids the chase @s (none
    # where anyone may answer).
    names: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True)
class DueChase:
    """What one run of a notice's chase job does: chase the missing groups (`step` ≤ the
    number of chases) or report them to the author's group."""

    receipt: Receipt
    step: int  # 1-based
    report: bool
    groups: tuple[ChaseGroup, ...]


def due_chase(session: Session, notice_id: int, since: datetime, due_at: datetime,
              config: Config, now: datetime | None = None) -> DueChase | None:
    """The chase due at `due_at` (run at `now`); None when there is nothing to do (no
    such notice, or every group has acknowledged). Groups chased less than
    `ack_chase_hours` before `now` are left out this time."""
    r = receipts(session, notice_id)
    if r is None or not r.missing:
        return None
    step = sum(1 for t in chase_times(since, config) if t <= due_at)
    if step > config.notices.ack_chase_max:
        return DueChase(r, step, True, ())
    spacing = timedelta(hours=config.notices.ack_chase_hours)
    recent = _chased_since(session, notice_id, (now or due_at) - spacing)
    groups = tuple(
        ChaseGroup(g.room_id, newest_waiting(session, g.room_id) == notice_id,
                   g.missing_names, g.missing_ids)
        for g in r.missing if g.room_id not in recent
    )
    return DueChase(r, step, False, groups)


def _chased_since(session: Session, notice_id: int, since: datetime) -> set[str]:
    rows = session.exec(
        select(NoticeTarget.room_id).where(NoticeTarget.notice_id == notice_id,
                                           col(NoticeTarget.chased_at) > since)
    ).all()
    return set(rows)


def mark_chased(session: Session, notice_id: int, room_ids: Sequence[str],
                now: datetime) -> None:
    """These groups were chased now (the next chase waits `ack_chase_hours`)."""
    if room_ids:
        session.execute(
            update(NoticeTarget)
            .where(col(NoticeTarget.notice_id) == notice_id,
                   col(NoticeTarget.room_id).in_(list(room_ids)))
            .values(chased_at=now)
        )
