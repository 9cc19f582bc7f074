"""The WeCom group-robot sender against a local HTTP server standing in for WeCom."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import httpx
import pytest
from sqlmodel import select

from bot.clock import VirtualClock
from bot.config import ConfigError, load_config
from bot.drivers.memory import MemoryChat
from bot.messages import Outgoing
from bot.models.core import OutboxMessage
from bot.runner import Runner
from bot.sender import OutboxSender
from bot.transports.wecom import WecomError, WecomTransport, split_bytes
from tests.conftest import ADMIN, START
from tests.helpers import FakeTime, build_tree


class FakeWecom:
    """Records each POST (path, JSON body, virtual time) and answers from a script:
    each answer is a JSON object, an HTTP status (int), or ("slow", seconds): no answer, the connection held open that long."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock
        self.requests: list[tuple[str, dict[str, Any], Any]] = []
        self.script: list[Any] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(
                        (self.path, body, fake.clock.now() if fake.clock else None)
                    )
                    answer = fake.script.pop(0) if fake.script else {"errcode": 0, "errmsg": "ok"}
                if isinstance(answer, tuple):
                    time.sleep(answer[1])
                    # The client has given up by now (its timeout): nothing to answer.
                    return
                if isinstance(answer, int):
                    self.send_response(answer)
                    self.end_headers()
                    return
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key={key}"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for _, b, _ in self.requests]

    def __enter__(self) -> FakeWecom:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def wecom(clock: VirtualClock) -> Iterator[FakeWecom]:
    with FakeWecom(clock) as server:
        yield server


def transport(server: FakeWecom, clock: VirtualClock, **kw: Any) -> tuple[WecomTransport, FakeTime]:
    fake = FakeTime(clock)
    t = WecomTransport({"hq": server.url("k-hq"), "alerts": server.url("k-alerts")},
                       clock=clock, sleep=fake.sleep, **kw)
    return t, fake


def out(text: str = "", *, room: str = "hq", kind: str = "reply", image: bytes | None = None,
        mentions: tuple[str, ...] = ()) -> Outgoing:
    return Outgoing(id=1, transport="wecom", text=text, at=START, room=room, kind=kind,
                    image=image, mentions=mentions)


async def test_exact_payloads_for_text_markdown_and_image(wecom, clock) -> None:
    t, _ = transport(wecom, clock)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    await t.send(out("【通知 3】请于周五前报送材料", mentions=("@all",)))
    await t.send(out("## 周排名\n> 浑源县 **第1**", kind="markdown", room="alerts"))
    await t.send(out(image=png))
    await t.send(out("附图：本周排名", image=png))
    await t.aclose()
    paths = [p for p, _, _ in wecom.requests]
    assert (
        paths
        == ["/cgi-bin/webhook/send?key=k-hq", "/cgi-bin/webhook/send?key=k-alerts"]
        + ["/cgi-bin/webhook/send?key=k-hq"] * 3
    )
    image = {"msgtype": "image", "image": {"base64": base64.b64encode(png).decode(),
                                           "md5": hashlib.md5(png).hexdigest()}}
    assert wecom.bodies() == [
        {"msgtype": "text",
         "text": {"content": "【通知 3】请于周五前报送材料", "mentioned_list": ["@all"]}},
        {"msgtype": "markdown", "markdown": {"content": "## 周排名\n> 浑源县 **第1**"}},
        image,
        {"msgtype": "text", "text": {"content": "附图：本周排名"}},
        image,
    ]


async def test_at_most_twenty_a_minute_per_webhook(wecom, clock) -> None:
    t, fake = transport(wecom, clock, per_minute=20)
    for i in range(45):
        await t.text("hq", f"消息{i}")
    await t.text("alerts", "另一个群不受影响")
    await t.aclose()
    times = [at for _, _, at in wecom.requests[:45]]
    assert len(times) == 45
    # No 60-second window holds more than 20 of them.
    for i in range(len(times) - 20):
        assert times[i + 20] - times[i] >= timedelta(seconds=60)
    assert fake.slept == [60.0, 60.0]
    # The other webhook has its own allowance: sent at once.
    assert wecom.requests[45][2] == times[-1]


async def test_rate_limited_errcode_waits_and_retries(wecom, clock) -> None:
    t, fake = transport(wecom, clock)
    wecom.script = [{"errcode": 45009, "errmsg": "api freq out of limit"}]
    await t.text("hq", "排名通报")
    await t.aclose()
    assert [b["text"]["content"] for b in wecom.bodies()] == ["排名通报", "排名通报"]
    assert fake.slept == [60.0]


async def test_other_errcodes_fail_without_retry(wecom, clock) -> None:
    t, _ = transport(wecom, clock)
    wecom.script = [{"errcode": 93000, "errmsg": "invalid webhook url"}]
    with pytest.raises(WecomError, match="93000"):
        await t.text("hq", "x")
    await t.aclose()
    assert len(wecom.requests) == 1


