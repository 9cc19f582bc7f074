"""The pace of one WeChat account, ban-safe by default (`[outbox]`, docs/pacing.md).

Personal WeChat accounts are restricted or banned when they send like machines. Each
paced account therefore keeps, between its messages:
- a random gap, uniform in [gap_min, gap_max] (8–20 s by default);
- a per-group limit (so many messages to one group in any minute);
- a quiet pause after a burst: after `burst_size` messages in a row, a random pause,
  uniform in [burst_pause_min, burst_pause_max];
- a daily cap (counted from the database at the start of each local day).

The `Pacer` is pure bookkeeping on the times it is given; the outbox sender
(`bot.sender`) asks it how long to wait and tells it what it sent. Transports without
one (replay, memory, console, the simulator) are not paced at all.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config

MINUTE = timedelta(minutes=1)


@dataclass
class Pacer:
    """The pace of one account. The gap is `min_gap` plus a uniform draw in [0, `jitter`]
    (the config's gap_min_seconds and gap_max_seconds − gap_min_seconds)."""

    min_gap: float = 8.0
    per_group_per_minute: int = 3
    jitter: float = 12.0
    daily_cap: int = 800
    stale_minutes: float = 30
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    rng: random.Random = field(default_factory=random.Random)
    # After this many messages in a row (0: never), a pause in [min, max] seconds. A gap
    # of at least `burst_pause_min` between two messages ends the run by itself.
    burst_size: int = 20
    burst_pause_min: float = 120.0
    burst_pause_max: float = 300.0
    _next_ok: datetime | None = None
    _recent: dict[str, deque[datetime]] = field(default_factory=dict)
    _run: int = 0
    _last: datetime | None = None
    day: date | None = None
    sent_today: int = 0
    # Several accounts in one group: the per-group limit counts every account's messages.
    # `heard` gives what the database says the groups were sent in the last minute (all
    # accounts, this one included); this account's sends since then are added to it.
    _heard: dict[str, list[datetime]] | None = None
    _since_heard: dict[str, list[datetime]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config, rng: random.Random | None = None) -> Pacer:
        o = config.outbox
        return cls(min_gap=o.gap_min_seconds, jitter=o.gap_max_seconds - o.gap_min_seconds,
                   per_group_per_minute=o.per_group_per_minute, daily_cap=o.daily_cap,
                   stale_minutes=o.stale_minutes, zone=config.zone, rng=rng or random.Random(),
                   burst_size=o.burst_size, burst_pause_min=o.burst_pause_min_seconds,
                   burst_pause_max=o.burst_pause_max_seconds)

    @property
    def stale(self) -> timedelta:
        return timedelta(minutes=self.stale_minutes)

    def gap_wait(self, now: datetime) -> float:
        """Seconds before the account may send anything (its gap or quiet pause); 0: now."""
        if self._next_ok is not None and now < self._next_ok:
            return (self._next_ok - now).total_seconds()
        return 0.0

    def wait(self, key: str, now: datetime) -> float:
        """Seconds before a message to `key` (a group or contact) may go; 0: now."""
        wait = self.gap_wait(now)
        if self._heard is not None:
            times = [t for t in self._heard.get(key, ()) if t > now - MINUTE]
            times += [t for t in self._since_heard.get(key, ()) if t > now - MINUTE]
            if len(times) >= self.per_group_per_minute:
                times.sort()
                first = times[len(times) - self.per_group_per_minute]
                wait = max(wait, (first + MINUTE - now).total_seconds())
            return wait
        recent = self._recent.get(key)
        if recent:
            while recent and recent[0] <= now - MINUTE:
                recent.popleft()
            if len(recent) >= self.per_group_per_minute:
                wait = max(wait, (recent[0] + MINUTE - now).total_seconds())
            if not recent:
                del self._recent[key]
        return wait

    def sent(self, key: str, now: datetime) -> None:
        if self._last is not None and now - self._last >= timedelta(seconds=self.burst_pause_min):
            self._run = 0  # the account has rested: a new run starts
        self._run += 1
        self._last = now
        if self.burst_size and self._run >= self.burst_size:
            self._run = 0
            pause = self.rng.uniform(self.burst_pause_min, self.burst_pause_max)
            self._next_ok = now + timedelta(seconds=pause)
        else:
            gap = self.min_gap + (self.rng.uniform(0, self.jitter) if self.jitter else 0.0)
            self._next_ok = now + timedelta(seconds=gap)
        if self._heard is not None:
            self._since_heard.setdefault(key, []).append(now)
        else:
            self._recent.setdefault(key, deque()).append(now)
        self.sent_today += 1

    def heard(self, recent: dict[str, list[datetime]]) -> None:
        """What every account sent to each group in the last minute (`bot.outbox.
        recent_sends`); from then on the per-group limit counts it, not only this
        account's own messages."""
        self._heard = recent
        self._since_heard = {}

    def local_day(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def day_start(self, now: datetime) -> datetime:
        d = self.local_day(now)
        return datetime(d.year, d.month, d.day, tzinfo=self.zone).astimezone(UTC)

    def capped(self) -> bool:
        return self.sent_today >= self.daily_cap
