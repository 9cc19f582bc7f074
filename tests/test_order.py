"""Inbound messages of one group are handled in arrival order, one at a time, while
different groups run concurrently (`bot.inbox.Inbox`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.inbox import Inbox
from bot.messages import Inbound

AT = datetime(2019, 6, 3, 1, 0, tzinfo=UTC)


def msg(room: str, n: int, sender: str = "wxid_a") -> Inbound:
    return Inbound(
        transport="wechaty",
        id=f"{room}-{n}",
        sender=sender,
        sender_name=sender,
        text=f"#帮助 {n}",
        at=AT,
        room=room,
    )


async def test_one_group_in_order_while_another_runs_concurrently() -> None:
    done: list[str] = []
    running: set[str] = set()
    overlap: list[tuple[str, str]] = []
    gate = asyncio.Event()

    async def handle(m: Inbound) -> None:
        assert m.room is not None
        for other in running:
            if other.split("-")[0] == m.room:
                raise AssertionError(f"{other} and {m.id} of one group at once")
            overlap.append((other, m.id))
        running.add(m.id)
        try:
            # The first message of group A is slow: its later ones must wait for it,
            # group B must not.
            if m.id == "A-0":
                await gate.wait()
            else:
                await asyncio.sleep(0.001 * (5 - int(m.id.split("-")[1])))
        finally:
            running.discard(m.id)
        done.append(m.id)

    inbox = Inbox(handle)
    for n in range(5):
        inbox.put(msg("A", n))
        inbox.put(msg("B", n))
    await asyncio.sleep(0.1)
    assert [d for d in done if d.startswith("B")] == [f"B-{n}" for n in range(5)]
    assert not [d for d in done if d.startswith("A")]  # all of A waits behind A-0
    gate.set()
    assert await inbox.join(5)
    assert [d for d in done if d.startswith("A")] == [f"A-{n}" for n in range(5)]
    assert any("A-0" in pair for pair in overlap)  # B ran while A-0 was in hand
    await inbox.close(0)


async def test_direct_chats_are_queues_of_their_own() -> None:
    seen: list[str] = []

    async def handle(m: Inbound) -> None:
        await asyncio.sleep(0.01 if m.sender == "slow" else 0)
        seen.append(m.id)

    inbox = Inbox(handle)
    for n in range(3):
        inbox.put(
            Inbound(
                transport="wechaty",
                id=f"slow-{n}",
                sender="slow",
                sender_name="s",
                text="#帮助",
                at=AT,
            )
        )
        inbox.put(
            Inbound(
                transport="wechaty",
                id=f"fast-{n}",
                sender="fast",
                sender_name="f",
                text="#帮助",
                at=AT,
            )
        )
    assert await inbox.join(5)
    assert [s for s in seen if s.startswith("slow")] == ["slow-0", "slow-1", "slow-2"]
    assert seen[:3] == ["fast-0", "fast-1", "fast-2"]
    await inbox.close(0)
