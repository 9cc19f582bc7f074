"""Configuration: the example is complete and valid; wrong values stop the start clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


def test_example_config_is_valid_and_has_the_published_rules() -> None:
    cfg = load_config()
    rules = {r.name: r.points for r in cfg.points.rules}
    assert rules["不大操大办红白事"] == 30
    assert rules["参加村集体防火防汛等公益活动"] == 15
    assert rules["六净六有"] == 10
    assert rules["有脱贫产业"] == 50
    assert rules["十佳模范"] == 50
    assert (rules["破坏公共环境"], rules["虐待公婆"], rules["打架斗殴"]) == (-10, -30, -20)
    assert cfg.bot.timezone == "Asia/Shanghai"
    assert {t.name for t in cfg.tasks} >= {"危房改造", "易地搬迁", "产业扶贫", "贫困村提升", "光伏扶贫"}


def test_a_file_overrides_only_what_it_gives(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[bot]\nadmins = ["wxid_a"]\nreply_script = "traditional"\n', encoding="utf-8")
    cfg = load_config(p)
    assert cfg.bot.admins == ("wxid_a",)
    assert cfg.bot.reply_script == "traditional"
    assert cfg.schedules.report_due == "周五 17:00"


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[bot]\ntimezone = "Mars/Base"', "bot.timezone = 'Mars/Base': expected an IANA time zone"),
        ('[schedules]\nreport_due = "Friday"', "schedules.report_due = 'Friday': expected a weekday"),
        ('[quiet_hours]\nstart = "25:00"', "quiet_hours.start = '25:00'"),
        ('[bot]\nreply_script = "klingon"', "bot.reply_script = 'klingon'"),
        ('[bot]\nnmae = "x"', "bot.nmae = 'x': unknown key"),
        ('[points]\nadhoc_cap = 0', "points.adhoc_cap = 0"),
    ],
)
def test_wrong_values_name_key_value_and_what_is_allowed(tmp_path: Path, toml: str, needle: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert needle in str(e.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[bot\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path)  # a directory
    p.write_bytes("[bot]\nname = '村务助手'\n".encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)


def test_traditional_replies(tmp_path: Path) -> None:
    from bot.messages import Inbound
    from bot.models.core import OutboxMessage
    from bot.wiring import build_app
    from tests.conftest import START

    p = tmp_path / "c.toml"
    p.write_text('[bot]\nreply_script = "traditional"\n', encoding="utf-8")
    app = build_app(load_config(p), db_url="sqlite://")
    try:
        app.handle_sync(Inbound("memory", "m1", "u1", "", "#登记 户 王五家", START, room="r1"))
        row = app.db.run_sync(lambda s: s.get(OutboxMessage, 1))
        assert row.text == "本群還沒有綁定單位。管理員可發送：#綁定 村 皇叔窪村 上級 吳城鄉"
    finally:
        app.close()


def test_secrets_from_the_environment_win_over_the_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        '[database]\nurl = "sqlite:///file.db"\n'
        '[transports.wechaty]\ntoken = "from-file"\nendpoint = "10.0.0.1:8788"\n'
        '[transports.wecom]\nwebhooks = { Alerts = "https://example.invalid/old", county = "x" }\n',
        encoding="utf-8",
    )
    env = {
        "VILLAGEBOT_WECHATY_TOKEN": "from-env",
        "VILLAGEBOT_DATABASE_URL": "postgresql://bot@db/villagebot",
        "VILLAGEBOT_WECOM_WEBHOOK_ALERTS": "k-alerts",
        "VILLAGEBOT_WECOM_WEBHOOK_TOWN": "https://example.invalid/town",
        "VILLAGEBOT_DASHBOARD_TOKEN": "",  # empty: ignored
        "PATH": "/bin",
    }
    cfg = load_config(p, env)
    assert cfg.transports.wechaty.token == "from-env"
    assert cfg.transports.wechaty.endpoint == "10.0.0.1:8788"  # not in env: the file's
    assert cfg.database.url == "postgresql://bot@db/villagebot"
    hooks = cfg.transports.wecom.webhooks
    assert hooks["Alerts"].endswith("/cgi-bin/webhook/send?key=k-alerts")  # the file's name
    assert hooks["town"] == "https://example.invalid/town"
    assert hooks["county"] == "x"
    assert cfg.transports.simulator.token == ""
    # Without a file, and without an environment, nothing changes.
    assert load_config(None, env).transports.wechaty.token == "from-env"
    assert load_config(p).transports.wechaty.token == "from-file"


def test_a_bad_value_from_the_environment_is_named(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("", encoding="utf-8")
    cfg = load_config(p, {"VILLAGEBOT_WECHATY_ENDPOINT": "127.0.0.1:9"})
    assert cfg.transports.wechaty.endpoint == "127.0.0.1:9"
