"""Calendar arithmetic: weekly/monthly runs around China's holidays, quiet hours."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.calendar import (
    after_quiet_hours,
    in_quiet_hours,
    is_workday,
    next_monthly,
    next_weekly,
    week_start,
)
from bot.config import load_config
from tests.conftest import SHANGHAI

CFG = load_config()


def t(*a: int) -> datetime:
    return datetime(*a, tzinfo=SHANGHAI)


def test_workdays_follow_holidays_and_makeup_days() -> None:
    assert not is_workday(date(2019, 6, 7))  # 端午节, a Friday
    assert not is_workday(date(2019, 10, 1))
    assert is_workday(date(2019, 9, 29))  # a make-up Sunday (调休)
    assert is_workday(date(2019, 6, 3))
    assert not is_workday(date(2019, 6, 8))


def test_weekly_friday_chase_moves_earlier_on_a_holiday() -> None:
    # Friday 2019-06-07 is 端午: the chase comes on Thursday instead.
    assert next_weekly(t(2019, 6, 3, 9), 4, time(17), SHANGHAI, True, "earlier") == t(2019, 6, 6, 17)
    assert next_weekly(t(2019, 6, 3, 9), 4, time(17), SHANGHAI) == t(2019, 6, 7, 17)
    # Strictly after: at the run time itself the next is a week later.
    assert next_weekly(t(2019, 6, 14, 17), 4, time(17), SHANGHAI, True, "earlier") == t(2019, 6, 21, 17)


def test_weekly_monday_bulletin_skips_the_national_day_week() -> None:
    # 2019-09-30 is a Monday workday; the week of 10-07 starts on a holiday Monday and
    # its first working day is Tuesday 10-08.
    assert next_weekly(t(2019, 9, 30, 9), 0, time(8, 30), SHANGHAI, True) == t(2019, 10, 8, 8, 30)


def test_monthly_first_moves_later_past_holidays() -> None:
    assert next_monthly(t(2019, 9, 15), 1, time(9), SHANGHAI, True) == t(2019, 10, 8, 9)
    assert next_monthly(t(2019, 9, 15), 1, time(9), SHANGHAI) == t(2019, 10, 1, 9)
    assert next_monthly(t(2019, 12, 26), 25, time(9), SHANGHAI) == t(2020, 1, 25, 9)


def test_quiet_hours_wrap_midnight() -> None:
    assert in_quiet_hours(t(2019, 6, 3, 23), CFG)
    assert in_quiet_hours(t(2019, 6, 3, 6, 59), CFG)
    assert not in_quiet_hours(t(2019, 6, 3, 7), CFG)
    assert after_quiet_hours(t(2019, 6, 3, 23, 30), CFG) == t(2019, 6, 4, 7)
    assert after_quiet_hours(t(2019, 6, 4, 2), CFG) == t(2019, 6, 4, 7)
    assert after_quiet_hours(t(2019, 6, 4, 12), CFG) == t(2019, 6, 4, 12)


@given(st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2025, 12, 1)),
       st.integers(0, 6), st.booleans())
def test_next_weekly_is_after_and_on_a_working_day(naive: datetime, weekday: int, work: bool) -> None:
    after = naive.replace(tzinfo=SHANGHAI)
    nxt = next_weekly(after, weekday, time(9), SHANGHAI, work, "later")
    assert after < nxt <= after + timedelta(days=60 * 7)
    assert nxt.time() == time(9)
    if work:
        assert is_workday(nxt.date())
    else:
        assert nxt.weekday() == weekday and nxt - after <= timedelta(days=7)


def test_week_start_is_monday_midnight_local() -> None:
    assert week_start(t(2019, 6, 9, 23, 59), SHANGHAI) == t(2019, 6, 3)
