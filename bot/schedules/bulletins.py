"""Job kinds of the bulletins (product spec §5, §7): the ranking bulletins to the HQ and
county groups, each with a bar chart of its rankings. The kinds of bulletin (weekly,
monthly …), their timing and what period a run covers come from the registry in
`bot.rankings.kinds`; this module turns each entry into a job kind and a built-in job
seeded by `seed()`.

An occurrence of a bulletin does not build the bulletins itself: it queues one one-off
`bulletin_scope` job per HQ or county unit, keyed by bulletin, period and unit, and
each of those builds and queues one group's bulletin in its own savepoint, so one
scope that fails does not stop the others. Exactly once still holds: the occurrence
runs once (the engine), a key that exists already is never queued again, and each
one-off job runs once.

No chart is drawn in the job's transaction (a drawing takes a few tenths of a second,
and the transaction holds SQLite's write lock): the outbox row keeps the chart's data
(`bot.rankings.chart.Chart`) and the sender draws it after the commit, as for
`#排名`. A chart that cannot be drawn then is logged and the text goes alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlmodel import Session, select

from bot.config import Config
from bot.jobs import LATE_MARK, JobCtx, JobKind, schedule, seed_builtin
from bot.models.core import OrgUnit
from bot.models.jobs import Job
from bot.org import rooms_of
from bot.rankings import (
    KINDS as BULLETINS,
)
from bot.rankings import (
    BulletinKind,
    build_bulletin,
    bulletin_chart_data,
    bulletin_kind,
    bulletin_scopes,
    bulletin_text,
)

SCOPE_KIND = "bulletin_scope"


def _publish(ctx: JobCtx, kind: BulletinKind, period: date, on: date) -> None:
    """Queue one `bulletin_scope` job per scope, due now (each runs once, in order)."""
    s = ctx.session
    payload = {"kind": kind.name, "period": period.isoformat(), "on": on.isoformat(),
               "late": ctx.late}
    for scope in bulletin_scopes(s):
        key = f"bulletin:{kind.name}:{period.isoformat()}:{scope.id}"
        # A key queued already (this period published) is never queued again.
        if s.exec(select(Job.id).where(Job.key == key)).first() is None:
            schedule(s, key, SCOPE_KIND, ctx.now, ctx.now, unit_id=scope.id, payload=payload)


def run_scope(ctx: JobCtx) -> None:
    """One group's bulletin: build (storing the outcome for streaks), word, and queue it
    with its chart's data (drawn at send time)."""
    s, p = ctx.session, ctx.payload
    scope = s.get(OrgUnit, ctx.job.unit_id) if ctx.job.unit_id is not None else None
    if scope is None:
        return
    kind = bulletin_kind(p["kind"])
    period, on = date.fromisoformat(p["period"]), date.fromisoformat(p["on"])
    b = build_bulletin(s, ctx.config, scope, kind, period, on, ctx.now)
    if b is None:
        return
    text = bulletin_text(b)
    if p.get("late") and not ctx.late:
        text += LATE_MARK  # the occurrence that queued it was a 补发
    chart = bulletin_chart_data(b, ctx.config.bot.reply_script == "traditional")
    for room in rooms_of(s, [scope]):
        ctx.send(room.id, text, kind="bulletin", chart=chart)


def _occurrence(kind: BulletinKind) -> JobKind:
    """The job kind of a bulletin's occurrences: publish the period its run covers."""

    def run(ctx: JobCtx) -> None:
        _publish(ctx, kind, *kind.period_of(ctx.due_at, ctx.zone))

    return JobKind(kind.job, run, kind.next_after)


# The scope jobs run once: the engine's default next time.
KINDS = (*(_occurrence(k) for k in BULLETINS), JobKind(SCOPE_KIND, run_scope))


def seed(session: Session, config: Config, now: datetime) -> None:
    """Each bulletin's built-in job, created once. An existing job keeps its next run
    unless the config's timing for it changed."""
    for k in BULLETINS:
        seed_builtin(session, k.key, k.job, k.spec(config), _first_after(k, now, config), now)


def _first_after(kind: BulletinKind, now: datetime, config: Config
                 ) -> Callable[[Job | None], datetime]:
    return lambda job: kind.next_after(job, now, config)
