"""The reminder time phrase: every form people type, read exactly or refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import normalize
from bot.timephrase import Recurrence, TimePhraseError, format_when, parse_when

Z = ZoneInfo("Asia/Shanghai")


def at(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=Z)


WED_0700 = at("2019-06-26 07:00")  # a Wednesday
WED_1000 = at("2019-06-26 10:00")
WED_2130 = at("2019-06-26 21:30")
FRI_1800 = at("2019-06-28 18:00")
SUN_1200 = at("2019-06-30 12:00")
DEC_30 = at("2019-12-30 09:00")
SEP_28 = at("2019-09-28 20:00")  # the Saturday before the National Day holiday

# (typed text, now, expected): "YYYY-MM-DD HH:MM" for a one-off, "每… HH:MM @ first run"
# for a rule, "!words" for a refusal whose message contains the words. The content
# after the phrase is always "内容".
CASES: list[tuple[str, datetime, str]] = [
    # the misreadings of the old parser
    ("今晚8点 内容", WED_0700, "2019-06-26 20:00"),
    ("今晚八点 内容", WED_0700, "2019-06-26 20:00"),
    ("明早9点 内容", WED_0700, "2019-06-27 09:00"),
    ("明早九点 内容", WED_2130, "2019-06-27 09:00"),
    ("6.28 下午5点 内容", WED_0700, "2019-06-28 17:00"),
    ("28号下午5点 内容", WED_0700, "2019-06-28 17:00"),
    ("大后天上午9点 内容", WED_0700, "2019-06-29 09:00"),
    ("下个月5号 9:00 内容", WED_0700, "2019-07-05 09:00"),
    ("下月5日上午9点 内容", WED_0700, "2019-07-05 09:00"),
    ("下个月5号 9:00 内容", DEC_30, "2020-01-05 09:00"),
    ("本月28号 下午5点 内容", WED_0700, "2019-06-28 17:00"),
    ("月底 9:00 内容", WED_0700, "2019-06-30 09:00"),
    ("下个月底 下午5点 内容", WED_0700, "2019-07-31 17:00"),
    ("下月底 9:00 内容", DEC_30, "2020-01-31 09:00"),
    ("2月底 9:00 内容", DEC_30, "2020-02-29 09:00"),
    ("6月底 17:00 内容", WED_0700, "2019-06-30 17:00"),
    ("月底 内容", WED_0700, "!要写几点"),
    ("13月底 9:00 内容", WED_0700, "!没有13月"),
    ("下周 9:00 内容", WED_0700, "!要写哪一天"),  # not "put the time first"
    ("下个月 9:00 内容", WED_0700, "!要写哪一天"),
    ("这个月3号 9:00 内容", WED_0700, "!已经过去"),  # not moved to next month
    ("下个月31号 9:00 内容", at("2019-08-20 09:00"), "!9月没有31日"),
    ("晚上12点 内容", WED_0700, "2019-06-27 00:00"),
    ("晚上十二点 内容", WED_2130, "2019-06-27 00:00"),
    ("每天 18:00 内容", WED_0700, "每天 18:00 @ 2019-06-26 18:00"),
    ("每周五 17:00 内容", WED_0700, "每周五 17:00 @ 2019-06-28 17:00"),
    ("每月1日 9:00 内容", WED_0700, "每月1日 09:00 @ 2019-07-01 09:00"),
    # days
    ("今天 17:00 内容", WED_0700, "2019-06-26 17:00"),
    ("今日下午3点 内容", WED_0700, "2019-06-26 15:00"),
    ("今早8点半 内容", WED_0700, "2019-06-26 08:30"),
    ("今早8点 内容", WED_1000, "!已经过去"),
    ("明天 9:00 内容", WED_0700, "2019-06-27 09:00"),
    ("明天 9：00 内容", WED_0700, "2019-06-27 09:00"),
    ("明日上午10点 内容", WED_0700, "2019-06-27 10:00"),
    ("明晚7点 内容", WED_0700, "2019-06-27 19:00"),
    ("后天下午 2点半 内容", WED_0700, "2019-06-28 14:30"),
    ("大后天 8:00 内容", WED_0700, "2019-06-29 08:00"),
    ("明天早上7点 内容", WED_0700, "2019-06-27 07:00"),
    ("明天傍晚6点 内容", WED_0700, "2019-06-27 18:00"),
    ("明天中午12点 内容", WED_0700, "2019-06-27 12:00"),
    ("明天中午1点 内容", WED_0700, "2019-06-27 13:00"),
    ("明天凌晨1点 内容", WED_0700, "2019-06-27 01:00"),
    ("今天夜里1点 内容", WED_2130, "2019-06-27 01:00"),
    ("3天后 9点 内容", WED_0700, "2019-06-29 09:00"),
    # weekdays
    ("周五 9点 内容", WED_0700, "2019-06-28 09:00"),
    ("星期五下午五點 内容", WED_0700, "2019-06-28 17:00"),
    ("礼拜五 17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("周三 9:00 内容", WED_0700, "2019-06-26 09:00"),
    ("周三 9:00 内容", WED_1000, "2019-07-03 09:00"),
    ("周一 9:00 内容", WED_1000, "2019-07-01 09:00"),
    ("本周五 17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("这周五 17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("本周一 9:00 内容", WED_0700, "!本周一已经过去"),
    ("下周一 9:00 内容", WED_0700, "2019-07-01 09:00"),
    ("下週一 上午9點 内容", WED_0700, "2019-07-01 09:00"),
    ("下下周一 9:00 内容", WED_0700, "2019-07-08 09:00"),
    ("下周五 9:00 内容", SUN_1200, "2019-07-05 09:00"),
    ("周日 20:00 内容", SUN_1200, "2019-06-30 20:00"),
    # dates
    ("6.28 17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("6/28 17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("6-28 17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("6月28日 17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("6月28号 下午5点 内容", WED_0700, "2019-06-28 17:00"),
    ("六月二十八日 下午 5点 内容", WED_0700, "2019-06-28 17:00"),
    ("6月28日（周五）17:00 内容", WED_0700, "2019-06-28 17:00"),
    ("6月28日（周四）17:00 内容", WED_0700, "!6月28日是周五"),
    ("2019年6月28日 9点 内容", WED_0700, "2019-06-28 09:00"),
    ("2019-06-28 09:00 内容", WED_0700, "2019-06-28 09:00"),
    ("2020年1月2日 9:00 内容", WED_0700, "2020-01-02 09:00"),
    ("1月3日 9:00 内容", DEC_30, "2020-01-03 09:00"),
    ("27号 9点 内容", FRI_1800, "2019-07-27 09:00"),
    ("28号 9点 内容", FRI_1800, "!已经过去"),  # today's date, time past: not next month
    ("30号 9点 内容", FRI_1800, "2019-06-30 09:00"),
    ("2号 9点 内容", DEC_30, "2020-01-02 09:00"),
    ("28日下午5点 内容", WED_0700, "2019-06-28 17:00"),
    ("6月25日 9:00 内容", WED_0700, "!已经过去"),
    # times
    ("17:00 内容", WED_0700, "2019-06-26 17:00"),
    ("17点 内容", WED_0700, "2019-06-26 17:00"),
    ("8点 内容", WED_0700, "2019-06-26 08:00"),
    ("8点 内容", WED_1000, "!今晚8点"),
    ("9点 内容", WED_2130, "!已经过去"),
    # bare 1–5点 is the afternoon, as offices talk (see the module docstring)
    ("3点 内容", WED_0700, "2019-06-26 15:00"),
    ("3点 内容", WED_1000, "2019-06-26 15:00"),
    ("明天 3点 内容", WED_0700, "2019-06-27 15:00"),
    ("5点半 内容", WED_0700, "2019-06-26 17:30"),
    ("3点 内容", at("2019-06-26 16:00"), "!已经过去"),
    ("明天凌晨3点 内容", WED_2130, "2019-06-27 03:00"),
    ("明天 3:00 内容", WED_0700, "2019-06-27 03:00"),
    ("下午5 点 内容", WED_0700, "2019-06-26 17:00"),
    ("下午5点半 内容", WED_0700, "2019-06-26 17:30"),
    ("下午5点30 内容", WED_0700, "2019-06-26 17:30"),
    ("下午5点30分 内容", WED_0700, "2019-06-26 17:30"),
    ("下午三点十五分 内容", WED_0700, "2019-06-26 15:15"),
    ("9点一刻 内容", WED_0700, "2019-06-26 09:15"),
    ("10点钟 内容", WED_0700, "2019-06-26 10:00"),
    ("十點鐘 内容", WED_0700, "2019-06-26 10:00"),
    ("中午12点 内容", WED_0700, "2019-06-26 12:00"),
    ("晚上8点 内容", WED_0700, "2019-06-26 20:00"),
    ("今晚 20:00 内容", WED_0700, "2019-06-26 20:00"),
    ("凌晨1点 内容", WED_0700, "!已经过去"),
    ("17时30分 内容", WED_0700, "2019-06-26 17:30"),
    # in a while
    ("半小时后 内容", WED_0700, "2019-06-26 07:30"),
    ("1个半小时后 内容", WED_0700, "2019-06-26 08:30"),
    ("两个小时后 内容", WED_0700, "2019-06-26 09:00"),
    ("两小时后 内容", WED_0700, "2019-06-26 09:00"),
    ("30分钟后 内容", WED_0700, "2019-06-26 07:30"),
    ("十分钟以后 内容", WED_0700, "2019-06-26 07:10"),
    ("2小时后 9点 内容", WED_0700, "!两个时间"),
    # recurring
    ("每日 8:30 内容", WED_1000, "每天 08:30 @ 2019-06-27 08:30"),
    ("每天晚上8点 内容", WED_0700, "每天 20:00 @ 2019-06-26 20:00"),
    ("每个工作日 8:30 内容", WED_0700, "每个工作日 08:30 @ 2019-06-26 08:30"),
    ("工作日 8:30 内容", FRI_1800, "每个工作日 08:30 @ 2019-07-01 08:30"),
    ("每工作日 上午9点 内容", SEP_28, "每个工作日 09:00 @ 2019-09-29 09:00"),  # 调休 Sunday
    ("每个工作日 9:00 内容", at("2019-09-30 10:00"), "每个工作日 09:00 @ 2019-10-08 09:00"),
    ("每个工作日 9:00 内容", at("2019-06-06 10:00"), "每个工作日 09:00 @ 2019-06-10 09:00"),
    ("每星期五 17:00 内容", WED_0700, "每周五 17:00 @ 2019-06-28 17:00"),
    ("每个周五 下午5点 内容", FRI_1800, "每周五 17:00 @ 2019-07-05 17:00"),
    ("每周一三五 9点 内容", WED_1000, "每周一、三、五 09:00 @ 2019-06-28 09:00"),
    ("每月1号 9:00 内容", WED_0700, "每月1日 09:00 @ 2019-07-01 09:00"),
    ("每个月1号 上午9点 内容", DEC_30, "每月1日 09:00 @ 2020-01-01 09:00"),
    ("每月15日 9:00 内容", WED_0700, "每月15日 09:00 @ 2019-07-15 09:00"),
    ("每月最后一天 16:00 内容", WED_0700, "每月最后一天 16:00 @ 2019-06-30 16:00"),
    ("每月最后一个工作日 16:00 内容", WED_0700, "每月最后一个工作日 16:00 @ 2019-06-28 16:00"),
    ("每月最後一個工作日 16：00 内容", FRI_1800, "每月最后一个工作日 16:00 @ 2019-07-31 16:00"),
    (
        "每月最后一个工作日 16:00 内容",
        at("2019-08-01 09:00"),
        "每月最后一个工作日 16:00 @ 2019-08-30 16:00",
    ),
    ("每月31日 9:00 内容", WED_0700, "!每月最后一天"),
    ("每天 内容", WED_0700, "!要写几点"),
    ("每周五 明天 9点 内容", WED_0700, "!不用写日期"),
    ("每天晚上12点 内容", WED_0700, "!第二天"),
    # refusals
    ("下午13点 内容", WED_0700, "!下午不能是13点"),
    ("25点 内容", WED_0700, "!没有25点"),
    ("2月30日 9点 内容", WED_0700, "!2月没有30日"),
    ("6.31 9点 内容", WED_0700, "!6月没有31日"),
    ("13月1日 9点 内容", WED_0700, "!没有13月"),
    ("6月28日 内容", WED_0700, "!要写几点"),
    ("明天 内容", WED_0700, "!要写几点"),
    ("明天下午 内容", WED_0700, "!要写几点"),
    ("下午 内容", WED_0700, "!要写几点"),
    ("今晚 内容", WED_0700, "!要写几点"),
    ("明天后天 9点 内容", WED_0700, "!两个日期"),
    ("明天 9点 10点 内容", WED_0700, "!两个时间"),
    ("晚上5点 内容", WED_0700, "!晚上不能是5点"),
    ("内容 明天9点", WED_0700, "!最前面"),
    ("内容", WED_0700, "!没写时间"),
    ("9点65分 内容", WED_0700, "!分钟"),
    ("6月28日 17:00前 内容", WED_0700, "!准点时间"),
    ("明天9点左右 内容", WED_0700, "!准点时间"),
]


@pytest.mark.parametrize(("typed", "now", "expected"), CASES)
def test_phrase(typed: str, now: datetime, expected: str) -> None:
    text = normalize(typed)
    if expected.startswith("!"):
        with pytest.raises(TimePhraseError) as err:
            parse_when(text, now)
        assert expected[1:] in str(err.value)
        assert "例：#提醒 " in str(err.value)
        return
    when = parse_when(text, now)
    assert when.content == "内容"
    assert when.at.tzinfo is Z
    if "@" in expected:
        rule, first = expected.split(" @ ")
        assert when.rule is not None and when.rule.describe() == rule
        assert when.at == at(first)
        assert Recurrence.from_payload(when.rule.to_payload()) == when.rule
    else:
        assert when.rule is None
        assert when.at == at(expected)


def test_enough_cases() -> None:
    assert len(CASES) >= 80


def test_content_keeps_its_own_day_words() -> None:
    when = parse_when(normalize("明天 9:00 今天的会议纪要"), WED_0700)
    assert (when.at, when.content, when.phrase) == (
        at("2019-06-27 09:00"),
        "今天的会议纪要",
        "明天 9:00",
    )
    when = parse_when(normalize("今晚8点开视频会"), WED_0700)
    assert (when.at, when.content) == (at("2019-06-26 20:00"), "开视频会")
    when = parse_when(normalize("17:00 6月28日 报送材料"), WED_0700)
    assert (when.at, when.content) == (at("2019-06-28 17:00"), "报送材料")


def test_refusal_message_names_the_phrase_and_gives_an_example() -> None:
    with pytest.raises(TimePhraseError) as err:
        parse_when("6.31 17:00 报送材料", WED_0700)
    assert str(err.value) == "没看懂时间“6.31 17:00”：6月没有31日。例：#提醒 6月28日 17:00 报送月度考核材料"


def test_rules_run_strictly_after() -> None:
    rule = parse_when("每个工作日 9:00 打卡", WED_0700).rule
    assert rule is not None
    runs = [at("2019-09-27 09:00")]
    for _ in range(4):
        runs.append(rule.next_after(runs[-1]))
    # Fri 27, Sun 29 (调休), Mon 30, then the National Day holiday to Tue 8 Oct.
    assert [r.date() for r in runs] == [
        date(2019, 9, 27),
        date(2019, 9, 29),
        date(2019, 9, 30),
        date(2019, 10, 8),
        date(2019, 10, 9),
    ]
    last = Recurrence("month_last_workday", runs[0].time(), Z)
    assert last.next_after(at("2019-11-01 00:00")) == at("2019-11-29 09:00")  # 30th is a Saturday
    assert last.next_after(at("2019-11-29 09:00")) == at("2019-12-31 09:00")


def test_format_when() -> None:
    assert format_when(at("2019-06-28 17:00"), date(2019, 6, 26)) == "6月28日（周五）17:00"
    assert format_when(at("2020-01-02 09:05"), date(2019, 12, 30)) == "2020年1月2日（周四）09:05"


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.integers(min_value=1, max_value=360 * 24 * 60),
    start=st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2020, 12, 31)),
    style=st.sampled_from(["confirm", "dash", "chinese", "year"]),
)
def test_formatted_times_read_back(minutes: int, start: datetime, style: str) -> None:
    now = start.replace(second=0, microsecond=0, tzinfo=Z)
    when = now + timedelta(minutes=minutes)
    if style == "confirm":  # what the bot's own confirmation shows, copied back
        text = format_when(when, now.date())
    elif style == "dash":
        text = f"{when:%Y-%m-%d %H:%M}"
    elif style == "chinese":
        text = f"{when.year}年{when.month}月{when.day}日 {when.hour}:{when:%M}"
    else:
        text = f"{when.year}年{when.month}月{when.day}号（周{'一二三四五六日'[when.weekday()]}）{when:%H:%M}"
    parsed = parse_when(normalize(f"{text} 报送材料"), now)
    assert (parsed.at, parsed.content, parsed.rule) == (when, "报送材料", None)
