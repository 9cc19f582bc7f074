"""Building blocks for whole-bot tests: a bound four-level tree with people in it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from bot.clock import VirtualClock
from bot.drivers.memory import MemoryChat

ADMIN = "wxid_admin"
ROOMS = {
    "city": ("r_city", "大同市指挥部群"),
    "county": ("r_county", "浑源县工作群"),
    "town": ("r_town", "吴城乡工作群"),
    "village": ("r_village", "皇叔洼村工作群"),
}


async def build_tree(chat: MemoryChat) -> None:
    """大同市 → 浑源县 → 吴城乡 → 皇叔洼村, each with its group, bound by the admin."""
    steps = [
        ("city", "#绑定 市 大同市"),
        ("county", "#绑定 县 浑源县 上级 大同市"),
        ("town", "#绑定 乡 吴城乡 上级 浑源县"),
        ("village", "#绑定 村 皇叔洼村 上级 吴城乡"),
    ]
    for key, text in steps:
        room, topic = ROOMS[key]
        sent = await chat.say(text, sender=ADMIN, name="管理员", room=room, topic=topic)
        assert sent and "绑定" in sent[0].text, sent


async def appoint(chat: MemoryChat, room_key: str, person: str, name: str, role: str) -> None:
    room, _ = ROOMS[room_key]
    sent = await chat.say(f"#任命 @{name} {role}", sender=ADMIN, name="管理员", room=room,
                          mentions=((person, name),))
    assert "已任命" in sent[0].text, sent


class FakeTime:
    """A sleep that moves the virtual clock instead of waiting."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))


async def say(chat: MemoryChat, text: str, sender: str, *mentions: str, room: str,
              names: Mapping[str, str] | None = None, default_name: str = "",
              msg_id: str | None = None) -> list[str]:
    """`sender` says `text` in `room`, @mentioning the ids in `mentions`; the texts of
    the bot's answers. Display names come from `names` (else `default_name`). Test
    modules bind their room and names once: `say = partial(helpers.say, room=…)`."""
    names = names or {}
    sent = await chat.say(text, sender=sender, name=names.get(sender, default_name), room=room,
                          mentions=tuple((m, names.get(m, "")) for m in mentions), msg_id=msg_id)
    return [o.text for o in sent]


async def one(chat: MemoryChat, text: str, sender: str, *mentions: str, room: str,
              names: Mapping[str, str] | None = None, default_name: str = "",
              msg_id: str | None = None) -> str:
    """The bot's one answer to `say(...)`."""
    out = await say(chat, text, sender, *mentions, room=room, names=names,
                    default_name=default_name, msg_id=msg_id)
    assert len(out) == 1, out
    return out[0]
