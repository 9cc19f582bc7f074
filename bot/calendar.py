"""Calendar arithmetic: weekly and monthly occurrences, China's working days and
statutory holidays, quiet hours.

Every function takes and returns aware datetimes; local wall-clock rules (09:00, the
1st, Friday) are applied in the given zone.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from bot.config import Config, parse_hhmm

log = logging.getLogger(__name__)
Shift = Literal["earlier", "later"]


@lru_cache(maxsize=4096)
def _holiday_detail(day: date) -> tuple[bool, str | None] | None:
    """(a day off, the statutory holiday's name or None) from the holiday calendar;
    None outside the calendar package's years. The one place that asks it."""
    import chinese_calendar

    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return bool(on_holiday), name


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """A working day in mainland China: weekdays that are not statutory holidays, and
    the make-up weekend days (调休). Outside the calendar package's years, Mon–Fri."""
    detail = _holiday_detail(day)
    if detail is None:
        log.warning("no holiday calendar for %s; treating Mon-Fri as working days", day.year)
        return day.weekday() < 5
    return not detail[0]


def statutory_holiday(day: date) -> bool:
    """A day of a statutory holiday period (端午, 国庆 …, weekends inside them included);
    ordinary weekends are not. Outside the calendar package's years: none."""
    detail = _holiday_detail(day)
    return detail is not None and detail[0] and bool(detail[1])


def at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


def _shift_in(days: list[date], target: date, shift: Shift) -> date | None:
    """The working day nearest `target` in `days` on the `shift` side (target included)."""
    if is_workday(target):
        return target
    side = [d for d in days if (d < target if shift == "earlier" else d > target)]
    side.sort(reverse=shift == "earlier")
    return next((d for d in side if is_workday(d)), None)


def weekly_occurrence(monday: date, weekday: int, workdays: bool, shift: Shift) -> date | None:
    """The day of the week starting `monday` on which a weekly run happens.

    With `workdays`, a run whose day is a holiday moves to the nearest working day of the
    same week on the `shift` side (a Friday deadline chase moves earlier, a Monday
    bulletin later, onto a make-up Saturday if that is the one); none: skipped.
    """
    target = monday + timedelta(days=weekday)
    if not workdays:
        return target
    return _shift_in([monday + timedelta(days=i) for i in range(7)], target, shift)


def next_weekly(after: datetime, weekday: int, at: time, zone: ZoneInfo,
                workdays: bool = False, shift: Shift = "later") -> datetime:
    """The first weekly run strictly after `after`."""
    local = after.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    for _ in range(60):
        day = weekly_occurrence(monday, weekday, workdays, shift)
        if day is not None:
            when = at_local(day, at, zone)
            if when > after:
                return when
        monday += timedelta(days=7)
    raise ValueError("no working day in 60 weeks")


def monthly_occurrence(year: int, month: int, day: int, workdays: bool, shift: Shift) -> date | None:
    target = date(year, month, day)
    if not workdays:
        return target
    first = date(year, month, 1)
    nxt = date(year + month // 12, month % 12 + 1, 1)
    days = [first + timedelta(days=i) for i in range((nxt - first).days)]
    return _shift_in(days, target, shift)


def next_monthly(after: datetime, day: int, at: time, zone: ZoneInfo,
                 workdays: bool = False, shift: Shift = "later") -> datetime:
    """The first monthly run (on day `day`, 1–28) strictly after `after`."""
    local = after.astimezone(zone)
    y, m = local.year, local.month
    for _ in range(36):
        d = monthly_occurrence(y, m, day, workdays, shift)
        if d is not None:
            when = at_local(d, at, zone)
            if when > after:
                return when
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    raise ValueError("no working day in 36 months")


def week_start(when: datetime, zone: ZoneInfo) -> datetime:
    """Monday 00:00 local of the week containing `when` (weeks start on Monday)."""
    local = when.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    return at_local(monday, time(0, 0), zone)


def in_quiet_hours(when: datetime, config: Config) -> bool:
    start = parse_hhmm(config.quiet_hours.start)
    end = parse_hhmm(config.quiet_hours.end)
    t = when.astimezone(config.zone).time()
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end  # the span wraps midnight (22:00–07:00)


def after_quiet_hours(when: datetime, config: Config) -> datetime:
    """`when`, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(when, config):
        return when
    zone = config.zone
    end = parse_hhmm(config.quiet_hours.end)
    local = when.astimezone(zone)
    candidate = at_local(local.date(), end, zone)
    if candidate <= local:
        candidate = at_local(local.date() + timedelta(days=1), end, zone)
    return candidate
