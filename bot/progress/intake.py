"""A #进度 message, as typed, read and recorded: `report_message`.

The message is read by `bot.progress.form` against the configured tasks and the
group's place in the org tree (its own names may start a line; another unit's may
not), then every item is recorded by `record_reports` as one report: if any line is
refused, nothing is recorded.

A 截至 date is read as "the figure as of that day", but the report is recorded on the
message's day and 序时进度 is computed on it: the newest figure is the newest report
(`rollup.latest` goes by report id), so a back-dated report would overrule figures
reported after it and change rankings already sent. A cumulative figure is still
true on a later day, so a 截至 date of the last `AS_OF_DAYS` days is accepted and the
reply says which day it was recorded on; an older or a future date is refused rather
than recorded as today's figure. Remarks are read (so they are not taken for figures)
but not stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, or_, select

from bot.config import Config
from bot.models.core import OrgUnit, UnitAlias
from bot.org import ancestor_ids, short_name
from bot.orgcache import OrgView, Tree, UnitRow
from bot.progress.errors import ProgressError
from bot.progress.form import ReportItem, read_report
from bot.progress.reports import ReportBatch, ReportLine, record_reports

# How old a 截至 date may be: reports are chased weekly.
AS_OF_DAYS = 7


@dataclass(frozen=True)
class UnitNames:
    """The names a report line may start with (`own`) and may not (`others`)."""

    own: tuple[str, ...]
    others: tuple[str, ...]


def unit_names(session: Session, unit: OrgUnit) -> UnitNames:
    """The unit's names, aliases and short name, also after its ancestors' names
    ('吴城乡皇叔洼村'); and those of its parent's other children, its ancestors and its
    children, which a line in this group is not about. One query for units, one for
    aliases."""
    up = ancestor_ids(unit)[:-1]
    parents = [unit.id] if unit.parent_id is None else [unit.id, unit.parent_id]
    near = {
        u.id: u
        for u in session.exec(
            select(OrgUnit).where(
                or_(col(OrgUnit.id).in_(up), col(OrgUnit.parent_id).in_(parents))
            )
        ).all()
    }
    near[unit.id] = unit
    aliases: dict[int | None, list[str]] = {}
    for uid, alias in session.exec(
        select(UnitAlias.unit_id, UnitAlias.alias).where(col(UnitAlias.unit_id).in_(list(near)))
    ).all():
        aliases.setdefault(uid, []).append(alias)

    def names(u: OrgUnit) -> list[str]:
        short = short_name(u.name)
        return [u.name, *([short] if short else []), *aliases.get(u.id, [])]

    mine = names(unit)
    own = list(mine)
    prefix = ""
    for uid in reversed(up):  # '吴城乡皇叔洼村', then '浑源县吴城乡皇叔洼村'
        if uid in near:
            prefix = near[uid].name + prefix
            own += [prefix + n for n in mine]
    others = [n for uid, u in near.items() if uid != unit.id for n in names(u)]
    return UnitNames(tuple(own), tuple(others))


def unit_names_in(tree: Tree, unit: OrgUnit) -> UnitNames:
    """`unit_names` from the cached tree (`bot.orgcache`): no query."""
    assert unit.id is not None
    up = ancestor_ids(unit)[:-1]
    parents = {unit.id} if unit.parent_id is None else {unit.id, unit.parent_id}
    up_set = set(up)
    near: dict[int, OrgUnit | UnitRow] = {uid: u for uid, u in tree.units.items()
                                          if uid in up_set or u.parent_id in parents}
    near[unit.id] = unit

    def names(u: OrgUnit | UnitRow) -> list[str]:
        short = short_name(u.name)
        return [u.name, *([short] if short else []), *tree.aliases.get(u.id or 0, ())]

    mine = names(unit)
    own = list(mine)
    prefix = ""
    for uid in reversed(up):
        if uid in near:
            prefix = near[uid].name + prefix
            own += [prefix + n for n in mine]
    others = [n for uid, u in near.items() if uid != unit.id for n in names(u)]
    return UnitNames(tuple(own), tuple(others))


def as_of_date(month: int, day_: int, today: date) -> date | None:
    """The day a '截至6月17日' means: this year's, unless that is still ahead and last
    year's is recent (typed in early January); None when it is no date."""
    try:
        this = date(today.year, month, day_)
    except ValueError:
        return None
    if this <= today:
        return this
    try:
        last = date(today.year - 1, month, day_)
    except ValueError:  # 2月29日
        return this
    return last if today - last <= timedelta(days=AS_OF_DAYS) else this


def _line(item: ReportItem, today: date, many: bool) -> ReportLine:
    as_of = None
    if item.as_of is not None:
        as_of = as_of_date(*item.as_of, today)
        where = f"第{item.line_no}行：" if many else ""
        shown = f"截至{item.as_of[0]}月{item.as_of[1]}日"
        example = f"例：#进度 {item.task} 42"
        if as_of is None or as_of > today:
            raise ProgressError(f"{where}“{shown}”还没到，请报到今天为止的累计完成数。{example}")
        if today - as_of > timedelta(days=AS_OF_DAYS):
            raise ProgressError(
                f"{where}“{shown}”是{(today - as_of).days}天前的数，请报到今天为止的累计完成数。"
                f"{example}"
            )
        if as_of == today:
            as_of = None
    return ReportLine(item.task, item.amount, item.mode == "add", item.of, item.correction,
                      line_no=item.line_no, as_of=as_of)


def report_message(
    session: Session, config: Config, unit: OrgUnit, text: str, *, reporter: str,
    reporter_name: str, room_id: str | None, msg_id: str | None, now: datetime,
    zone: ZoneInfo, org: OrgView | None = None,
) -> ReportBatch:
    """Read a #进度 message's text (normalised, as `Args.text`) and record every item in it. ReportFormError when it
    cannot be read without guessing, ProgressError for a 截至 date that is not recent,
    ReportRefused when an item cannot be recorded; in each case nothing is recorded."""
    names = unit_names(session, unit) if org is None else unit_names_in(org.tree(), unit)
    items = read_report(text, config.tasks, names.own, names.others)
    today = now.astimezone(zone).date()
    lines_in_text = len([ln for ln in text.replace("\r", "\n").split("\n") if ln.strip()])
    lines = [_line(i, today, lines_in_text > 1) for i in items]
    return record_reports(session, config, unit, lines, reporter=reporter,
                          reporter_name=reporter_name, room_id=room_id, msg_id=msg_id,
                          now=now, zone=zone, text_lines=lines_in_text, org=org)
