"""The paced outbox of live transports: gaps, per-group limits, the daily cap, retries,
merging a stale backlog, no duplicates, and the WeChat-down alerts. Time is virtual: a
fake sleep moves the clock, so nothing here waits."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.clock import VirtualClock
from bot.messages import Outgoing
from bot.models.core import OutboxMessage
from bot.outbox import RELAY_PREFIX, mark_sent, relay_notices
from bot.runner import ConnectionWatch, check_config
from bot.sender import OutboxSender, Pacer
from bot.transports import TransportDown
from bot.transports.wechaty import Health
from bot.wiring import build_app
from tests.conftest import SHANGHAI, START
from tests.helpers import FakeTime


class Live:
    """A live transport at its edge: records what it sends and when; can fail or be down."""

    name = "live"
    can_send_images = True

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[Any, Outgoing]] = []
        self.fail_next = 0
        self.available = True

    async def send(self, out: Outgoing) -> None:
        if not self.available:
            raise TransportDown("down")
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("puppet service said no")
        await asyncio.sleep(0)  # a real send yields to the loop
        self.sent.append((self.clock.now(), out))

    def texts(self) -> list[str]:
        return [o.text for _, o in self.sent]


@pytest.fixture
def lite(config, clock, sqlite_url):
    """A bot on SQLite alone, for pacing that does not depend on the database."""
    a = build_app(config, clock=clock, db_url=sqlite_url)
    yield a
    a.close()


def pacer(**kw: Any) -> Pacer:
    args: dict[str, Any] = {"min_gap": 3, "per_group_per_minute": 6, "jitter": 2,
                            "daily_cap": 2000, "stale_minutes": 30, "zone": SHANGHAI,
                            "rng": random.Random(7)}
    return Pacer(**{**args, **kw})


def queue(app, room: str, *texts: str, kind: str = "reply", image: bytes | None = None) -> None:
    with app.db.transaction() as s:
        for t in texts:
            app.writer.put(s, t, room_id=room, transport="live", kind=kind, image=image)


def rows(app) -> list[OutboxMessage]:
    return app.db.run_sync(
        lambda s: list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())
    )


def make_sender(app, live: Live, fake: FakeTime, **kw: Any) -> OutboxSender:
    """A sender as `villagebot run` builds it: paced, sharing the database."""
    p = kw.pop("pace", None) or pacer()
    return OutboxSender(app.db, {"live": live}, app.clock, kw.pop("max_attempts", 8),
                        pacing={"live": p}, sleep=fake.sleep, shared=True, **kw)


async def test_minimum_gap_with_jitter_between_messages(lite, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    queue(lite, "r1", "一", "二")
    queue(lite, "r2", "三", "四")
    sender = make_sender(lite, live, fake)
    assert await sender.flush() == 4
    assert live.texts() == ["一", "二", "三", "四"]
    times = [t for t, _ in live.sent]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(3 <= g <= 5 for g in gaps), gaps
    assert len(set(gaps)) == 3  # jittered, not a machine's fixed beat
    assert all(r.sent_at is not None for r in rows(lite))


async def test_per_group_limit_lets_other_groups_go_meanwhile(lite, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    queue(lite, "busy", *[f"忙{i}" for i in range(8)])
    queue(lite, "quiet", "静0", "静1")
    sender = make_sender(lite, live, fake, pace=pacer(min_gap=1, jitter=0, per_group_per_minute=6))
    assert await sender.flush() == 10
    order = live.texts()
    # Six to the busy group, then the quiet group while the busy one waits its minute.
    assert order[:8] == [f"忙{i}" for i in range(6)] + ["静0", "静1"]
    assert order[8:] == ["忙6", "忙7"]
    busy = [t for t, o in live.sent if o.room == "busy"]
    for i in range(len(busy) - 6):
        assert busy[i + 6] - busy[i] >= timedelta(seconds=60)
    # Each group keeps its own order.
    assert [o.text for _, o in live.sent if o.room == "busy"] == [f"忙{i}" for i in range(8)]


async def test_daily_cap_holds_the_rest_until_the_next_day(app, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    capped: list[str] = []
    queue(app, "r1", *[f"m{i}" for i in range(5)])
    sender = make_sender(app, live, fake, pace=pacer(daily_cap=3, min_gap=0, jitter=0),
                         on_cap=capped.append)
    assert await sender.flush() == 3
    assert await sender.flush() == 0
    assert capped == ["live"]  # told once a day
    assert [r.sent_at is None for r in rows(app)] == [False] * 3 + [True] * 2
    # A fresh sender (a restart) counts what was sent today from the database.
    sender = make_sender(app, live, fake, pace=pacer(daily_cap=3, min_gap=0, jitter=0))
    assert await sender.flush() == 0
    clock.set(START.replace(hour=23, minute=59))
    assert await sender.flush() == 0
    clock.set(START.replace(day=START.day + 1, hour=0, minute=1))
    # By then the two held back are stale: they go as one merged message.
    assert await sender.flush() == 1
    assert live.texts()[:3] == ["m0", "m1", "m2"]
    assert live.texts()[3] == "【补发】此前未能及时发出的 2 条消息：\n[6月3日 09:00] m3\n[6月3日 09:00] m4"


async def test_retry_with_backoff_keeps_the_group_order(app, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    queue(app, "r1", "先", "后")
    queue(app, "r2", "别的群")
    live.fail_next = 1
    sender = make_sender(app, live, fake, pace=pacer(min_gap=0, jitter=0))
    await sender.flush()
    first = rows(app)[0]
    assert (first.attempts, first.sent_at) == (1, None)
    assert first.next_try_at == clock.now() + timedelta(seconds=2)
    # "后" waits behind "先"; the other group is not held up.
    assert live.texts() == ["别的群"]
    await sender.flush()  # not before its retry time
    assert live.texts() == ["别的群"]
    clock.set(clock.now() + timedelta(seconds=2))
    live.fail_next = 1
    await sender.flush()
    first = rows(app)[0]
    assert first.attempts == 2 and first.next_try_at == clock.now() + timedelta(seconds=4)
    clock.set(clock.now() + timedelta(seconds=4))
    await sender.flush()
    assert live.texts() == ["别的群", "先", "后"]
    assert [r.attempts for r in rows(app)] == [2, 0, 0]


async def test_gives_up_after_max_attempts(app, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    queue(app, "r1", "送不出去", "下一条")
    live.fail_next = 3
    sender = make_sender(app, live, fake, pace=pacer(min_gap=0, jitter=0), max_attempts=3)
    for _ in range(3):
        await sender.flush()
        clock.set(clock.now() + timedelta(minutes=10))
    await sender.flush()
    failed, nxt = rows(app)
    assert failed.failed and failed.attempts == 3 and failed.sent_at is None
    assert nxt.sent_at is not None and live.texts() == ["下一条"]


async def test_a_transport_that_is_down_spends_no_attempts(lite, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    queue(lite, "r1", "等着")
    sender = make_sender(lite, live, fake)
    live.available = False
    assert await sender.flush() == 0
    assert rows(lite)[0].attempts == 0
    # Down between the check and the send (TransportDown): still no attempt spent.
    live.available = True
    real_send = live.send

    async def drop(out: Outgoing) -> None:
        live.available = False
        await real_send(out)

    live.send = drop
    assert await sender.flush() == 0
    assert rows(lite)[0].attempts == 0 and rows(lite)[0].sent_at is None


async def test_stale_backlog_is_merged_into_one_message_per_group(app, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    live.available = False
    chart = b"\x89PNG chart"
    queue(app, "r1", "【通知 1】周五报送材料")
    clock.set(START + timedelta(minutes=20))
    queue(app, "r1", "本周排名", image=chart)
    queue(app, "r2", "只有一条")
    clock.set(START + timedelta(hours=2))
    queue(app, "r1", "刚刚的回复")
    live.available = True
    sender = make_sender(app, live, fake)
    assert await sender.flush() == 2
    by_room = {o.room: o for _, o in live.sent}
    merged, single = by_room["r1"], by_room["r2"]
    assert merged.room == "r1" and merged.kind == "merged"
    assert merged.text == (
        "【补发】此前未能及时发出的 3 条消息：\n"
        "[09:00] 【通知 1】周五报送材料\n[09:20] 本周排名\n[11:00] 刚刚的回复"
    )
    assert merged.image == chart
    assert (single.room, single.text) == ("r2", "只有一条")  # one message: nothing to merge
    all_rows = rows(app)
    originals = [r for r in all_rows if r.room_id == "r1" and r.kind != "merged"]
    assert {r.merged_into for r in originals} == {merged.id}
    assert all(r.sent_at is None for r in originals)
    assert await sender.flush() == 0  # nothing left, nothing twice


async def test_a_round_in_progress_is_merged_but_not_called_late(app, clock) -> None:
    """A city round takes hours at the ban-safe pace: a group whose notices waited in it
    gets them folded, headed as a summary, not as 补发. A reminder past its time among
    them is late, and then the message says so."""
    live, fake = Live(clock), FakeTime(clock)
    queue(app, "r1", "【通知 1】周五报送材料", kind="notice")
    queue(app, "r2", "【通知 1】周五报送材料", kind="notice")
    clock.set(START + timedelta(hours=1))
    queue(app, "r1", "【通知 2】周一开会", kind="notice")
    queue(app, "r2", "周报", kind="bulletin")
    queue(app, "r2", "提醒：今天 10:30 前报送", kind="reminder")
    clock.set(START + timedelta(hours=3))
    sender = make_sender(app, live, fake)
    assert await sender.flush() == 2
    by_room = {o.room: o.text for _, o in live.sent}
    assert by_room["r1"] == ("【汇总】以下 2 条消息一并发出：\n"
                             "[09:00] 【通知 1】周五报送材料\n[10:00] 【通知 2】周一开会")
    assert by_room["r2"].startswith("【补发】此前未能及时发出的 3 条消息：\n")


def test_merge_splits_only_past_max_chars(app, clock) -> None:
    from bot.outbox import merge_stale

    queue(app, "r1", *[f"第{i}条：" + "进度" * 40 for i in range(30)])
    later = START + timedelta(days=1)
    ids = app.db.run_sync(lambda s: merge_stale(s, "live", later, later, SHANGHAI, 1500))
    merged = [r for r in rows(app) if r.id in ids]
    n = len(merged)
    assert n > 1 and all(len(r.text) <= 1500 for r in merged)
    assert merged[0].text.startswith(
        f"【补发 1/{n}】此前未能及时发出的 30 条消息：\n[6月3日 09:00] 第0条"
    )
    joined = "\n".join(r.text for r in merged)
    assert all(f"第{i}条" in joined for i in range(30))


async def test_concurrent_flushes_send_each_message_once(app, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    queue(app, "r1", *[f"m{i}" for i in range(6)])
    queue(app, "r2", *[f"n{i}" for i in range(6)])
    sender = make_sender(app, live, fake, pace=pacer(min_gap=0, jitter=0, per_group_per_minute=100))
    counts = await asyncio.gather(sender.flush(), sender.flush(), sender.flush())
    assert sum(counts) == 12
    assert sorted(live.texts()) == sorted([f"m{i}" for i in range(6)] + [f"n{i}" for i in range(6)])
    # Marking sent is once only.
    first = rows(app)[0]
    assert app.db.run_sync(lambda s: mark_sent(s, [first.id], clock.now())) == 0
    assert rows(app)[0].sent_at == first.sent_at


async def test_unpaced_transports_are_unaffected_by_pacing(lite, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    other = Live(clock)
    other.name = "replayish"
    with lite.db.transaction() as s:
        for i in range(5):
            lite.writer.put(s, f"r{i}", room_id="x", transport="replayish")
    queue(lite, "r1", "a", "b")
    sender = OutboxSender(lite.db, {"live": live, "replayish": other}, clock,
                          pacing={"live": pacer()}, sleep=fake.sleep)
    assert await sender.flush() == 7
    assert [t for t, _ in other.sent] == [START] * 5  # all at once, in order
    assert other.texts() == [f"r{i}" for i in range(5)]


async def test_stop_leaves_the_rest_in_the_outbox(lite, clock) -> None:
    live, fake = Live(clock), FakeTime(clock)
    queue(lite, "r1", "一", "二", "三")
    sender = make_sender(lite, live, fake)
    real_send = live.send

    async def send_then_stop(out: Outgoing) -> None:
        await real_send(out)
        sender.stop()  # SIGTERM arrives while the first message is in hand

    live.send = send_then_stop
    await sender.run(poll_seconds=0.01)
    assert live.texts() == ["一"]
    assert [r.sent_at is not None for r in rows(lite)] == [True, False, False]


# -- WeChat down: alerts and notices through the WeCom backup channel ----------------


class FakeWechaty:
    def __init__(self, health: Health) -> None:
        self.health = health


async def test_alert_when_wechat_is_down_and_back_with_notices_relayed(app, clock) -> None:
    wechat = FakeWechaty(Health(True, START, "wxid_bot"))
    woken: list[int] = []
    watch = ConnectionWatch(app, wechat, "alerts", lambda: woken.append(1), alert_after=60)

    def wecom_rows() -> list[OutboxMessage]:
        return [r for r in rows(app) if r.transport == "wecom"]

    await watch.check()
    assert wecom_rows() == []
    clock.set(START + timedelta(minutes=5))
    wechat.health = Health(False, clock.now(), "wxid_bot")
    with app.db.transaction() as s:
        for room in ("r1", "r2", "r3"):
            app.writer.put(
                s, "【通知 4】明天检查", room_id=room, transport="wechaty", kind="notice"
            )
        app.writer.put(s, "普通回复", room_id="r1", transport="wechaty")
    await watch.check()
    assert wecom_rows() == []  # a short blip is not worth an alert
    clock.set(START + timedelta(minutes=6))
    await watch.check()
    alert, relay = wecom_rows()
    assert alert.room_id == "alerts" and alert.kind == "alert" and alert.mentions == "@all"
    assert alert.text.startswith("【村务助手】微信连接已断开（06月03日 09:05 起）")
    assert relay.text == RELAY_PREFIX + "【通知 4】明天检查"  # once, not once per group
    await watch.check()
    assert len(wecom_rows()) == 2
    # Back: one recovery message; the groups still get their notice through WeChat.
    clock.set(START + timedelta(minutes=35))
    wechat.health = Health(True, clock.now(), "wxid_bot")
    await watch.check()
    back = wecom_rows()[-1]
    assert back.text == "【村务助手】微信已恢复连接（中断约 30 分钟），积压的消息将合并补发。"
    assert len([r for r in rows(app) if r.transport == "wechaty" and r.sent_at is None]) == 4
    assert woken


def test_relay_copies_each_notice_once(app, clock) -> None:
    with app.db.transaction() as s:
        app.writer.put(s, "【通知 5】甲", room_id="r1", transport="wechaty", kind="notice")
        app.writer.put(s, "【通知 5】甲", room_id="r2", transport="wechaty", kind="notice")
        app.writer.put(s, "【通知 6】乙", room_id="r1", transport="wechaty", kind="notice")
    assert app.db.run_sync(lambda s: relay_notices(s, "wechaty", "wecom", "alerts", START)) == 2
    assert app.db.run_sync(lambda s: relay_notices(s, "wechaty", "wecom", "alerts", START)) == 0


def test_run_refuses_a_config_it_cannot_run(config) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="neither"):
        check_config(config)
    bad = config.with_overrides(transports={
        "wechaty": {"enabled": True, "endpoint": "nowhere", "token": ""},
        "wecom": {"enabled": True, "webhooks": {"hq": "http://127.0.0.1:9/x"}, "alerts": "admins"},
    })
    with pytest.raises(ConfigError) as e:
        check_config(bad)
    text = str(e.value)
    assert "endpoint = 'nowhere'" in text and "token" in text and "alerts = 'admins'" in text


@pytest.mark.parametrize("paced", [False, True])
async def test_two_senders_on_one_database_send_each_message_once(app, clock, paced) -> None:
    """Two bot processes on one database each run a sender: a message goes out once."""
    live, fake = Live(clock), FakeTime(clock)
    queue(app, "r1", *[f"m{i}" for i in range(6)])
    queue(app, "r2", *[f"n{i}" for i in range(6)])
    pace = {"live": pacer(min_gap=0, jitter=0, per_group_per_minute=100)} if paced else {}
    one, two = (OutboxSender(app.db, {"live": live}, clock, pacing=pace, sleep=fake.sleep,
                             shared=True) for _ in range(2))
    counts = await asyncio.gather(one.flush(), two.flush(), one.flush(), two.flush())
    assert sum(counts) == 12
    assert sorted(live.texts()) == sorted([f"m{i}" for i in range(6)] + [f"n{i}" for i in range(6)])
    assert [o.text for _, o in live.sent if o.room == "r1"] == [f"m{i}" for i in range(6)]
    assert all(r.sent_at is not None and r.attempts == 0 for r in rows(app))
