"""Several WeChat accounts on one outbox: each row goes once, through a live account that
is in its group; replies by the account that received the command; a down account's
rows move to another in the group, else to the unit's WeCom webhook, else wait. Real
databases (both); the accounts' transports are recording stand-ins at the outbox edge;
WeCom is a local HTTP server. Time is virtual."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlmodel import col, select

from bot import accounts
from bot.app import App
from bot.clock import VirtualClock
from bot.drivers.memory import MemoryChat
from bot.messages import Inbound, Outgoing
from bot.models.core import OutboxMessage
from bot.org import bind_send_only_rooms
from bot.outbox import RELAY_PREFIX, queued, queued_by_account
from bot.sender import OutboxSender, Pacer
from bot.transports.wecom import WecomTransport
from bot.wiring import build_app
from tests.conftest import ADMIN, START
from tests.helpers import FakeTime
from tests.test_notices import build_city
from tests.test_outbox import Live, pacer
from tests.test_wecom import FakeWecom

T = TypeVar("T")
TIMEOUT = timedelta(seconds=90)
WECHATY = "wechaty"


def quick(**kw: Any) -> Pacer:
    return pacer(min_gap=0, jitter=0, per_group_per_minute=1000, **kw)


class Lockstep:
    """Virtual time for workers running at once: a sleep ends when every running worker
    is asleep and it is the earliest, and the clock then moves to its end."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.active = 0
        self.waiting: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self.seq = itertools.count()

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting,
                       (self.clock.now() + timedelta(seconds=seconds), next(self.seq), fut))
        self._advance()
        await fut

    def _advance(self) -> None:
        while self.waiting and len(self.waiting) >= self.active:
            when, _, fut = heapq.heappop(self.waiting)
            if fut.done():  # cancelled (a stop)
                continue
            self.clock.set(max(when, self.clock.now()))
            fut.set_result(None)
            return

    async def run(self, work: Awaitable[T]) -> T:
        self.active += 1
        try:
            return await work
        finally:
            self.active -= 1
            self._advance()


def heartbeat(app: App, *names: str) -> None:
    for n in names:
        app.db.run_sync(lambda s, n=n: accounts.heartbeat(s, n, app.clock.now()))


def join(app: App, account: str, rooms: Iterable[str]) -> None:
    app.db.run_sync(lambda s: accounts.note_rooms(s, account, list(rooms), app.clock.now()))


def queue(app: App, rooms: Iterable[str], text: str, kind: str = "notice",
          account: str | None = None) -> None:
    with app.db.transaction() as s:
        for room in rooms:
            app.writer.put(s, text, room_id=room, transport=WECHATY, kind=kind, account=account)


def rows(app: App) -> list[OutboxMessage]:
    return app.db.run_sync(
        lambda s: list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()))


def sender(app: App, lives: dict[str, Live], sleep: Any = None, **kw: Any) -> OutboxSender:
    pace = kw.pop("pace", None)
    return OutboxSender(
        app.db, kw.pop("transports", {}), app.clock, shared=True,
        accounts=lives, account_pacing={n: pace() if pace else quick() for n in lives},
        sleep=sleep or FakeTime(app.clock).sleep, heartbeat_timeout=TIMEOUT, **kw)


def by_account(lives: dict[str, Live]) -> dict[str, list[Outgoing]]:
    return {n: [o for _, o in live.sent] for n, live in lives.items()}


def check_once_by_members(app: App, lives: dict[str, Live], membership: dict[str, set[str]]
                          ) -> Counter[str]:
    """Every WeChat row sent exactly once, by an account that is in its group."""
    got: Counter[int] = Counter()
    per: Counter[str] = Counter()
    for name, sent in by_account(lives).items():
        for o in sent:
            assert o.room is not None and name in membership[o.room], (name, o.room)
            assert o.account == name
            got[o.id] += 1
            per[name] += 1
    wechat = [r for r in rows(app) if r.transport == WECHATY and r.merged_into is None]
    assert got == Counter({r.id: 1 for r in wechat})
    assert all(r.sent_at is not None and r.account in membership[r.room_id or ""]
               for r in wechat)
    return per


