"""The points rules in force in a village: rules (with caps per period), two-evaluator
confirmation, publicity days, the ad-hoc cap, pending expiry; and which rule a
command names (`pick_rule`, the one place a rule is looked up)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.calendar import at_local, week_start
from bot.config import Config, RuleConfig
from bot.models.core import OrgUnit
from bot.org import short_name
from bot.points.errors import PointsError, UnknownRule
from bot.text import simplify

T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    name: str
    points: int
    aliases: tuple[str, ...] = ()
    cap_period: str = ""
    cap_count: int = 1

    @classmethod
    def of(cls, rc: RuleConfig) -> Rule:
        return cls(simplify(rc.name), rc.points, tuple(simplify(a) for a in rc.aliases),
                   rc.cap_period, rc.cap_count)

    @property
    def cap_text(self) -> str:
        if not self.cap_period:
            return ""
        return f"每户{PERIOD_WORDS[self.cap_period]}限{self.cap_count}次"


PERIOD_WORDS = {"day": "每天", "week": "每周", "month": "每月", "year": "每年"}
PERIOD_NOW = {"day": "今天", "week": "本周", "month": "本月", "year": "今年"}


@dataclass(frozen=True)
class Policy:
    """The points rules in force in one village: the config's, with its overrides."""

    rules: tuple[Rule, ...]
    confirmations: int
    publicity_days: int
    adhoc_cap: int
    expiry: timedelta
    own_household: timedelta = timedelta(days=90)  # no award where one belonged this recently
    repeat: timedelta = timedelta(minutes=10)  # an identical award this soon waits for #确认


def policy(config: Config, village: OrgUnit | None) -> Policy:
    """The rules in force in `village` (None: the config's defaults)."""
    p = config.points
    over = None
    names = {village.name, short_name(village.name)} if village is not None else set()
    for key, value in p.villages.items():
        if simplify(key) in names:
            over = value
            break
    rules = over.rules if over is not None and over.rules else p.rules
    return Policy(
        rules=tuple(Rule.of(r) for r in rules),
        confirmations=over.confirmations_required or p.confirmations_required
        if over is not None else p.confirmations_required,
        publicity_days=over.publicity_days if over is not None and over.publicity_days is not None
        else p.publicity_days,
        adhoc_cap=over.adhoc_cap or p.adhoc_cap if over is not None else p.adhoc_cap,
        expiry=timedelta(hours=p.pending_expiry_hours),
        own_household=timedelta(days=p.own_household_days),
        repeat=timedelta(minutes=p.repeat_minutes),
    )


def find_rule(pol: Policy, word: str) -> Rule | None:
    """The rule a word names: by name or alias, else the one rule containing it (or
    contained in it). None if none; PointsError if several match."""
    w = simplify(word).strip("“”\"'")
    for r in pol.rules:
        if w == r.name or w in r.aliases:
            return r
    if len(w) < 2:
        return None
    found = [r for r in pol.rules if any(w in n or (len(n) >= 2 and n in w)
                                         for n in (r.name, *r.aliases))]
    if len(found) == 1:
        r = found[0]
        rest = w
        for n in sorted((r.name, *r.aliases), key=len, reverse=True):
            rest = rest.replace(n, "")
        if any(c.isdigit() for c in rest):  # '20户容户貌': a figure the rule does not take
            raise PointsError(f"“{r.name}”按规则是 {r.points:+d} 分，不用写分数；临时加扣分请把"
                              "分数和事由分开写，如 #加分 @张三 20 防汛值班")
        return r
    if len(found) > 1:
        raise PointsError(f"“{w}”可能是：" + "、".join(r.name for r in found) + "，请写全称")
    return None


def period_start(period: str, now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    if period == "week":
        return week_start(now, zone)
    day = local.date()
    if period == "month":
        day = day.replace(day=1)
    elif period == "year":
        day = day.replace(month=1, day=1)
    return at_local(day, time(0, 0), zone)



def rule_words(pol: Policy) -> set[str]:
    """Every name and alias of the village's rules."""
    return {w for r in pol.rules for w in (r.name, *r.aliases)}


def pick_rule(pol: Policy, rule_word: str | None, reason: str, targets: Sequence[T | str]
              ) -> tuple[Rule | None, tuple[T | str, ...]]:
    """The rule an award names, and its targets. `rule_word` is the word meant as the
    rule (#加分 @张三 六净六有); when it names none but one of the targets does, the
    rule came first (#加分 六净六有 张三家) and the two swap. Without a rule word (an
    amount was given), a reason that is a rule's name or alias is that rule.
    UnknownRule if `rule_word` names none; PointsError if it names several."""
    words = rule_words(pol)
    if rule_word is None:
        return (find_rule(pol, reason) if reason in words else None), tuple(targets)
    rule = find_rule(pol, rule_word)
    swap = [t for t in targets if isinstance(t, str) and t in words]
    if rule is None and len(swap) == 1:
        rule = find_rule(pol, swap[0])
        targets = (*(t for t in targets if t != swap[0]), rule_word)
    if rule is None:
        raise UnknownRule(rule_word)
    return rule, tuple(targets)
