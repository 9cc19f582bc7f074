"""The ledger's hash chain: each village's entries, in id order, each carrying the hash
of the previous one and of its own content, so an edited, deleted or reordered row
shows. `append` is called for every new ledger row; `verify` checks every village's
chain (`villagebot verify`); `heads` is what the monthly export prints.

The content hashed is the part of an entry that never changes once written (amount,
household, who, why, when, which message); status changes (confirmation, objection)
are not hashed, they are recorded in the audit log.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.models.points import LedgerHead, PointEntry


def content_hash(entry_id: int, household_id: int, kind: str, delta: int, rule: str | None,
                 reason: str, actor_id: str, msg_id: str | None, created_at: datetime,
                 prev_hash: str) -> str:
    """sha256 over a canonical serialisation (a JSON array, UTF-8, no spaces; the time
    in UTC to the microsecond). The 0002 migration keeps a copy of this: keep them equal."""
    when = created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = json.dumps([entry_id, household_id, kind, delta, rule or "", reason, actor_id,
                       msg_id or "", when, prev_hash], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def entry_hash(e: PointEntry, prev_hash: str) -> str:
    assert e.id is not None
    return content_hash(e.id, e.household_id, e.kind, e.delta, e.rule, e.reason, e.actor_id,
                        e.msg_id, e.created_at, prev_hash)


def lock_head(session: Session, unit_id: int) -> LedgerHead:
    """The village's chain head, locked to the end of the transaction (SELECT … FOR
    UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers). Take it
    before any household or goods row, so every writer of a village locks in one order."""
    # One statement: made if missing, and locked (an upsert locks the row it updates).
    return session.scalars(_head_upsert(session.get_bind().dialect.name),
                           {"unit_id": unit_id},
                           execution_options={"populate_existing": True}).one()


def head_select(dialect: str, *columns: Any) -> Any:
    """SELECT the village's head (`:unit_id`) FOR UPDATE with `columns` beside it, for
    `lock_head_reading`. On PostgreSQL a last column is the head's entry id as this
    statement's snapshot saw it: after waiting for the lock, the head row itself is the
    newest version, but sub-selects (`columns`) were read on the snapshot taken before."""
    if dialect == "postgresql":
        seen = aliased(LedgerHead)  # not the outer row: a sub-select of its own
        snapshot: Any = (select(seen.entry_id).where(seen.unit_id == bindparam("unit_id"))
                         .scalar_subquery())
    else:
        snapshot = col(LedgerHead.entry_id)  # SQLite: one writer, never behind
    return (select(LedgerHead, *columns, snapshot)  # type: ignore[call-overload]
            .where(LedgerHead.unit_id == bindparam("unit_id"))
            .with_for_update(of=LedgerHead).execution_options(populate_existing=True))


def lock_head_reading(session: Session, q: Any, params: dict[str, Any]
                      ) -> tuple[LedgerHead, tuple[Any, ...]]:
    """`lock_head` and a read in one statement (`q`: from `head_select`): the locked
    head and the row (head, *columns, snapshot). Where there is no head row yet (a
    village's first entry, or after a migration), it is made and read again; read again
    too when the lock was waited for and another writer moved the head meanwhile, so
    the columns are as of the newest entry (READ COMMITTED: the next statement's
    snapshot is taken while this transaction holds the lock)."""
    dialect = session.get_bind().dialect.name
    for _ in range(4):  # at most 3: no row (made), moved while waiting, read while held
        row = session.execute(q, params).first()
        if row is None:
            session.execute(_head_insert(dialect), {"unit_id": params["unit_id"]})
            continue
        if row[0].entry_id == row[-1]:
            return row[0], tuple(row)
    raise AssertionError("the ledger head could not be read")  # pragma: no cover


@functools.cache
def _head_insert(dialect: str) -> Any:
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    return ins(LedgerHead).values(unit_id=bindparam("unit_id"), hash="").on_conflict_do_nothing(
        index_elements=["unit_id"])


@functools.cache
def _head_upsert(dialect: str) -> Any:
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = ins(LedgerHead).values(unit_id=bindparam("unit_id"), hash="")
    return stmt.on_conflict_do_update(index_elements=["unit_id"],
                                      set_={"unit_id": stmt.excluded.unit_id}
                                      ).returning(LedgerHead)


def append(session: Session, entry: PointEntry, head: LedgerHead | None = None) -> None:
    """Chain a new (flushed) entry onto its village's head (`head`: already locked by
    this transaction, `lock_head`)."""
    if head is None:
        head = lock_head(session, entry.unit_id)
    entry.prev_hash = head.hash
    entry.hash = entry_hash(entry, head.hash)
    head.entry_id, head.hash = entry.id, entry.hash
    session.flush()


@dataclass(frozen=True)
class Head:
    unit_id: int
    entry_id: int | None
    hash: str


def heads(session: Session, unit_ids: list[int] | None = None) -> list[Head]:
    """Every village's chain head (or those of `unit_ids`), by village id."""
    q = select(LedgerHead).order_by(col(LedgerHead.unit_id))
    if unit_ids is not None:
        q = q.where(col(LedgerHead.unit_id).in_(unit_ids))
    return [Head(h.unit_id, h.entry_id, h.hash) for h in session.exec(q).all()]


@dataclass(frozen=True)
class Broken:
    unit_id: int
    entry_id: int | None  # None: the head points past the last entry
    problem: str  # in Chinese, for the operator


@dataclass(frozen=True)
class Verified:
    villages: int
    entries: int
    broken: Broken | None  # the first broken place (lowest entry id), None when intact


def verify(session: Session) -> Verified:
    """Walk every village's chain in id order; the first entry whose content or link
    does not match, or a head that does not match the newest entry."""
    prev: dict[int, PointEntry] = {}
    first: Broken | None = None
    n = 0
    q = select(PointEntry).order_by(col(PointEntry.id)).execution_options(yield_per=2000)
    for e in session.exec(q):
        n += 1
        before = prev.get(e.unit_id)
        expected_prev = before.hash if before is not None else ""
        prev[e.unit_id] = e
        if first is not None:
            continue
        assert e.id is not None
        if e.prev_hash != expected_prev:
            where = f"第{before.id}条之后" if before is not None else "本村第一条之前"
            first = Broken(e.unit_id, e.id, f"第{e.id}条的前一哈希对不上：{where}有记录被删除、"
                                            "插入或调换了顺序")
        elif e.hash != entry_hash(e, e.prev_hash):
            first = Broken(e.unit_id, e.id, f"第{e.id}条的内容与哈希不符：这条记录被改动过")
    head_rows = {h.unit_id: h for h in heads(session)}
    if first is None:
        for unit_id in sorted(set(head_rows) | set(prev)):
            h, last = head_rows.get(unit_id), prev.get(unit_id)
            if last is None:
                if h is not None and h.entry_id is not None:
                    first = Broken(unit_id, None, f"链头指向第{h.entry_id}条，但这个村已没有记录："
                                                  "记录被删除了")
            elif h is None or h.entry_id != last.id or h.hash != last.hash:
                first = Broken(unit_id, last.id, f"链头与最后一条（第{last.id}条）不符："
                                                 "最后的记录被删除或改动过")
            if first is not None:
                break
    return Verified(len(set(prev) | set(head_rows)), n, first)