async def test_server_errors_and_timeouts_are_retried_with_backoff(wecom, clock) -> None:
    # The slow answer comes well after the timeout, so a loaded machine cannot blur them.
    t, fake = transport(wecom, clock, timeout=1.0, retries=3)
    wecom.script = [502, ("slow", 2.0), 503]
    await t.text("hq", "终于送达")
    assert fake.slept == [1.0, 2.0, 4.0]
    assert len(wecom.requests) == 4
    # Out of retries: the error reaches the outbox, which retries later.
    wecom.script = [500, 500, 500, 500]
    with pytest.raises(httpx.HTTPStatusError):
        await t.text("hq", "送不出去")
    # A client error is not worth retrying.
    wecom.script = [404]
    before = len(wecom.requests)
    with pytest.raises(httpx.HTTPStatusError):
        await t.text("hq", "地址错了")
    assert len(wecom.requests) == before + 1
    await t.aclose()


async def test_unknown_webhook_name_fails(wecom, clock) -> None:
    t, _ = transport(wecom, clock)
    with pytest.raises(KeyError, match="county"):
        await t.send(out("x", room="county"))
    await t.aclose()
    assert wecom.requests == []


def test_long_text_is_split_within_the_byte_limit() -> None:
    lines = [f"第{i}行：浑源县吴城乡皇叔洼村危房改造进度" for i in range(200)]
    parts = split_bytes("\n".join(lines), 2048)
    assert len(parts) > 1
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert "\n".join(parts).split("\n") == lines
    one_long_line = "长" * 1500  # 4500 bytes, no line breaks
    parts = split_bytes(one_long_line, 2048)
    assert all(len(p.encode()) <= 2048 for p in parts) and "".join(parts) == one_long_line
    assert split_bytes("短", 2048) == ["短"]


async def test_through_the_outbox_failed_then_sent_once(app, wecom, clock) -> None:
    t, fake = transport(wecom, clock)
    with app.db.transaction() as s:
        app.writer.put(s, "【通知 1】明早九点开会", room_id="hq", transport="wecom", kind="notice")
    sender = OutboxSender(app.db, {"wecom": t}, clock, max_attempts=3, sleep=fake.sleep)
    wecom.script = [{"errcode": 93000, "errmsg": "invalid webhook url"}]
    assert await sender.flush() == 0
    row = app.db.run_sync(lambda s: s.exec(select(OutboxMessage)).one())
    assert (row.attempts, row.sent_at) == (1, None) and "93000" in row.last_error
    assert row.next_try_at == clock.now() + timedelta(seconds=2)
    assert await sender.flush() == 0  # not before its retry time
    clock.set(clock.now() + timedelta(seconds=2))
    assert await sender.flush() == 1
    assert await sender.flush() == 0
    await t.aclose()
    row = app.db.run_sync(lambda s: s.exec(select(OutboxMessage)).one())
    assert row.sent_at == clock.now()
    assert [b["text"]["content"] for b in wecom.bodies()] == ["【通知 1】明早九点开会"] * 2


async def test_run_with_only_wecom_serves_the_read_only_dashboard(db_url: str) -> None:
    """`villagebot run` with WeCom only (nothing comes in): the schedules' and the
    dashboard's process. The dashboard is the only page, read-only, and live."""
    with FakeWecom() as server:
        cfg = load_config().with_overrides(
            bot={"admins": [ADMIN]},
            transports={"wecom": {"enabled": True, "webhooks": {"hq": server.url("k-hq")}},
                        "simulator": {"port": 0, "dashboard_in_run": True}},
        )
        runner = Runner(cfg, db_url=db_url)
        app = await runner.start()
        try:
            assert runner.dashboard is not None and runner.wechaty is None
            base = runner.dashboard.url
            async with httpx.AsyncClient(base_url=base) as http:
                home = await http.get("/")
                assert home.status_code == 302 and home.headers["location"] == "/dashboard"
                assert "看板" in (await http.get("/dashboard")).text
                for path in ("/api/state", "/api/messages"):
                    assert (await http.get(path)).status_code == 404  # no simulator here
                said = await http.post("/api/say", json={"text": "#帮助", "sender": ADMIN})
                assert said.status_code == 404
                board = (await http.get("/api/dashboard")).json()
                assert board["simulator"] is False and set(board["sections"]) >= {"progress"}
            # A commit tells a watching page to reload its figures.
            async with aiohttp.ClientSession() as web, web.ws_connect(f"{base}api/ws") as ws:
                await build_tree(MemoryChat(app))
                assert (await ws.receive_json(timeout=10)) == {"type": "changed"}
        finally:
            await runner.stop()
    exposed = load_config().with_overrides(
        transports={"wecom": {"enabled": True, "webhooks": {"hq": "http://127.0.0.1:1/"}},
                    "simulator": {"host": "0.0.0.0", "dashboard_in_run": True}},
    )
    with pytest.raises(ConfigError, match="simulator.token"):
        Runner(exposed)
