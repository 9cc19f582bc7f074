"""Any text, names and ids, through the whole bot (MemoryChat) on both databases: never
an internal error, never a reply over the limit, and no change to the state unless the
message was a command."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql

from bot.app import ERROR_REPLY, App
from bot.config import load_config
from bot.drivers.memory import MemoryChat
from bot.limits import Sanitized, sanitize
from bot.messages import Inbound, Mention
from bot.wiring import build_app
from tests.conftest import ADMIN, START
from tests.test_notices import HQ, VILLAGE_CADRE, VILLAGER, build_city

# What a command can change; chat must leave all of it as it was.
STATE_TABLES = ("org_unit", "unit_alias", "household", "role_grant", "point_entry", "good",
                "progress_report", "progress_target", "notice", "notice_target")
ROOMS = ["r_city", "r_hy", "r_hsw", "r_unbound"]
PEOPLE = [ADMIN, HQ, VILLAGE_CADRE, VILLAGER]
COMMAND_WORDS = ["#帮助", "#进度", "#目标", "#加分", "#绑定", "#登记", "#通知", "#回执", "#撤销",
                 "#兑换", "#上架", "#提醒", "#取消提醒", "#异议", "#查分", "收到", "#收到"]
EXAMPLES = 300  # per database: both together well under a minute on a busy machine


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage()[:300])


def digest(app: App) -> str:
    h = hashlib.sha256()
    with app.db.transaction() as s:
        for table in STATE_TABLES:
            for row in s.execute(sql(f"SELECT * FROM {table} ORDER BY 1")):  # noqa: S608
                h.update(repr(tuple(row)).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


# Text: anything, often shaped like a command (a command word, then anything; digits).
any_text = st.text(max_size=80)
numbers = st.integers(min_value=-(10**40), max_value=10**40).map(str)
command_like = st.builds(
    lambda word, parts: word + " " + " ".join(parts),
    st.sampled_from(COMMAND_WORDS),
    st.lists(st.one_of(any_text, numbers, st.sampled_from(["@张三", "截止", "6月30日", "危房改造"])),
             max_size=4),
)
texts = st.one_of(any_text, command_like)
ids = st.one_of(st.sampled_from(PEOPLE), st.text(max_size=12))
rooms = st.one_of(st.sampled_from([*ROOMS, None]), st.text(max_size=12))
names = st.one_of(st.just(""), st.text(max_size=90))


@pytest.fixture
def fuzz_app(db_url: str) -> Iterator[App]:
    config = load_config().with_overrides(limits={"burst": 100_000, "per_minute": 100_000})
    from bot.clock import VirtualClock

    app = build_app(config, clock=VirtualClock(START), db_url=db_url, admins=[ADMIN])
    yield app
    app.close()


def test_any_message_is_handled_or_ignored_cleanly(fuzz_app: App) -> None:
    app = fuzz_app
    loop = asyncio.new_event_loop()
    chat = MemoryChat(app)
    errors = Errors()
    logging.getLogger("bot").addHandler(errors)
    try:
        loop.run_until_complete(build_city(chat))
        limits = app.config.limits.input_limits()
        answered: list[str] = []

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(text=texts, sender=ids, name=names, room=rooms,
               mentions=st.lists(st.tuples(ids, names), max_size=2))
        def one(text: str, sender: str, name: str, room: str | None,
                mentions: list[tuple[str, str]]) -> None:
            msg = Inbound(transport="memory", id="probe", sender=sender, sender_name=name,
                          text=text, at=START, room=room, topic=room,
                          mentions=tuple(Mention(i, n) for i, n in mentions))
            checked = sanitize(msg, limits)
            command = isinstance(checked, Sanitized) and app.router.parse(checked.msg) is not None
            before = digest(app)
            sent = loop.run_until_complete(
                chat.say(text, sender=sender, name=name, room=room, topic=room,
                         mentions=tuple(mentions))
            )
            for o in sent:
                assert o.text != ERROR_REPLY, text
                assert len(o.text) <= limits.max_reply_chars
            assert errors.seen == [], errors.seen
            if not command:
                assert sent == [] and digest(app) == before, text
            elif sent:
                answered.append(text)

        one()
        assert len(answered) > EXAMPLES // 10  # the commands reached the handlers
    finally:
        logging.getLogger("bot").removeHandler(errors)
        loop.close()
