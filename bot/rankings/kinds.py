"""The bulletin kinds (product spec §5, §7): ONE registry, `KINDS`. Each entry says what
the bulletin is called, how a streak is counted (周/个月), which period a run covers and
on which day it measures, which config keys time it, and whether it carries the
meeting review (who must explain, the villages' points). A new bulletin is one entry
here plus its time in `[schedules]`; the job kinds (`bot/schedules/bulletins.py`), the
wording and the chart all follow from the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.calendar import at_local, next_monthly, next_weekly, week_start
from bot.config import Config, parse_hhmm, parse_weekly
from bot.models.jobs import Job
from bot.models.rankings import MONTH, WEEK

# Levels whose groups get the bulletins.
BULLETIN_LEVELS = ("市", "县")


@dataclass(frozen=True)
class BulletinKind:
    name: str  # stored in `BulletinRank.kind` and the scope jobs' payloads
    job: str  # the job kind of its occurrences (also its built-in job's key)
    title: str  # 周通报
    streak_word: str  # 连续3周末位
    time_keys: tuple[str, ...]  # the `[schedules]` keys that time it
    next_after: Callable[[Job | None, datetime, Config], datetime]
    # The run due at a time: (the period it covers, the day its rankings are measured on).
    period_of: Callable[[datetime, ZoneInfo], tuple[date, date]]
    # [start, end) of a period, as aware datetimes (the villages' points of the review).
    bounds: Callable[[date, Config], tuple[datetime, datetime]]
    chart_title: Callable[[date], str]  # the chart's title says 周通报, 6月通报
    span: Callable[[date], str] = lambda period: ""  # '6月' in 【月通报】大同市6月进度排名
    as_of: str = ""  # before the day measured on: （截至6月30日）
    review: bool = False  # the units to explain at the meeting, and the villages' points

    @property
    def key(self) -> str:
        return f"builtin:{self.job}"

    def spec(self, config: Config) -> str:
        """The config's timing of it: its built-in job is re-timed when this changes."""
        s = config.schedules
        return "|".join([*(str(getattr(s, k)) for k in self.time_keys), str(s.holidays)])


def weekly_next(job: Job | None, after: datetime, config: Config) -> datetime:
    """`weekly_bulletin` (周一 08:30); with `holidays`, a holiday moves it to the next
    working day of the same week (a make-up Saturday included); a week without one has
    no bulletin."""
    weekday, at = parse_weekly(config.schedules.weekly_bulletin)
    return next_weekly(after, weekday, at, config.zone, workdays=config.schedules.holidays,
                       shift="later")


def monthly_next(job: Job | None, after: datetime, config: Config) -> datetime:
    """`monthly_bulletin_day` at `monthly_bulletin_time` (the 1st, 09:00); a holiday
    moves it to the next working day."""
    s = config.schedules
    return next_monthly(after, s.monthly_bulletin_day, parse_hhmm(s.monthly_bulletin_time),
                        config.zone, workdays=s.holidays, shift="later")


def _this_week(due: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The week's Monday; measured on the day it runs."""
    return week_start(due, zone).date(), due.astimezone(zone).date()


def _last_month(due: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The month before the one it runs in, measured on its last day."""
    last = due.astimezone(zone).date().replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def week_bounds(monday: date, config: Config) -> tuple[datetime, datetime]:
    return (at_local(monday, time(0), config.zone),
            at_local(monday + timedelta(days=7), time(0), config.zone))


def month_bounds(first: date, config: Config) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar month starting `first`, as aware datetimes."""
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return at_local(first, time(0), config.zone), at_local(nxt, time(0), config.zone)


WEEKLY = BulletinKind(
    name=WEEK, job="bulletin_weekly", title="周通报", streak_word="周",
    time_keys=("weekly_bulletin",), next_after=weekly_next, period_of=_this_week,
    bounds=week_bounds, chart_title=lambda period: "周通报",
)
MONTHLY = BulletinKind(
    name=MONTH, job="bulletin_monthly", title="月通报", streak_word="个月",
    time_keys=("monthly_bulletin_day", "monthly_bulletin_time"), next_after=monthly_next,
    period_of=_last_month, bounds=month_bounds, chart_title=lambda period: f"{period.month}月通报",
    span=lambda period: f"{period.month}月",
    as_of="截至", review=True,
)
KINDS = (WEEKLY, MONTHLY)


def bulletin_kind(name: str) -> BulletinKind:
    """The registry's entry of that name (WEEK, MONTH); KeyError if there is none."""
    for k in KINDS:
        if k.name == name:
            return k
    raise KeyError(name)
