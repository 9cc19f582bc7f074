"""The capacity model (bot/capacity.py) against the real outbox sender on a virtual
clock, and the `villagebot capacity` report.

The simulated city: 3,000 groups on 6 accounts, a city-wide notice queued at once. Each
account's messages go through the real `OutboxSender` with the default ban-safe
`Pacer`; sleeping moves a virtual clock (a discrete-event scheduler over the accounts'
workers), and recording transports stand at the edge. Nothing waits in real time.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from bot.accounts import note_rooms
from bot.capacity import Pace, assign, city, estimate, report, spread
from bot.cli import cli
from bot.clock import VirtualClock
from bot.messages import Outgoing
from bot.models.core import OutboxMessage
from bot.pacing import Pacer
from bot.sender import OutboxSender
from bot.wiring import build_app
from tests.conftest import SHANGHAI, START


class Recorder:
    """One account's transport at its edge: what it sent, and when."""

    def __init__(self, name: str, clock: VirtualClock) -> None:
        self.name = name
        self.clock = clock
        self.sent: list[tuple[datetime, Outgoing]] = []

    async def send(self, out: Outgoing) -> None:
        self.sent.append((self.clock.now(), out))


class VirtualTime:
    """A sleep for several concurrent workers on one virtual clock: a sleeping worker
    parks; when every running worker is parked, the clock jumps to the earliest wake-up
    and that worker goes on. Workers busy in the database are not parked, so time never
    moves under them."""

    def __init__(self, clock: VirtualClock, workers: int) -> None:
        self.clock = clock
        self.running = workers
        self.parked: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self.n = 0

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.n += 1
        heapq.heappush(self.parked, (self.clock.now() + timedelta(seconds=seconds), self.n, fut))
        self._go()
        await fut

    def done(self) -> None:
        self.running -= 1
        self._go()

    def _go(self) -> None:
        if self.parked and len(self.parked) == self.running:
            when, _, fut = heapq.heappop(self.parked)
            self.clock.set(max(when, self.clock.now()))
            fut.set_result(None)


def queue_city(app: Any, membership: list[set[str]]) -> None:
    """The accounts' room lists, and one notice row per group (batched inserts)."""
    now = app.clock.now()
    names = sorted({a for m in membership for a in m})
    rows = [{"transport": "wechaty", "room_id": f"g{i}", "text": f"【通知 1】第{i}群",
             "kind": "notice", "created_at": now, "mentions": "", "attempts": 0,
             "failed": False} for i in range(len(membership))]
    with app.db.transaction() as s:
        for n in names:
            note_rooms(s, n, [f"g{i}" for i, m in enumerate(membership) if n in m], now)
        for i in range(0, len(rows), 1000):
            s.execute(insert(OutboxMessage), rows[i:i + 1000])


# The model's finish time is an expectation; one seeded run of random gaps and pauses
# lies within this fraction of it: the sums of ~500 draws per account (3,000 groups),
# of ~50 (300 groups). The whole city is 3,000 sends of real database work, two
# transactions each (the claim with the row's read, and the mark): seconds, not minutes.
CITIES = [pytest.param(300, 0.15, id="300-groups"), pytest.param(3000, 0.05, id="3000-groups")]


