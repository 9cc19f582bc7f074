"""WeChat end to end: the official Wechaty puppet-service gateway (Node, wrapping the mock
puppet) on loopback, the bot connected to it through python-wechaty. A mock member
speaks in a mock room and the bot's reply arrives there; the gateway is killed (-9) and
restarted and the bot answers again, with the admins alerted through a stand-in WeCom
webhook meanwhile. Needs `make gateway` (the Node packages); `make test` runs it."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col
from sqlmodel import select as sql_select

from bot.config import load_config
from bot.messages import Inbound, Mention
from bot.models.core import OutboxMessage
from bot.runner import Runner
from bot.transports.wechaty import group_key, load_wechaty, strip_self_mention, to_inbound
from tests.helpers import ADMIN
from tests.test_wecom import FakeWecom

GATEWAY_DIR = Path(__file__).with_name("gateway")
BOT = "wxid_bot"
MEMBER = "wxid_liuwei"
NEWCOMER = "wxid_wangwu"
ROOM = "huangshuwa@chatroom"
FIXTURE = {
    "bot": {"id": BOT, "name": "村务助手"},
    "contacts": [{"id": ADMIN, "name": "管理员"}, {"id": MEMBER, "name": "刘伟"},
                 {"id": NEWCOMER, "name": "王五"}],
    "rooms": [{"id": ROOM, "topic": "皇叔洼村工作群", "members": [ADMIN, MEMBER]}],
}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    """The Node gateway as a child process, with its control endpoint."""

    def __init__(self, tmp: Path, fixture: dict[str, Any] | None = None,
                 name: str = "gateway") -> None:
        """`fixture`: its bot contact, contacts and rooms (default FIXTURE); `name`: of
        its log file, where several run side by side (several bot accounts)."""
        self.tmp = tmp
        self.fixture = fixture or FIXTURE
        self.name = name
        self.port, self.control = _free_port(), _free_port()
        self.token = "villagebot-test-token"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.control}"

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it (several start side by side)."""
        env = {**os.environ, "GATEWAY_PORT": str(self.port), "GATEWAY_CONTROL": str(self.control),
               "GATEWAY_TOKEN": self.token, "GATEWAY_FIXTURE": json.dumps(self.fixture),
               "TMPDIR": str(self.tmp)}
        log = (self.tmp / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(["node", "gateway.mjs"], cwd=GATEWAY_DIR, env=env,
                                     stdout=subprocess.PIPE, stderr=log)

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith(b"GATEWAY READY") or not line:
                    break
        if not line.startswith(b"GATEWAY READY"):
            self.kill()
            raise RuntimeError(
                f"the gateway did not start: {(self.tmp / f'{self.name}.log').read_text()}"
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    async def say(self, sender: str, text: str, mentions: tuple[str, ...] = (),
                  to: str | None = None) -> str:
        """`sender` speaks in the room, or to the contact `to` directly."""
        where = {"to": to} if to else {"room": ROOM}
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{self.base}/say", json={"from": sender, "text": text,
                                                       "mentions": list(mentions), **where})
            r.raise_for_status()
            return str(r.json()["id"])

    async def join(self, *members: str, inviter: str = ADMIN) -> None:
        """`members` join the room (WeChat's room-join event)."""
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{self.base}/join", json={"room": ROOM, "members": list(members),
                                                        "inviter": inviter})
            r.raise_for_status()

    async def logout(self) -> None:
        async with httpx.AsyncClient() as c:
            (await c.post(f"{self.base}/logout")).raise_for_status()

    async def log(self, **where: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{self.base}/log", params=where or {"room": ROOM})
            r.raise_for_status()
            return r.json()

    async def bot_said(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The bot's messages in the room, once there are at least `count`."""

        async def enough() -> list[dict[str, Any]] | None:
            said = [m for m in await self.log() if m["from"] == BOT]
            return said if len(said) >= count else None

        return await until(enough, timeout, f"{count} bot message(s) in {ROOM}")


async def until(probe: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    if not (GATEWAY_DIR / "node_modules").is_dir():
        if os.environ.get("CI"):
            pytest.fail("tests/gateway/node_modules is missing: run `make gateway`")
        pytest.skip("the Node gateway is not installed: run `make gateway`")
    gw = Gateway(tmp_path)
    gw.start()
    yield gw
    gw.kill()


def test_import_does_nothing_until_a_transport_is_built() -> None:
    code = ("import sys, bot.transports.wechaty, bot.runner; "
            "print(any(m == 'wechaty' or m.startswith('wechaty.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_loading_wechaty_leaves_no_litter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = "from bot.transports.wechaty import load_wechaty; print(load_wechaty().Wechaty.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert out.stdout.strip() == "Wechaty"
    assert list(tmp_path.iterdir()) == []
    assert load_wechaty().Wechaty.__name__ == "Wechaty"


def test_the_bots_own_mention_is_stripped() -> None:
    assert strip_self_mention("@村务助手\u2005帮助", "村务助手") == "帮助"
    assert strip_self_mention("@村务助手 #进度 危房改造 42", "村务助手") == "#进度 危房改造 42"
    assert strip_self_mention("@村务助手", "村务助手") == ""
    assert strip_self_mention("@刘伟 你好", "村务助手") == "@刘伟 你好"


class _Contact:
    def __init__(self, cid: str, name: str) -> None:
        self.contact_id, self.name = cid, name


class _Room:
    room_id = ROOM

    async def topic(self) -> str:
        return "皇叔洼村工作群"


class _Message:
    """The parts of a wechaty Message that `to_inbound` reads."""

    def __init__(self, talker: _Contact, text: str, mentioned: list[_Contact],
                 room: bool = True) -> None:
        from wechaty_puppet import MessageType

        self.message_id = "m-1"
        self._talker, self._text, self._mentioned, self._room = talker, text, mentioned, room
        self._type = MessageType.MESSAGE_TYPE_TEXT
        self.payload = type("P", (), {})()
        self.payload.timestamp = 1559523600000  # 2019-06-03 09:00 +08

    def talker(self) -> _Contact:
        return self._talker

    def type(self) -> Any:
        return self._type

    def room(self) -> _Room | None:
        return _Room() if self._room else None

    async def mention_list(self) -> list[_Contact]:
        return self._mentioned

    def text(self) -> str:
        return self._text


async def test_messages_are_converted_at_the_edge() -> None:
    load_wechaty()
    bot, liu, zhang = (
        _Contact(BOT, "村务助手"),
        _Contact(MEMBER, "刘伟"),
        _Contact("wxid_zs", "张三"),
    )
    msg = _Message(liu, "@村务助手\u2005#加分 @张三\u2005六净六有", [bot, zhang])
    inbound = await to_inbound(msg, BOT, "村务助手", "a1")
    raw = "@村务助手\u2005#加分 @张三\u2005六净六有"
    assert inbound == Inbound(
        transport="wechaty", id=group_key(ROOM, MEMBER, 1559523600, raw), sender=MEMBER,
        sender_name="刘伟", text="#加分 @张三\u2005六净六有",
        at=datetime(2019, 6, 3, 1, 0, tzinfo=UTC), room=ROOM, topic="皇叔洼村工作群",
        mentions=(Mention("wxid_zs", "张三"),), mentions_bot=True, account="a1", native_id="m-1",
    )
    # Another account in the group: its puppet's own id differs, the journal's id not.
    other = _Message(liu, raw, [bot, zhang])
    other.message_id = "other-puppet-7"
    seen = await to_inbound(other, BOT, "村务助手", "a2")
    assert seen is not None and seen.id == inbound.id and seen.native_id == "other-puppet-7"
    # The same words by the same sender a second later are a new message.
    later = _Message(liu, raw, [bot, zhang])
    later.payload.timestamp = 1559523601000
    assert (await to_inbound(later, BOT, "村务助手")).id != inbound.id  # type: ignore[union-attr]
    # A direct message reaches one account only: the puppet's id is its id.
    direct = await to_inbound(_Message(liu, "#查分", [], room=False), BOT, "村务助手")
    assert direct is not None and direct.room is None and direct.topic is None
    assert direct.id == "m-1" and direct.native_id is None
    assert await to_inbound(_Message(bot, "#帮助", []), BOT, "村务助手") is None  # its own


async def test_bot_answers_in_wechat_and_survives_gateway_restarts(
    gateway: Gateway, db_url: str
) -> None:
    with FakeWecom() as wecom:
        cfg = load_config().with_overrides(
            bot={"admins": [ADMIN]},
            transports={
                "wechaty": {"enabled": True, "endpoint": gateway.endpoint, "token": gateway.token},
                "wecom": {"enabled": True, "webhooks": {"admins": wecom.url("k-admins")},
                          "alerts": "admins", "timeout_seconds": 5},
            },
            outbox={"min_gap_seconds": 0, "jitter_seconds": 0, "per_group_per_minute": 100},
        )
        runner = Runner(cfg, db_url=db_url, alert_after=3600, retry_seconds=0.1)
        app = await runner.start()
        wechat, watch = runner.wechaty, runner.watch
        assert wechat is not None and watch is not None
        try:
            assert await wechat.wait_logged_in(20)
            assert wechat.health.user_id == BOT
            watch.alert_after = 0  # from now on, alert as soon as WeChat drops

            # An admin binds the group; a member asks for help by @mentioning the bot.
            await gateway.say(ADMIN, "#绑定 市 大同市")
            (bound,) = await gateway.bot_said(1)
            # Replies in a group @ the sender: a real mention, its name in the text.
            assert bound["text"].startswith("@管理员\u2005已") and "大同市" in bound["text"]
            assert bound["mentions"] == [ADMIN]
            await gateway.say(MEMBER, "@村务助手\u2005帮助", mentions=(BOT,))
            helped = (await gateway.bot_said(2))[1]
            assert helped["text"].startswith("@刘伟\u2005可用的命令") and "#帮助" in helped["text"]
            assert helped["mentions"] == [MEMBER]
            # A direct message is answered directly.
            await gateway.say(MEMBER, "#帮助", to=BOT)
            dm = await until(
                lambda: _from_bot(gateway.log(to=MEMBER)), 10, "a direct reply to the member"
            )
            assert dm[0]["room"] is None and dm[0]["to"] == MEMBER
            assert dm[0]["text"].startswith("可用的命令") and dm[0]["mentions"] == []
            # Ordinary chat gets no reply; the bot's own messages are not commands.
            await gateway.say(MEMBER, "今天天气不错")
            await asyncio.sleep(0.3)
            assert len(await gateway.bot_said(2)) == 2

            # The gateway dies without a word.
            gateway.kill()
            await until(lambda: _true(not wechat.health.logged_in), 10, "WeChat down")
            alert = await until(lambda: _find(wecom, "断开"), 10, "the alert through WeCom")
            assert alert["msgtype"] == "text" and alert["text"]["mentioned_list"] == ["@all"]
            # A notice queued while WeChat is down is copied to the WeCom channel.
            with app.db.transaction() as s:
                app.writer.put(s, "【通知 1】明早九点视频会，请回复“收到”", room_id=ROOM,
                               kind="notice")
            watch.changed.set()
            await until(lambda: _find(wecom, "【通知 1】明早九点视频会"), 10, "the relayed notice")

            # Back up on the same port: the bot reconnects by itself, delivers the
            # notice that waited, says so to the admins, and answers again.
            gateway.start()
            assert await wechat.wait_logged_in(30)
            notice = (await gateway.bot_said(1))[0]
            assert notice["text"] == "【通知 1】明早九点视频会，请回复“收到”"
            await until(lambda: _find(wecom, "恢复"), 10, "the all-clear through WeCom")
            await gateway.say(MEMBER, "#帮助")
            again = (await gateway.bot_said(2))[1]
            assert again["text"] == helped["text"]

            # WeChat logs the bot out: a fresh session takes the next login.
            sessions = wechat.health.sessions
            await gateway.logout()
            await until(lambda: _true(wechat.health.sessions > sessions), 10, "a fresh session")
            assert await wechat.wait_logged_in(30)
            # Another text than the last #帮助: the same sender's same text within one
            # second is one message by the journal's key (bot.transports.wechaty.group_key).
            await gateway.say(MEMBER, "＃帮助")
            assert (await gateway.bot_said(3))[2]["text"] == helped["text"]
        finally:
            await runner.stop()
        sent = app.db.run_sync(
            lambda s: s.exec(sql_select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        )
        assert all(r.sent_at is not None for r in sent), [(r.text, r.last_error) for r in sent]
        assert all(r.attempts == 0 for r in sent)  # waiting for WeChat spent no attempts


async def _from_bot(log: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [m for m in await log if m["from"] == BOT]


async def _true(value: bool) -> bool:
    return value


async def _find(wecom: FakeWecom, needle: str) -> dict[str, Any] | None:
    for body in wecom.bodies():
        content = body.get("text", body.get("markdown", {})).get("content", "")
        if needle in content:
            return body
    return None


def test_villagebot_run_answers_and_stops_on_sigterm(gateway: Gateway, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[bot]\nadmins = ["{ADMIN}"]\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
        f"[outbox]\nmin_gap_seconds = 0\njitter_seconds = 0\n"
        f'[transports.wechaty]\nenabled = true\nendpoint = "{gateway.endpoint}"\n'
        f'token = "{gateway.token}"\n',
        encoding="utf-8",
    )
    log = tmp_path / "run.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(cfg)],
                                stderr=err, cwd=tmp_path)
    try:

        async def scenario() -> str:
            await until(lambda: _true("已登录微信" in log.read_text()), 30, "the bot to log in")
            await gateway.say(ADMIN, "#帮助")
            return str((await gateway.bot_said(1))[0]["text"])

        assert asyncio.run(scenario()).startswith("@管理员\u2005可用的命令")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "villagebot stopped" in log.read_text()
    assert list(tmp_path.glob(".wechaty")) == []


async def test_mentions_and_welcome_arrive_in_wechat(gateway: Gateway, db_url: str) -> None:
    """A reply @s its sender and a welcome @s the newcomer: real mentions (ids and the
    `@name` + U+2005 text) arriving in the room."""
    from bot.models.core import Room
    from bot.org import create_unit, grant_role, touch_person

    cfg = load_config().with_overrides(
        bot={"admins": [ADMIN]},
        transports={"wechaty": {"enabled": True, "endpoint": gateway.endpoint,
                                "token": gateway.token}},
        outbox={"min_gap_seconds": 0, "jitter_seconds": 0},
    )
    runner = Runner(cfg, db_url=db_url, retry_seconds=0.1)
    app = await runner.start()
    wechat = runner.wechaty
    assert wechat is not None
    try:
        assert await wechat.wait_logged_in(20)
        now = app.clock.now()
        with app.db.transaction() as s:
            city = create_unit(s, "大同市", "市", None, now)
            county = create_unit(s, "浑源县", "县", city, now)
            town = create_unit(s, "吴城乡", "乡", county, now)
            village = create_unit(s, "皇叔洼村", "村", town, now)
            s.add(Room(id=ROOM, transport="wechaty", topic="皇叔洼村工作群", unit_id=village.id))
            s.flush()
            touch_person(s, MEMBER, "刘伟", ROOM, now)
            grant_role(s, MEMBER, village, "干部", ADMIN, now)

        await gateway.say(MEMBER, "#帮助")
        (helped,) = await gateway.bot_said(1)
        assert helped["mentions"] == [MEMBER]
        assert helped["text"].startswith("@刘伟\u2005可用的命令")

        await gateway.join(NEWCOMER, inviter=MEMBER)
        welcome = (await gateway.bot_said(2))[1]
        assert welcome["mentions"] == [NEWCOMER]
        assert welcome["text"].startswith("@王五\u2005欢迎王五加入皇叔洼村工作群")
        assert "刘伟" in welcome["text"]
    finally:
        await runner.stop()
