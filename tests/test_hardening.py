"""Issue 18: what arrives from WeChat is bounded in one place, and nothing a sender can
type crashes the bot, overflows a column, echoes unbounded input or is judged twice."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.app import ERROR_REPLY, App
from bot.config import Config, load_config
from bot.drivers.memory import MemoryChat
from bot.drivers.replay import TranscriptError, parse_line, replay
from bot.messages import Outgoing
from bot.models.core import InboundMessage, OrgUnit, Room
from bot.models.notices import Notice, NoticeTarget
from bot.models.progress import Target
from bot.notices import acknowledge
from tests.conftest import ADMIN, SHANGHAI, START, texts
from tests.test_notices import HQ, VILLAGER, build_city, count, notify

# Room for a 5,000-digit number in a command, so that it reaches the handlers.
BIG_COMMANDS = 6000
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points


@pytest.fixture
def config() -> Config:
    # No rate limit: these tests send hundreds of commands from one sender.
    return load_config().with_overrides(
        limits={"max_command_chars": BIG_COMMANDS, "burst": 100_000, "per_minute": 100_000}
    )


def no_error(sent: list[Outgoing]) -> None:
    assert ERROR_REPLY not in texts(sent), texts(sent)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def staff(chat: MemoryChat) -> None:
    """The city of test_notices, with the admin holding every role on it and 张三 known
    in the village."""
    await build_city(chat)
    for role in ("指挥部", "干部", "评议员", "超市管理员"):
        sent = await chat.say(f"#任命 @管理员 {role}", sender=ADMIN, room="r_city",
                              mentions=((ADMIN, "管理员"),))
        assert "已任命" in sent[0].text, sent
    await chat.say("#查分", sender=VILLAGER, name="张三", room="r_hsw")


# -- numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["2147483648", "9" * 20, "9" * 30, "9" * 5000])
async def test_ack_with_a_huge_number_is_not_a_crash(chat, app, caplog, number) -> None:
    await build_city(chat)
    # Nothing waits: ordinary chat, as before.
    assert await chat.say(f"收到 {number}", sender=VILLAGER, room="r_hsw") == []
    await notify(chat, "#通知 浑源县 开会")
    sent = await chat.say(f"收到 {number}", sender=VILLAGER, room="r_hsw")
    no_error(sent)
    sent = await chat.say(f"#收到 {number}", sender=VILLAGER, room="r_hsw")
    assert sent and ERROR_REPLY not in texts(sent)
    assert not errors(caplog)


BIG_NUMBERS = ["2147483648", "9" * 30, "9" * 5000]


async def test_huge_numbers_in_every_command(chat, app, caplog) -> None:
    """Every command's example with each of its numbers made huge: refused or done,
    never 处理出错了 (an OverflowError, a PostgreSQL INTEGER overflow, int() refusing
    more than 4300 digits)."""
    await staff(chat)
    rooms = ["r_hsw", "r_hy"]
    examples = [c.example for c in app.router.commands]
    for example in examples:  # once as written: goods, entries and notices to refer to
        for room in rooms:
            await chat.say(example, sender=ADMIN, room=room)
    tried = 0
    for example in examples:
        if not re.search(r"\d", example):
            continue
        for number in BIG_NUMBERS:
            text = re.sub(r"\d+", number, example)
            for room in rooms:
                sent = await chat.say(text, sender=ADMIN, room=room)
                assert ERROR_REPLY not in texts(sent), (text, room, texts(sent))
                tried += 1
    assert tried > 30
    assert not errors(caplog)


# -- text, names and ids ---------------------------------------------------------------


async def test_nul_and_lone_surrogates_in_text_and_names(chat, app, caplog) -> None:
    await build_city(chat)
    sent = await chat.say("#帮\x00助", sender=VILLAGER, name="张\x00三", room="r_hsw")
    assert sent and "#进度查询" in sent[0].text
    sent = await chat.say("#帮助 \ud800", sender=VILLAGER, name="\udc00张三", room="r_hsw")
    no_error(sent)
    assert sent
    sent = await chat.say("#绑定 村 新\ud800村 上级 吴城乡", sender=ADMIN, room="r_new",
                          topic="\ud83d")
    no_error(sent)
    sent = await chat.say("#进度 危房改造 4\x002", sender=ADMIN, room="r_hsw")
    no_error(sent)
    assert not errors(caplog)


@pytest.mark.parametrize("field", ["sender", "room", "msg_id", "mention"])
async def test_unusable_ids_are_dropped_unanswered(chat, app, caplog, field) -> None:
    await build_city(chat)
    before = count(app, InboundMessage)
    bad = "wxid_\ud800"
    sent = await chat.say(
        "#帮助",
        sender=bad if field == "sender" else VILLAGER,
        room=bad if field == "room" else "r_hsw",
        msg_id=bad if field == "msg_id" else None,
        mentions=(bad,) if field == "mention" else (),
    )
    assert sent == []
    assert count(app, InboundMessage) == before
    assert not errors(caplog)


async def test_a_long_display_name_still_reports(chat, app) -> None:
    await staff(chat)
    name = FAMILY * 10  # 70 code points: over Person.name's 64
    sent = await chat.say("#查分", sender="wxid_emoji", name=name, room="r_hsw")
    no_error(sent)
    sent = await chat.say("#查分", sender="wxid_emoji", name=name, room="r_hsw")
    no_error(sent)


# -- lengths -------------------------------------------------------------------------


async def test_unit_names_longer_than_their_column_are_refused(chat, app) -> None:
    await build_city(chat)
    units = count(app, OrgUnit)
    for name in ["长" * 65 + "村", "长" * 1900 + "村"]:
        sent = await chat.say(f"#绑定 村 {name} 上级 吴城乡", sender=ADMIN, room="r_new")
        assert len(sent) == 1 and "单位名称太长了" in sent[0].text, texts(sent)
        assert len(sent[0].text) < 100
    assert count(app, OrgUnit) == units


async def test_a_command_over_the_limit_gets_one_short_reply(chat, app) -> None:
    await build_city(chat)
    units = count(app, OrgUnit)
    text = "#绑定 村 " + "长" * (BIG_COMMANDS + 10) + "村 上级 吴城乡"
    sent = await chat.say(text, sender=ADMIN, room="r_new")
    assert texts(sent) == [f"命令太长了（超过 {BIG_COMMANDS} 字），没有处理。请分几条发送。"]
    assert count(app, OrgUnit) == units
    # Chat of any length is fine: no answer.
    assert await chat.say("长" * 20_000, sender=VILLAGER, room="r_hsw") == []


async def test_replies_quote_only_a_short_excerpt(chat, app, caplog) -> None:
    """A 1,900-character argument to every command: no reply holds more than a short
    excerpt of it, and none is over the reply cap."""
    await staff(chat)
    arg = "测" * 1900
    for c in app.router.commands:
        for text in (f"#{c.name} {arg}", f"#{c.name}{arg}", f"#{c.name} 1 {arg} 2"):
            for room in ("r_hsw", "r_hy"):
                sent = await chat.say(text, sender=ADMIN, room=room)
                for o in sent:
                    assert "测" * 30 not in o.text, (text, o.text[:200])
                    assert len(o.text) <= app.config.limits.max_reply_chars
    # A '#word' that is no command is chat now; addressed to the bot it is answered.
    assert await chat.say(f"#{arg}", sender=ADMIN, room="r_hsw") == []
    sent = await chat.say(f"@{app.config.bot.name} {arg}", sender=ADMIN, room="r_hsw")
    assert texts(sent) == [f"没有“{'测' * 20}…”这个命令。发送 #帮助 查看可用的命令。"]
    assert not errors(caplog)


def test_the_outbox_writer_clips_replies_only(app: App) -> None:
    long = "一行字\n" * 3000
    with app.db.transaction() as s:
        reply = app.writer.put(s, long, room_id="r", transport="memory")
        notice = app.writer.put(s, long, room_id="r", transport="memory", kind="notice")
    assert len(reply.text) <= app.config.limits.max_reply_chars
    assert reply.text.endswith("…（已截断）")
    assert notice.text == long


async def test_target_dates_decades_away_are_refused(chat, app) -> None:
    await staff(chat)
    for text in ["#目标 危房改造 50 截止 9999-12-31 开始 0001-01-01",
                 "#目标 危房改造 50 截止 9999-12-31",
                 "#目标 危房改造 50 截止 6月30日 开始 1900-01-01"]:
        sent = await chat.say(text, sender=ADMIN, room="r_hsw")
        assert len(sent) == 1 and "超过 10 年" in sent[0].text, texts(sent)
    assert count(app, Target) == 0
    sent = await chat.say("#目标 危房改造 50 截止 2021-12-31 开始 2019-01-01", sender=ADMIN,
                          room="r_hsw")
    assert "超过" not in sent[0].text
    assert count(app, Target) == 1


# -- judged once ------------------------------------------------------------------------


async def test_a_bare_ack_judged_as_chat_is_not_judged_again(chat, app) -> None:
    await build_city(chat)
    assert await chat.say("收到", sender=VILLAGER, room="r_hsw", msg_id="early") == []
    await notify(chat, "#通知 浑源县 开会")
    # The same message delivered again once the notice waits: a duplicate, not an ack.
    assert await chat.say("收到", sender=VILLAGER, room="r_hsw", msg_id="early") == []
    assert app.db.run_sync(
        lambda s: s.exec(select(NoticeTarget).where(NoticeTarget.room_id == "r_hsw")).one()
    ).acked_at is None


def test_a_receipt_is_never_stamped_before_its_notice(app: App) -> None:
    with app.db.transaction() as s:
        s.add(Room(id="r_hsw", transport="memory", topic="皇叔洼村"))
        s.flush()
        s.add(Notice(id=1, author_id=HQ, scope="浑源县", text="开会", created_at=START))
        s.flush()
        s.add(NoticeTarget(notice_id=1, room_id="r_hsw"))
    with app.db.transaction() as s:
        early = START - timedelta(minutes=1)
        assert acknowledge(s, "r_hsw", VILLAGER, early).status == "none"
        assert acknowledge(s, "r_hsw", VILLAGER, early, notice_id=1).status != "acked"
        assert acknowledge(s, "r_hsw", VILLAGER, START).status == "acked"


def _line(minute: int, sender: str, room: str, text: str, **extra: object) -> str:
    at = datetime(2019, 6, 3, 9, minute, tzinfo=SHANGHAI).isoformat()
    return json.dumps({"at": at, "from": sender, "room": room, "text": text, **extra},
                      ensure_ascii=False)


def test_replaying_onto_a_kept_database_never_acks_before_the_notice(sqlite_url: str) -> None:
    """Issue 18: a 收到 that came before the notice was counted on the second run."""
    transcript = [
        _line(0, ADMIN, "r_city", "#绑定 市 大同市"),
        _line(1, ADMIN, "r_hy", "#绑定 县 浑源县 上级 大同市"),
        _line(2, ADMIN, "r_city", "#任命 @管理员 指挥部", mentions=[ADMIN]),
        _line(3, VILLAGER, "r_hy", "收到"),
        _line(4, ADMIN, "r_city", "#通知 浑源县 开会"),
    ]
    for run in range(2):
        out = io.StringIO()
        asyncio.run(replay(transcript, out, load_config(), sqlite_url, [ADMIN]))
        if run == 0:
            assert "通知 1 已发往浑源县" in out.getvalue()
    # And a different early 收到 (its own id) on a third run: too early all the same.
    asyncio.run(replay([*transcript[:3], _line(3, VILLAGER, "r_hy", "收到", id="x")],
                       io.StringIO(), load_config(), sqlite_url, [ADMIN]))
    app_config = load_config()
    from bot.wiring import build_app

    app = build_app(app_config, db_url=sqlite_url)
    try:
        rows = app.db.run_sync(lambda s: s.exec(select(NoticeTarget)).all())
        assert [r.acked_at for r in rows] == [None]
        journaled = app.db.run_sync(
            lambda s: s.exec(select(InboundMessage).where(col(InboundMessage.sender_id) == VILLAGER)).all()
        )
        assert len(journaled) == 2
    finally:
        app.close()


# -- replay -----------------------------------------------------------------------------

BAD_LINES = [
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a", "text": "x"',  # bad JSON
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a\\ud800", "text": "x"}',
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a", "room": "r\\udc00", "text": "x"}',
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a", "id": "\\ud800", "text": "x"}',
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a", "mentions": ["\\ud800"], "text": "x"}',
    '{"at": "2019-06-03T09:00:00+08:00", "from": 7, "text": "x"}',
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a", "text": ["x"]}',
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a", "room": {}, "text": "x"}',
    '{"at": 20190603, "from": "a", "text": "x"}',
    '{"at": "2019-06-03T09:00:00+08:00", "from": "a", "text": "x", "n": ' + "9" * 5000 + "}",
    "[" * 100_000,
    '"just a string"',
]


@pytest.mark.parametrize("raw", BAD_LINES, ids=range(len(BAD_LINES)))
def test_replay_calls_unusable_lines_malformed(raw: str) -> None:
    with pytest.raises(TranscriptError) as e:
        parse_line(raw, 7)
    assert e.value.line == 7


def test_replay_exits_2_on_an_unusable_line(tmp_path) -> None:
    from typer.testing import CliRunner

    from bot.cli import cli

    path = tmp_path / "t.jsonl"
    good = _line(0, ADMIN, "r_city", "#帮助")
    path.write_text(good + "\n" + BAD_LINES[1] + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["replay", str(path)])
    assert result.exit_code == 2, result.output
    assert "line 2" in result.output


# -- the simulator -----------------------------------------------------------------------


async def test_a_lone_surrogate_in_the_simulator_does_not_break_the_log(app: App) -> None:
    from bot.clock import VirtualClock
    from bot.drivers.simulator import Simulator

    clock = app.clock
    assert isinstance(clock, VirtualClock)
    sim = Simulator(app, clock)
    await sim.say("你好\ud800", sender="wxid_a", name="张\udc00三", room="r1", topic="群")
    await sim.say("#帮助", sender="wxid_\ud800", room="r1")
    # What /api/messages sends: every event encodes.
    json.dumps(sim.log.events, ensure_ascii=False).encode("utf-8")
    assert [e["text"] for e in sim.log.events if e["dir"] == "in"] == ["你好\ufffd"]
