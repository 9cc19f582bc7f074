"""Schedules survive restarts (product spec §7): stop the bot mid-schedule, start a new
one on the same database later; a run missed by less than the grace is sent once,
marked （补发）; one missed by more is skipped and logged; nothing is sent twice.
On an SQLite file and on PostgreSQL, and through `villagebot replay --db`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select

from bot.app import App
from bot.clock import VirtualClock
from bot.config import load_config
from bot.drivers.memory import MemoryChat
from bot.drivers.replay import replay
from bot.models.core import OutboxMessage
from bot.models.jobs import Job, JobRun
from bot.wiring import build_app
from tests.conftest import ADMIN, SHANGHAI, START, texts
from tests.helpers import ROOMS, appoint, build_tree

CADRE = "wxid_liuwei"
VILLAGE = ROOMS["village"][0]
MEETING = "【例会提醒】今天 10:00 村两委例会，请准时参加。"
ONCE = "【提醒】报送危房改造台账"


def t(day: int, hh: int, mm: int = 0, month: int = 6) -> datetime:
    return datetime(2019, month, day, hh, mm, tzinfo=SHANGHAI)


class Bot:
    """One run of the bot on the database: started at `at`, catching up first."""

    def __init__(self, db_url: str, at: datetime) -> None:
        self.clock = VirtualClock(at)
        self.app: App = build_app(load_config(), clock=self.clock, db_url=db_url, admins=[ADMIN])
        self.chat = MemoryChat(self.app)

    async def start(self) -> list[str]:
        """What a starting bot does first: handle whatever fell due while it was down."""
        return mine(texts(await self.chat.advance(self.clock.now())))

    async def until(self, when: datetime) -> list[str]:
        return mine(texts(await self.chat.advance(when)))

    def close(self) -> None:
        self.app.close()


def mine(sent: list[str]) -> list[str]:
    """This area's reminders (other areas' jobs fire in the same weeks)."""
    return [x for x in sent if x.startswith(("【例会提醒】", "【提醒】", "【月度考核提醒】"))]


def outbox_counts(app: App) -> Counter[str]:
    return Counter(mine(app.db.run_sync(lambda s: list(s.exec(select(OutboxMessage.text)).all()))))


async def test_restart_inside_and_outside_the_grace(db_url: str, caplog) -> None:
    first = Bot(db_url, START)
    await build_tree(first.chat)
    await appoint(first.chat, "village", CADRE, "刘伟", "干部")
    for text in ("#例会 每周三 10:00 村两委例会 提前1小时", "#提醒 6月5日 15:00 报送危房改造台账"):
        reply = await first.chat.say(text, sender=CADRE, room=VILLAGE)
        assert reply[0].text.startswith("已设置"), reply
    assert await first.until(t(5, 8)) == []
    first.close()  # down from Wednesday 08:00: the 09:00 meeting reminder is missed

    # Back at 09:30, inside the grace: the missed reminder once, marked 补发.
    second = Bot(db_url, t(5, 9, 30))
    assert await second.start() == [MEETING + "（补发）"]
    # Then on time as usual.
    assert await second.until(t(5, 15, 30)) == [ONCE]
    second.close()

    # A restart right away finds nothing due: nothing twice.
    third = Bot(db_url, t(5, 15, 30))
    assert await third.start() == []
    third.close()

    # Down over the next Wednesday 09:00; back at 10:30, 90 minutes late: skipped, logged.
    fourth = Bot(db_url, t(12, 10, 30))
    with caplog.at_level(logging.WARNING, logger="bot.jobs"):
        assert await fourth.start() == []
    assert "skipped" in caplog.text and "not less than the grace" in caplog.text
    # The week after, on time again.
    assert await fourth.until(t(19, 9, 1)) == [MEETING]
    fourth.close()

    # Down for two weeks (19th 09:01 → 3 July 09:20): of the missed meetings only the
    # newest counts (3 July 09:00, 补发); the assessment of 25 June is long past: skipped.
    fifth = Bot(db_url, t(3, 9, 20, month=7))
    assert await fifth.start() == [MEETING + "（补发）"]
    outcomes = fifth.app.db.run_sync(lambda s: s.exec(
        select(JobRun.outcome).join(Job, col(Job.id) == col(JobRun.job_id))
        .where(col(Job.kind).in_(("meeting", "oneoff", "assessment")))).all())
    counts = outbox_counts(fifth.app)
    fifth.close()

    assert counts == Counter({MEETING + "（补发）": 2, ONCE: 1, MEETING: 1})
    # Each occurrence was decided once: 6/5 late, 6/5 once, 6/12 skipped, 6/19 ran,
    # 6/25 assessment skipped, 7/3 late (6/26 superseded: never recorded).
    assert sorted(outcomes) == sorted(["late", "ran", "skipped", "ran", "skipped", "late"])


def test_replay_runs_with_downtime_between(tmp_path: Path) -> None:
    """§9: with --db the state is kept, and the time between one run's last line and
    the next run's first line is downtime."""
    db = f"sqlite:///{tmp_path / 'state.db'}"
    room = {"room": VILLAGE, "topic": "皇叔洼村工作群"}

    def line(at: datetime, sender: str, text: str, n: str, **extra: object) -> str:
        return json.dumps({"at": at.isoformat(), **room, "from": sender, "text": text, "id": n,
                           **extra}, ensure_ascii=False)

    def run(lines: list[str]) -> list[dict]:
        out = io.StringIO()
        asyncio.run(replay(lines, out, load_config(), db, [ADMIN]))
        return [json.loads(x) for x in out.getvalue().splitlines()]

    out = run([
        line(START, ADMIN, "#绑定 市 大同市", "a0", room="r_city"),
        line(START, ADMIN, "#绑定 县 浑源县 上级 大同市", "a1", room="r_county"),
        line(START, ADMIN, "#绑定 乡 吴城乡 上级 浑源县", "a2", room="r_town"),
        line(START, ADMIN, "#绑定 村 皇叔洼村 上级 吴城乡", "a3"),
        line(t(3, 9, 1), ADMIN, "#任命 @刘伟 干部", "b", mentions=[CADRE]),
        line(t(3, 9, 2), CADRE, "#提醒 6月4日 9:00 交表", "c"),
        line(t(3, 9, 3), CADRE, "#提醒 6月4日 10:00 入户", "d"),
    ])
    assert [x["text"][:5] for x in out[-2:]] == ["已设置提醒"] * 2, out
    # Down until 09:40 on the 4th: 交表 is 40 minutes late (补发), 入户 still ahead.
    later = run([json.dumps({"until": t(4, 9, 40).isoformat()}),
                 json.dumps({"until": t(4, 12).isoformat()})])
    assert [(x["at"], x["text"]) for x in later] == [
        ("2019-06-04T09:40:00+08:00", "【提醒】交表（补发）"),
        ("2019-06-04T10:00:00+08:00", "【提醒】入户"),
    ]
    # A third run: nothing again.
    assert run([json.dumps({"until": t(4, 13).isoformat()})]) == []
