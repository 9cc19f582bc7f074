"""A whole city on one PostgreSQL (issue 15): three bot accounts, each its own puppet-
service gateway (the official Node gateway wrapping the mock puppet), each served by its
own `villagebot run --account NAME` process; the groups spread so that some hold two
bot accounts. A `#通知 全体` reaches every group exactly once, each account delivering
some; one gateway is killed (-9) in the middle: the others deliver its shared groups,
its own groups wait, nothing is doubled, and the admins are told once (a stand-in WeCom
alerts webhook and the HQ group). A message reaching two accounts in one group is
answered once, and a reminder runs once across the three processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.app import App
from bot.config import load_config
from bot.models.accounts import AccountRoom, BotAccount
from bot.models.core import OutboxMessage, Room
from bot.org import HQ as HQ_ROLE
from bot.org import create_unit, grant_role, touch_person
from bot.reminders import set_oneoff
from bot.runner import Runner
from bot.wiring import build_app
from tests.helpers import ADMIN
from tests.test_wechaty import GATEWAY_DIR, Gateway, until
from tests.test_wecom import FakeWecom

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = ("a", "b", "c")
BOTS = {n: f"wxid_bot_{n}" for n in ACCOUNTS}
MEMBER = "wxid_liuwei"
HQ = "hq@chatroom"
# Each group and the bot accounts in it (the HQ group and some villages hold two).
GROUPS = {
    HQ: "ab",
    "va1@chatroom": "a", "va2@chatroom": "a",
    "vb1@chatroom": "b", "vb2@chatroom": "b",
    "vc1@chatroom": "c", "vc2@chatroom": "c", "vc3@chatroom": "c", "vc4@chatroom": "c",
    "vab@chatroom": "ab", "vbc1@chatroom": "bc", "vbc2@chatroom": "bc",
    "vac1@chatroom": "ac", "vac2@chatroom": "ac",
}
VILLAGES = [r for r in GROUPS if r != HQ]
ONLY_C = [r for r in VILLAGES if GROUPS[r] == "c"]
NOTICE = "明天上午九点全市防汛检查，请各村做好准备"


def fixture(account: str) -> dict[str, Any]:
    return {
        "bot": {"id": BOTS[account], "name": "村务助手"},
        "contacts": [{"id": ADMIN, "name": "管理员"}, {"id": MEMBER, "name": "刘伟"}],
        "rooms": [{"id": r, "topic": r, "members": [ADMIN, MEMBER]}
                  for r, held in GROUPS.items() if account in held],
    }


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[dict[str, Gateway]]:
    if not (GATEWAY_DIR / "node_modules").is_dir():
        if os.environ.get("CI"):
            pytest.fail("tests/gateway/node_modules is missing: run `make gateway`")
        pytest.skip("the Node gateway is not installed: run `make gateway`")
    gws = {n: Gateway(tmp_path, fixture(n), name=f"gateway-{n}") for n in ACCOUNTS}
    try:
        for gw in gws.values():  # side by side: each takes seconds of Node start-up
            gw.launch()
        for gw in gws.values():
            gw.wait_ready(60)
        yield gws
    finally:
        for gw in gws.values():
            gw.kill()


def _config(tmp: Path, db_url: str, gws: dict[str, Gateway], alerts_url: str) -> Path:
    accounts = "".join(
        f'[[transports.wechaty.accounts]]\nname = "{n}"\nendpoint = "{gw.endpoint}"\n'
        f'token = "{gw.token}"\n' for n, gw in gws.items())
    path = tmp / "city.toml"
    path.write_text(
        f'[bot]\nadmins = ["{ADMIN}"]\n'
        f'[database]\nurl = "{db_url}"\n'
        # A small pace: a message every two seconds per account, so that the notice is
        # still on its way when a gateway is killed.
        "[outbox]\nmin_gap_seconds = 2\njitter_seconds = 0\n"
        "[schedules]\ntimer_poll_seconds = 0.3\n"
        "[transports.wechaty]\nenabled = true\nheartbeat_seconds = 0.5\n"
        "heartbeat_timeout_seconds = 5\n"
        f'[transports.wecom]\nenabled = true\nalerts = "alerts"\ntimeout_seconds = 5\n'
        f'[transports.wecom.webhooks]\nalerts = "{alerts_url}"\n'
        + accounts,
        encoding="utf-8",
    )
    return path


def _set_up_city(db_url: str) -> None:
    """大同市 (the HQ group) → 浑源县 → 吴城乡 → one village per village group."""
    app = build_app(load_config(), db_url=db_url)
    try:
        now = app.clock.now()
        with app.db.transaction() as s:
            city = create_unit(s, "大同市", "市", None, now)
            s.add(Room(id=HQ, transport="wechaty", topic="大同市指挥部群", unit_id=city.id))
            s.flush()
            touch_person(s, ADMIN, "管理员", HQ, now)
            grant_role(s, ADMIN, city, HQ_ROLE, ADMIN, now)
            county = create_unit(s, "浑源县", "县", city, now)
            town = create_unit(s, "吴城乡", "乡", county, now)
            for i, room in enumerate(VILLAGES):
                village = create_unit(s, f"{'一二三四五六七八九十'[i % 10]}{i}号村", "村", town, now)
                s.add(Room(id=room, transport="wechaty", topic=room, unit_id=village.id))
    finally:
        app.close()


async def _say(gw: Gateway, room: str, sender: str, text: str, at: int) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{gw.base}/say", json={"from": sender, "room": room, "text": text,
                                                 "at": at})
        r.raise_for_status()


async def _bot_lines(gw: Gateway, room: str, needle: str) -> list[dict[str, Any]]:
    return [m for m in await gw.log(room=room)
            if m["from"] in BOTS.values() and needle in m["text"]]


async def _state(app: App, gws: dict[str, Gateway]) -> str:
    """What the outbox and the HQ group hold, for a failing run's report."""
    rows = _run(app, lambda s: [(r.id, r.room_id, r.kind, r.account, r.sent_at, r.attempts,
                                 r.last_error, r.next_try_at, r.text[:30])
                                for r in s.exec(select(OutboxMessage))])
    hq = [(m["from"], m["text"][:60]) for m in await gws["a"].log(room=HQ)]
    return f"outbox: {rows}\nHQ: {hq}"


