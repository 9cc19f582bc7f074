"""Shared pieces of the bench: the scenario (a bound city, a village with a cadre, a
target and a rater), a statement counter on the app's engine, PostgreSQL scratch
databases, and the median [min–max] summary every goal is printed with."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event

from bot.app import App, freeze_startup_objects
from bot.clock import VirtualClock
from bot.config import load_config
from bot.messages import Inbound, Mention
from bot.wiring import build_app

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
START = datetime(2019, 6, 3, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ADMIN = "wxid_admin"
CADRE = "wxid_cadre"
RATER = "wxid_rater"
HQ = "wxid_hq"


@dataclass
class Summary:
    values: list[float] = field(default_factory=list)

    def add(self, v: float) -> None:
        self.values.append(v)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def show(self, fmt: str = "{:.3g}") -> str:
        if not self.values:
            return "—"
        lo, hi = min(self.values), max(self.values)
        return f"{fmt.format(self.median)} [{fmt.format(lo)}–{fmt.format(hi)}]"


class Counter:
    """SQL statements sent through an engine, counted by a `before_cursor_execute` hook."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.n = 0

    def _hook(self, *_args: Any) -> None:
        self.n += 1

    @contextmanager
    def counting(self) -> Iterator[Counter]:
        self.n = 0
        event.listen(self.engine, "before_cursor_execute", self._hook)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._hook)


def make_app(url: str, clock: VirtualClock | None = None, full_sync: bool = False) -> App:
    """The real bot on `url`, rate limit lifted (one sender sends whole bursts here),
    its start-up objects frozen out of the collector's way as `villagebot run` does.

    `full_sync`: SQLite with synchronous=FULL whatever the config says (FULL is the
    bot's default): a later connect hook sets it and the pool is emptied so every
    connection gets it.
    """
    config = load_config().with_overrides(limits={"burst": 10**9})
    app = build_app(config, clock=clock or VirtualClock(START), db_url=url, admins=[ADMIN])
    freeze_startup_objects()  # as `villagebot run` does once started
    if full_sync and app.db.dialect == "sqlite":
        engine = app.db.engine

        @event.listens_for(engine, "connect")
        def _full(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA synchronous=FULL")

        engine.dispose()
    return app


class Say:
    """Numbered inbound messages into an app, by `handle_sync` or `handle`."""

    def __init__(self, app: App, prefix: str = "b") -> None:
        self.app = app
        self.prefix = prefix
        self.i = 0

    def msg(self, text: str, sender: str = ADMIN, room: str = "r_v0",
            mentions: tuple[str, ...] = ()) -> Inbound:
        self.i += 1
        return Inbound("memory", f"{self.prefix}{self.i}", sender, "", text,
                       self.app.clock.now(), room=room,
                       mentions=tuple(Mention(m) for m in mentions))

    def sync(self, text: str, sender: str = ADMIN, room: str = "r_v0",
             mentions: tuple[str, ...] = ()) -> None:
        self.app.handle_sync(self.msg(text, sender, room, mentions))

    async def __call__(self, text: str, sender: str = ADMIN, room: str = "r_v0",
                       mentions: tuple[str, ...] = ()) -> None:
        await self.app.handle(self.msg(text, sender, room, mentions))


def setup_city(say: Say, villages: int = 1) -> list[str]:
    """A city → county → town and `villages` villages, each bound to room r_v<k> with a
    cadre, a rater, a household 户0 and a target 危房改造; returns the village rooms."""
    say.sync("#绑定 市 大同市", room="r_city")
    say.sync("#绑定 县 浑源县 上级 大同市", room="r_county")
    say.sync("#绑定 乡 吴城乡 上级 浑源县", room="r_town")
    say.sync("#任命 @指挥部 指挥部", room="r_city", mentions=(HQ,))
    rooms = []
    for k in range(villages):
        room = f"r_v{k}"
        rooms.append(room)
        say.sync(f"#绑定 村 村{k} 上级 吴城乡", room=room)
        say.sync("#任命 @干部 干部", room=room, mentions=(CADRE,))
        say.sync("#任命 @评议员 评议员", room=room, mentions=(RATER,))
        say.sync("#登记 户 户0", sender=CADRE, room=room)
        say.sync("#目标 危房改造 100000000 截止 12月31日", sender=HQ, room=room)
    return rooms


# One report and one award: the two writes P1 and P2 time, alternating.
def write_text(i: int) -> tuple[str, str]:
    if i % 2:
        return f"#加分 户0 {10 + i % 5} 义务劳动", RATER
    return f"#进度 危房改造 {i + 1}", CADRE


def pg_database() -> tuple[str, Callable[[], None]] | None:
    """A scratch PostgreSQL database and its dropper, or None when no server answers."""
    try:
        import psycopg

        with psycopg.connect(PG, autocommit=True, connect_timeout=3) as conn:
            name = f"vb_bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        return None

    def drop() -> None:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG.rsplit('/', 1)[0]}/{name}", drop
