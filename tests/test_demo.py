"""The demo city's seed (on SQLite and PostgreSQL), and the simulator's server: its API,
its token, and its refusal to listen beyond loopback without one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, func, select

from bot import demo
from bot.app import App
from bot.clock import VirtualClock
from bot.config import ConfigError, load_config
from bot.drivers.memory import MemoryChat
from bot.drivers.simulator import Simulator, serve
from bot.jobs import JobCtx, JobKind, upsert_job
from bot.models.core import Household, OrgUnit, Person, RoleGrant, Room
from bot.web.server import check_exposure
from bot.wiring import build_app


def count(app: App, model, *where) -> int:
    q = select(func.count()).select_from(model)
    for w in where:
        q = q.where(w)
    return int(app.db.run_sync(lambda s: s.exec(q).one()))


@pytest.fixture
def demo_app(db_url: str) -> Iterator[App]:
    a = build_app(load_config(), clock=VirtualClock(demo.SEED_START), db_url=db_url,
                  admins=[demo.ADMIN_ID])
    yield a
    a.close()


def test_script_is_consistent() -> None:
    names = [p.name for p in demo.PEOPLE]
    assert len(names) == len(set(names)), "demo names must be unique: mentions go by name"
    keys = {u.key for u in demo.UNITS}
    assert all(p.unit in keys for p in demo.PEOPLE)
    assert all(u.parent is None or u.parent in keys for u in demo.UNITS)
    steps = demo.script()
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    assert steps[0].at == demo.SEED_START and steps[-1].at < demo.DEMO_START
    # Every @name in the script is a demo person (else the seed would ask "请用@指定").
    for s in steps:
        assert len(demo.mentions_in(s.text)) == s.text.count("@"), s.text
    with pytest.raises(ValueError, match="line 1"):
        demo.story_script("5-6 10:00 nowhere 刘伟: #帮助")


async def test_seed_builds_the_city(demo_app: App) -> None:
    chat = MemoryChat(demo_app)
    result = await demo.seed(chat)
    assert result.problems == []
    # Every line of the script is a command that exists (or plain chat).
    assert result.skipped == []
    assert result.said > 200
    assert demo_app.clock.now() == demo.DEMO_START
    # Every unit and group of the script, bound; the roles and households it grants.
    assert count(demo_app, OrgUnit) == len(demo.UNITS)
    assert count(demo_app, Room, col(Room.unit_id).is_not(None)) == len(demo.UNITS)
    assert count(demo_app, RoleGrant) == sum(1 for p in demo.PEOPLE if p.role)
    households = {p.household for p in demo.PEOPLE if p.household}
    phoneless = sum(len(v) for v in demo.PHONELESS.values())
    assert count(demo_app, Household) == len(households) + phoneless
    liuwei = demo_app.db.run_sync(lambda s: s.get(Person, "wxid_liuwei"))
    assert liuwei is not None and liuwei.name == "刘伟"
    hsw = demo_app.db.run_sync(
        lambda s: s.exec(select(OrgUnit).where(OrgUnit.name == "皇叔洼村")).one()
    )
    wucheng = demo_app.db.run_sync(lambda s: s.get(OrgUnit, hsw.parent_id))
    assert wucheng is not None and wucheng.name == "吴城乡"


async def test_seed_skips_unknown_commands_and_reports_problems(demo_app: App) -> None:
    chat = MemoryChat(demo_app)
    at = demo.SEED_START
    steps = [
        demo.Say(at, "datong", demo.ADMIN_ID, "#绑定 市 大同市"),
        demo.Say(at + timedelta(minutes=1), "datong", demo.ADMIN_ID, "#没有这个命令 1"),
        demo.Say(at + timedelta(minutes=2), "datong", "wxid_liuwei", "#任命 @贾健刚 指挥部"),
    ]
    result = await demo.seed(chat, until=at + timedelta(hours=1), steps=steps)
    assert result.skipped == ["#没有这个命令 1"]
    assert len(result.problems) == 1 and "需要管理员或指挥部权限" in result.problems[0]
    assert demo_app.clock.now() == at + timedelta(hours=1)


async def test_seed_survives_a_failing_job(sqlite_url: str) -> None:
    def boom(ctx: JobCtx) -> None:
        raise RuntimeError("broken job")

    kind = JobKind("boom", boom, lambda job, after, cfg: after + timedelta(days=1))
    app = build_app(load_config(), clock=VirtualClock(demo.SEED_START), db_url=sqlite_url,
                    admins=[demo.ADMIN_ID], kinds=[kind])
    try:
        due = demo.SEED_START + timedelta(minutes=30)
        app.db.run_sync(lambda s: upsert_job(s, "boom", "boom", due, demo.SEED_START))
        at = demo.SEED_START + timedelta(hours=1)
        steps = [demo.Say(at, "datong", demo.ADMIN_ID, "#绑定 市 大同市")]
        result = await demo.seed(MemoryChat(app), until=at + timedelta(hours=1), steps=steps)
        # The job engine (or else the seed) logs the failure and time goes on.
        assert all("broken job" in p for p in result.problems)
        assert result.said == 1 and app.clock.now() == at + timedelta(hours=1)
        assert count(app, OrgUnit) == 1  # the line after the failure still ran
    finally:
        app.close()


def test_exposure_needs_a_token() -> None:
    check_exposure("127.0.0.1", "")
    check_exposure("::1", "")
    check_exposure("localhost", "")
    check_exposure("0.0.0.0", "long-random-token")
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        with pytest.raises(ConfigError, match="transports.simulator.token"):
            check_exposure(host, "")


def test_cli_demo_refuses_a_public_address_without_token(tmp_path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--host", "0.0.0.0", "--db", f"sqlite:///{tmp_path}/d.db"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )
    assert p.returncode == 2, p.stderr
    assert "transports.simulator.token" in p.stderr
    assert not (tmp_path / "d.db").exists()  # refused before touching anything


# -- the server, driven over HTTP ------------------------------------------------------


@pytest.fixture
async def sim(sqlite_url: str) -> AsyncIterator[Simulator]:
    clock = VirtualClock(demo.SEED_START)
    app = build_app(load_config(), clock=clock, db_url=sqlite_url, admins=[demo.ADMIN_ID])
    yield Simulator(app, clock, titles=demo.titles())
    app.close()


async def test_api_say_clock_and_state(sim: Simulator) -> None:
    server = await serve(sim)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.post("/api/say", json={"text": "#绑定 市 大同市", "sender": demo.ADMIN_ID,
                                                 "name": "系统管理员", "room": "sim_x",
                                                 "topic": "大同市指挥部"})
            assert r.status_code == 200 and r.json()["sent"] == 1
            # '@贾健刚' becomes a mention with an id, as a WeChat client would send it.
            await http.post("/api/say", json={"text": "#任命 @贾健刚 指挥部", "sender": demo.ADMIN_ID,
                                              "room": "sim_x", "mentions": ["wxid_jiajiangang"]})
            msgs = (await http.get("/api/messages")).json()["messages"]
            assert [(m["dir"], m["text"]) for m in msgs] == [
                ("in", "#绑定 市 大同市"),
                ("out", "已新建并绑定：本群 → 大同市（市）"),
                ("in", "#任命 @贾健刚 指挥部"),
                ("out", "已任命 贾健刚 为 大同市指挥部"),
            ]
            since = msgs[-1]["id"]
            assert (await http.get(f"/api/messages?since={since}")).json()["messages"] == []
            state = (await http.get("/api/state")).json()
            assert state["virtual"] is True and state["now"].startswith("2019-05-06T08:30")
            room = next(r for r in state["rooms"] if r["id"] == "sim_x")
            assert room["unit"] == "大同市" and room["members"][0] == "wxid_jiajiangang"
            jia = next(p for p in state["people"] if p["id"] == "wxid_jiajiangang")
            assert jia["roles"] == ["大同市指挥部"] and jia["title"].startswith("市指挥部")
            # The clock: forward by a day; never backwards; nonsense refused.
            r = await http.post("/api/clock", json={"days": 1})
            assert r.json()["now"].startswith("2019-05-07T08:30")
            r = await http.post("/api/clock", json={"until": "2019-05-01T08:00"})
            assert r.status_code == 400 and "往前" in r.json()["error"]
            for nonsense in ({"until": "next tuesday"}, {"days": 1e12}, {"hours": "x"}):
                r = await http.post("/api/clock", json=nonsense)
                assert r.status_code == 400 and "例：" in r.json()["error"], nonsense
            assert (await http.get("/api/messages?since=x")).status_code == 400
            assert (await http.get("/api/image/x")).status_code == 404
            assert (await http.post("/api/say", json={"text": "", "sender": "x"})).status_code == 400
            # Ordinary chat is logged but gets no reply.
            r = await http.post("/api/say", json={"text": "大家好", "sender": "wxid_jiajiangang",
                                                 "room": "sim_x"})
            assert r.json()["sent"] == 0
            page = await http.get("/")
            assert page.status_code == 200 and "群聊模拟器" in page.text
            dash = (await http.get("/api/dashboard")).json()
            assert set(dash["sections"]) == {"progress", "rankings", "points", "notices"}
    finally:
        await server.close()


async def test_token_is_required_when_set(sim: Simulator) -> None:
    server = await serve(sim, "127.0.0.1", 0, token="s3cret-token")
    base = server.url.split("?")[0]
    try:
        assert server.url.endswith("?token=s3cret-token")
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/api/state")).status_code == 401
            assert (await http.get("/", params={"token": "wrong"})).status_code == 401
            assert (await http.get("/static/app.js")).status_code == 401
            r = await http.get("/", params={"token": "s3cret-token"})
            assert r.status_code == 200
            # The page's cookie carries the token from then on.
            assert (await http.get("/api/state")).status_code == 200
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.get("/api/state", headers={"Authorization": "Bearer s3cret-token"})
            assert r.status_code == 200
    finally:
        await server.close()
