"""The simulator's web server refuses other web pages: cross-origin POSTs and sockets,
non-JSON bodies, a foreign `Host` (DNS rebinding), and any file but the pages' own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import pytest

from bot.app import App
from bot.clock import VirtualClock
from bot.config import Config
from bot.drivers.simulator import Simulator, serve
from bot.web.server import Server, host_allowed, origin_allowed


@pytest.fixture
def sqlite_app(config: Config, clock: VirtualClock, sqlite_url: str) -> Iterator[App]:
    from bot.wiring import build_app

    a = build_app(config, clock=clock, db_url=sqlite_url)
    yield a
    a.close()


@pytest.fixture
async def server(sqlite_app: App) -> AsyncIterator[Server]:
    s = await serve(Simulator(sqlite_app, sqlite_app.clock))
    yield s
    await s.close()


SAY = {"text": "#帮助", "sender": "wxid_a", "room": "r1"}


async def test_same_origin_json_post_is_served(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        origin = server.url.rstrip("/")
        r = await http.post("/api/say", json=SAY, headers={"Origin": origin})
        assert r.status_code == 200, r.text
        r = await http.post("/api/say", json=SAY)  # not a browser: no Origin
        assert r.status_code == 200


async def test_cross_origin_post_is_refused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for origin in ("http://127.0.0.1:9", "http://evil.example", "null"):
            r = await http.post("/api/say", json=SAY, headers={"Origin": origin})
            assert r.status_code == 403, origin
        r = await http.get("/api/messages")
        assert r.json()["messages"] == []  # nothing was said


async def test_text_plain_post_is_refused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.post("/api/say", content='{"text": "#帮助", "sender": "x"}',
                            headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        r = await http.post("/api/clock", content="{}", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415


async def test_a_foreign_host_header_is_refused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        port = server.url.split(":")[2].rstrip("/")
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1"):
            r = await http.get("/api/state", headers={"Host": host})
            assert r.status_code == 421, host
            r = await http.post("/api/say", json=SAY, headers={"Host": host})
            assert r.status_code == 421, host
        r = await http.get("/api/state", headers={"Host": f"localhost:{port}"})
        assert r.status_code == 200


async def test_websocket_from_a_foreign_origin_is_refused(server: Server) -> None:
    ws_url = server.url + "api/ws"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await http.ws_connect(ws_url, origin="http://evil.example")
        assert e.value.status == 403
        sock = await http.ws_connect(ws_url, origin=server.url.rstrip("/"))
        await sock.close()


async def test_only_the_pages_files_are_served(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/__init__.py", "/static/__init__.py", "/static/server.py",
                     "/static/index.html", "/static/%2e%2e/app.py", "/static/"):
            r = await http.get(path)
            assert r.status_code == 404, path
        for path in ("/static/app.js", "/static/common.js", "/static/style.css",
                     "/static/dashboard.js", "/", "/dashboard"):
            r = await http.get(path)
            assert r.status_code == 200, path


def test_host_and_origin_rules() -> None:
    bound = ("127.0.0.1", 8600)
    assert host_allowed("127.0.0.1:8600", bound, "")
    assert host_allowed("localhost:8600", bound, "")
    assert host_allowed("[::1]:8600", bound, "")
    assert not host_allowed("attacker.example:8600", bound, "")
    assert not host_allowed("localhost", bound, "")
    assert not host_allowed("", bound, "")
    assert host_allowed("bot.example:8600", ("0.0.0.0", 8600), "token")
    assert origin_allowed(None, "127.0.0.1:8600")
    assert origin_allowed("http://127.0.0.1:8600", "127.0.0.1:8600")
    assert not origin_allowed("http://localhost:8601", "localhost:8600")