@pytest.mark.parametrize(("groups", "tolerance"), CITIES)
async def test_model_matches_the_real_sender_for_a_city(config, tmp_path, groups, tolerance
                                                        ) -> None:
    # Stale merging is not part of a round (each group has one message), so it is held
    # off: its scan of the backlog on every send would only slow the simulation.
    cfg = config.with_overrides(outbox={"stale_minutes": 24 * 60},
                                database={"sqlite_synchronous": "NORMAL"})
    clock = VirtualClock(START)
    app = build_app(cfg, clock=clock, db_url=f"sqlite:///{tmp_path / 'city.db'}")
    try:
        membership = spread(groups, 6)
        queue_city(app, membership)
        names = sorted({a for m in membership for a in m})
        edges = {n: Recorder(n, clock) for n in names}
        vt = VirtualTime(clock, len(names))
        pacing = {n: Pacer.from_config(cfg, rng=random.Random(i)) for i, n in enumerate(names)}
        # The real multi-account sender: each account claims and sends its groups' rows.
        sender = OutboxSender(app.db, {}, clock, accounts=edges, account_pacing=pacing,
                              sleep=vt.sleep, fallback=None)

        async def account(name: str) -> int:
            try:
                return await sender.flush_account(name)
            finally:
                vt.done()

        counts = await asyncio.gather(*(account(n) for n in names))
    finally:
        app.close()
    per = groups // 6
    assert counts == [per] * 6
    # Every group got its one message, from the account it is in.
    got = {o.room: e.name for e in edges.values() for _, o in e.sent}
    assert got == {f"g{i}": min(m) for i, m in enumerate(membership)}
    # The pace held: gaps of 8–20 s, and a quiet pause after each 20 in a row.
    times = [t for t, _ in edges["wx1"].sent]
    gaps = sorted((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))
    pauses = (per - 1) // 20
    assert gaps[0] >= 8 and gaps[-pauses - 1] <= 20
    assert gaps[-pauses] >= 120 and gaps[-1] <= 300
    simulated = max(t for e in edges.values() for t, _ in e.sent) - START
    model = estimate(Pace.from_config(cfg), [(1, m) for m in membership], START, SHANGHAI)
    assert model.loads == {n: per for n in names}
    assert abs(simulated.total_seconds() - model.seconds) <= tolerance * model.seconds, (
        simulated, timedelta(seconds=model.seconds))


def test_the_pace_model() -> None:
    pace = Pace(gap_min=8, gap_max=20, burst_size=20, pause_min=120, pause_max=300,
                daily_cap=800)
    assert pace.run_seconds(1) == 0
    assert pace.run_seconds(20) == 19 * 14
    assert pace.run_seconds(21) == 19 * 14 + 210  # the pause after the 20th
    # Past the daily cap the rest goes from the next local midnight.
    morning = datetime(2019, 6, 3, 9, 0, tzinfo=SHANGHAI)
    assert pace.finish_seconds(800, morning, SHANGHAI) == pace.run_seconds(800)
    assert pace.finish_seconds(801, morning, SHANGHAI) == 15 * 3600
    assert pace.finish_seconds(10, morning, SHANGHAI, sent_today=795) == 15 * 3600 + 4 * 14


def test_shared_groups_go_to_the_least_loaded_account() -> None:
    items = [(1, {"a"})] * 10 + [(1, {"a", "b"})] * 10
    assert assign(items) == {"a": 10, "b": 10}
    assert assign(items, {"b": 4}) == {"a": 12, "b": 12}
    assert assign([(1, set())]) == {}  # no live account: it waits


def test_membership_of_a_spread_city() -> None:
    m = spread(10, 3, shared=0.2)
    assert [sorted(x) for x in m[:3]] == [["wx1", "wx2"], ["wx2", "wx3"], ["wx3"]]
    assert all(len(x) == 1 for x in m[2:])
    assert sum(1 for x in m if "wx1" in x) == 4


def test_city_report(config) -> None:
    c = city(3010, 6, config, shared=0.2)
    assert sorted(c.notice.loads.values()) == [501, 501, 502, 502, 502, 502]
    # One account down: its groups without a second account wait; the rest are spread.
    assert c.one_down.waiting == 502 - 101 and c.one_down.groups == 3010 - 401
    assert c.busiest_load == 3010 and c.headroom == 800 * 6 - 3010
    text = report(c)
    assert "3,010 个群，6 个微信账号，20% 的群有两个账号" in text
    assert "全市通知（每群一条）：约 3 小时 19 分钟 发完" in text
    assert "进度催报（周五 17:00）" in text and "积分公示（周日 18:00）" in text
    assert "每天余量：1,790 条" in text


