"""The per-process cache (bot.orgcache, issue 17): entries are kept under a random
token that the database's triggers change with every change to the cached tables, so
a change made by this process, by another process on the same database, or undone by
a rolled-back savepoint is never served stale. And the hot path's statement counts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, inspect, text
from sqlmodel import Session, col, select

from bot.app import App
from bot.clock import VirtualClock
from bot.config import Config
from bot.drivers.memory import MemoryChat
from bot.migrate import upgrade_head
from bot.models.core import OrgUnit, Person, RoleGrant, RoomMember
from bot.models.points import COUNTED, PointEntry
from bot.org import CADRE, EVALUATOR
from bot.orgcache import OrgView
from bot.router import UNBOUND
from bot.wiring import build_app
from tests.conftest import ADMIN
from tests.helpers import ROOMS, appoint, build_tree

VILLAGE = ROOMS["village"][0]
P = "wxid_p"


def token(session: Session) -> str:
    return str(session.execute(text("SELECT token FROM cache_version")).scalar_one())


def village_id(app: App) -> int:
    return app.db.run_sync(lambda s: s.exec(
        select(OrgUnit.id).where(OrgUnit.name == "皇叔洼村")).one())


def grants_seen(app: App, session: Session) -> frozenset[str]:
    """P's roles in the village as the cache of `app` serves them in `session`."""
    view = OrgView(app.cache, app.cache.generation(token(session)), session)
    unit = view.unit(village_id(app))
    assert unit is not None
    return view.grants(P, unit)


async def appoint_refused(chat: MemoryChat) -> str:
    """P tries to appoint someone: only an admin may."""
    sent = await chat.say("#任命 @某人 干部", sender=P, name="小P", room=VILLAGE,
                          mentions=(("wxid_x", "某人"),))
    return sent[0].text


async def test_a_role_granted_counts_for_the_next_message(chat: MemoryChat) -> None:
    await build_tree(chat)
    assert "管理员" in await appoint_refused(chat)  # cached: P has no role
    await appoint(chat, "village", P, "小P", "管理员")
    assert "已任命" in await appoint_refused(chat)
    sent = await chat.say("#免职 @小P 管理员", sender=ADMIN, room=VILLAGE,
                          mentions=((P, "小P"),))
    assert sent, sent
    assert "管理员" in await appoint_refused(chat)


@pytest.fixture
def two(config: Config, clock: VirtualClock, db_url: str) -> Iterator[tuple[App, App]]:
    """Two bots (two engines, two caches) on one database: two processes."""
    a = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    b = build_app(config, clock=clock, db_url=db_url, admins=[ADMIN])
    yield a, b
    a.close()
    b.close()


async def test_a_change_by_another_process_is_seen(two: tuple[App, App]) -> None:
    a, b = two
    chat_a, chat_b = MemoryChat(a), MemoryChat(b)
    chat_b._ids = itertools.count(1000)  # message ids of its own
    await build_tree(chat_a)
    assert "管理员" in await appoint_refused(chat_a)
    await appoint(chat_b, "village", P, "小P", "管理员")  # the other process
    assert "已任命" in await appoint_refused(chat_a)
    # A group this process saw unbound, bound by the other one: this one follows.
    sent = await chat_a.say("#进度 危房改造 1", sender=ADMIN, room="r_new")
    assert [o.text for o in sent] == [UNBOUND]
    await chat_b.say("#绑定 村 新村 上级 吴城乡", sender=ADMIN, room="r_new")
    sent = await chat_a.say("#进度 危房改造 1", sender=ADMIN, room="r_new")
    assert [o.text for o in sent] == ["#进度 需要干部权限"]


