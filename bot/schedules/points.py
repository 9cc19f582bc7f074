"""Job kinds of the points area: the weekly 公示 in every village group, and the
expiry of awards nobody confirmed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.calendar import next_weekly, week_start
from bot.config import Config, parse_weekly
from bot.jobs import JobCtx, JobKind, upsert_job
from bot.models.core import Household, OrgUnit
from bot.models.jobs import Job
from bot.org import rooms_of
from bot.points import (
    EXPIRY_KIND,
    PUBLICITY_KEY,
    PUBLICITY_KIND,
    day_text,
    entry_line,
    expire,
    reversals_of,
    signed,
    week_entries,
    what,
)

MAX_CHARS = 1500  # one message; a longer week is split into numbered parts


def _publicity_next(job: Job, after: datetime, config: Config) -> datetime | None:
    weekday, at = parse_weekly(config.schedules.publicity)
    return next_weekly(after, weekday, at, config.zone)


def run_publicity(ctx: JobCtx) -> None:
    """Post the week's ledger entries in each village's groups, so that every household
    sees them and can object. A village without entries this week gets nothing.

    The job remembers the last entry it published, so an entry written in the very
    second of a run (or during a run missed while the bot was down) is shown next time.
    """
    end = ctx.due_at
    start = (end.astimezone(ctx.zone) - timedelta(days=7)).astimezone(end.tzinfo)
    expiry = timedelta(hours=ctx.config.points.pending_expiry_hours)
    payload = ctx.payload
    last = payload.get("last_id")
    by_village = week_entries(ctx.session, start, end, int(last) if last is not None else None)
    newest = max((e.id or 0 for rows in by_village.values() for e, _ in rows), default=None)
    if newest is not None or last is None:
        ctx.set_payload({**payload, "last_id": max(newest or 0, int(last or 0))})
    for village_id, rows in by_village.items():
        village = ctx.session.get(OrgUnit, village_id)
        rooms = rooms_of(ctx.session, [village]) if village else []
        if not rooms or village is None:
            continue
        reversed_by = reversals_of(ctx.session, [e.id for e, _ in rows])
        first = min(week_start(end - timedelta(seconds=1), ctx.zone), rows[0][0].created_at)
        first_day = day_text(first, ctx.zone)
        head = f"【积分公示】{village.name} {first_day}—{day_text(end, ctx.zone)}，共{len(rows)}条："
        lines = [entry_line(e, ctx.now, ctx.zone, expiry, household=name,
                            reversed_by=reversed_by.get(e.id or 0)) for e, name in rows]  # fmt: skip
        foot = "如有异议，请在本群发送：#异议 编号 理由"
        for text in _parts(head, lines, foot):
            for room in rooms:
                ctx.send(room.id, text, kind="notice")


def _parts(head: str, lines: list[str], foot: str) -> list[str]:
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) + 1 > MAX_CHARS - len(head) - len(foot) - 10:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    n = len(parts)
    out = []
    for i, body in enumerate(parts, start=1):
        h = head if n == 1 else f"{head}（{i}/{n}）"
        out.append("\n".join([h, *body, *([foot] if i == n else [])]))
    return out


def run_expiry(ctx: JobCtx) -> None:
    """An award nobody confirmed in time: mark it expired and tell the village group."""
    entry_id = int(ctx.payload.get("entry", 0))
    entry = expire(ctx.session, entry_id, ctx.now)
    if entry is None:
        return
    village = ctx.session.get(OrgUnit, entry.unit_id)
    household = ctx.session.get(Household, entry.household_id)
    hours = ctx.config.points.pending_expiry_hours
    text = (f"第{entry.id}条加分（{household.name if household else ''} {signed(entry.delta)} "
            f"{what(entry)}）{hours}小时内没有第二位评议员确认，已作废。")  # fmt: skip
    for room in rooms_of(ctx.session, [village] if village else []):
        ctx.send(room.id, text)


def _once(job: Job, after: datetime, config: Config) -> datetime | None:
    return None


KINDS = (
    JobKind(PUBLICITY_KIND, run_publicity, _publicity_next),
    JobKind(EXPIRY_KIND, run_expiry, _once),
)


def seed(session: Session, config: Config, now: datetime) -> None:
    """The weekly 公示 job, once. Its time moves only when the configured time changes."""
    spec = config.schedules.publicity
    job = session.exec(select(Job).where(Job.key == PUBLICITY_KEY)).first()
    if job is not None and job.active and json.loads(job.payload or "{}").get("at") == spec:
        return
    weekday, at = parse_weekly(spec)
    upsert_job(session, PUBLICITY_KEY, PUBLICITY_KIND, next_weekly(now, weekday, at, config.zone),
               now, payload={"at": spec})  # fmt: skip
