"""Welcomes: once per join in a bound village group, none with `[bot] welcome = false`
(the transcript `welcome.jsonl` has the rest: redelivery, HQ-side groups, unknown rooms)."""

from __future__ import annotations

from datetime import datetime

from bot.clock import VirtualClock
from bot.config import Config
from bot.drivers.memory import MemoryChat
from bot.messages import Mention
from bot.welcome import Join
from bot.wiring import build_app
from tests.conftest import SHANGHAI, START
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

VILLAGE = ROOMS["village"][0]
AT = datetime(2019, 6, 3, 10, 0, tzinfo=SHANGHAI)


def _join(room: str = VILLAGE) -> Join:
    return Join("memory", room, (Mention("wxid_ww", "王五"),), AT, inviter="wxid_liuwei")


async def test_a_join_is_welcomed_once(chat: MemoryChat) -> None:
    await build_tree(chat)
    await appoint(chat, "village", "wxid_liuwei", "刘伟", "干部")
    assert await chat.app.handle_join(_join())
    assert not await chat.app.handle_join(_join())  # redelivered
    assert not await chat.app.handle_join(_join(ROOMS["county"][0]))
    (welcome,) = await chat.flush()
    # The memory driver's own join: a later join is a new one.
    (again,) = await chat.join(("wxid_ww", "王五"), room=VILLAGE, inviter="wxid_liuwei")
    assert again.text == welcome.text
    assert welcome.room == VILLAGE and welcome.mentions == ("wxid_ww",)
    assert "王五" in welcome.text and "刘伟" in welcome.text and "#查分" in welcome.text


async def test_welcome_can_be_switched_off(config: Config, db_url: str) -> None:
    app = build_app(config.with_overrides(bot={"welcome": False}), clock=VirtualClock(START),
                    db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        await build_tree(chat)
        assert not await app.handle_join(_join())
        assert await chat.flush() == []
    finally:
        app.close()
