"""The account area: heartbeats, down accounts, group membership (both databases)."""

from __future__ import annotations

from datetime import timedelta

from bot import accounts
from bot.app import App
from tests.conftest import START

TIMEOUT = timedelta(seconds=90)


def test_heartbeat_down_and_timeout(app: App) -> None:
    now = START
    run = app.db.run_sync
    assert run(lambda s: accounts.heartbeat(s, "a1", now, "wxid_a1")) is True
    assert run(lambda s: accounts.heartbeat(s, "a1", now + timedelta(seconds=20))) is False
    run(lambda s: accounts.heartbeat(s, "a2", now))
    assert run(lambda s: accounts.live_accounts(s, now + timedelta(seconds=30), TIMEOUT)) == {
        "a1", "a2"}
    # a2 hangs: silent past the timeout, it is down although it never said so
    later = now + timedelta(seconds=100)
    assert run(lambda s: accounts.live_accounts(s, later, TIMEOUT)) == {"a1"}
    assert run(lambda s: accounts.mark_down(s, "a1", later, "logged out")) is True
    assert run(lambda s: accounts.mark_down(s, "a1", later, "again")) is False
    assert run(lambda s: accounts.live_accounts(s, later, TIMEOUT)) == set()
    states = run(lambda s: accounts.states(s, later, TIMEOUT))
    assert [(st.name, st.up, st.detail) for st in states] == [
        ("a1", False, "logged out"), ("a2", False, "")]
    assert run(lambda s: accounts.heartbeat(s, "a1", later)) is True  # back


def test_membership_from_room_lists_and_messages(app: App) -> None:
    now = START
    run = app.db.run_sync
    assert run(lambda s: accounts.note_rooms(s, "a1", ["r1@c", "r2@c", "r3@c"], now)) == 3
    run(lambda s: accounts.note_rooms(s, "a2", ["r3@c", "r4@c"], now))
    run(lambda s: accounts.note_member(s, "a2", "r2@c", now))
    run(lambda s: accounts.note_member(s, "a2", "r2@c", now + timedelta(seconds=1)))
    got = run(lambda s: accounts.members(s, ["r1@c", "r2@c", "r3@c", "r4@c", "r5@c"]))
    assert got == {"r1@c": {"a1"}, "r2@c": {"a1", "a2"}, "r3@c": {"a1", "a2"}, "r4@c": {"a2"}}
    # a1 left r1: its next room list forgets it
    run(lambda s: accounts.note_rooms(s, "a1", ["r2@c", "r3@c"], now))
    got = run(lambda s: accounts.members(s, ["r1@c"]))
    assert got == {}
    assert run(lambda s: accounts.unreachable(s, {"a1"})) == ["r4@c"]
    assert run(lambda s: accounts.unreachable(s, {"a1", "a2"})) == []


def test_a_drop_is_reported_by_one_process_only(app: App) -> None:
    """Two processes notice the same silent account at once: the database's conditional
    update lets exactly one of them change it (and tell the admins)."""
    import threading

    run = app.db.run_sync
    run(lambda s: accounts.heartbeat(s, "a3", START, "wxid_a3"))
    later = START + timedelta(seconds=120)
    barrier = threading.Barrier(4)
    results: list[list[str]] = []

    def notice() -> None:
        with app.db.transaction() as s:
            barrier.wait()
            results.append(accounts.mark_stale_down(s, later, TIMEOUT, "stale"))

    threads = [threading.Thread(target=notice) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=len) == [[], [], [], ["a3"]]
    assert run(lambda s: accounts.mark_stale_down(s, later, TIMEOUT)) == []
    assert run(lambda s: accounts.mark_down(s, "a3", later, "again")) is False
    assert [st.detail for st in run(lambda s: accounts.states(s, later, TIMEOUT))
            if st.name == "a3"] == ["stale"]
    # A fresh account heard from within the timeout is left alone.
    run(lambda s: accounts.heartbeat(s, "a4", later))
    assert run(lambda s: accounts.mark_stale_down(s, later + TIMEOUT / 2, TIMEOUT)) == []


