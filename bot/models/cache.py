"""The cache version: one row whose random token changes, by trigger, in the same
transaction as any change to a table the per-process cache (`bot.orgcache`) keeps.

A token, not a counter: a token seen inside a transaction or savepoint that later rolls
back is never produced again, so a cache entry keyed by it can never be taken for the
state of another (committed) transaction. The triggers are in `cache_ddl` (used by the
0008 migration and by `bot.migrate.create_schema`; a change to them is a new migration).
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class CacheVersion(SQLModel, table=True):
    __tablename__ = "cache_version"

    id: int = Field(default=1, primary_key=True)
    token: str = Field(default="", max_length=64)


# table → (what bumps the token: the events, and for UPDATE the columns that matter).
# A person's INSERT does not: the cache keeps no "absent" answer for a person (it does
# for a group: it reads them all at once); a person's last-seen time (room_member) is
# no part of it at all.
WATCHED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "org_unit": (("INSERT", "UPDATE", "DELETE"), ()),
    "unit_alias": (("INSERT", "UPDATE", "DELETE"), ()),
    "room": (("INSERT", "UPDATE", "DELETE"), ("transport", "topic", "unit_id", "bound_by",
                                             "bound_at")),
    "role_grant": (("INSERT", "UPDATE", "DELETE"), ()),
    "household": (("INSERT", "UPDATE", "DELETE"), ()),
    "household_link": (("INSERT", "UPDATE", "DELETE"), ()),
    "person": (("UPDATE", "DELETE"), ("name", "household_id", "updated_at")),
    "progress_target": (("INSERT", "UPDATE", "DELETE"), ()),
}

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION villagebot_cache_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_version SET token = md5(random()::text || clock_timestamp()::text);
    RETURN NULL;
END $$
"""


def cache_ddl(dialect: str) -> list[str]:
    """The statements that make the version row and its triggers (idempotent)."""
    out: list[str] = []
    if dialect == "postgresql":
        out.append("INSERT INTO cache_version (id, token) VALUES (1, md5(random()::text)) "
                   "ON CONFLICT (id) DO NOTHING")
        out.append(_PG_FUNCTION)
    else:
        out.append("INSERT OR IGNORE INTO cache_version (id, token) "
                   "VALUES (1, lower(hex(randomblob(16))))")
    for table, (events, columns) in WATCHED.items():
        for ev in events:
            name = f"cache_bump_{table}_{ev.lower()}"
            when = ""
            if ev == "UPDATE" and columns:
                when = " OR ".join(
                    f"OLD.{c} IS {'DISTINCT FROM' if dialect == 'postgresql' else 'NOT'} NEW.{c}"
                    for c in columns)
                when = f" WHEN ({when})"
            elif ev == "UPDATE":
                when = " WHEN (OLD.* IS DISTINCT FROM NEW.*)" if dialect == "postgresql" else ""
            if dialect == "postgresql":
                out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                out.append(f"CREATE TRIGGER {name} AFTER {ev} ON {table} FOR EACH ROW{when} "
                           "EXECUTE FUNCTION villagebot_cache_bump()")
            else:
                out.append(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {ev} ON {table}{when} "
                           "BEGIN UPDATE cache_version SET token = lower(hex(randomblob(16))); END")
    return out


def drop_ddl(dialect: str) -> list[str]:
    out = [f"DROP TRIGGER IF EXISTS cache_bump_{t}_{ev.lower()}"
           + (f" ON {t}" if dialect == "postgresql" else "")
           for t, (events, _c) in WATCHED.items() for ev in events]
    if dialect == "postgresql":
        out.append("DROP FUNCTION IF EXISTS villagebot_cache_bump()")
    return out
