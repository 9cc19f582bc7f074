"""Targets from a file, progress to a file: `villagebot import targets` and
`villagebot export progress`.

A target file is CSV (UTF-8, or GBK as Excel writes it in China), XLSX or XLS (the
first sheet), with a header row (title rows above it are fine, see `bot.tabular`)
naming the columns 单位, 任务, 目标, 截止 and optionally 开始, 上级 (or their common
synonyms, or in English unit, task, amount, deadline, start, parent). Amounts may be
Chinese numerals with a measure word ("三座"); dates keep their year, and a date
without one is read against the import's `--as-of` day (or today). Every row is
checked; a file with any bad row changes nothing, and each bad row is reported with its
row number in the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from bot import tabular
from bot.config import Config
from bot.models.core import AuditEntry, OrgUnit
from bot.org import ancestor_ids_of_path, find_units, parent_name
from bot.progress.errors import ProgressError
from bot.progress.rollup import tasks_with_targets, unit_figures
from bot.progress.targets import find_task, measure, parse_day, set_target, task_names
from bot.tabular import DATE, PERCENT, POINTS, ImportFailed, Row, Sheet, cell_int, cell_text
from bot.text import simplify

COLUMNS = {
    # The specific words first: with two such columns, the earlier word's counts.
    "unit": ("unit", "单位", "单位名称", "村名", "行政村", "村名称", "村", "责任单位", "名称",
             "村庄", "村庄名称"),
    "parent": ("parent", "上级", "上级单位", "乡镇", "所属乡镇", "所属县", "所属单位"),
    "task": ("task", "任务", "任务名称", "项目名称", "项目", "工作任务", "指标名称", "指标",
             "任务类别", "任务类型", "项目类别", "项目类型", "类别"),
    "amount": ("amount", "目标", "target", "目标数", "任务数", "计划数", "数量", "目标任务",
               "任务量", "计划", "目标任务数", "任务目标", "目标数量", "计划任务数", "年度目标",
               "年度任务", "目标值"),
    "start": ("start", "开始", "开始日期", "起始日期", "开始时间"),
    "deadline": ("deadline", "截止", "截止日期", "截止时间", "期限", "完成时限", "完成时间",
                 "完成期限"),
}
REQUIRED = ("unit", "task", "amount", "deadline")


@dataclass(frozen=True)
class ImportResult:
    created: int
    replaced: int


def read_table(path: Path) -> list[Row]:
    """The data rows of a CSV, XLSX or XLS target file, keyed by column name."""
    return tabular.read_table(path, COLUMNS, REQUIRED)


def _date(v: Any, today: date) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    text = cell_text(v)
    # '2019-09-30 00:00:00', as a date cell reads once saved as text.
    m = re.match(r"^(\d{4}-\d{1,2}-\d{1,2})[ T]0{1,2}:00(:00)?$", text)
    return parse_day(m.group(1) if m else text, today)


def _unit(session: Session, name: str, parent: str) -> OrgUnit:
    found = find_units(session, name)
    if parent:
        parents = {u.id for u in find_units(session, parent)}
        found = [u for u in found if u.parent_id in parents]
    if not found:
        raise ProgressError(f"找不到单位“{name}”" + (f"（上级 {parent}）" if parent else ""))
    if len(found) > 1:
        places = "、".join(f"{parent_name(session, u)}的{u.name}" for u in found)
        raise ProgressError(f"有{len(found)}个“{name}”（{places}），请在“上级”列写明上级")
    return found[0]


def import_targets(
    session: Session, config: Config, rows: list[Row], now: datetime, actor: str = "cli:import"
) -> ImportResult:
    """Set every row's target in the caller's transaction; ImportFailed (after checking
    every row) if any row is bad: the caller then rolls back."""
    today = now.astimezone(config.zone).date()
    errors: list[str] = []
    seen: dict[tuple[int, str], int] = {}
    created = replaced = 0
    if not rows:
        raise ImportFailed(["文件里没有数据行"])
    for n, row in rows:
        try:
            unit = _unit(
                session, simplify(cell_text(row.get("unit"))), simplify(cell_text(row.get("parent")))
            )
            word = cell_text(row.get("task"))
            task = find_task(config, word)
            if task is None:
                raise ProgressError(f"没有“{word}”这项任务（任务有：{task_names(config)}）")
            amount = cell_int(row.get("amount"))
            if amount is None:
                raise ProgressError(f"目标数“{cell_text(row.get('amount'))}”不是整数")
            deadline = _date(row.get("deadline"), today)
            if deadline is None:
                raise ProgressError(f"看不懂截止日期“{cell_text(row.get('deadline'))}”")
            if deadline < today:  # said with its year and the day it is judged against
                raise ProgressError(f"截止日期 {deadline.isoformat()} 早于 {today.isoformat()}"
                                    "（导入往年的数据请加 --as-of 日期）")
            start = None
            if cell_text(row.get("start")):
                start = _date(row.get("start"), today)
                if start is None:
                    raise ProgressError(f"看不懂开始日期“{cell_text(row.get('start'))}”")
            key = (unit.id or 0, task.name)
            if key in seen:
                raise ProgressError(f"与第{seen[key]}行重复（{unit.name} {task.name}）")
            seen[key] = n
            with session.begin_nested():
                change = set_target(session, unit, task.name, amount, start, deadline, actor,
                                    now, config.zone)
        except ProgressError as e:
            errors.append(f"第{n}行：{e}")
            continue
        if change.previous is None:
            created += 1
        else:
            replaced += 1
        t = change.target
        detail = {"unit": unit.id, "task": task.name, "amount": t.amount, "start": t.start,
                  "deadline": t.deadline, "previous": change.previous, "file_row": n}
        session.add(AuditEntry(at=now, actor_id=actor, action="target", msg_id=None,
                               detail=json.dumps(detail, ensure_ascii=False, default=str)))
    if errors:
        raise ImportFailed(errors)
    return ImportResult(created, replaced)


# -- export ------------------------------------------------------------------------

EXPORT_HEADER = ("单位", "级别", "上级", "任务", "完成", "目标", "计量单位", "完成率%",
                 "序时进度%", "超前(+)/滞后(-)百分点", "开始", "截止", "最近报送",
                 "报送单位/应报单位")


def progress_rows(session: Session, config: Config, on: date) -> list[tuple[Any, ...]]:
    """Per unit (every level, tree order) and task: the figures the chat shows on `on`."""
    units = sorted(session.exec(select(OrgUnit)).all(), key=lambda u: ancestor_ids_of_path(u.path))
    names = {u.id: u.name for u in units}
    rows: list[tuple[Any, ...]] = []
    roots = [u for u in units if u.parent_id is None]
    tasks = {r.id: tasks_with_targets(session, r, config) for r in roots}
    for u in units:
        root_id = ancestor_ids_of_path(u.path)[0]
        for task in tasks.get(root_id, []):
            fig = unit_figures(session, u, task, on)
            if fig is None:
                continue
            rows.append((
                u.name, u.level, names.get(u.parent_id, "") if u.parent_id else "", task,
                fig.done, fig.target, measure(config, task), fig.completion_pct,
                fig.schedule_pct, fig.lead_pct, fig.start, fig.deadline, fig.reported_on,
                f"{fig.reported_units}/{fig.units}",
            ))
    return rows


def export_progress(session: Session, config: Config, path: Path, on: date) -> int:
    """Write the progress sheet (.xlsx or .csv) as it stood on `on`; the number of rows."""
    sheet = Sheet(
        name="进度", title=f"各单位任务进度表（{on.year}年{on.month}月{on.day}日）",
        header=EXPORT_HEADER, rows=progress_rows(session, config, on),
        formats={"完成率%": PERCENT, "序时进度%": PERCENT, "超前(+)/滞后(-)百分点": POINTS,
                 "开始": DATE, "截止": DATE, "最近报送": DATE},
    )
    return tabular.write_book(path, f"截至 {on.isoformat()}", [sheet])[0]
