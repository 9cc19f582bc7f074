"""The job kind that chases a notice (`notice:<id>`, scheduled when the notice is sent,
see `bot/notices/chases.py`).

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
from bot.notices import wording


def _since(job: Job) -> datetime:
    return datetime.fromisoformat(json.loads(job.payload or "{}")["since"])


def next_after(job: Job, after: datetime, config: Config) -> datetime | None:
    return next((t for t in notices.chase_times(_since(job), config) if t > after), None)


def run(ctx: JobCtx) -> None:
    due = notices.due_chase(ctx.session, ctx.payload["notice"], _since(ctx.job), ctx.due_at,
                            ctx.config)
    if due is None:
        return
    notice = due.receipt.notice
    assert notice.id is not None
    if not due.report:
        for g in due.groups:
            ctx.send(g.room_id, wording.chase_text(notice.id, due.step, notice.text, g.bare))
    elif notice.author_room_id is not None:
        ctx.send(notice.author_room_id, wording.report_text(due.receipt, _chases_sent(ctx)))


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
