"""What an operator meets when deploying: a busy port, an unreachable or refusing puppet
service, the login QR code, the ids of groups and members. Each problem is one Chinese
line saying what to do, without a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import load_config
from bot.runner import Runner
from bot.transports.wechaty import WechatyTransport, terminal_qr
from bot.web.server import Events, make_dashboard_app, serve_app
from bot.wiring import build_app
from tests.helpers import ADMIN
from tests.test_wechaty import BOT, MEMBER, ROOM, Gateway, gateway, until  # noqa: F401
from tests.test_wecom import FakeWecom

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _villagebot(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("VILLAGEBOT_")}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _one_chinese_line(r: subprocess.CompletedProcess[str], port: int) -> None:
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"端口 127.0.0.1:{port} 已被占用" in lines[0] and "transports.simulator.port" in lines[0]
    assert "Traceback" not in r.stderr + r.stdout


def test_demo_on_a_busy_port_says_so_in_one_line(busy_port: int, tmp_path: Path) -> None:
    r = _villagebot("demo", "--port", str(busy_port), "--db", f"sqlite:///{tmp_path / 'd.db'}",
                    cwd=tmp_path, timeout=30)
    _one_chinese_line(r, busy_port)


def test_run_on_a_busy_port_says_so_in_one_line(busy_port: int, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
        '[transports.wecom]\nenabled = true\nwebhooks = { admins = "http://127.0.0.1:9/x" }\n'
        f"[transports.simulator]\nport = {busy_port}\ndashboard_in_run = true\n",
        encoding="utf-8",
    )
    r = _villagebot("run", "--config", str(cfg), cwd=tmp_path, timeout=30)
    _one_chinese_line(r, busy_port)


async def test_an_unreachable_puppet_service_is_retried_and_never_called_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = int(s.getsockname()[1])
    caplog.set_level(logging.INFO)
    with FakeWecom() as wecom:
        cfg = load_config().with_overrides(
            transports={
                "wechaty": {"enabled": True, "endpoint": f"127.0.0.1:{closed}", "token": "t"},
                "wecom": {"enabled": True, "webhooks": {"admins": wecom.url("k-admins")},
                          "alerts": "admins", "timeout_seconds": 5},
            },
        )
        runner = Runner(cfg, db_url=f"sqlite:///{tmp_path / 'bot.db'}", alert_after=0,
                        retry_seconds=0.1)
        await runner.start()
        try:
            alert = await until(lambda: _said(wecom, "微信"), 10, "an alert through WeCom")
            await until(lambda: _true(caplog.text.count("连接失败") >= 2), 10, "two retries")
        finally:
            await runner.stop()
    assert "正在连接微信服务" in caplog.text
    assert "连接失败，0.1 秒后重试" in caplog.text and "连接失败，0.2 秒后重试" in caplog.text
    assert "无法连接" in alert and "已断开" not in alert
    assert all("已断开" not in text for text in _texts(wecom))
    assert "已断开" not in caplog.text and "Traceback" not in caplog.text


async def test_a_wrong_token_says_to_check_the_token(
    gateway: Gateway, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO)
    transport = WechatyTransport(gateway.endpoint, "not-the-token", _ignore, retry_seconds=0.1)
    task = asyncio.create_task(transport.run())
    try:
        await until(lambda: _true("没有让机器人登录" in caplog.text), 20, "the token complaint")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    line = next(r.getMessage() for r in caplog.records if "没有让机器人登录" in r.getMessage())
    assert line.startswith("连接失败，") and "秒后重试" in line and "VILLAGEBOT_WECHATY_TOKEN" in line
    assert not transport.health.logged_in and "已断开" not in caplog.text


async def test_login_logs_the_groups_and_members_with_their_ids(
    gateway: Gateway, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO)
    transport = WechatyTransport(gateway.endpoint, gateway.token, _ignore, retry_seconds=0.1)
    task = asyncio.create_task(transport.run())
    try:
        assert await transport.wait_logged_in(20)
        await until(lambda: _true(ROOM in caplog.text), 20, "the groups in the log")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert f"已登录微信：村务助手（{BOT}）" in caplog.text
    room_line = next(r.getMessage() for r in caplog.records if ROOM in r.getMessage())
    assert "皇叔洼村工作群" in room_line and MEMBER in room_line and ADMIN in room_line


async def test_the_login_qr_code_is_in_the_log_and_on_the_dashboard(tmp_path: Path) -> None:
    url = "https://login.weixin.qq.com/l/abc123"
    drawn = terminal_qr(url)
    assert len(drawn.splitlines()) > 10 and "█" in drawn
    app = build_app(load_config(), db_url=f"sqlite:///{tmp_path / 'bot.db'}")
    shown: list[str | None] = [url]
    server = await serve_app(make_dashboard_app(app, Events(), login_qr=lambda: shown[0]),
                             "127.0.0.1", 0, "")
    try:
        async with httpx.AsyncClient() as c:
            page = (await c.get(server.url + "qr")).text
            assert "扫码登录" in page and "<svg" in page and url in page
            shown[0] = None
            assert "不需要扫码" in (await c.get(server.url + "qr")).text
    finally:
        await server.close()
        app.close()


async def _ignore(_: object) -> None:
    return None


async def _true(value: bool) -> bool:
    return value


def _texts(wecom: FakeWecom) -> list[str]:
    return [b.get("text", b.get("markdown", {})).get("content", "") for b in wecom.bodies()]


async def _said(wecom: FakeWecom, needle: str) -> str | None:
    return next((t for t in _texts(wecom) if needle in t), None)


async def test_a_qr_scan_is_logged_and_kept_until_login(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    transport = WechatyTransport("127.0.0.1:9", "t", _ignore)
    await transport._on_scan("https://login.weixin.qq.com/l/xyz", 2)
    assert transport.qr == "https://login.weixin.qq.com/l/xyz"
    assert "请用机器人的微信扫描下面的二维码登录" in caplog.text and "█" in caplog.text
    await transport._on_scan("", 3)  # scanned, waiting for the confirmation on the phone
    assert transport.qr == "https://login.weixin.qq.com/l/xyz"


def test_an_empty_webhook_names_its_environment_variable() -> None:
    from bot.config import ConfigError
    from bot.runner import check_config

    cfg = load_config(None, {"VILLAGEBOT_WECOM_WEBHOOK_HQ": "k"}).with_overrides(
        transports={"wecom": {"enabled": True, "webhooks": {"admins": "", "hq": "k"}}}
    )
    with pytest.raises(ConfigError, match="VILLAGEBOT_WECOM_WEBHOOK_ADMINS"):
        check_config(cfg)


async def test_a_first_connection_after_unreachable_is_not_called_a_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.clock import VirtualClock
    from bot.runner import ConnectionWatch
    from bot.transports.wechaty import Health

    start = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)
    clock = VirtualClock(start)
    app = build_app(load_config(), clock=clock, db_url=f"sqlite:///{tmp_path / 'bot.db'}")
    wechat = WechatyTransport("127.0.0.1:9", "t", _ignore, clock=clock)
    watch = ConnectionWatch(app, wechat, None, lambda: None, alert_after=60)
    try:
        clock.set(start + timedelta(minutes=2))
        await watch.check()
        wechat._health = Health(True, clock.now(), "wxid_bot")
        await watch.check()
    finally:
        app.close()
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alert: ")]
    assert said[0].startswith("alert: 【村务助手】微信无法连接（06月03日 09:00 起）")
    assert said[1] == "alert: 【村务助手】微信已连接，积压的消息将合并补发。"
