"""`villagebot export notices FILE.xlsx` (or .csv): every notice, and per group who acknowledged
it when. Sheet 通知: one row per notice with its counts; sheet 回执: one row per notice
and group. Times are in the configured zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from bot import tabular
from bot.models.core import OrgUnit, Person, Room
from bot.models.notices import Notice, NoticeTarget
from bot.notices.receipts import percent
from bot.tabular import PERCENT, Sheet

NOTICE_HEADER = ("通知编号", "发布时间", "发布人", "发布人ID", "范围", "内容", "群数", "已确认",
                 "未确认", "确认率%")
RECEIPT_HEADER = ("通知编号", "发布时间", "单位", "级别", "群", "群ID", "确认时间", "确认人",
                  "确认人ID")
_TIME_FORMAT = "yyyy-mm-dd hh:mm"


def _local(t: datetime | None, zone: ZoneInfo) -> datetime | None:
    # Excel has no time zones: the local wall-clock time, naive.
    return t.astimezone(zone).replace(tzinfo=None) if t is not None else None


def export_notices(session: Session, path: str | Path, zone: ZoneInfo,
                   until: datetime | None = None) -> tuple[int, int]:
    """Write the workbook (.xlsx or .csv); returns (notices, receipt rows). With
    `until`: the notices sent up to then, and the acknowledgements made up to then."""
    author = aliased(Person)
    acked_col = col(NoticeTarget.acked_at)
    acked = acked_col if until is None else case((acked_col <= until, acked_col), else_=None)
    q = (
        select(Notice, author, func.count(), func.count(acked))
        .outerjoin(author, col(author.id) == col(Notice.author_id))
        .outerjoin(NoticeTarget, col(NoticeTarget.notice_id) == col(Notice.id))
    )
    if until is not None:
        q = q.where(col(Notice.created_at) <= until)
    counts = session.exec(q.group_by(col(Notice.id), col(author.id)).order_by(col(Notice.id))).all()
    created: dict[int, datetime] = {}
    summary: list[list[Any]] = []
    for n, a, total, done in counts:
        assert n.id is not None
        created[n.id] = n.created_at
        summary.append([
            n.id, _local(n.created_at, zone), a.name if a else "", n.author_id, n.scope,
            n.text, total, done, total - done, percent(done, total),
        ])

    acker = aliased(Person)
    rows = session.exec(
        select(NoticeTarget, Room, OrgUnit, acker)
        .join(Room, col(Room.id) == col(NoticeTarget.room_id))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(NoticeTarget.unit_id))
        .outerjoin(acker, col(acker.id) == col(NoticeTarget.acked_by))
        .order_by(col(NoticeTarget.notice_id), col(OrgUnit.path), col(Room.id))
    )

    def detail() -> Iterator[list[Any]]:
        for t, room, unit, person in rows:
            if t.notice_id not in created:
                continue
            seen = t.acked_at is not None and (until is None or t.acked_at <= until)
            yield [
                t.notice_id, _local(created.get(t.notice_id), zone),
                unit.name if unit else "", unit.level if unit else "", room.topic, room.id,
                _local(t.acked_at, zone) if seen else None,
                person.name if person and seen else "", (t.acked_by or "") if seen else "",
            ]

    at = until or datetime.now(UTC)
    stamp = "截至 " + at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    formats = {"发布时间": _TIME_FORMAT, "确认时间": _TIME_FORMAT, "确认率%": PERCENT}
    n_notices, n_rows = tabular.write_book(Path(path), stamp, [
        Sheet("通知", "通知与回执汇总", NOTICE_HEADER, summary, formats),
        Sheet("回执", "各群回执明细", RECEIPT_HEADER, detail(), formats),
    ])
    return n_notices, n_rows
