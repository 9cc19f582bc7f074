"""Shared fixtures: real databases (an SQLite file, a PostgreSQL database of the test's
own) and a whole bot driven through the in-memory transport on a virtual clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.clock import VirtualClock
from bot.config import Config, load_config
from bot.drivers.memory import MemoryChat
from bot.wiring import build_app

PG_ADMIN_URL = os.environ.get("VILLAGEBOT_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2019, 6, 3, 9, 0, tzinfo=SHANGHAI)  # a Monday
ADMIN = "wxid_admin"


def _pg_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    if not _pg_available():
        if os.environ.get("VILLAGEBOT_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL not reachable")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"vb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Both backends: every whole-bot test using this runs on each."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def config() -> Config:
    return load_config()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def app(config: Config, clock: VirtualClock, db_url: str) -> Iterator[App]:
    a = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    yield a
    a.close()


@pytest.fixture
async def chat(app: App) -> AsyncIterator[MemoryChat]:
    yield MemoryChat(app)


def texts(sent) -> list[str]:
    return [o.text for o in sent]
