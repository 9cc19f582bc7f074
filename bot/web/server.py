"""The web server of the read-only dashboard, and what every page of ours shares.

`villagebot run` serves only the dashboard (`make_dashboard_app`); the browser simulator
(`bot.drivers.simulator`) mounts the same routes next to its chat pages. Listening beyond
loopback needs a token, which every request must then carry.

Other web pages in the same browser must not drive or read it (`_guard`): a request
whose `Host` is not this server's address is refused (DNS rebinding), a POST or a
socket opened from another origin is refused, POST bodies must be JSON (a page may send
text/plain cross-origin without asking), and only the pages' own files are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import ipaddress
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from sqlmodel import Session

from bot.app import App
from bot.clock import Clock
from bot.config import ConfigError

WEB = Path(__file__).resolve().parent
TOKEN_COOKIE = "vb_token"
# The only files under /static/: the pages' scripts and style, nothing else of the package.
# The page's own files, and nothing else (not the package's Python files). The chart
# library is installed into vendor/ by the Makefile.
STATIC_FILES = frozenset(
    {"app.js", "common.js", "dashboard.js", "style.css", "vendor/echarts.min.js"}
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

# The dashboard's figures: `bot.dashboard.collect` unless a test gives another.
Dashboard = Callable[[Session, Any, datetime], dict[str, Any]]


class Events:
    """Live events for the pages' sockets: each subscriber gets every later one."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, payload: dict[str, Any]) -> None:
        for q in list(self._subscribers):
            q.put_nowait(payload)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str) -> None:
    """Listening beyond this machine needs a token: refuse to start without one."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"transports.simulator.host = {host!r} is not a loopback address: "
            "set transports.simulator.token (every request must then carry it)"
        )


@dataclass
class Server:
    runner: web.AppRunner
    url: str

    async def close(self) -> None:
        await self.runner.cleanup()


def make_dashboard_app(
    app: App, changes: Events, token: str = "", dashboard: Dashboard | None = None,
    login_qr: Callable[[], str | None] | None = None,
) -> web.Application:
    """Only the read-only dashboard, for `villagebot run`: its page, its figures, and a
    live socket that tells the page when a commit may have changed them (`changes`);
    with `login_qr`, also /qr: WeChat's login QR code while it waits for a scan."""
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.rel_url.with_path("/dashboard"))

    if login_qr is not None:
        get_qr = login_qr

        @routes.get("/qr")
        async def qr_page(_: web.Request) -> web.Response:
            from bot.transports.wechaty import svg_qr

            data = get_qr()
            if data is None:
                body = "<p>现在不需要扫码（已登录，或正在连接微信服务）。</p>"
            else:
                body = ("<p>请用机器人的微信扫码登录：</p>" + svg_qr(data).decode()
                        + f"<p><small>{html.escape(data)}</small></p>")
            page = ('<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5">'
                    f"<title>微信登录</title>{body}")
            return web.Response(text=page, content_type="text/html")

    dashboard_routes(routes, app, app.clock, changes, dashboard, simulator=False)
    return web_app(routes, token)


def dashboard_routes(
    routes: web.RouteTableDef,
    app: App,
    clock: Clock,
    events: Events,
    dashboard: Dashboard | None,
    simulator: bool = True,
) -> None:
    """The dashboard's page, its JSON figures and the live socket (`events`)."""
    if dashboard is None:
        from bot.dashboard import collect

        dashboard = collect
    board: Dashboard = dashboard

    @routes.get("/dashboard")
    async def dashboard_page(_: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB / "dashboard.html")

    @routes.get("/api/dashboard")
    async def dashboard_data(_: web.Request) -> web.Response:
        data = await app.db.run(lambda s: board(s, app.config, clock.now()))
        return json_response({**data, "simulator": simulator})

    @routes.get("/api/dashboard/unit/{id:\\d+}")
    async def dashboard_unit(request: web.Request) -> web.Response:
        from bot.dashboard import screen

        uid = int(request.match_info["id"])
        data = await app.db.run(lambda s: screen(s, app.config, clock.now(), uid))
        if data is None:
            raise web.HTTPNotFound(text="没有这个单位")
        return json_response(data)

    @routes.get("/api/export/{what}")
    async def dashboard_export(request: web.Request) -> web.Response:
        from urllib.parse import quote

        from bot.dashboard import EXPORTS, XLSX, export

        what = request.match_info["what"]
        if what not in EXPORTS:
            raise web.HTTPNotFound(text="没有这种导出")
        # Written in the database thread (a temporary file), sent as a download.
        name, body = await app.db.run(lambda s: export(s, app.config, clock.now(), what))
        disposition = f"attachment; filename=\"{what}.xlsx\"; filename*=UTF-8''{quote(name)}"
        headers = {"Content-Disposition": disposition}
        return web.Response(body=body, content_type=XLSX, headers=headers)

    @routes.get("/api/ws")
    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(heartbeat=30)
        q = events.subscribe()  # before the page hears that it is connected

        async def pump() -> None:
            while True:
                await sock.send_json(await q.get(), dumps=dumps)

        task: asyncio.Task[None] | None = None
        try:
            await sock.prepare(request)
            task = asyncio.create_task(pump())
            async for msg in sock:  # the page only listens; drain until it closes
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task
            events.unsubscribe(q)
        return sock


def web_app(routes: web.RouteTableDef, token: str) -> web.Application:
    """The routes, the allowed static files, the origin checks, and the token check
    when there is a token."""
    app = web.Application(middlewares=[_guard(token), *([_auth(token)] if token else [])])
    app.add_routes(routes)

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(WEB / name)

    app.router.add_get("/static/{name:.+}", static)
    return app


def _split_host(value: str) -> tuple[str, int | None] | None:
    """'host:port' or '[v6]:port' → (host, port); None when it is not one."""
    value = value.strip().lower()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            return None
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return host, int(port) if port else None


def host_allowed(header: str, bound: tuple[str, int] | None, token: str) -> bool:
    """The `Host` a browser sends when it really talks to this server: a loopback name
    (or the bound address itself) with the bound port. With a token, any name: a
    rebound page does not know the token."""
    if token:
        return True
    parsed = _split_host(header)
    if parsed is None or bound is None:
        return False
    host, port = parsed
    bound_host, bound_port = bound
    if port is not None and port != bound_port:
        return False
    if port is None and bound_port != 80:
        return False
    return host in LOOPBACK_NAMES or host == bound_host.lower()


def origin_allowed(origin: str | None, host: str) -> bool:
    """No Origin (not a browser page: curl, tests) or this very server's origin."""
    if origin is None:
        return True
    return origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower())


def _guard(token: str) -> Any:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        bound = (str(sock[0]), int(sock[1])) if sock else None
        if not host_allowed(host, bound, token):
            raise web.HTTPMisdirectedRequest(text="unknown Host")
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if (writes or upgrade) and not origin_allowed(request.headers.get("Origin"), host):
            raise web.HTTPForbidden(text="cross-origin request refused")
        if writes and request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="expected application/json")
        return await handler(request)

    return middleware


def _auth(token: str) -> Any:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = auth[7:]
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPUnauthorized(text="需要令牌：请在地址后加 ?token=…")
        response = await handler(request)
        if request.query.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    return middleware


async def serve_app(app: web.Application, host: str, port: int, token: str) -> Server:
    """Start listening (port 0: any free port); the address is in `Server.url`."""
    check_exposure(host, token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
    url = f"http://{shown}:{bound[1]}/"
    if token:
        url += f"?token={token}"
    return Server(runner, url)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or 400."""
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data
