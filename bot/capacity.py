"""How long the paced WeChat accounts take to reach a city's groups: a pure model.

For N groups on M accounts (which groups each account is in), and the pacing of
`[outbox]` (`bot.pacing`), it gives the expected time a message to every group takes
(a city-wide notice, a weekly round), and the daily headroom (the daily cap × accounts
minus the day's load). `villagebot capacity` prints it; a notice's confirmation says
when it will have reached every group (`delivery_estimate`, from the queue now, the live
accounts and their membership). tests/test_capacity.py checks the model against the real
outbox sender on a virtual clock.

The model: each account sends its messages one after another, a mean gap apart
((gap_min + gap_max) / 2), with a mean quiet pause ((burst_pause_min + burst_pause_max) /
2) in place of every `burst_size`-th gap, up to what is left of its daily cap; the rest
goes from the next local midnight. A group is served by one of its live accounts: those
in one account only are its own, the others go to the least loaded of theirs, so that
the last account finishes as early as it can. The per-group limit does not slow a
round that sends each group one message (or a few, spread among the others).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.accounts import live_accounts, members
from bot.config import Config, parse_weekly
from bot.models.accounts import BotAccount
from bot.models.core import OutboxMessage, Room

WECHATY = "wechaty"  # the paced transport's name (bot.transports.wechaty.NAME)
DAY = 86400.0
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Pace:
    """The pacing of one account, as the model uses it (seconds)."""

    gap_min: float = 8
    gap_max: float = 20
    burst_size: int = 20
    pause_min: float = 120
    pause_max: float = 300
    daily_cap: int = 800

    @classmethod
    def from_config(cls, config: Config) -> Pace:
        o = config.outbox
        return cls(o.gap_min_seconds, o.gap_max_seconds, o.burst_size,
                   o.burst_pause_min_seconds, o.burst_pause_max_seconds, o.daily_cap)

    @property
    def mean_gap(self) -> float:
        return (self.gap_min + self.gap_max) / 2

    @property
    def mean_pause(self) -> float:
        return (self.pause_min + self.pause_max) / 2

    def run_seconds(self, k: int) -> float:
        """Expected time from the first to the last of `k` messages sent back to back by
        one rested account."""
        if k <= 1:
            return 0.0
        pauses = (k - 1) // self.burst_size if self.burst_size else 0
        return (k - 1 - pauses) * self.mean_gap + pauses * self.mean_pause

    def per_day(self) -> int:
        """Messages one account could send in a day at this pace, without the cap."""
        per = self.run_seconds(1001) / 1000
        return int(DAY / per) if per else 10**9

    def finish_seconds(self, k: int, now: datetime, zone: ZoneInfo, sent_today: int = 0) -> float:
        """Seconds from `now` until the last of `k` messages has gone, the daily cap
        holding the rest until the next local midnight (the cap counts `sent_today`)."""
        if k <= 0:
            return 0.0
        left = max(0, self.daily_cap - sent_today)
        if k <= left:
            return self.run_seconds(k)
        k -= left
        day = now.astimezone(zone).date()
        while True:
            day += timedelta(days=1)
            start = (datetime(day.year, day.month, day.day, tzinfo=zone)
                     - now.astimezone(zone)).total_seconds()
            if k <= self.daily_cap:
                return start + self.run_seconds(k)
            k -= self.daily_cap


def assign(items: Iterable[tuple[int, Collection[str]]], queued: Mapping[str, int] | None = None
           ) -> dict[str, int]:
    """Each item (messages, the accounts that may send them) to one of its accounts: the
    items with fewest choices first, each to its least loaded account. The messages per
    account, `queued` included. Items without an account are left out."""
    load: dict[str, int] = dict(queued or {})
    for n, accounts in sorted(items, key=lambda it: len(it[1])):
        if not accounts:
            continue
        best = min(sorted(accounts), key=lambda a: load.get(a, 0))
        load[best] = load.get(best, 0) + n
    return load


@dataclass(frozen=True)
class Estimate:
    """When a message to each of some groups will have been sent."""

    groups: int  # groups a live account is in
    waiting: int  # groups no live account is in: they wait for one
    seconds: float  # from now until the last message has gone
    loads: dict[str, int] = field(default_factory=dict)  # messages per account, queue included

    @property
    def minutes(self) -> int:
        """Rounded up to 5 minutes ("within")."""
        return max(5, -(-int(self.seconds) // 300) * 5)


def estimate(pace: Pace, items: Sequence[tuple[int, Collection[str]]], now: datetime,
             zone: ZoneInfo, queued: Mapping[str, int] | None = None,
             sent_today: Mapping[str, int] | None = None) -> Estimate:
    """The finish time of `items` (per group: messages, live accounts in it) after the
    `queued` messages of each account."""
    loads = assign(items, queued)
    sent_today = sent_today or {}
    seconds = max((pace.finish_seconds(k, now, zone, sent_today.get(a, 0))
                   for a, k in loads.items()), default=0.0)
    reached = sum(1 for _, accounts in items if accounts)
    return Estimate(reached, len(items) - reached, seconds, loads)


# -- a city ------------------------------------------------------------------------


def spread(groups: int, accounts: int, shared: float = 0.0) -> list[set[str]]:
    """Membership of an evenly spread city: group i in account i mod M; a `shared`
    fraction of the groups also in the next account."""
    names = account_names(accounts)
    both = round(groups * shared) if accounts > 1 else 0
    out = []
    for i in range(groups):
        member = {names[i % accounts]}
        if i < both:
            member.add(names[(i + 1) % accounts])
        out.append(member)
    return out


def account_names(accounts: int) -> list[str]:
    return [f"wx{i + 1}" for i in range(accounts)]


@dataclass(frozen=True)
class Round:
    name: str
    weekday: int  # 0: Monday
    at: str


def weekly_rounds(config: Config) -> list[Round]:
    """What the schedules send every village group each week, one message a group at
    most: the report chase (to units that have not reported by `report_due`) and the
    points publicity (to villages with entries that week). Counting every group for each
    is the upper bound the model uses. The weekly bulletin goes to the HQ and county
    groups only (a handful), so it is left out."""
    s = config.schedules
    out = []
    for name, spec in (("进度催报", s.report_due), ("积分公示", s.publicity)):
        weekday, at = parse_weekly(spec)
        out.append(Round(name, weekday, f"{at:%H:%M}"))
    return out


@dataclass(frozen=True)
class City:
    groups: int
    accounts: int
    shared: float
    pace: Pace
    notice: Estimate  # a city-wide notice, every account up
    one_down: Estimate  # the same with one account down
    rounds: tuple[Round, ...]
    busiest_load: int  # messages on the busiest day of the week (its rounds)
    busiest_day: int

    @property
    def daily_capacity(self) -> int:
        return self.pace.daily_cap * self.accounts

    @property
    def headroom(self) -> int:
        """What the caps leave on the busiest day, for notices and replies."""
        return self.daily_capacity - self.busiest_load

    def accounts_needed(self, hours: float | None = None) -> int:
        """Accounts for the busiest day and one city-wide notice on it, within the caps
        (and, given `hours`, for a notice to reach every group within that many hours)."""
        need = -(-(self.busiest_load + self.groups) // self.pace.daily_cap)
        if hours is not None:
            m = 1
            while self.pace.run_seconds(-(-self.groups // m)) > hours * 3600:
                m += 1
            need = max(need, m)
        return max(need, 1)


def city(groups: int, accounts: int, config: Config, shared: float = 0.0) -> City:
    pace = Pace.from_config(config)
    zone = config.zone
    # Measured from a local midnight with nothing sent yet: the whole day's cap is there.
    now = datetime.combine(date(2026, 1, 5), datetime.min.time(), zone).astimezone(UTC)
    member = spread(groups, accounts, shared)
    notice = estimate(pace, [(1, m) for m in member], now, zone)
    down = account_names(accounts)[0]
    one_down = estimate(pace, [(1, m - {down}) for m in member], now, zone)
    rounds = tuple(weekly_rounds(config))
    per_day = [groups * sum(1 for r in rounds if r.weekday == d) for d in range(7)]
    busiest = max(range(7), key=lambda d: per_day[d])
    return City(groups, accounts, shared, pace, notice, one_down, rounds,
                per_day[busiest], busiest)


WEEKDAY_NAMES = "一二三四五六日"


def duration(seconds: float) -> str:
    minutes = int(-(-seconds // 60))
    if minutes < 60:
        return f"{minutes} 分钟"
    h, m = divmod(minutes, 60)
    if h < 24:
        return f"{h} 小时 {m} 分钟" if m else f"{h} 小时"
    d, h = divmod(h, 24)
    return f"{d} 天 {h} 小时"


def report(c: City) -> str:
    """`villagebot capacity`, in Chinese."""
    p = c.pace
    lines = [
        f"{c.groups:,} 个群，{c.accounts} 个微信账号"
        + (f"，{c.shared:.0%} 的群有两个账号" if c.shared else "，每个群一个账号"),
        f"节奏（每个账号）：间隔 {p.gap_min:g}–{p.gap_max:g} 秒随机，每 {p.burst_size} 条后"
        f"停 {p.pause_min:g}–{p.pause_max:g} 秒，每天最多 {p.daily_cap:,} 条"
        f"（按此节奏一天最多约 {p.per_day():,} 条）",
        "",
        f"全市通知（每群一条）：约 {duration(c.notice.seconds)} 发完",
    ]
    for a, k in sorted(c.notice.loads.items()):
        lines.append(f"  {a}：{k:,} 个群，约 {duration(p.finish_seconds(k, _midnight(), _UTC))}")
    lost = c.one_down.waiting
    lines.append(f"一个账号掉线时：{lost:,} 个群只有它、要等它恢复（或转企业微信），"
                 f"其余 {c.one_down.groups:,} 个群约 {duration(c.one_down.seconds)} 发完")
    lines.append("")
    lines.append("每周各群一轮（上限：每群一条）：")
    for r in c.rounds:
        lines.append(f"  {r.name}（周{WEEKDAY_NAMES[r.weekday]} {r.at}）：约 "
                     f"{duration(c.notice.seconds)} 发完")
    lines.append("  （周通报只发指挥部和县级群，不计）")
    lines.append("")
    lines.append(f"每天容量：{p.daily_cap:,} 条 × {c.accounts} 个账号 = {c.daily_capacity:,} 条")
    lines.append(f"最忙的一天（周{WEEKDAY_NAMES[c.busiest_day]}）的轮次：{c.busiest_load:,} 条")
    if c.headroom >= 0:
        lines.append(f"每天余量：{c.headroom:,} 条（通知、回复、提醒用）")
    else:
        lines.append(f"每天余量：不足 {-c.headroom:,} 条，超出部分推到第二天")
    extra = c.busiest_load + c.groups - c.daily_capacity
    if extra > 0:
        lines.append(f"当天再发一条全市通知：超出 {extra:,} 条，这部分第二天才发出")
    else:
        lines.append(f"当天再发一条全市通知：仍余 {-extra:,} 条")
    lines.append(f"需要的账号：至少 {c.accounts_needed():,} 个（最忙的一天加一条全市通知不超上限）；"
                 f"一小时内发完全市通知需要 {c.accounts_needed(1):,} 个")
    return "\n".join(lines)


def _midnight() -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC)  # any midnight: the whole cap is left


# -- the estimate of a notice --------------------------------------------------------


def delivery_estimate(session: Session, config: Config, now: datetime,
                      deliveries: Sequence[tuple[str, int]]) -> Estimate | None:
    """When `deliveries` (per group: how many messages), queued now after what is already
    waiting, will have reached every group. None when none of the groups is served by a
    paced WeChat account (replay, tests, WeCom only)."""
    wx = config.transports.wechaty
    if not wx.enabled or not deliveries:
        return None
    ids = [r for r, _ in deliveries]
    paced: set[str] = set()
    for i in range(0, len(ids), 500):
        paced.update(session.exec(select(Room.id).where(
            col(Room.id).in_(ids[i:i + 500]), Room.transport == WECHATY)).all())
    if not paced:
        return None
    live = _live(session, config, now)
    configured = {a.name for a in wx.account_list()}
    # Rows not yet given to an account go to one of the group's; the others are that
    # account's queue.
    queued: dict[str, int] = {}
    loose: dict[str, int] = {}
    for account, room_id, n in session.execute(
        select(col(OutboxMessage.account), col(OutboxMessage.room_id), func.count())
        .where(col(OutboxMessage.transport) == WECHATY, col(OutboxMessage.sent_at).is_(None),
               col(OutboxMessage.failed).is_(False), col(OutboxMessage.merged_into).is_(None))
        .group_by(col(OutboxMessage.account), col(OutboxMessage.room_id))
    ).all():
        if account is not None:
            queued[account] = queued.get(account, 0) + int(n)
        elif room_id is not None:
            loose[room_id] = loose.get(room_id, 0) + int(n)
    mine = [(r, n) for r, n in deliveries if r in paced]
    membership = members(session, sorted({r for r, _ in mine} | set(loose)))

    def choices(room: str) -> set[str]:
        # A group whose membership is not known yet: any live account may be in it.
        return (membership.get(room) or configured) & live

    items = [(n, choices(r)) for r, n in mine]
    waiting = [(n, choices(r)) for r, n in loose.items()]
    queued = {a: k for a, k in queued.items() if a in live}
    base = assign(waiting, queued)
    day = now.astimezone(config.zone).date()
    since = datetime(day.year, day.month, day.day, tzinfo=config.zone).astimezone(UTC)
    sent = {a: int(n) for a, n in session.execute(
        select(col(OutboxMessage.account), func.count())
        .where(col(OutboxMessage.transport) == WECHATY, col(OutboxMessage.sent_at) >= since)
        .group_by(col(OutboxMessage.account))).all() if a is not None}
    return estimate(Pace.from_config(config), items, now, config.zone, base, sent)


def _live(session: Session, config: Config, now: datetime) -> set[str]:
    """The accounts that can send now; before any account has reported (no heartbeat
    yet), the configured ones."""
    wx = config.transports.wechaty
    if session.exec(select(BotAccount.name).limit(1)).first() is None:
        return {a.name for a in wx.account_list()}
    return live_accounts(session, now, timedelta(seconds=wx.heartbeat_timeout_seconds))
