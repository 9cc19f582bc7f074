"""Chasing notices: one job per notice (`notice:<id>`), created with the notice.

It runs `ack_chase_max` times, `ack_chase_hours` apart (never in the quiet hours: a run
due in them waits for their end), each time reminding the groups that have not said 收到;
one interval after the last chase it tells the author's group which groups are still
missing. Once every group has acknowledged, the job stops.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import col, func, select

from bot import notices
from bot.config import Config
from bot.jobs import JobCtx, JobKind
from bot.models.jobs import Job, JobRun

# The longest list of missing groups in the report to the author.
_MAX_LIST_CHARS = 600


def _times(job: Job, config: Config) -> list[datetime]:
    since = datetime.fromisoformat(json.loads(job.payload or "{}")["since"])
    return notices.chase_times(since, config)


def next_after(job: Job, after: datetime, config: Config) -> datetime | None:
    return next((t for t in _times(job, config) if t > after), None)


def run(ctx: JobCtx) -> None:
    r = notices.receipts(ctx.session, ctx.payload["notice"])
    if r is None or not r.missing:
        return
    notice = r.notice
    assert notice.id is not None
    step = sum(1 for t in _times(ctx.job, ctx.config) if t <= ctx.due_at)  # 1-based
    chases = ctx.config.notices.ack_chase_max
    if step <= chases:
        about = notices.excerpt(notice.text)
        for g in r.missing:
            newest = notices.newest_waiting(ctx.session, g.room_id)
            say = "收到" if newest == notice.id else f"收到 {notice.id}"
            ctx.send(g.room_id, f"【通知 {notice.id}】第{step}次提醒：本群还没有确认收到。内容："
                                f"{about} — 请回复\"{say}\"")  # fmt: skip
    elif notice.author_room_id is not None:
        names = notices.join_capped(notices.group_labels(r.missing), _MAX_LIST_CHARS)
        done = _chases_sent(ctx)
        said = f"已提醒{done}次，" if done else ""
        ctx.send(notice.author_room_id,
                 f"通知 {notice.id} {said}仍有 {len(r.missing)}/{r.total} 个群未回复"
                 f"\"收到\"：{names}")  # fmt: skip


def _chases_sent(ctx: JobCtx) -> int:
    """Chases that went out (one missed while the bot was down does not count)."""
    return int(
        ctx.session.exec(
            select(func.count())
            .select_from(JobRun)
            .where(
                JobRun.job_id == ctx.job.id,
                col(JobRun.due_at) < ctx.due_at,
                col(JobRun.outcome).in_(("ran", "late")),
            )
        ).one()
    )


KINDS = (JobKind(notices.CHASE_KIND, run, next_after),)