def test_the_membership_memo() -> None:
    memo = accounts.Memberships()
    assert not memo.known("a1", "r1@c")
    memo.add("a1", "r1@c")
    assert memo.known("a1", "r1@c") and not memo.known("a2", "r1@c")
    memo.replace("a1", ["r2@c"])
    assert not memo.known("a1", "r1@c") and memo.known("a1", "r2@c")


async def test_a_message_records_its_accounts_membership_once(app: App) -> None:
    """A message an account receives in a group (chat included) records the account's
    membership; once known to this process, further messages cost no statement."""
    from bot.messages import Inbound

    def msg(n: int, account: str) -> Inbound:
        return Inbound(transport="wechaty", id=f"m{n}", sender="wxid_x", sender_name="某",
                       text="今天天气不错", at=START, room="r9@c", account=account)

    await app.handle(msg(1, "a1"))
    assert app.db.run_sync(lambda s: accounts.members(s, ["r9@c"])) == {"r9@c": {"a1"}}
    assert app.memberships.known("a1", "r9@c")
    app.db.run_sync(lambda s: accounts.note_rooms(s, "a1", [], START))  # forgotten in the DB
    await app.handle(msg(2, "a1"))  # known here: not written again
    assert app.db.run_sync(lambda s: accounts.members(s, ["r9@c"])) == {}
    await app.handle(msg(3, "a2"))
    assert app.db.run_sync(lambda s: accounts.members(s, ["r9@c"])) == {"r9@c": {"a2"}}


async def test_an_unusable_room_id_never_reaches_the_membership(app: App) -> None:
    """Membership is recorded after the inbound checks: a room id they refuse (here with
    a control character, and one past the id limit) is dropped, not stored."""
    from bot.messages import Inbound

    bad = ["r\x00bad@c", "r" * (app.config.limits.input_limits().max_id_chars + 1)]
    for n, room in enumerate(bad):
        await app.handle(Inbound(transport="wechaty", id=f"m{n}", sender="wxid_x",
                                 sender_name="某", text="#帮助", at=START, room=room,
                                 account="a1"))
    assert app.db.run_sync(lambda s: accounts.rooms_of(s, "a1")) == []
    assert not any(app.memberships.known("a1", r) for r in bad)


async def test_a_restarted_process_gives_back_what_its_predecessor_had_claimed(
        app: App) -> None:
    """Account a's process was killed mid-send and restarted before its silence marked
    a down: at the new process's first heartbeat, the row the old one had claimed is due
    again at once; a row this process claimed itself since it started is left."""
    from sqlmodel import col, select

    from bot.heartbeat import AccountWatch
    from bot.models.core import OutboxMessage
    from bot.outbox import CLAIM, claim

    class Up:
        account, available = "a", True

        async def ping(self, timeout: float) -> str | None:
            return None

        def restart(self, reason: str) -> None:
            raise AssertionError(reason)

    run = app.db.run_sync
    with app.db.transaction() as s:
        for room in ("g1", "g2"):
            app.writer.put(s, "【通知 1】内容", room_id=room, transport="wechaty", kind="notice")
    ids = run(lambda s: [r.id for r in s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))])
    run(lambda s: accounts.heartbeat(s, "a", START))
    assert run(lambda s: claim(s, ids[0], START, account="a"))  # the killed process
    app.clock.set(START + timedelta(seconds=30))  # type: ignore[attr-defined]
    watch = AccountWatch(app, {"a": Up()}, alerts=None, notify=lambda: None)
    app.clock.set(START + timedelta(seconds=31))  # type: ignore[attr-defined]
    assert run(lambda s: claim(s, ids[1], app.clock.now(), account="a"))  # this one
    await watch.tick()
    got = run(lambda s: {r.id: r.next_try_at for r in s.exec(select(OutboxMessage))})
    assert got == {ids[0]: None, ids[1]: START + timedelta(seconds=31) + CLAIM}
    await watch.tick()  # not again at the next heartbeat
    assert run(lambda s: {r.id: r.next_try_at for r in s.exec(select(OutboxMessage))}) == got
