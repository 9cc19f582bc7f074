"""Configuration: one TOML file, validated at start.

A wrong value stops the start with the key, the value and what is allowed
(`ConfigError`). Defaults are those of `config.example.toml`, so a file may give
only what it changes. Secrets may instead come from `VILLAGEBOT_…` environment
variables (`ENV_KEYS`, `VILLAGEBOT_WECOM_WEBHOOK_<NAME>`), which win over the file, so
that the file can be shared without them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.limits import Limits

EXAMPLE_PATH = Path(__file__).with_name("config.example.toml")

WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKLY = re.compile(r"^(?:周|星期|礼拜)([一二三四五六日天1-7])\s*(\d{1,2}):(\d{2})$")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


class ConfigError(Exception):
    """A config value that cannot be used; the message names key, value and what is allowed."""


def parse_hhmm(value: str) -> time:
    m = _HHMM.match(value.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError("expected a time of day as HH:MM, e.g. 17:00")
    return time(int(m.group(1)), int(m.group(2)))


def parse_weekly(value: str) -> tuple[int, time]:
    """'周五 17:00' -> (4, 17:00). Weekday 0 is Monday."""
    m = _WEEKLY.match(value.strip())
    if not m:
        raise ValueError("expected a weekday and a time, e.g. 周五 17:00")
    day = m.group(1)
    weekday = int(day) - 1 if day.isdigit() else WEEKDAYS[day]
    return weekday, parse_hhmm(f"{m.group(2)}:{m.group(3)}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    name: str = "村务助手"
    contact_id: str = ""
    timezone: str = "Asia/Shanghai"
    reply_script: Literal["simplified", "traditional"] = "simplified"
    admins: tuple[str, ...] = ()
    mention_sender_in_groups: bool = True
    welcome: bool = True

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError("expected an IANA time zone name, e.g. Asia/Shanghai") from e
        return v


class DatabaseSection(_Section):
    url: str = "sqlite:///villagebot.db"
    workers: int = Field(1, ge=1, le=16)
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"


class InboxSection(_Section):
    # Commands waiting for an unreachable database are kept in this SQLite file ("":
    # next to the SQLite database, or villagebot-inbox.db in the working directory).
    spool_path: str = ""
    spool_max: int = Field(10000, ge=1)
    notice_after_seconds: float = Field(5, ge=0)
    retry_seconds: float = Field(0.5, gt=0)
    max_retry_seconds: float = Field(10, gt=0)


class LimitsSection(_Section):
    # Per sender: a burst of commands, then a steady rate. 30 lets an evaluator award
    # twenty households in a row at a meeting without tripping it.
    burst: int = Field(30, ge=1)
    per_minute: float = Field(20, gt=0)
    # Inbound text: a longer command gets one short refusal (see `bot.limits.Limits`).
    max_command_chars: int = Field(6000, ge=100)
    # One reply is cut past this many characters (a last resort against echoes).
    max_reply_chars: int = Field(5000, ge=500)

    def input_limits(self) -> Limits:
        """These settings as `bot.limits.Limits` (the other bounds follow the columns)."""
        return Limits(
            max_command_chars=self.max_command_chars, max_reply_chars=self.max_reply_chars
        )


class TaskConfig(_Section):
    name: str
    unit: str
    aliases: tuple[str, ...] = ()


class RuleConfig(_Section):
    name: str
    points: int
    aliases: tuple[str, ...] = ()
    # How often the rule may apply to one household: "" (no cap), "day", "week",
    # "month" or "year"; `cap_count` times per period.
    cap_period: Literal["", "day", "week", "month", "year"] = ""
    cap_count: int = Field(1, ge=1)

    @field_validator("points")
    @classmethod
    def _nonzero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("expected a non-zero number of points")
        return v


class VillagePoints(_Section):
    confirmations_required: int | None = Field(None, ge=1, le=2)
    publicity_days: int | None = Field(None, ge=0, le=30)
    adhoc_cap: int | None = Field(None, ge=1)
    rules: tuple[RuleConfig, ...] = ()


class PointsSection(_Section):
    adhoc_cap: int = Field(50, ge=1)
    confirmations_required: int = Field(1, ge=1, le=2)
    pending_expiry_hours: int = Field(72, ge=1)
    publicity_days: int = Field(0, ge=0, le=30)
    # No award to a household the evaluator belonged to within this many days.
    own_household_days: int = Field(90, ge=0)
    # The same award by the same evaluator within this many minutes waits for #确认.
    repeat_minutes: int = Field(10, ge=0, le=1440)
    rules: tuple[RuleConfig, ...] = ()
    # Per-village overrides, keyed by the village's name.
    villages: dict[str, VillagePoints] = {}


class GoodConfig(_Section):
    name: str
    pack: str = "1个"
    price: int = Field(gt=0)
    stock: int = Field(0, ge=0)

    @field_validator("pack")
    @classmethod
    def _pack(cls, v: str) -> str:
        if not re.match(r"^[1-9]\d*\D{1,4}$", v.strip()):
            raise ValueError("expected a count and a measure word, e.g. 10个")
        return v.strip()


class SchedulesSection(_Section):
    report_due: str = "周五 17:00"
    assessment_day: int = Field(25, ge=1, le=28)
    assessment_time: str = "09:00"
    weekly_bulletin: str = "周一 08:30"
    monthly_bulletin_day: int = Field(1, ge=1, le=28)
    monthly_bulletin_time: str = "09:00"
    publicity: str = "周日 18:00"
    deadline_reminder_days: tuple[int, ...] = (7, 3, 1)
    deadline_reminder_time: str = "09:00"
    misfire_grace_minutes: int = Field(60, ge=0)
    timer_poll_seconds: float = Field(30, gt=0, le=3600)
    holidays: bool = True

    @field_validator("report_due", "weekly_bulletin", "publicity")
    @classmethod
    def _weekly(cls, v: str) -> str:
        parse_weekly(v)
        return v

    @field_validator("assessment_time", "monthly_bulletin_time", "deadline_reminder_time")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        parse_hhmm(v)
        return v


class QuietHours(_Section):
    start: str = "22:00"
    end: str = "07:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        parse_hhmm(v)
        return v


class NoticesSection(_Section):
    ack_chase_hours: float = Field(4, gt=0)
    ack_chase_max: int = Field(2, ge=0)
    max_chars: int = Field(1500, ge=100)


class OutboxSection(_Section):
    """The pace of each WeChat account (`bot.pacing`); the reasons and sources of the
    defaults are in config.example.toml and docs/pacing.md."""

    gap_min_seconds: float = Field(8, ge=0)
    gap_max_seconds: float = Field(20, ge=0)
    per_group_per_minute: int = Field(3, ge=1)
    burst_size: int = Field(20, ge=0)
    burst_pause_min_seconds: float = Field(120, ge=0)
    burst_pause_max_seconds: float = Field(300, ge=0)
    daily_cap: int = Field(800, ge=1)
    stale_minutes: int = Field(30, ge=1)
    max_attempts: int = Field(8, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data: Any) -> Any:
        """The keys of before (min_gap_seconds, jitter_seconds) still work: the gap is
        min_gap_seconds plus up to jitter_seconds (a missing one takes its old default,
        3 and 2). Given, they replace gap_min_seconds and gap_max_seconds."""
        if not isinstance(data, dict) or not {"min_gap_seconds", "jitter_seconds"} & set(data):
            return data
        data = dict(data)
        gap, jitter = data.pop("min_gap_seconds", 3), data.pop("jitter_seconds", 2)
        if not isinstance(gap, int | float) or not isinstance(jitter, int | float):
            raise ValueError("min_gap_seconds and jitter_seconds must be numbers of seconds "
                             "(new names: gap_min_seconds, gap_max_seconds)")
        data["gap_min_seconds"], data["gap_max_seconds"] = gap, gap + jitter
        return data

    @model_validator(mode="after")
    def _ranges(self) -> OutboxSection:
        if self.gap_max_seconds < self.gap_min_seconds:
            raise ValueError("gap_max_seconds must be at least gap_min_seconds")
        if self.burst_pause_max_seconds < self.burst_pause_min_seconds:
            raise ValueError("burst_pause_max_seconds must be at least burst_pause_min_seconds")
        return self


class WechatyAccount(_Section):
    """One WeChat account: its own puppet service (endpoint and token)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    endpoint: str = ""
    token: str = ""


