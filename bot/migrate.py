"""The schema: created or upgraded through Alembic, driven from code (the migrations
live in bot/migrations). Everything that builds tables is here, above `bot.db` (engines
and sessions) and `bot.models` (the tables)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

import bot.models  # noqa: F401  (registers every table)

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration.

    An empty database gets the tables from the models at once and is stamped at the
    head revision (fast, and the same schema: a test checks that the migrations and
    the models agree); an existing one is upgraded by Alembic.
    """
    with _schema_lock(engine):
        if inspect(engine).get_table_names():
            upgrade_head(engine)
        else:
            SQLModel.metadata.create_all(engine)
            install_cache_version(engine)
            stamp_head(engine)


# Any fixed number: the key of the PostgreSQL advisory lock that serialises schema work.
_SCHEMA_LOCK_KEY = 7_261_804_113


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """One process at a time creates or upgrades the schema: two starting at once on an
    empty database would both try to create the same tables. PostgreSQL: a session
    advisory lock; an SQLite file: an exclusive lock on a file beside it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK_KEY})
                conn.commit()
        return
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    with open(f"{path}.schema-lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_cache_version(engine: Engine) -> None:
    """The cache version row and the triggers that bump it (`bot.models.cache`): on a
    schema made from the models, as the 0008 migration makes them on an upgraded one."""
    from bot.models.cache import cache_ddl

    with engine.begin() as conn:
        for stmt in cache_ddl(engine.dialect.name):
            conn.exec_driver_sql(stmt)


def upgrade_head(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")


def stamp_head(engine: Engine) -> None:
    command.stamp(alembic_config(engine), "head")


def differences(engine: Engine) -> list[object]:
    """What the database lacks or has beyond the models (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, SQLModel.metadata))


def new_revision(message: str) -> None:
    """Write a migration for what the models have beyond the newest one (developers:
    `python -m bot.migrate "what changed"`)."""
    import tempfile

    from sqlalchemy import create_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/head.db")
        upgrade_head(engine)
        cfg = alembic_config(engine)
        command.revision(cfg, message=message, autogenerate=True)
        engine.dispose()


if __name__ == "__main__":
    import sys

    new_revision(" ".join(sys.argv[1:]) or "schema change")
