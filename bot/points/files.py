"""Households from a file, the points ledger to a file: `villagebot import households`
and `villagebot export ledger` (the entries, then each village's hash-chain head).

A household file is CSV (UTF-8, or GBK as Excel writes it in China), XLSX or XLS (the
first sheet) with a header row (title rows above it are fine, see `bot.tabular`) naming
the columns 村 and 户名 or 户主, and optionally 上级, 户主, 联系电话, 成员id, 成员姓名
(or common synonyms such as 村名, 户主姓名, 姓名, 手机号, 电话; or in English village,
household, head, phone, parent, member_id, member_name).

The household is named by 户名, else by 户主. Its head (户主) and phone (联系电话, a
mainland mobile: spaces, dashes and +86 are fine) are stored on it; a villager who
later sends that phone in the village's group (`#认领`, `bot.points.claim`) is linked
to it. A row with a member id links that person (by contact id) to the household. A
name without an id is linked only when exactly one person of that exact name has
spoken in that village's own group and belongs to no household yet; otherwise it is
only counted as unlinked (import the file again after they have spoken, give the id,
or give the phone and let them claim). Every row is checked first; a file with any bad
row changes nothing, and each bad row is reported with its row number (the header is
row 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bot import tabular
from bot.config import Config
from bot.limits import excerpt
from bot.models.core import AuditEntry, Household, OrgUnit, Person, Room, RoomMember
from bot.models.points import AWARD, DEDUCT, REDEEM, PointEntry
from bot.org import find_units, link_person, parent_name, register_household
from bot.points import chain
from bot.points.phones import mask_phone, normalize_phone
from bot.points.wording import status_label, what
from bot.tabular import POINTS, TIME, ImportFailed, Sheet, cell_text
from bot.text import simplify

COLUMNS = {
    "village": ("village", "村", "村名", "村庄", "行政村", "所在村", "村委会"),
    "parent": ("parent", "上级", "乡", "乡镇", "镇"),
    "household": ("household", "户名", "户", "农户", "家庭"),
    "head": ("head", "head_name", "户主", "户主姓名", "户主名"),
    "member_id": ("member_id", "contact_id", "wxid", "成员id", "联系人id", "微信id"),
    "member_name": ("member_name", "name", "成员", "姓名", "成员姓名", "家庭成员"),
    "phone": ("phone", "mobile", "联系电话", "手机号", "手机号码", "手机", "电话", "电话号码",
              "联系方式"),
}
REQUIRED = ("village", ("household", "head"))


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
    phones: int = 0  # households of the file with a phone on file
    unclaimed: int = 0  # of `phones`: nobody linked yet (they can #认领)


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


HouseholdKey = tuple[int, str]  # (village id, household name)


@dataclass
class _Facts:
    """What the file says of one household across its rows: its head and phone, each
    with the row that gave it."""

    head: tuple[int, str] | None = None
    first_member: str = ""
    phone: tuple[int, str] | None = None


def import_households(session: Session, rows: list[Row], now: datetime,
                      actor: str = "cli") -> HouseholdImport:
    """Register the file's households, store their heads and phones, and link their
    members, in the caller's transaction; ImportFailed (nothing written) if any row is
    bad.

    The household is named by 户名, else by 户主 (as files without a 户名 column always
    were). Its head is 户主, else (a file without that column) its first 姓名. Its
    phone, a mainland mobile, is stored as 11 digits; one phone per household, and one
    household per phone in a village. A cell left empty keeps what is on file."""
    errors: list[str] = []
    plan: list[tuple[OrgUnit, str, str, str]] = []
    cache: dict[tuple[str, str], Any] = {}
    member_at: dict[str, tuple[int, int | None, str]] = {}  # id → (row, village, household)
    facts: dict[HouseholdKey, _Facts] = {}
    villages: dict[int, OrgUnit] = {}
    head_column = any("head" in row for _, row in rows)
    for n, row in rows:
        village_name, head = simplify(row.get("village", "")), simplify(row.get("head", ""))
        household = simplify(row.get("household", "")) or head
        member_id, member_name = row.get("member_id", ""), simplify(row.get("member_name", ""))
        raw_phone = row.get("phone", "")
        if not village_name:
            errors.append(f"第{n}行：缺少村名")
            continue
        if not household:
            errors.append(f"第{n}行：缺少户名")
            continue
        if len(household) > 32:
            errors.append(f"第{n}行：户名太长（最多32个字）")
            continue
        if len(head) > 32:
            errors.append(f"第{n}行：户主姓名太长（最多32个字）")
            continue
        phone = normalize_phone(raw_phone) if raw_phone else None
        if raw_phone and phone is None:
            errors.append(f"第{n}行：联系电话“{excerpt(raw_phone, 20)}”不是11位手机号（例：13812345678）")
            continue
        if len(member_id) > 128 or (member_id and any(c.isspace() for c in member_id)):
            errors.append(f"第{n}行：成员id“{member_id}”不是有效的联系人id")
            continue
        try:
            village = _village(session, village_name, simplify(row.get("parent", "")), cache)
        except ValueError as e:
            errors.append(f"第{n}行：{e}")
            continue
        assert village.id is not None
        villages[village.id] = village
        if member_id:
            seen = member_at.get(member_id)
            if seen is not None and (seen[1], seen[2]) != (village.id, household):
                errors.append(f"第{n}行：成员id {member_id} 在第{seen[0]}行已属于 {seen[2]}")
                continue
            member_at[member_id] = (n, village.id, household)
        f = facts.setdefault((village.id, household), _Facts())
        if head:
            if f.head is not None and f.head[1] != head:
                errors.append(f"第{n}行：{household} 的户主在第{f.head[0]}行是 {f.head[1]}，一户一位户主")
                continue
            f.head = f.head or (n, head)
        if phone:
            if f.phone is not None and f.phone[1] != phone:
                errors.append(f"第{n}行：{household} 在第{f.phone[0]}行已填手机号 "
                              f"{mask_phone(f.phone[1])}，一户只登记一个手机号")
                continue
            f.phone = f.phone or (n, phone)
        f.first_member = f.first_member or member_name
        plan.append((village, household, member_id, member_name))
    errors += _phone_clashes(session, facts, villages)
    if errors:
        raise ImportFailed(sorted(errors, key=_row_number))
    created = linked = names_only = by_name = 0
    households: dict[HouseholdKey, Household] = {}
    taken: set[str] = set()  # linked by name in this file: one household each
    for village, name, member_id, member_name in plan:
        reg = register_household(session, village, name, now)
        hh, new = reg.household, reg.created
        assert hh.id is not None and village.id is not None
        if (village.id, name) not in households:
            households[(village.id, name)] = hh
            f = facts[(village.id, name)]
            head = f.head[1] if f.head else "" if head_column else f.first_member
            if head:
                hh.head_name = head
            if f.phone:
                hh.phone = f.phone[1]
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
    session.flush()
    with_phone = [hh.id for hh in households.values() if hh.phone and hh.id is not None]
    claimed = set(session.exec(
        select(Person.household_id).where(col(Person.household_id).in_(with_phone))
    ).all()) if with_phone else set()
    unclaimed = len(set(with_phone) - claimed)
    session.add(AuditEntry(at=now, actor_id=actor, action="import_households", detail=json.dumps(
        {"rows": len(rows), "households": len(households), "created": created, "linked": linked,
         "phones": len(with_phone)},
    )))
    return HouseholdImport(len(households), created, linked, names_only, by_name,
                           len(with_phone), unclaimed)


def _row_number(error: str) -> int:
    m = re.match(r"第(\d+)行", error)
    return int(m.group(1)) if m else 0


def _phone_clashes(session: Session, facts: dict[HouseholdKey, _Facts],
                   villages: dict[int, OrgUnit]) -> list[str]:
    """One household per phone in a village (#认领 must find exactly one): the rows
    that give a phone another household of the village has, in the file or on file
    (unless the file gives that household another phone)."""
    given = {key: f.phone for key, f in facts.items() if f.phone}
    if not given:
        return []
    final: dict[HouseholdKey, tuple[int, str]] = {}  # row 0: as on file
    units = {unit_id for unit_id, _ in given}
    for unit_id, name, phone in session.exec(
        select(Household.unit_id, Household.name, Household.phone).where(
            col(Household.unit_id).in_(units), col(Household.phone).is_not(None))
    ).all():
        if phone:
            final[(unit_id, name)] = (0, phone)
    final.update(given)
    owner: dict[tuple[int, str], tuple[int, str]] = {}  # (village, phone) → (row, household)
    errors = []
    for (unit_id, name), (n, phone) in sorted(final.items(), key=lambda kv: kv[1][0]):
        seen = owner.get((unit_id, phone))
        if seen is None:
            owner[(unit_id, phone)] = (n, name)
        elif seen[0]:
            errors.append(f"第{n}行：手机号 {mask_phone(phone)} 在第{seen[0]}行已登记给 {seen[1]}，"
                          "同村一个手机号只登记一户")
        else:
            errors.append(f"第{n}行：手机号 {mask_phone(phone)} 已登记给{villages[unit_id].name}的 "
                          f"{seen[1]}，同村一个手机号只登记一户")
    return errors


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
