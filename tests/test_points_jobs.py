"""The points area's jobs across a restart: the weekly 公示 remembers what it published."""

from __future__ import annotations

from datetime import datetime

from bot.clock import VirtualClock
from bot.config import load_config
from bot.drivers.memory import MemoryChat
from bot.wiring import build_app
from tests.conftest import SHANGHAI, START
from tests.helpers import ADMIN
from tests.test_points import EVAL, one, ours, say, setup_village


async def test_publicity_time_change_keeps_what_was_published(db_url: str) -> None:
    """Changing `schedules.publicity` re-times the 公示 job but keeps its `last_id`: an
    entry published before the restart is not published again at the new time (the
    seed used to replace the job's payload, so the next 公示 fell back to the last
    seven days and repeated it)."""
    first = build_app(load_config(), clock=VirtualClock(START), db_url=db_url, admins=[ADMIN])
    chat = MemoryChat(first)
    await setup_village(chat)
    await chat.advance(datetime(2019, 6, 7, 10, 0, tzinfo=SHANGHAI))  # a Friday
    assert (await one(chat, "#加分 张三家 红白事", EVAL)).startswith("已加分：#1 ")
    sent = ours(await chat.advance(datetime(2019, 6, 9, 18, 0, tzinfo=SHANGHAI)))
    assert [o.text.split("\n")[:2] for o in sent] == [
        ["【积分公示】皇叔洼村 6月3日—6月9日，共1条：", "#1 6月7日 张三家 +30 不大操大办红白事"]]
    first.close()

    # Restart with the 公示 moved to Monday morning; one more entry before it runs.
    config = load_config().with_overrides(schedules={"publicity": "周一 09:00"})
    restart = datetime(2019, 6, 9, 18, 5, tzinfo=SHANGHAI)
    second = build_app(config, clock=VirtualClock(restart), db_url=db_url, admins=[ADMIN])
    try:
        chat = MemoryChat(second)
        await chat.advance(datetime(2019, 6, 10, 8, 0, tzinfo=SHANGHAI))
        # (a new chat numbers its messages afresh: a message id of its own)
        out = await say(chat, "#扣分 李四家 打架斗殴", EVAL, msg_id="after-restart")
        assert len(out) == 1 and out[0].startswith("已扣分：#2 ")
        sent = ours(await chat.advance(datetime(2019, 6, 10, 9, 0, tzinfo=SHANGHAI)))
        assert [o.text.split("\n")[:2] for o in sent] == [
            ["【积分公示】皇叔洼村 6月10日—6月10日，共1条：", "#2 6月10日 李四家 -20 打架斗殴"]]
    finally:
        second.close()
