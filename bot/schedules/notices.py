"""The job kinds of notices: a notice set for later (#通知 … 定时, see
`bot/notices/sending.py`), and the chases of a notice (`notice:<id>`, scheduled when
the notice is sent, see `bot/notices/chases.py`).

A scheduled notice runs once (the engine's default): it calls `send_notice` with the
author's id, so the author's authority and the scope are checked again at that time;
what stops it is told to the author's group.

It runs `ack_chase_max` times, `ack_chase_hours` apart (never in the quiet hours: a run
due in them waits for their end), each time reminding the groups that have not said 收到
and @-ing there the people of the audience who have not (a group chased less than
`ack_chase_hours` ago is left for the next run); one interval after the last chase it
tells the author's group which groups (and people) are still missing. Once every group
has acknowledged, the job stops.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import col, func, select

from bot import notices
from bot.config import Config
from bot.jobs import JobCtx, JobKind
from bot.models.core import OrgUnit
from bot.models.jobs import Job, JobRun
from bot.notices import wording
from bot.reminders import NOTICE
from bot.reminders import wording as reminder_wording


def _since(job: Job) -> datetime:
    return datetime.fromisoformat(json.loads(job.payload or "{}")["since"])


def next_after(job: Job, after: datetime, config: Config) -> datetime | None:
    return next((t for t in notices.chase_times(_since(job), config) if t > after), None)


def run(ctx: JobCtx) -> None:
    due = notices.due_chase(ctx.session, ctx.payload["notice"], _since(ctx.job), ctx.due_at,
                            ctx.config, ctx.now)
    if due is None:
        return
    notice = due.receipt.notice
    assert notice.id is not None
    if not due.report:
        for g in due.groups:
            text = wording.chase_text(notice.id, due.step, notice.text, g.bare, g.names)
            ctx.writer.put(ctx.session, ctx.mark(text), room_id=g.room_id, kind="reminder",
                           mentions=g.mentions)
        notices.mark_chased(ctx.session, notice.id, [g.room_id for g in due.groups], ctx.now)
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


def _why(e: notices.NoticeError, ctx: JobCtx) -> str:
    if isinstance(e, notices.NotAllowed):
        return wording.not_allowed(e.what, e.allowed)
    if isinstance(e, notices.NoTargets):
        return wording.no_targets(e.scope)
    if isinstance(e, notices.AlreadySent):
        n = e.notice
        assert n.id is not None
        return wording.already_sent(n.id, n.scope, n.created_at, ctx.zone)
    if isinstance(e, notices.TooLong):
        return wording.too_long(e.parts, e.max_parts)
    return str(e)


def run_scheduled(ctx: JobCtx) -> None:
    p = ctx.payload
    room_id = ctx.job.room_id
    assert room_id is not None and ctx.job.unit_id is not None
    here = ctx.session.get(OrgUnit, ctx.job.unit_id)
    if here is None:
        ctx.send(room_id, reminder_wording.notice_failed_note(p["no"], "本群的单位已不存在"))
        return
    try:
        with ctx.session.begin_nested():  # a refusal leaves nothing half-written
            sent = notices.send_notice(ctx.session, p["author"], here, room_id, p["words"],
                                       p["text"], ctx.now, ctx.config, p.get("msg"),
                                       bool(p.get("everyone")))
    except notices.NoticeError as e:
        ctx.send(room_id, reminder_wording.notice_failed_note(p["no"], _why(e, ctx)))
        return
    ctx.send(room_id, reminder_wording.notice_sent_note(p["no"], wording.sent_reply(sent)))
    for target, parts in sent.deliveries:
        for i, part in enumerate(parts):
            # The first part @s the group's audience.
            ctx.writer.put(ctx.session, ctx.mark(part), room_id=target, kind="notice",
                           mentions=sent.mentions.get(target, ()) if i == 0 else ())


KINDS = (JobKind(notices.CHASE_KIND, run, next_after), JobKind(NOTICE, run_scheduled))
