"""Households from a file, the points ledger to a file: `villagebot import households`
and `villagebot export ledger` (the entries, then each village's hash-chain head).

A household file is CSV (UTF-8, or GBK as Excel writes it in China), XLSX or XLS (the
first sheet) with a header row (title rows above it are fine, see `bot.tabular`) naming
the columns 村, 户名 and optionally 上级, 成员id, 成员姓名 (or common synonyms such as
村名, 户主, 户主姓名, 姓名; or in English village, household, parent, member_id,
member_name). A row with a
member id links that person (by contact id) to the household. A name without an id is
linked only when exactly one person of that exact name has spoken in that village's
own group and belongs to no household yet; otherwise it is only counted as unlinked
(names are not stored: import the file again after they have spoken, or give the id). Every row is checked first; a file with any bad row
changes nothing, and each bad row is reported with its row number (the header is row 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bot import tabular
from bot.config import Config
from bot.models.core import AuditEntry, Household, OrgUnit, Person, Room, RoomMember
from bot.models.points import AWARD, DEDUCT, REDEEM, PointEntry
from bot.org import find_units, link_person, parent_name, register_household
from bot.points import chain
from bot.points.wording import status_label, what
from bot.tabular import POINTS, TIME, ImportFailed, Sheet, cell_text
from bot.text import simplify

COLUMNS = {
    "village": ("village", "村", "村名", "村庄", "行政村", "所在村", "村委会"),
    "parent": ("parent", "上级", "乡", "乡镇", "镇"),
    "household": ("household", "户名", "户", "农户", "户主", "户主姓名", "户主名", "家庭"),
    "member_id": ("member_id", "contact_id", "wxid", "成员id", "联系人id", "微信id"),
    "member_name": ("member_name", "name", "成员", "姓名", "成员姓名", "家庭成员"),
}
REQUIRED = ("village", "household")


Row = tuple[int, dict[str, str]]


def read_table(path: Path) -> list[Row]:
    """The data rows of a CSV or XLSX household file, keyed by column name, as text."""
    return [(n, {k: cell_text(v) for k, v in row.items()})
            for n, row in tabular.read_table(path, COLUMNS, REQUIRED)]


@dataclass(frozen=True)
class HouseholdImport:
    households: int  # distinct households in the file
    created: int
    linked: int  # people linked to a household (new links)
    names_only: int  # member names given without a contact id: not linked
    by_name: int = 0  # of `linked`: found by their name in the village's group


def _village(session: Session, name: str, parent: str, cache: dict[tuple[str, str], Any]) -> OrgUnit:
    key = (name, parent)
    if key not in cache:
        found = find_units(session, name, "村")
        if parent:
            parents = {u.id for u in find_units(session, parent)}
            found = [u for u in found if u.parent_id in parents]
        if not found:
            cache[key] = f"找不到村“{name}”" + (f"（上级 {parent}）" if parent else "")
        elif len(found) > 1:
            places = "、".join(f"{parent_name(session, u)}的{u.name}" for u in found)
            cache[key] = f"有{len(found)}个“{name}”（{places}），请在“上级”列写明乡镇"
        else:
            cache[key] = found[0]
    value = cache[key]
    if isinstance(value, str):
        raise ValueError(value)
    return value  # type: ignore[no-any-return]


def import_households(session: Session, rows: list[Row], now: datetime,
                      actor: str = "cli") -> HouseholdImport:
    """Register the file's households and link their members, in the caller's
    transaction; ImportFailed (nothing written) if any row is bad."""
    errors: list[str] = []
    plan: list[tuple[OrgUnit, str, str, str]] = []
    cache: dict[tuple[str, str], Any] = {}
    member_at: dict[str, tuple[int, int | None, str]] = {}  # id → (row, village, household)
    for n, row in rows:
        village_name, household = simplify(row.get("village", "")), simplify(row.get("household", ""))
        member_id, member_name = row.get("member_id", ""), simplify(row.get("member_name", ""))
        if not village_name:
            errors.append(f"第{n}行：缺少村名")
            continue
        if not household:
            errors.append(f"第{n}行：缺少户名")
            continue
        if len(household) > 32:
            errors.append(f"第{n}行：户名太长（最多32个字）")
            continue
        if len(member_id) > 128 or (member_id and any(c.isspace() for c in member_id)):
            errors.append(f"第{n}行：成员id“{member_id}”不是有效的联系人id")
            continue
        try:
            village = _village(session, village_name, simplify(row.get("parent", "")), cache)
        except ValueError as e:
            errors.append(f"第{n}行：{e}")
            continue
        if member_id:
            seen = member_at.get(member_id)
            if seen is not None and (seen[1], seen[2]) != (village.id, household):
                errors.append(f"第{n}行：成员id {member_id} 在第{seen[0]}行已属于 {seen[2]}")
                continue
            member_at[member_id] = (n, village.id, household)
        plan.append((village, household, member_id, member_name))
    if errors:
        raise ImportFailed(errors)
    created = linked = names_only = by_name = 0
    households: set[int] = set()
    taken: set[str] = set()  # linked by name in this file: one household each
    for village, name, member_id, member_name in plan:
        reg = register_household(session, village, name, now)
        hh, new = reg.household, reg.created
        assert hh.id is not None
        households.add(hh.id)
        created += new
        if member_id:
            person = session.get(Person, member_id)
            if person is None:
                person = Person(id=member_id, name=member_name, updated_at=now)
                session.add(person)
            elif member_name and not person.name:
                person.name = member_name
            if person.household_id != hh.id:
                link_person(session, person, hh, now, actor)  # the operator's file decides
                linked += 1
        elif member_name:
            person = _by_name(session, village, member_name)
            if person is not None and person.household_id is None and person.id not in taken:
                link_person(session, person, hh, now, actor)
                taken.add(person.id)
                linked += 1
                by_name += 1
            else:
                names_only += 1
    session.add(AuditEntry(at=now, actor_id=actor, action="import_households", detail=json.dumps(
        {"rows": len(rows), "households": len(households), "created": created, "linked": linked},
    )))
    return HouseholdImport(len(households), created, linked, names_only, by_name)


def _by_name(session: Session, village: OrgUnit, name: str) -> Person | None:
    """The one person of that name who has spoken in the village's own group(s), or
    None: a name is linked only when it is exact and unique there (two 张伟 in the
    group, or none, leave the name unlinked; nobody outside the village is considered)."""
    found = session.exec(
        select(Person).join(RoomMember, col(RoomMember.person_id) == col(Person.id))
        .join(Room, col(Room.id) == col(RoomMember.room_id))
        .where(Room.unit_id == village.id, Person.name == name).distinct().limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


KIND_WORDS = {AWARD: "加分", DEDUCT: "扣分", REDEEM: "兑换"}
LEDGER_COLUMNS = ("编号", "时间", "县", "乡", "村", "户", "类型", "分值", "规则/事由", "状态",
                  "撤销的编号", "操作人", "操作人id", "来源消息")


def export_ledger(session: Session, config: Config, path: Path, now: datetime,
                  unit: OrgUnit | None = None, until: datetime | None = None) -> int:
    """Write the whole ledger (or a unit's subtree's) to .xlsx or .csv, oldest first;
    the number of rows written. Streams: fit for millions of rows.

    With `until`, only the entries made up to then, their status as it was then, and no
    chain heads (they are the database's heads now, not then)."""
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    people = dict(session.exec(select(Person.id, Person.name)).all())
    reversals = select(PointEntry.reverses_id, PointEntry.id).where(
        col(PointEntry.reverses_id).is_not(None)
    )
    if until is not None:
        reversals = reversals.where(col(PointEntry.created_at) <= until)
    reversed_by = {r: i for r, i in session.exec(reversals).all() if r is not None}
    expiry = timedelta(hours=config.points.pending_expiry_hours)
    zone = config.zone
    at = until or now
    q = select(PointEntry, Household.name).join(
        Household, col(Household.id) == col(PointEntry.household_id)
    )
    if until is not None:
        q = q.where(col(PointEntry.created_at) <= until)
    ids: list[int] | None = None
    if unit is not None:
        ids = [u.id for u in units.values() if u.path.startswith(unit.path) and u.id is not None]
        q = q.where(col(PointEntry.unit_id).in_(ids))

    def rows() -> Iterator[list[Any]]:
        for entry, household in session.exec(
            q.order_by(col(PointEntry.id)).execution_options(yield_per=2000)
        ):
            village = units.get(entry.unit_id)
            town = units.get(village.parent_id) if village and village.parent_id else None
            county = units.get(town.parent_id) if town and town.parent_id else None
            yield [
                entry.id, entry.created_at.astimezone(zone).replace(tzinfo=None),
                county.name if county else "", town.name if town else "",
                village.name if village else "", household, KIND_WORDS.get(entry.kind, entry.kind),
                entry.delta, what(entry),
                status_label(entry, at, expiry, reversed_by.get(entry.id or 0)) or "有效",
                entry.reverses_id or "", people.get(entry.actor_id, ""), entry.actor_id,
                entry.msg_id or "",
            ]

    # The chain heads, below the entries: the printed sheet can be checked against the
    # database later (`villagebot verify`, and the head hash of each village).
    tail: list[list[Any]] = []
    if until is None:
        tail = [[], ["链头", "", "", "", "村", "", "", "", "最后一条", "哈希（sha256）"]]
        for head in chain.heads(session, ids):
            village = units.get(head.unit_id)
            tail.append(["链头", "", "", "", village.name if village else head.unit_id, "", "",
                         "", head.entry_id or "", head.hash])
    scope = unit.name if unit is not None else "全部"
    sheet = Sheet(name="积分台账", title=f"爱心积分台账（{scope}）", header=LEDGER_COLUMNS,
                  rows=rows(), formats={"时间": TIME, "分值": POINTS}, tail=tail)
    stamp = at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return tabular.write_book(path, f"截至 {stamp}", [sheet])[0]