def _run(app: App, fn: Any) -> Any:
    return app.db.run_sync(fn)


async def _copies(gws: dict[str, Gateway], room: str, needle: str,
                  accounts: str = "ab") -> int:
    """How many times the bots said `needle` in `room`, in the living gateways named."""
    return sum([len(await _bot_lines(gws[n], room, needle))
                for n in accounts if n in GROUPS[room]])


async def test_a_city_on_three_accounts_and_three_processes(
    gateways: dict[str, Gateway], pg_url: str, tmp_path: Path
) -> None:
    _set_up_city(pg_url)
    app = build_app(load_config(), db_url=pg_url)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {n: tmp_path / f"run-{n}.log" for n in ACCOUNTS}
    with FakeWecom() as wecom:
        cfg = _config(tmp_path, pg_url, gateways, wecom.url("k-alerts"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        try:
            for n in ACCOUNTS:
                (tmp_path / n).mkdir()  # each its own working directory (the inbox spool)
                with logs[n].open("wb") as err:
                    procs[n] = subprocess.Popen(
                        [sys.executable, "-m", "bot", "run", "--config", str(cfg),
                         "--account", n], stderr=err, cwd=tmp_path / n, env=env)
            await _scenario(app, gateways, wecom, logs)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
            app.close()
    for n in ACCOUNTS:
        assert "Traceback" not in logs[n].read_text(), logs[n].read_text()


async def _scenario(app: App, gws: dict[str, Gateway], wecom: FakeWecom,
                    logs: dict[str, Path]) -> None:
    # All three accounts log in; their room lists say which groups each is in.
    expected = {(n, r) for r, held in GROUPS.items() for n in held}

    async def ready() -> bool:
        rooms = _run(app, lambda s: set(s.exec(select(AccountRoom.account, AccountRoom.room_id))))
        up = _run(app, lambda s: {a.name for a in s.exec(select(BotAccount)) if a.status == "up"})
        return rooms == expected and up == set(ACCOUNTS)

    await until(ready, 150, "three accounts logged in with their groups")
    a, b, c = (gws[n] for n in ACCOUNTS)

    # One message reaching two accounts in one group (same sender, text and WeChat
    # time; each gateway numbers it its own way) is answered once.
    at = int(time.time() * 1000)
    await _say(a, "vab@chatroom", MEMBER, "#帮助", at)
    await _say(b, "vab@chatroom", MEMBER, "#帮助", at)

    async def helped() -> int:
        both = "".join(logs[n].read_text() for n in "ab")
        if "duplicate delivery" not in both:
            return 0
        return await _copies(gws, "vab@chatroom", "可用的命令")

    assert await until(helped, 20, "the help reply and the duplicate dropped") == 1

    # The HQ admin's notice to the whole city, received by both HQ accounts.
    at = int(time.time() * 1000)
    await _say(a, HQ, ADMIN, f"#通知 全体 {NOTICE}", at)
    await _say(b, HQ, ADMIN, f"#通知 全体 {NOTICE}", at)

    # Gateway c dies (-9) in the middle: after its first copy, its pace holding the rest.
    # Not while that copy is still in flight (in the gateway's log, not yet marked sent):
    # c's drop would then give it back (at-least-once, bot.accounts.release_claims), a
    # case tests/test_routing.py checks on its own.
    def c_recorded(s: Any) -> int:
        return len(s.exec(select(OutboxMessage.id).where(
            col(OutboxMessage.account) == "c", col(OutboxMessage.sent_at).is_not(None),
            col(OutboxMessage.kind) == "notice")).all())

    async def c_started() -> dict[str, int]:
        if not _run(app, c_recorded):
            return {}
        async with httpx.AsyncClient() as http:  # one look at every group: kill at once
            said = (await http.get(f"{c.base}/log")).json()
        copies = {r: sum(1 for m in said if m["room"] == r and m["from"] == BOTS["c"]
                         and NOTICE in m["text"]) for r in VILLAGES if "c" in GROUPS[r]}
        return copies if sum(copies.values()) else {}

    try:
        by_c = await until(c_started, 30, "account c's first copy of the notice")
    except AssertionError:
        raise AssertionError(await _state(app, gws)) from None
    c.kill()

    # The admins are told once: which account, how many groups are now unreachable, how
    # to log in again.
    async def alerted() -> list[dict[str, Any]]:
        return [body for body in wecom.bodies()
                if "微信账号 c 已掉线" in body.get("text", body.get("markdown", {})).get("content", "")]

    (alert,) = await until(alerted, 30, "the alert through WeCom")
    text = alert["text"]["content"]
    assert f"现在有 {len(ONLY_C)} 个群没有在线的机器人账号" in text
    assert "villagebot run --account c" in text and alert["text"]["mentioned_list"] == ["@all"]

    # Every group a live account is in gets its copy from a or b; c's own wait.
    async def copies() -> dict[str, int] | None:
        got = {r: by_c.get(r, 0) + await _copies(gws, r, NOTICE) for r in VILLAGES}
        done = all(got[r] for r in VILLAGES if GROUPS[r] != "c")
        return got if done else None

    await until(copies, 60, "the notice in every group a live account is in")

    # A reminder set for now runs once, whichever of the three processes' timers is first.
    def remind(s: Any) -> None:
        room = s.get(Room, "vab@chatroom")
        set_oneoff(s, "test:city-reminder", "vab@chatroom", room.unit_id, "交防汛检查表",
                   app.clock.now() + timedelta(seconds=1), app.clock.now(), ADMIN)

    _run(app, remind)

    async def reminded() -> int:
        return await _copies(gws, "vab@chatroom", "【提醒】交防汛检查表")

    await until(reminded, 30, "the reminder")
    await asyncio.sleep(2)  # several heartbeats and timer polls of every process

    # Nothing doubled: one copy per group; the groups only c is in that it had not yet
    # reached still wait (their rows unsent); each account delivered some.
    final = await copies()
    assert final is not None and all(n <= 1 for n in final.values()), final
    assert all(final[r] == 1 for r in VILLAGES if GROUPS[r] != "c"), final
    waiting = [r for r in ONLY_C if final[r] == 0]
    assert waiting, (final, by_c)
    rows = _run(app, lambda s: list(s.exec(
        select(OutboxMessage).where(col(OutboxMessage.kind) == "notice"))))
    assert {r.room_id for r in rows if r.sent_at is None} >= set(waiting)
    by_account = {r.account for r in rows if r.sent_at is not None}
    assert by_account == {"a", "b", "c"}, [(r.room_id, r.account) for r in rows]
    assert await reminded() == 1
    assert len(await alerted()) == 1
    # In the HQ group (two accounts): the notice's one confirmation and the one alert.
    assert await _copies(gws, HQ, "微信账号 c 已掉线") == 1
    assert await _copies(gws, HQ, "") == 2


async def test_a_hung_puppet_service_is_found_and_told(tmp_path: Path, pg_url: str) -> None:
    """The gateway stops answering while its connection stays open (SIGSTOP): the
    heartbeat's RPC times out, the account is marked down with the reason, the admins
    are told once; it answers again (SIGCONT): the account is back, and they are told."""
    if not (GATEWAY_DIR / "node_modules").is_dir():
        pytest.skip("the Node gateway is not installed: run `make gateway`")
    gw = Gateway(tmp_path, fixture("a"), name="gateway-a")
    gw.start()
    with FakeWecom() as wecom:
        cfg = load_config().with_overrides(
            transports={
                "wechaty": {"enabled": True, "heartbeat_seconds": 0.5,
                            "heartbeat_timeout_seconds": 30, "accounts": [
                                {"name": "a", "endpoint": gw.endpoint, "token": gw.token},
                                # held by another process (not started here)
                                {"name": "b", "endpoint": "127.0.0.1:1", "token": "t"}]},
                "wecom": {"enabled": True, "webhooks": {"alerts": wecom.url("k-alerts")},
                          "alerts": "alerts", "timeout_seconds": 5},
            },
        )
        runner = Runner(cfg, db_url=pg_url, retry_seconds=0.1, account="a")
        app = await runner.start()
        try:
            assert set(runner.wechats) == {"a"}
            wechat = runner.wechats["a"]
            assert await wechat.wait_logged_in(60)

            def status(s: Any) -> tuple[str, str] | None:
                row = s.get(BotAccount, "a")
                return (row.status, row.detail) if row is not None else None

            await until(lambda: _true(_run(app, status) == ("up", "")), 30, "a heartbeat")
            assert gw.proc is not None
            gw.proc.send_signal(signal.SIGSTOP)  # the connection stays open, nothing answers
            try:
                down = await until(lambda: _said(wecom, "微信账号 a 已掉线"), 30, "the alert")
                assert "无响应" in down
                st = _run(app, status)
                assert st is not None and st[0] == "down" and "无响应" in st[1]
            finally:
                gw.proc.send_signal(signal.SIGCONT)
            back = await until(lambda: _said(wecom, "微信账号 a 已恢复在线"), 60, "the all-clear")
            assert "6 个群" in back  # the groups it serves again
            assert len([b for b in wecom.bodies() if "已掉线" in _content(b)]) == 1
        finally:
            await runner.stop()
            gw.kill()


def _content(body: dict[str, Any]) -> str:
    return str(body.get("text", body.get("markdown", {})).get("content", ""))


async def _said(wecom: FakeWecom, needle: str) -> str | None:
    return next((_content(b) for b in wecom.bodies() if needle in _content(b)), None)


async def _true(value: bool) -> bool:
    return value
