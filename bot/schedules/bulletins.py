"""Job kinds of the bulletins (PRODUCT.md §5, §7): weekly and monthly ranking bulletins
to the HQ and county groups, each with a bar chart of its rankings.

Both are built-in singletons seeded by `seed()`:
- `bulletin_weekly` at `schedules.weekly_bulletin` (周一 08:30): the rankings measured
  on that day; with `holidays`, a holiday moves it to the next working day of the same
  week (a make-up Saturday included); a week without one has no bulletin.
- `bulletin_monthly` on `monthly_bulletin_day` at `monthly_bulletin_time` (the 1st,
  09:00; a holiday moves it to the next working day): the previous month's rankings,
  measured on its last day, the units that must explain themselves at the monthly
  meeting, and the villages' points activity in that month.

An occurrence of either does not draw the bulletins itself: it queues one one-off
`bulletin_scope` job per HQ or county unit, keyed by bulletin, period and unit, and
each of those builds, draws and sends one group's bulletin in its own transaction.
Drawing a chart takes a few tenths of a second, so the write lock (SQLite) is held for
one chart at a time rather than for all of them, and one scope that fails does not
stop the others. Exactly once still holds: the occurrence runs once (the engine), a
key that exists already is never queued again, and each one-off job runs once.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from bot.calendar import next_monthly, next_weekly, week_start
from bot.chart import ChartError
from bot.config import Config, parse_hhmm, parse_weekly
from bot.jobs import LATE_MARK, JobCtx, JobKind, upsert_job
from bot.models.core import OrgUnit
from bot.models.jobs import Job
from bot.models.rankings import MONTH, WEEK
from bot.org import rooms_of
from bot.rankings import build_bulletin, bulletin_chart, bulletin_scopes, bulletin_text

log = logging.getLogger(__name__)

WEEKLY_KEY = "builtin:bulletin_weekly"
MONTHLY_KEY = "builtin:bulletin_monthly"
SCOPE_KIND = "bulletin_scope"


def _weekly_next(job: Job | None, after: datetime, config: Config) -> datetime:
    weekday, at = parse_weekly(config.schedules.weekly_bulletin)
    return next_weekly(after, weekday, at, config.zone, workdays=config.schedules.holidays,
                       shift="later")  # fmt: skip


def _monthly_next(job: Job | None, after: datetime, config: Config) -> datetime:
    s = config.schedules
    return next_monthly(after, s.monthly_bulletin_day, parse_hhmm(s.monthly_bulletin_time),
                        config.zone, workdays=s.holidays, shift="later")  # fmt: skip


def _publish(ctx: JobCtx, kind: str, period: date, on: date) -> None:
    """Queue one `bulletin_scope` job per scope, due now (each runs once, in order)."""
    s = ctx.session
    payload = {"kind": kind, "period": period.isoformat(), "on": on.isoformat(),
               "late": ctx.late}  # fmt: skip
    for scope in bulletin_scopes(s):
        key = f"bulletin:{kind}:{period.isoformat()}:{scope.id}"
        if s.exec(select(Job.id).where(Job.key == key)).first() is None:
            upsert_job(s, key, SCOPE_KIND, ctx.now, ctx.now, unit_id=scope.id, payload=payload)


def run_scope(ctx: JobCtx) -> None:
    """One group's bulletin: build (storing the outcome for streaks), draw, send."""
    s, p = ctx.session, ctx.payload
    scope = s.get(OrgUnit, ctx.job.unit_id) if ctx.job.unit_id is not None else None
    if scope is None:
        return
    kind, period, on = p["kind"], date.fromisoformat(p["period"]), date.fromisoformat(p["on"])
    b = build_bulletin(s, ctx.config, scope, kind, period, on, ctx.now)
    if b is None:
        return
    text = bulletin_text(s, b)
    if p.get("late") and not ctx.late:
        text += LATE_MARK  # the occurrence that queued it was a 补发
    try:
        png: bytes | None = bulletin_chart(b, ctx.config.bot.reply_script == "traditional")
    except ChartError:
        log.exception("bulletin chart for %s not drawn", scope.name)
        png = None
    for room in rooms_of(s, [scope]):
        ctx.send(room.id, text, kind="bulletin", image=png)


def _once(job: Job, after: datetime, config: Config) -> datetime | None:
    return None


def run_weekly(ctx: JobCtx) -> None:
    due = ctx.local(ctx.due_at)
    _publish(ctx, WEEK, week_start(ctx.due_at, ctx.zone).date(), due.date())


def run_monthly(ctx: JobCtx) -> None:
    # The month before the one the bulletin runs in, measured on its last day.
    first_this = ctx.local(ctx.due_at).date().replace(day=1)
    last = first_this - timedelta(days=1)
    _publish(ctx, MONTH, last.replace(day=1), last)


KINDS = (
    JobKind("bulletin_weekly", run_weekly, _weekly_next),
    JobKind("bulletin_monthly", run_monthly, _monthly_next),
    JobKind(SCOPE_KIND, run_scope, _once),
)


def seed(session: Session, config: Config, now: datetime) -> None:
    """The two built-in jobs, created once. An existing job keeps its next run unless
    the config's timing for it changed."""
    s = config.schedules
    specs = (
        (WEEKLY_KEY, "bulletin_weekly", f"{s.weekly_bulletin}|{s.holidays}", _weekly_next),
        (MONTHLY_KEY, "bulletin_monthly",
         f"{s.monthly_bulletin_day}|{s.monthly_bulletin_time}|{s.holidays}", _monthly_next),
    )  # fmt: skip
    for key, kind, spec, nxt in specs:
        job = session.exec(select(Job).where(Job.key == key)).first()
        if job is not None and job.active and json.loads(job.payload or "{}").get("spec") == spec:
            continue
        upsert_job(session, key, kind, nxt(job, now, config), now, payload={"spec": spec})