def test_villagebot_capacity_command(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[outbox]\ngap_min_seconds = 15\ngap_max_seconds = 35\ndaily_cap = 400\n",
                   encoding="utf-8")
    out = CliRunner().invoke(cli, ["capacity", "--groups", "3010", "--accounts", "6",
                                   "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert "间隔 15–35 秒随机" in out.output and "400 条 × 6 个账号 = 2,400 条" in out.output
    assert "每天余量：不足 610 条" in out.output
    bad = CliRunner().invoke(cli, ["capacity", "--groups", "3010", "--accounts", "0"])
    assert bad.exit_code != 0


# -- what the author is told ---------------------------------------------------------


async def test_a_notice_through_paced_accounts_says_when_it_reaches_every_group(
        config, tmp_path) -> None:
    """The groups served by WeChat accounts are paced: the confirmation estimates when
    the last one is reached (from the queue, the live accounts and their groups), and
    #回执 counts the groups still waiting. The chat here is the in-memory one, so the
    groups are marked as WeChat's and the rows stay queued (nothing sends them)."""
    from sqlalchemy import update

    from bot.drivers.memory import MemoryChat
    from bot.models.core import Room
    from tests.test_notices import ADMIN, ALL_BUT_CITY, HQ, build_city, notify

    cfg = config.with_overrides(transports={"wechaty": {"enabled": True, "accounts": [
        {"name": "wx1"}, {"name": "wx2"}]}})
    app = build_app(cfg, clock=VirtualClock(START), db_url=f"sqlite:///{tmp_path / 'n.db'}",
                    admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        await build_city(chat)
        before = await notify(chat, "#通知 全体 周五前报送月度考核材料")
        assert "预计" not in before[0].text  # unpaced groups: nothing new
        paced = sorted(ALL_BUT_CITY)
        with app.db.transaction() as s:
            s.execute(update(Room).where(Room.id.in_(paced)).values(transport="wechaty"))
            note_rooms(s, "wx1", paced[:5], START)
            note_rooms(s, "wx2", paced[4:], START)
        # No account has reported yet: the configured ones are counted. Nine groups, one
        # message each, on two accounts: five and four, at 8–20 s apart.
        sent = await notify(chat, "#通知 全体 周一上午九点开会")
        assert sent[0].text == ("通知 2 已发往全体 9 个群。预计 5 分钟内送达全部 9 个群。"
                                "发送 #回执 2 查看确认情况")
        assert [o.room for o in sent[1:]] == []  # queued for the accounts
        reply = await chat.say("#回执 2", sender=HQ, name="贾健刚", room="r_city")
        assert "9 个群，已确认 0 个（0%），未发出 9 个群" in reply[0].text
        reply = await chat.say("#回执 1", sender=HQ, name="贾健刚", room="r_city")
        assert "未发出" not in reply[0].text
    finally:
        app.close()


def test_the_estimate_counts_the_queue_and_waits_for_missing_accounts() -> None:
    from bot.capacity import Estimate
    from bot.notices.wording import eta_text

    pace = Pace()
    items = [(1, {"a"})] * 30 + [(1, set())] * 2
    e = estimate(pace, items, START, SHANGHAI, queued={"a": 70})
    assert e.loads == {"a": 100} and e.groups == 30 and e.waiting == 2
    assert e.seconds == pace.run_seconds(100)
    assert eta_text(e, 32) == ("预计 40 分钟内送达 30 个群；另 2 个群暂无在线的微信账号，"
                               "账号恢复后发出")
    assert eta_text(Estimate(3010, 0, 40 * 60 - 30), 3010) == "预计 40 分钟内送达全部 3,010 个群"
    assert eta_text(Estimate(0, 5, 0), 5) == "5 个群暂无在线的微信账号，账号恢复后发出"
