"""The notices still waiting for acknowledgements, with the time of their next chase
(the dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from bot.models.core import Person
from bot.models.jobs import Job
from bot.models.notices import Notice, NoticeTarget
from bot.notices.chases import job_key
from bot.notices.receipts import percent
from bot.notices.wording import excerpt


@dataclass(frozen=True)
class NoticeSummary:
    """A notice still waiting for acknowledgements."""

    id: int
    created_at: datetime
    author_id: str
    author_name: str
    scope: str
    excerpt: str
    total: int
    acked: int
    next_chase_at: datetime | None  # None: no more chases

    @property
    def missing(self) -> int:
        return self.total - self.acked

    @property
    def percent(self) -> int:
        return percent(self.acked, self.total)


def open_notices(session: Session, now: datetime, days: int = 30) -> list[NoticeSummary]:
    """Notices sent in the `days` before `now` that some group has not acknowledged yet,
    newest first, with their counts and the time of the next chase (None when the chases
    are over)."""
    since = now - timedelta(days=days)
    acked_count = func.count(col(NoticeTarget.acked_at))
    rows = session.exec(
        select(Notice, func.count(), acked_count)
        .join(NoticeTarget, col(NoticeTarget.notice_id) == col(Notice.id))
        .where(col(Notice.created_at) >= since, col(Notice.created_at) <= now)
        .group_by(col(Notice.id))
        .having(acked_count < func.count())
        .order_by(col(Notice.id).desc())
    ).all()
    if not rows:
        return []
    keys = [job_key(n.id) for n, _, _ in rows if n.id is not None]
    jobs = {
        j.key: j
        for j in session.exec(select(Job).where(col(Job.key).in_(keys), col(Job.active).is_(True)))
    }
    authors = {
        p.id: p.name
        for p in session.exec(
            select(Person).where(col(Person.id).in_({n.author_id for n, _, _ in rows}))
        )
    }
    out = []
    for n, total, acked in rows:
        assert n.id is not None
        job = jobs.get(job_key(n.id))
        out.append(
            NoticeSummary(
                id=n.id,
                created_at=n.created_at,
                author_id=n.author_id,
                author_name=authors.get(n.author_id) or n.author_id,
                scope=n.scope,
                excerpt=excerpt(n.text),
                total=int(total),
                acked=int(acked),
                next_chase_at=job.next_at if job else None,
            )
        )
    return out
