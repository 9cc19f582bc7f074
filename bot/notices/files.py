"""`villagebot export notices FILE.xlsx`: every notice, and per group who acknowledged
it when. Sheet 通知: one row per notice with its counts; sheet 回执: one row per notice
and group. Times are in the configured zone."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from bot.models.core import OrgUnit, Person, Room
from bot.models.notices import Notice, NoticeTarget
from bot.notices.receipts import percent

NOTICE_HEADER = ("通知编号", "发布时间", "发布人", "发布人ID", "范围", "内容", "群数", "已确认",
                 "未确认", "确认率%")
RECEIPT_HEADER = ("通知编号", "发布时间", "单位", "级别", "群", "群ID", "确认时间", "确认人",
                  "确认人ID")
_TIME_FORMAT = "yyyy-mm-dd hh:mm"


def _local(t: datetime | None, zone: ZoneInfo) -> datetime | None:
    # Excel has no time zones: the local wall-clock time, naive.
    return t.astimezone(zone).replace(tzinfo=None) if t is not None else None


def export_notices(session: Session, path: str | Path, zone: ZoneInfo) -> tuple[int, int]:
    """Write the workbook; returns (notices, receipt rows)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    summary = wb.create_sheet("通知")
    detail = wb.create_sheet("回执")
    summary.append(NOTICE_HEADER)
    detail.append(RECEIPT_HEADER)

    def time_cell(ws, t: datetime | None):  # type: ignore[no-untyped-def]
        cell = WriteOnlyCell(ws, value=_local(t, zone))
        cell.number_format = _TIME_FORMAT
        return cell

    author = aliased(Person)
    counts = session.exec(
        select(Notice, author, func.count(), func.count(col(NoticeTarget.acked_at)))
        .outerjoin(author, col(author.id) == col(Notice.author_id))
        .outerjoin(NoticeTarget, col(NoticeTarget.notice_id) == col(Notice.id))
        .group_by(col(Notice.id), col(author.id))
        .order_by(col(Notice.id))
    ).all()
    created: dict[int, datetime] = {}
    for n, a, total, acked in counts:
        assert n.id is not None
        created[n.id] = n.created_at
        summary.append([
            n.id, time_cell(summary, n.created_at), a.name if a else "", n.author_id, n.scope,
            n.text, total, acked, total - acked, percent(acked, total),
        ])

    acker = aliased(Person)
    rows = session.exec(
        select(NoticeTarget, Room, OrgUnit, acker)
        .join(Room, col(Room.id) == col(NoticeTarget.room_id))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(NoticeTarget.unit_id))
        .outerjoin(acker, col(acker.id) == col(NoticeTarget.acked_by))
        .order_by(col(NoticeTarget.notice_id), col(OrgUnit.path), col(Room.id))
    )
    n_rows = 0
    for t, room, unit, person in rows:
        detail.append([
            t.notice_id, time_cell(detail, created.get(t.notice_id)),
            unit.name if unit else "", unit.level if unit else "", room.topic, room.id,
            time_cell(detail, t.acked_at), person.name if person else "", t.acked_by or "",
        ])
        n_rows += 1
    wb.save(str(path))
    return len(counts), n_rows
