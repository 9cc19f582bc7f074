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


_CREATE = """
import sys, time
from bot.db import make_engine
from bot.migrate import create_schema
engine = make_engine(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
create_schema(engine)
"""


def test_two_processes_create_the_schema_at_once(db_url: str) -> None:
    """Two processes starting on one empty database at the same moment: both start,
    and the schema is created once (issue: they raced to create the same tables)."""
    import subprocess
    import sys
    import time

    start = time.time() + 1.5  # both processes are up and waiting by then
    procs = [subprocess.Popen([sys.executable, "-c", _CREATE, db_url, str(start)],
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    assert differences(engine) == []