class WechatySection(_Section):
    enabled: bool = False
    # One account: `endpoint` and `token` (named "main"). Several: `[[transports.wechaty.
    # accounts]]`, each run by `villagebot run --account NAME` or all by one process.
    endpoint: str = ""
    token: str = ""
    accounts: tuple[WechatyAccount, ...] = ()
    # Each account's process writes a sign of life this often; an account silent for
    # heartbeat_timeout_seconds (a hung connection, a dead process) counts as down and
    # its groups are served by the other accounts in them.
    heartbeat_seconds: float = Field(20, gt=0)
    heartbeat_timeout_seconds: float = Field(90, gt=0)

    @model_validator(mode="after")
    def _accounts(self) -> WechatySection:
        names = [a.name for a in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError("account names must differ")
        if self.accounts and (self.endpoint or self.token):
            raise ValueError("give endpoint/token per account when accounts are listed")
        return self

    def account_list(self) -> tuple[WechatyAccount, ...]:
        """The accounts, the single-account form included (as "main")."""
        if self.accounts:
            return self.accounts
        return (WechatyAccount(name="main", endpoint=self.endpoint, token=self.token),)


class WecomSection(_Section):
    enabled: bool = False
    # Group-robot webhook URLs by name; "alerts" is the backup channel for admins.
    webhooks: dict[str, str] = {}
    # Webhooks that stand for a unit's group (webhook name → unit name): they receive
    # what the unit's groups receive — notices, bulletins, reminders — but cannot answer.
    units: dict[str, str] = {}
    alerts: str = ""
    per_minute: int = Field(20, ge=1)
    timeout_seconds: float = Field(10, gt=0)


class SimulatorSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8600, ge=0, le=65535)
    token: str = ""
    dashboard_in_run: bool = False