def village_with_p(a: App) -> int:
    """The city down to 皇叔洼村, bound by the admin, and P known (no role yet): the
    village's id."""
    MemoryChat(a)
    a.handle_sync(_msg(a, "#绑定 市 大同市", "r_city"))
    a.handle_sync(_msg(a, "#绑定 县 浑源县 上级 大同市", "r_county"))
    a.handle_sync(_msg(a, "#绑定 乡 吴城乡 上级 浑源县", "r_town"))
    a.handle_sync(_msg(a, "#绑定 村 皇叔洼村 上级 吴城乡", VILLAGE))
    with a.db.transaction() as s:
        s.add(Person(id=P, name="小P", updated_at=a.clock.now()))
    return village_id(a)


def test_a_rolled_back_savepoint_is_never_served(two: tuple[App, App]) -> None:
    """A token seen inside a savepoint that rolled back is never the token of another
    state: a counter would come back to the same number after the other process's
    commit, and the role cached inside the savepoint would be served for it."""
    a, b = two
    vid = village_with_p(a)
    before = a.db.run_sync(token)
    with a.db.transaction() as s:
        with s.begin_nested() as sp:
            s.add(RoleGrant(person_id=P, unit_id=vid, role=EVALUATOR, granted_by=ADMIN,
                            granted_at=a.clock.now()))
            s.flush()
            inside = token(s)
            assert inside != before
            assert grants_seen(a, s) == {EVALUATOR}  # cached under the savepoint's token
            sp.rollback()
        assert token(s) == before
        assert grants_seen(a, s) == frozenset()
    with b.db.transaction() as s:  # the other process grants another role
        s.add(RoleGrant(person_id=P, unit_id=vid, role=CADRE, granted_by=ADMIN,
                        granted_at=b.clock.now()))
    with a.db.transaction() as s:
        assert token(s) not in (before, inside)
        assert grants_seen(a, s) == {CADRE}
    with b.db.transaction() as s:
        s.execute(text("DELETE FROM role_grant WHERE person_id = :p"), {"p": P})
    with a.db.transaction() as s:
        assert grants_seen(a, s) == frozenset()


def test_a_unit_that_wrote_does_not_fill_the_shared_generation(two: tuple[App, App]) -> None:
    """A unit reads its token first, then writes a role in a savepoint, then misses the
    cache: what it loads is its own uncommitted state. It serves that unit, but is not
    kept under the token it read, which the savepoint's rollback makes current again."""
    a, _b = two
    vid = village_with_p(a)
    with a.db.transaction() as s:
        read = token(s)
        view = OrgView(a.cache, a.cache.generation(read), s)  # as the journal insert gives it
        unit = view.unit(vid)
        assert unit is not None
        with s.begin_nested() as sp:
            s.add(RoleGrant(person_id=P, unit_id=vid, role=EVALUATOR, granted_by=ADMIN,
                            granted_at=a.clock.now()))
            s.flush()
            assert view.grants(P, unit) == {EVALUATOR}  # this unit sees its own write
            sp.rollback()
        assert token(s) == read
        assert grants_seen(a, s) == frozenset()


def _msg(app: App, text_: str, room: str, sender: str = ADMIN):  # type: ignore[no-untyped-def]
    from bot.messages import Inbound

    _msg.n = getattr(_msg, "n", 0) + 1  # type: ignore[attr-defined]
    return Inbound("memory", f"x{_msg.n}", sender, "", text_, app.clock.now(),  # type: ignore[attr-defined]
                   room=room)


def test_only_changes_that_matter_change_the_token(app: App) -> None:
    app.handle_sync(_msg(app, "#绑定 市 大同市", "r_city"))
    t0 = app.db.run_sync(token)
    now = app.clock.now()
    with app.db.transaction() as s:  # a new person and a membership: no
        s.add(Person(id=P, name="小P", updated_at=now))
        s.flush()
        s.add(RoomMember(room_id="r_city", person_id=P, last_seen=now))
    assert app.db.run_sync(token) == t0
    with app.db.transaction() as s:  # last seen: no
        s.execute(text("UPDATE room_member SET last_seen = :t"), {"t": now.isoformat()})
    assert app.db.run_sync(token) == t0
    with app.db.transaction() as s:  # a new name: yes
        s.execute(text("UPDATE person SET name = '大P' WHERE id = :p"), {"p": P})
    t1 = app.db.run_sync(token)
    assert t1 != t0
    with app.db.transaction() as s:  # a group renamed: yes
        s.execute(text("UPDATE room SET topic = '新名字' WHERE id = 'r_city'"))
    assert app.db.run_sync(token) not in (t0, t1)


