"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from sqlalchemy import inspect

from bot.db import Database, make_engine
from bot.migrate import differences, upgrade_head


def test_migrations_from_empty_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade_head(engine)
        assert differences(engine) == []
        assert "outbox" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_create_schema_twice_is_a_no_op(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.create_schema()
        db.create_schema()  # an existing database: upgraded by Alembic, nothing to do
        assert differences(db.engine) == []
    finally:
        db.close()
