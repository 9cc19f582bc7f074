"""WeCom webhooks standing for a unit's group: they receive notices (and what else the
unit's groups receive) but cannot answer, so notices there are not waited for."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.config import ConfigError, load_config
from bot.models.core import OutboxMessage, Room
from bot.org import bind_send_only_rooms, find_unit
from bot.runner import check_config
from tests.conftest import texts
from tests.test_notices import HQ, at, build_city, notify


def _bind(app, units: dict[str, str]) -> list[str]:
    return app.db.run_sync(lambda s: bind_send_only_rooms(s, "wecom", units, app.clock.now()))


def _rows(app, room: str) -> list[OutboxMessage]:
    return app.db.run_sync(
        lambda s: list(s.exec(select(OutboxMessage).where(OutboxMessage.room_id == room)).all())
    )


async def test_a_webhook_group_gets_the_notice_but_is_not_waited_for(chat, app) -> None:
    await build_city(chat)
    assert _bind(app, {"hunyuan": "浑源县"}) == []
    sent = await notify(chat, "#通知 浑源县 6月5日前报送危房改造验收材料")
    # Three WeChat groups and the webhook: the author is told four groups.
    assert "4 个群" in sent[0].text
    [post] = _rows(app, "hunyuan")
    assert post.transport == "wecom" and post.kind == "notice"
    assert post.text == "【通知 1】6月5日前报送危房改造验收材料"  # no 请回复"收到"
    receipt = (await chat.say("#回执 1", sender=HQ, room="r_city"))[0].text
    assert "企业微信" not in receipt and "hunyuan" not in receipt
    # Chases go to the WeChat groups that have not answered, never to the webhook.
    await chat.advance(at(1, 12))
    assert len(_rows(app, "hunyuan")) == 1


async def test_binding_follows_the_config(chat, app) -> None:
    await build_city(chat)
    assert _bind(app, {"hq": "大同市", "hy": "浑源"}) == []
    rooms = app.db.run_sync(lambda s: {r.id: r.unit_id for r in s.exec(select(Room)).all()})
    county = app.db.run_sync(lambda s: find_unit(s, "浑源县").id)
    assert rooms["hy"] == county
    # Dropped from the config: unbound (it keeps its history, gets nothing new).
    assert _bind(app, {"hq": "大同市"}) == []
    assert app.db.run_sync(lambda s: s.get(Room, "hy").unit_id) is None
    problems = _bind(app, {"x": "没有这个县"})
    assert problems == ["transports.wecom.units.x = '没有这个县': 找不到单位“没有这个县”"]
    assert texts(await notify(chat, "#通知 大同市 内容")) [0].startswith("通知 1 已发往")


def test_units_must_name_configured_webhooks() -> None:
    cfg = load_config().with_overrides(
        transports={"wecom": {"enabled": True, "webhooks": {"hq": "http://127.0.0.1:1/x"},
                              "units": {"hy": "浑源县"}}},
    )
    with pytest.raises(ConfigError, match=r"transports.wecom.units.hy: not one of the webhooks \['hq'\]"):
        check_config(cfg)