def test_migrated_and_fresh_schemas_have_the_same_triggers(db_url: str, tmp_path) -> None:
    from bot.db import make_engine
    from bot.migrate import create_schema

    fresh = make_engine(db_url)
    create_schema(fresh)
    names_fresh = _triggers(fresh)
    fresh.dispose()
    other = (f"sqlite:///{tmp_path / 'migrated.db'}" if db_url.startswith("sqlite")
             else None)
    if other is None:  # PostgreSQL: the same database, downgraded and upgraded again
        from alembic import command

        from bot.migrate import alembic_config

        engine = make_engine(db_url)
        command.downgrade(alembic_config(engine), "0007")
        assert not _triggers(engine)
        upgrade_head(engine)
    else:
        engine = make_engine(other)
        upgrade_head(engine)
    assert _triggers(engine) == names_fresh and len(names_fresh) >= 20
    assert "cache_version" in inspect(engine).get_table_names()
    engine.dispose()


def _triggers(engine) -> set[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'cache_bump_%'"))
        else:
            rows = conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'cache_bump_%'"))
        return {r[0] for r in rows}


# -- the hot path's statements ---------------------------------------------------------


class Count:
    def __init__(self, app: App) -> None:
        self.engine = app.db.engine
        self.statements: list[str] = []

    def __enter__(self) -> Count:
        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hook)

    def _hook(self, _conn, _cur, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        self.statements.append(statement)


async def test_a_report_a_query_and_an_award_take_few_statements(chat: MemoryChat, app: App
                                                                 ) -> None:
    """Once the group's entries are cached: a report 6 statements at most (SQLite counts
    its BEGIN), #查分 4, an award 7; and #查分's figure is the ledger's sum."""
    cadre, rater = "wxid_cadre", "wxid_rater"
    await build_tree(chat)
    await appoint(chat, "village", cadre, "干部甲", "干部")
    await appoint(chat, "village", rater, "评议员甲", "评议员")
    await chat.say("#登记 户 张家", sender=cadre, room=VILLAGE)
    await appoint(chat, "city", "wxid_hq", "指挥部甲", "指挥部")
    sent = await chat.say("#目标 危房改造 50 截止 12月31日", sender="wxid_hq", room=VILLAGE)
    assert "目标" in sent[0].text and "需要" not in sent[0].text, sent
    for k in range(2):  # warm: the cache, and today's group memberships
        await chat.say(f"#进度 危房改造 {k + 1}", sender=cadre, room=VILLAGE)
        await chat.say(f"#加分 张家 {k + 3} 义务劳动{k}", sender=rater, room=VILLAGE)
        await chat.say("#查分 张家", sender=rater, room=VILLAGE)
    counts = {}
    for name, words, who in [("report", "#进度 危房改造 9", cadre),
                             ("award", "#加分 张家 7 打扫卫生", rater),
                             ("query", "#查分 张家", rater)]:
        with Count(app) as c:  # the handling only (the sender sends after)
            await app.handle(_msg(app, words, VILLAGE, who))
        sent = await chat.flush()
        assert len(sent) == 1, sent
        counts[name] = len(c.statements)
        if name == "query":
            shown = sent[0].text
    assert counts["report"] <= 6 and counts["query"] <= 4 and counts["award"] <= 7, counts

    def ledger_sum(s: Session) -> int:
        return int(s.exec(select(func.coalesce(func.sum(PointEntry.delta), 0)).where(
            col(PointEntry.status).in_(COUNTED),
            col(PointEntry.effective_at) <= app.clock.now())).one())

    total = app.db.run_sync(ledger_sum)
    assert total == 3 + 4 + 7
    assert f"余额 {total} 分" in shown, shown