class TransportsSection(_Section):
    wechaty: WechatySection = WechatySection()
    wecom: WecomSection = WecomSection()
    simulator: SimulatorSection = SimulatorSection()


class Config(_Section):
    bot: BotSection = BotSection()
    database: DatabaseSection = DatabaseSection()
    inbox: InboxSection = InboxSection()
    limits: LimitsSection = LimitsSection()
    tasks: tuple[TaskConfig, ...] = ()
    points: PointsSection = PointsSection()
    goods: tuple[GoodConfig, ...] = ()
    schedules: SchedulesSection = SchedulesSection()
    quiet_hours: QuietHours = QuietHours()
    notices: NoticesSection = NoticesSection()
    outbox: OutboxSection = OutboxSection()
    transports: TransportsSection = TransportsSection()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.bot.timezone)

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A copy with some keys of some sections replaced, validated again."""
        data = self.model_dump()
        for section, values in sections.items():
            data[section] = {**data[section], **values}
        return _validate(data, "overrides")


def _validate(data: dict[str, Any], source: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            value = err.get("input")
            shown = "(missing)" if err["type"] == "missing" else repr(value)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{source}: {key} = {shown}: {msg}")
        raise ConfigError("\n".join(lines)) from None


# Environment variables that replace one config key each (the secrets, and where to
# connect). Webhooks: VILLAGEBOT_WECOM_WEBHOOK_<NAME> (see `env_overrides`).
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "VILLAGEBOT_DATABASE_URL": ("database", "url"),
    "VILLAGEBOT_WECHATY_ENDPOINT": ("transports", "wechaty", "endpoint"),
    "VILLAGEBOT_WECHATY_TOKEN": ("transports", "wechaty", "token"),
    "VILLAGEBOT_DASHBOARD_TOKEN": ("transports", "simulator", "token"),
}
WEBHOOK_ENV = "VILLAGEBOT_WECOM_WEBHOOK_"
WECOM_SEND_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key="


def env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """`data` (a parsed config) with the `VILLAGEBOT_…` variables set in `env` put in.

    `VILLAGEBOT_WECOM_WEBHOOK_ALERTS=<key or URL>` sets the webhook named "alerts" (the
    name matched to the file's webhooks ignoring case, else lower-cased); a bare key is
    made into the WeCom robot's send URL. Empty variables are ignored.
    """
    out = _merge(data, {})
    for var, path in ENV_KEYS.items():
        value = env.get(var, "")
        if value:
            table = out
            for key in path[:-1]:
                table = table.setdefault(key, {})
            table[path[-1]] = value
    hooks = out.setdefault("transports", {}).setdefault("wecom", {}).setdefault("webhooks", {})
    for var, value in sorted(env.items()):
        if not var.startswith(WEBHOOK_ENV) or not value or len(var) == len(WEBHOOK_ENV):
            continue
        wanted = var[len(WEBHOOK_ENV):].lower()
        name = next((n for n in hooks if n.lower() == wanted), wanted)
        hooks[name] = value if value.startswith(("http://", "https://")) else WECOM_SEND_URL + value
    return out


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The example config's values, overlaid with the file at `path` if given, then with
    the `VILLAGEBOT_…` variables of `env` (the command passes `os.environ`)."""
    base = tomllib.loads(EXAMPLE_PATH.read_text(encoding="utf-8"))
    if path is None:
        return _validate(env_overrides(base, env or {}), str(EXAMPLE_PATH.name))
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except OSError as e:  # a directory, no permission …
        raise ConfigError(f"{p}: cannot be read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return _validate(env_overrides(_merge(base, data), env or {}), str(p))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays (tasks, rules, goods) replace the example's."""
    out = {k: _merge(v, {}) if isinstance(v, dict) else v for k, v in base.items()}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out
