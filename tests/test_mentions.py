"""@mentions: replies in groups @ the sender (never in a direct message, and not at all
with `mention_sender_in_groups = false`); deadline reminders @ the village's cadres, one
message per group, targets already met left out."""

from __future__ import annotations

from datetime import datetime

from bot.clock import VirtualClock
from bot.config import Config
from bot.drivers.memory import MemoryChat
from bot.org import cadre_ids
from bot.wiring import build_app
from tests.conftest import SHANGHAI, START
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

CADRE = "wxid_liuwei"
VILLAGE = ROOMS["village"][0]


async def test_replies_in_groups_mention_the_sender(chat: MemoryChat) -> None:
    await build_tree(chat)
    (reply,) = await chat.say("#帮助", sender="wxid_x", name="王五", room=VILLAGE)
    assert reply.mentions == ("wxid_x",)
    (direct,) = await chat.say("#帮助", sender="wxid_x", name="王五", room=None)
    assert direct.mentions == () and direct.to == "wxid_x"
    # A refusal is a reply too.
    (refused,) = await chat.say("#绑定 市 大同市", sender="wxid_x", name="王五", room=VILLAGE)
    assert refused.mentions == ("wxid_x",)


async def test_sender_mention_can_be_switched_off(config: Config, db_url: str) -> None:
    cfg = config.with_overrides(bot={"mention_sender_in_groups": False})
    app = build_app(cfg, clock=VirtualClock(START), db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        (reply,) = await chat.say("#帮助", sender="wxid_x", room=VILLAGE)
        assert reply.mentions == ()
    finally:
        app.close()


async def test_deadline_reminders_are_merged_and_mention_the_cadres(chat: MemoryChat) -> None:
    await build_tree(chat)
    await appoint(chat, "village", CADRE, "刘伟", "干部")
    await appoint(chat, "town", "wxid_wang", "王乡长", "干部")
    for who, text in (("wxid_wang", "#目标 危房改造 50 截止 6月30日"),
                      ("wxid_wang", "#目标 易地搬迁 10 截止 6月30日"),
                      (CADRE, "#进度 危房改造 20")):
        sent = await chat.say(text, sender=who, room=VILLAGE)
        assert sent and "例" not in sent[0].text, sent[0].text
    ids = chat.app.db.run_sync(
        lambda s: cadre_ids(s, _village(s))
    )
    assert ids == [CADRE]

    week = await chat.advance(datetime(2019, 6, 23, 9, 1, tzinfo=SHANGHAI))
    reminders = [o for o in week if "截止提醒" in o.text and o.room == VILLAGE]
    assert len(reminders) == 1, [o.text for o in week]
    assert "危房改造" in reminders[0].text and "易地搬迁" in reminders[0].text
    assert reminders[0].mentions == (CADRE,)

    # 危房改造 met: only 易地搬迁 is left to remind of.
    await chat.say("#进度 危房改造 50", sender=CADRE, name="刘伟", room=VILLAGE)
    three = await chat.advance(datetime(2019, 6, 27, 9, 1, tzinfo=SHANGHAI))
    (left,) = [o for o in three if "截止提醒" in o.text and o.room == VILLAGE]
    assert "易地搬迁" in left.text and "危房改造" not in left.text
    assert left.mentions == (CADRE,)


def _village(s):
    from sqlmodel import select

    from bot.models.core import OrgUnit

    return s.exec(select(OrgUnit).where(OrgUnit.name == "皇叔洼村")).one()
