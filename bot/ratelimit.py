"""A per-sender token bucket for commands, in memory (it guards the bot, not the data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass
class _Bucket:
    tokens: float
    at: datetime
    warned: bool = False


class RateLimiter:
    """`burst` commands at once, then `per_minute`. The first command over the limit
    gets one warning ("warn"); the rest are dropped silently ("drop") until the bucket
    has refilled a token."""

    def __init__(self, burst: int, per_minute: float) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def check(self, sender: str, now: datetime) -> Literal["ok", "warn", "drop"]:
        b = self._buckets.get(sender)
        if b is None:
            if len(self._buckets) > 10_000:
                self._forget(now)
            b = self._buckets[sender] = _Bucket(float(self.burst), now)
        elapsed = max(0.0, (now - b.at).total_seconds())
        b.tokens = min(float(self.burst), b.tokens + elapsed * self.rate)
        b.at = now
        if b.tokens >= 1:
            b.tokens -= 1
            b.warned = False
            return "ok"
        if b.warned:
            return "drop"
        b.warned = True
        return "warn"

    def _forget(self, now: datetime) -> None:
        """Drop buckets that have refilled completely: they hold no state worth keeping."""
        full = self.burst / self.rate if self.rate else 0
        for k in [k for k, b in self._buckets.items() if (now - b.at).total_seconds() > full]:
            del self._buckets[k]