# Groups spread so that some hold two or three bot accounts.
THREE = {
    "a": {f"g{i}" for i in range(0, 10)},
    "b": {f"g{i}" for i in range(6, 16)},
    "c": {f"g{i}" for i in range(12, 20)} | {"g0"},
}


def membership(of: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for account, rooms in of.items():
        for r in rooms:
            out.setdefault(r, set()).add(account)
    return out


@pytest.mark.parametrize("n", [2, 3])
async def test_each_row_once_by_an_account_in_its_group(app, clock, n) -> None:
    city = dict(list(THREE.items())[:n])
    for name, rooms in city.items():
        join(app, name, rooms)
    heartbeat(app, *city)
    groups = sorted(membership(city))
    queue(app, groups, "【通知 1】周五前报送材料 — 请回复\"收到\"")
    queue(app, groups[::3], "第二条")
    lives = {name: Live(clock) for name in city}
    s = sender(app, lives)
    assert await s.flush() == len(groups) + len(groups[::3])
    per = check_once_by_members(app, lives, membership(city))
    assert set(per) == set(city)  # every account did its share
    # Each group's rows in their order, whichever account sent them.
    for g in groups[::3]:
        sent = sorted((o.id, o.text) for live in lives.values() for _, o in live.sent
                      if o.room == g)
        assert [t for _, t in sent][-1] == "第二条"
    assert await s.flush() == 0


async def test_a_city_wide_notice_ends_as_early_as_the_pacing_allows(app, clock) -> None:
    """Own groups first, shared ones after: a has 6 of its own, b 2, and 6 are shared;
    14 messages at one per 10 s per account end after 7 rounds, at 60 s."""
    city = {"a": {f"a{i}" for i in range(6)} | {f"s{i}" for i in range(6)},
            "b": {f"b{i}" for i in range(2)} | {f"s{i}" for i in range(6)}}
    for name, rooms in city.items():
        join(app, name, rooms)
    heartbeat(app, "a", "b")
    # The shared groups queued first: taken in id order, a would have done them first.
    queue(app, sorted(f"s{i}" for i in range(6)) + sorted(city["a"] - city["b"])
          + sorted(city["b"] - city["a"]), "【通知 2】全市通知")
    lives = {"a": Live(clock), "b": Live(clock)}
    step = Lockstep(clock)
    s = sender(app, lives, sleep=step.sleep,
               pace=lambda: pacer(min_gap=10, jitter=0, per_group_per_minute=1000))
    done = await asyncio.gather(*(step.run(s.flush_account(n)) for n in lives))
    assert sum(done) == 14
    check_once_by_members(app, lives, membership(city))
    last = max(t for live in lives.values() for t, _ in live.sent)
    assert last == START + timedelta(seconds=60)
    assert Counter({n: len(live.sent) for n, live in lives.items()}) == {"a": 7, "b": 7}
    # a began with its own groups: nobody else could do them.
    assert [o.room for _, o in lives["a"].sent][:6] == sorted(city["a"] - city["b"])


async def test_a_reply_goes_by_the_account_that_received_the_command(app, clock) -> None:
    join(app, "a", ["g1"])
    join(app, "b", ["g1"])
    heartbeat(app, "a", "b")
    for account in ("b", "a", "b"):
        await app.handle(Inbound(WECHATY, f"m-{account}-{random.random()}", ADMIN, "管理员",
                                 "#帮助", clock.now(), room="g1", account=account))
    replies = [r for r in rows(app) if r.reply_to is not None]
    assert [r.account for r in replies] == ["b", "a", "b"]
    lives = {"a": Live(clock), "b": Live(clock)}
    assert await sender(app, lives).flush() == 3
    assert [o.reply_to for o in by_account(lives)["b"]] == [replies[0].reply_to,
                                                           replies[2].reply_to]
    assert [o.reply_to for o in by_account(lives)["a"]] == [replies[1].reply_to]
    # A direct message goes by the account the contact wrote to.
    await app.handle(Inbound(WECHATY, "dm-1", ADMIN, "管理员", "#帮助", clock.now(),
                             account="b"))
    assert await sender(app, lives).flush() == 1
    assert by_account(lives)["b"][-1].to == ADMIN


async def test_a_down_accounts_rows_move_to_another_in_the_group(app, clock) -> None:
    join(app, "a", ["g1", "g2"])
    join(app, "b", ["g1", "g3"])
    heartbeat(app, "a", "b")
    queue(app, ["g1"], "给 b 的回复", kind="reply", account="b")
    queue(app, ["g1", "g2", "g3"], "【通知 3】内容")
    # b's connection hangs: it says nothing, its heartbeat goes stale.
    clock.set(START + timedelta(seconds=100))
    heartbeat(app, "a")
    lives = {"a": Live(clock)}  # this process holds a; b's process is gone
    s = sender(app, lives)
    assert await s.flush() == 3
    assert [(o.room, o.text) for o in by_account(lives)["a"]] == [
        ("g1", "给 b 的回复"), ("g1", "【通知 3】内容"), ("g2", "【通知 3】内容")]
    assert {r.room_id: r.account for r in rows(app) if r.sent_at} == {"g1": "a", "g2": "a"}
    # g3 only b can reach, and there is no webhook: it waits, and goes when b is back.
    [waiting] = [r for r in rows(app) if r.sent_at is None]
    assert (waiting.room_id, waiting.account, waiting.attempts) == ("g3", None, 0)
    assert app.db.run_sync(lambda s: queued(s, WECHATY, notice=3)) == 1
    clock.set(START + timedelta(minutes=10))
    heartbeat(app, "a", "b")
    lives["b"] = Live(clock)
    s = sender(app, lives)
    assert await s.flush() == 1
    assert [(o.room, o.text) for o in by_account(lives)["b"]] == [("g3", "【通知 3】内容")]
    assert app.db.run_sync(lambda s: queued(s, WECHATY)) == 0


async def test_a_down_account_in_this_process_is_replaced_at_once(app, clock) -> None:
    """Its transport is down here (logged out) before its heartbeat is stale: the rows
    it had taken are given back, another member sends them."""
    join(app, "a", ["g1", "g2"])
    join(app, "b", ["g1", "g2"])
    heartbeat(app, "a", "b")
    queue(app, ["g1", "g2"], "【通知 4】内容")
    lives = {"a": Live(clock), "b": Live(clock)}
    lives["a"].available = True
    real = lives["a"].send

    async def logged_out(out: Outgoing) -> None:
        lives["a"].available = False
        await real(out)

    lives["a"].send = logged_out  # type: ignore[method-assign]
    s = sender(app, lives)
    assert await s.flush() == 2
    assert [o.room for o in by_account(lives)["b"]] == ["g1", "g2"]
    assert all(r.account == "b" and r.attempts == 0 for r in rows(app))


class Killed(Live):
    """The transport of a process that is killed (SIGKILL) while its second message is
    in the puppet service's hands: that send never returns to the process."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.in_flight = asyncio.Event()

    async def send(self, out: Outgoing) -> None:
        if self.sent:
            self.in_flight.set()
            await asyncio.Future()  # never: the process dies here
        await super().send(out)


@pytest.mark.parametrize("how", ["silent", "logged out"])
async def test_a_killed_process_s_claimed_row_goes_at_once_when_its_account_is_down(
        app, clock, how) -> None:
    """Two processes' senders on one database. The one holding a is killed mid-round,
    after one message and with the next one claimed; when a is marked down (its
    heartbeat silent past the timeout, or its own process's logout), the claimed row is
    given back in that transaction, and b sends it at once, not 15 minutes later. The
    row that went before the kill is not sent again; the one in flight is sent by b
    (at-least-once: see `bot.accounts.release_claims`)."""
    join(app, "a", ["g1", "g2", "g3"])
    join(app, "b", ["g1", "g2", "g3"])
    heartbeat(app, "a", "b")
    queue(app, ["g1", "g2", "g3"], "【通知 5】内容")
    killed = Killed(clock)
    one = sender(app, {"a": killed})
    process = asyncio.create_task(one.flush_account("a"))
    await killed.in_flight.wait()
    process.cancel()  # SIGKILL: nothing of the process runs after this point
    with pytest.raises(asyncio.CancelledError):
        await process
    [claimed] = [r for r in rows(app) if r.sent_at is None and r.next_try_at is not None]
    assert (claimed.room_id, claimed.account) == ("g2", "a")
    clock.set(START + timedelta(seconds=100))
    heartbeat(app, "b")
    if how == "silent":
        assert app.db.run_sync(
            lambda s: accounts.mark_stale_down(s, clock.now(), TIMEOUT)) == ["a"]
    else:
        assert app.db.run_sync(lambda s: accounts.mark_down(s, "a", clock.now(), "退出登录"))
    lives = {"b": Live(clock)}
    assert await sender(app, lives).flush() == 2
    assert [o.room for o in by_account(lives)["b"]] == ["g2", "g3"]
    assert [o.room for _, o in killed.sent] == ["g1"]
    check_once_by_members(app, {"a": killed, **lives}, membership({"a": {"g1", "g2", "g3"},
                                                                    "b": {"g1", "g2", "g3"}}))
    assert clock.now() == START + timedelta(seconds=100)  # no claim window waited out


def test_a_late_failure_of_a_dropped_account_leaves_the_new_claim_alone(app, clock) -> None:
    """a was marked down (hung) while sending; its row was given back and b claimed it.
    When a's send then fails (or says down) after all, b's claim stands: a's failure
    neither cuts b's claim window short (a third account could send it meanwhile) nor
    takes the row from b."""
    from bot.outbox import CLAIM, claim, mark_failed, release

    join(app, "a", ["g1"])
    join(app, "b", ["g1"])
    heartbeat(app, "a", "b")
    queue(app, ["g1"], "【通知 6】内容")
    [row] = rows(app)
    run = app.db.run_sync
    assert run(lambda s: claim(s, row.id, clock.now(), account="a"))
    assert run(lambda s: accounts.mark_down(s, "a", clock.now(), "无响应"))
    assert run(lambda s: claim(s, row.id, clock.now(), account="b"))
    run(lambda s: mark_failed(s, row.id, "timeout", 8, clock.now(), unassign=True,
                              account="a"))
    run(lambda s: release(s, row.id, unassign=True, account="a"))
    [row] = rows(app)
    assert (row.account, row.attempts, row.next_try_at) == ("b", 0, clock.now() + CLAIM)


async def test_unreachable_groups_go_to_the_units_wecom_webhook_once(app, clock) -> None:
    chat = MemoryChat(app)
    await build_city(chat)  # r_hy, r_wc, r_hsw are 浑源县 and below; r_yg is another county
    app.db.run_sync(lambda s: bind_send_only_rooms(s, "wecom", {"hy_hook": "浑源县"},
                                                   clock.now()))
    join(app, "a", ["r_hy", "r_wc", "r_hsw", "r_yg"])
    join(app, "b", ["r_hy"])
    heartbeat(app, "a", "b")
    notice = "【通知 7】(1/2) 第一部分"
    queue(app, ["r_hy", "r_wc", "r_hsw", "r_yg"], notice)
    queue(app, ["r_hsw"], "给村里的回复", kind="reply", account="a")
    # The webhook already has part 2 of the notice (it was in the notice's scope).
    with app.db.transaction() as s:
        app.writer.put(s, "【通知 7】(2/2) 第二部分", room_id="hy_hook", transport="wecom",
                       kind="notice")
    clock.set(START + timedelta(minutes=5))
    queue(app, ["r_wc"], "【通知 7】(2/2) 第二部分 — 请回复\"收到\"")
    heartbeat(app, "b")  # a is gone (killed): silent past the timeout
    with FakeWecom(clock) as server:
        wecom = WecomTransport({"hy_hook": server.url("k-hy")}, clock=clock,
                               sleep=FakeTime(clock).sleep)
        lives = {"b": Live(clock)}
        s = sender(app, lives, transports={"wecom": wecom})
        await s.flush()
        await wecom.aclose()
        posted = [b["text"]["content"] for b in server.bodies()]
    # r_hy has b; r_wc and r_hsw (under 浑源县) have only a: the webhook stands in, each
    # notice part once; r_yg (阳高县, no webhook) waits for a.
    assert [(o.room, o.text) for o in by_account(lives)["b"]] == [("r_hy", notice)]
    assert posted == ["【通知 7】(2/2) 第二部分", RELAY_PREFIX + notice,
                      "【微信账号掉线，发往「r_hsw」的消息经企业微信转发】\n给村里的回复"]
    left = [r for r in rows(app) if r.sent_at is None and r.merged_into is None]
    assert [(r.room_id, r.text) for r in left] == [("r_yg", notice)]
    assert await s.flush() == 0 and len(server.bodies()) == 3  # nothing twice


async def test_merge_of_a_stale_backlog_per_group_and_account(app, clock) -> None:
    join(app, "a", ["g1", "g2"])
    join(app, "b", ["g2"])
    heartbeat(app, "a", "b")
    queue(app, ["g1"], "一", kind="reminder")
    queue(app, ["g1"], "二", kind="reminder")
    queue(app, ["g2"], "b 的回复一", kind="reply", account="b")
    queue(app, ["g2"], "b 的回复二", kind="reply", account="b")
    clock.set(START + timedelta(hours=1))
    heartbeat(app, "a", "b")
    lives = {"a": Live(clock)}
    assert await sender(app, lives).flush() == 1
    [merged] = by_account(lives)["a"]
    assert merged.room == "g1" and merged.text.startswith("【补发】此前未能及时发出的 2 条消息")
    # g2's rows are b's, and b is live: a neither merges nor sends them.
    assert app.db.run_sync(lambda s: queued_by_account(s, WECHATY)) == {"b": 2}


@pytest.mark.parametrize("together", [False, True])
async def test_the_per_group_limit_is_the_groups_across_accounts(app, clock, together) -> None:
    """Two accounts in one group, each with three replies to send there (each the
    receiver of its commands), at most 3 a minute: the group gets at most 3 in any
    minute from the two together. One after the other (the second reads what the first
    sent), and at once (both read before either sends: the claim refuses the fourth)."""
    join(app, "a", ["g1", "g2"])
    join(app, "b", ["g1"])
    heartbeat(app, "a", "b")
    for i in range(3):
        queue(app, ["g1"], f"a 的回复{i}", kind="reply", account="a")
        queue(app, ["g1"], f"b 的回复{i}", kind="reply", account="b")
    queue(app, ["g2"], "别的群")
    lives = {"a": Live(clock), "b": Live(clock)}
    step = Lockstep(clock)
    s = sender(app, lives, sleep=step.sleep,
               pace=lambda: pacer(min_gap=0, jitter=0, per_group_per_minute=3))
    if together:
        # An account that finds its group's next row in flight with the other one
        # returns, to look again at its next poll (`OutboxSender.run`): rounds until
        # neither has anything left, as the live loop does.
        done = []
        while sum(got := await asyncio.gather(*(step.run(s.flush_account(n)) for n in lives))):
            done += got
    else:
        done = [await step.run(s.flush_account(n)) for n in lives]
    assert sum(done) == 7
    check_once_by_members(app, lives, membership({"a": {"g1", "g2"}, "b": {"g1"}}))
    times = sorted(t for live in lives.values() for t, o in live.sent if o.room == "g1")
    assert len(times) == 6
    assert all(times[i + 3] - times[i] >= timedelta(minutes=1) for i in range(3)), times
    # A restarted sender (its pacer knows nothing) still counts them from the database.
    queue(app, ["g1"], "再一条", kind="reply", account="a")
    again = {"a": Live(clock)}
    assert await sender(app, again, pace=lambda: pacer(min_gap=0, jitter=0,
                                                        per_group_per_minute=3)).flush() == 1
    assert again["a"].sent[0][0] - times[3] >= timedelta(minutes=1)


async def test_the_daily_cap_counts_per_account(app, clock) -> None:
    join(app, "a", ["g1", "g2"])
    join(app, "b", ["g1", "g2"])
    heartbeat(app, "a", "b")
    queue(app, ["g1", "g2"], "一")
    queue(app, ["g1", "g2"], "二")
    capped: list[str] = []
    lives = {"a": Live(clock), "b": Live(clock)}
    s = sender(app, lives, pace=lambda: quick(daily_cap=1), on_cap=capped.append)
    assert await s.flush() == 2
    assert capped == ["a", "b"]
    assert {n: len(v) for n, v in by_account(lives).items()} == {"a": 1, "b": 1}
    assert app.db.run_sync(lambda s: queued(s, WECHATY, rooms=True)) == 2


@pytest.mark.postgres
async def test_two_processes_on_one_postgresql_never_double_a_row(pg_url, config, clock) -> None:
    """Two processes' senders (their own Database objects) on one PostgreSQL, holding
    overlapping accounts, flushing at once, in rounds with new rows between."""
    one = build_app(config, clock=clock, db_url=pg_url)
    two = build_app(config, clock=clock, db_url=pg_url)
    try:
        city = {"a": {f"g{i}" for i in range(12)}, "b": {f"g{i}" for i in range(6, 20)},
                "c": {f"g{i}" for i in range(10, 20)}}
        for name, rooms in city.items():
            join(one, name, rooms)
        heartbeat(one, "a", "b", "c")
        lives_one = {"a": Live(clock), "b": Live(clock)}
        lives_two = {"b": Live(clock), "c": Live(clock)}  # b held by both: a misconfig
        rng = random.Random(15)
        groups = sorted(membership(city))
        first = sender(one, lives_one)
        second = sender(two, lives_two)
        for round_ in range(5):
            queue(one, rng.sample(groups, 12), f"第{round_}轮")
            for g in rng.sample(groups, 5):  # a reply, by an account in its group
                queue(two, [g], f"第{round_}轮回复", kind="reply",
                      account=rng.choice(sorted(membership(city)[g])))
            await asyncio.gather(first.flush(), second.flush(), first.flush_account("b"),
                                 second.flush_account("c"))
        await asyncio.gather(first.flush(), second.flush())
        sent = [o.id for lives in (lives_one, lives_two) for live in lives.values()
                for _, o in live.sent]
        assert len(sent) == len(set(sent))  # no row twice
        # Every row went, itself or in a merged backlog (should the pace have let one
        # grow stale), and nothing else did.
        done = {r.id: r for r in rows(one)}
        assert set(sent) == {i for i, r in done.items() if r.sent_at is not None}
        originals = [r for r in done.values() if r.kind != "merged"]
        assert len(originals) == 5 * 17
        assert all(r.sent_at is not None or done[r.merged_into].sent_at is not None
                   for r in originals)
    finally:
        one.close()
        two.close()


def test_one_account_needs_a_pacer_and_owns_its_transport(app, clock) -> None:
    with pytest.raises(ValueError, match="without a Pacer"):
        OutboxSender(app.db, {}, clock, accounts={"a": Live(clock)})
    with pytest.raises(ValueError, match="leave it out"):
        OutboxSender(app.db, {WECHATY: Live(clock)}, clock, accounts={"a": Live(clock)},
                     account_pacing={"a": quick()})
