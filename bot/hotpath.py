"""The statements every message sends, built once per process (SQLAlchemy Core: building
a statement costs more than running it; the compiled form is cached by the engine).

The journal insert returns the cache version's token in the same statement, so a
message's first statement both takes SQLite's write lock and tells which state of the
org tables the cache may serve (`bot.orgcache`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from bot.models.cache import CacheVersion
from bot.models.core import InboundMessage, OutboxMessage


def table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def values_of(t: Table, columns: tuple[str, ...]) -> dict[str, Any]:
    """`{column: bindparam(column)}`, each bound with its column's type."""
    return {c: bindparam(c, type_=t.c[c].type) for c in columns}


JOURNAL_COLUMNS = ("transport", "msg_id", "room_id", "sender_id", "text", "received_at")
# Every column of an outbox row as the ORM wrote it (the defaults spelled out: they are
# Python-side defaults, unknown to a Core insert).
OUTBOX_COLUMNS = ("transport", "room_id", "to_id", "text", "mentions", "image", "chart",
                  "reply_to", "kind", "created_at", "sent_at", "attempts", "last_error",
                  "failed", "next_try_at", "merged_into", "transport_msg_id", "account")


class Statements:
    """The hot path's statements, per dialect, built on first use."""

    def __init__(self) -> None:
        self._journal: dict[str, Any] = {}

    def journal(self, session: Session) -> Any:
        """INSERT … ON CONFLICT DO NOTHING RETURNING id, (the cache token)."""
        dialect = session.get_bind().dialect.name
        stmt = self._journal.get(dialect)
        if stmt is None:
            t = table(InboundMessage)
            v = table(CacheVersion)
            token = select(v.c.token).where(v.c.id == 1).scalar_subquery()
            ins = pg_insert(t) if dialect == "postgresql" else sqlite_insert(t)
            stmt = (ins.values(**values_of(t, JOURNAL_COLUMNS))
                    .on_conflict_do_nothing(index_elements=["transport", "msg_id"])
                    .returning(t.c.id, token))
            self._journal[dialect] = stmt
        return stmt


def outbox_insert() -> Any:
    t = table(OutboxMessage)
    return t.insert().values(**values_of(t, OUTBOX_COLUMNS))
