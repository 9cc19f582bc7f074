"""The arithmetic of 序时进度 and the report parsers, without a database."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import cn2an
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.handlers.progress import parse_target
from bot.progress import find_task, lead_words, parse_day, pct, schedule_fraction
from bot.progress.figures import Leaf as _Leaf
from bot.progress.figures import aggregate as _aggregate
from bot.progress.form import ReportFormError, ReportItem, read_report
from bot.router import Usage
from bot.text import Args, normalize, to_traditional, tokenize

START, DEADLINE = date(2019, 6, 3), date(2019, 6, 30)  # 27 planned days


TASKS = load_config().tasks


def args(text: str) -> Args:
    t = normalize(text)
    return Args(tokenize(t, ()), t)


def leaf(amount: int, done: int, start: date = START, deadline: date = DEADLINE) -> _Leaf:
    return _Leaf(1, "/1/", amount, start, deadline, done, None)


# -- schedule and percentages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2019, 5, 20), Fraction(0)),  # before the start: clamped to 0
        (START, Fraction(0)),  # the start day itself: nothing elapsed
        (date(2019, 6, 22), Fraction(19, 27)),  # 70 %
        (DEADLINE, Fraction(1)),  # on the deadline
        (date(2019, 7, 15), Fraction(1)),  # after it: clamped to 1
    ],
)
def test_schedule_fraction_edges(on: date, expected: Fraction) -> None:
    assert schedule_fraction(START, DEADLINE, on) == expected


def test_zero_planned_days_is_all_or_nothing() -> None:
    d = date(2019, 6, 10)
    assert schedule_fraction(d, d, date(2019, 6, 9)) == 0
    assert schedule_fraction(d, d, d) == 1


def test_percentages_round_half_up() -> None:
    assert pct(Fraction(845, 1000)) == 85
    assert pct(Fraction(844, 1000)) == 84
    assert pct(Fraction(1, 200)) == 1  # 0.5 % → 1, not banker's 0
    assert pct(Fraction(0)) == 0 and pct(Fraction(11, 10)) == 110


def test_the_products_example() -> None:
    fig = _aggregate([leaf(50, 42)], date(2019, 6, 22))
    assert fig is not None
    assert (fig.completion_pct, fig.schedule_pct, fig.lead_pct) == (84, 70, 14)
    assert lead_words(fig.lead_pct) == "超前 14 个百分点"
    assert fig.lead == pytest.approx((0.84 - 19 / 27) * 100)


def test_above_target_and_behind() -> None:
    fig = _aggregate([leaf(50, 55)], date(2019, 6, 10))
    assert fig is not None and fig.completion_pct == 110 and fig.lead_pct > 0
    behind = _aggregate([leaf(50, 5)], DEADLINE)
    assert behind is not None and behind.lead_pct == 10 - 100
    assert lead_words(-90) == "滞后 90 个百分点" and lead_words(0) == "与序时进度持平"


def test_rollup_is_target_weighted() -> None:
    # Two villages: one on a 27-day plan (half elapsed on 6/16.5...), one starting later.
    on = date(2019, 6, 12)
    a = leaf(50, 30)  # 9/27 elapsed
    b = leaf(30, 0, start=date(2019, 6, 12), deadline=date(2019, 7, 12))  # 0 elapsed
    fig = _aggregate([a, b], on)
    assert fig is not None
    assert (fig.done, fig.target) == (30, 80)
    assert fig.schedule == pytest.approx((50 * 9 / 27 + 30 * 0) / 80)
    assert fig.units == 2 and fig.reported_units == 0
    assert fig.start == START and fig.deadline == date(2019, 7, 12)
    assert _aggregate([], on) is None


def test_find_task_by_alias_and_script() -> None:
    config = load_config()
    assert find_task(config, "危改").name == "危房改造"
    assert find_task(config, "易地搬遷").name == "易地搬迁"
    assert find_task(config, "光伏").name == "光伏扶贫"
    assert find_task(config, "修路") is None


def test_parse_day_month_ends() -> None:
    today = date(2019, 6, 3)
    assert parse_day("6月底", today) == date(2019, 6, 30)
    assert parse_day("二月底", today) == date(2019, 2, 28)
    assert parse_day("一月底", date(2019, 12, 10)) == date(2020, 1, 31)  # typed in December
    assert parse_day("年底", today) == date(2019, 12, 31)
    assert parse_day("下月底", today) == date(2019, 7, 31)
    assert parse_day("下个月底", date(2019, 12, 10)) == date(2020, 1, 31)
    assert parse_day("本月底", today) == date(2019, 6, 30)
    assert parse_day("6月31日", today) is None


# -- the #进度 reader (the forms of today; templates are in test_reportform.py) ---------


def report(text: str) -> list[ReportItem]:
    return read_report(args(text).text, TASKS, ("皇叔洼村",))


@pytest.mark.parametrize(
    ("text", "task", "value", "add", "of", "correction"),
    [
        ("危房改造 42", "危房改造", 42, False, None, False),
        ("危房改造 42/50", "危房改造", 42, False, 50, False),
        ("危房改造 42 / 50 处", "危房改造", 42, False, 50, False),
        ("危房改造 +5", "危房改造", 5, True, None, False),
        ("危房改造 ＋５", "危房改造", 5, True, None, False),
        ("危房改造 30 更正", "危房改造", 30, False, None, True),
        ("危房改造 30更正", "危房改造", 30, False, None, True),
        ("危房改造四十二处", "危房改造", 42, False, None, False),
        ("危房改造：完成42处", "危房改造", 42, False, None, False),
        ("危房改造 累计 42", "危房改造", 42, False, None, False),
        ("42 危房改造", "危房改造", 42, False, None, False),
        ("危房改造 四十二/五十", "危房改造", 42, False, 50, False),
    ],
)
def test_report_line_forms(text: str, task: str, value: int, add: bool, of: int | None,
                           correction: bool) -> None:
    (item,) = report(text)
    assert (item.task, item.amount, item.mode == "add", item.of, item.correction) == (
        task, value, add, of, correction,
    )


def test_several_lines_and_repeated_command_word() -> None:
    items = report("危房改造 42\n#进度 易地搬迁 10\n\n光伏 +1")
    assert [(x.task, x.amount, x.mode) for x in items] == [
        ("危房改造", 42, "total"), ("易地搬迁", 10, "total"), ("光伏扶贫", 1, "add"),
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "请写任务和累计完成数"),
        ("危房改造", "^“危房改造”后面要写累计完成数"),
        ("危房改造 -3", "不能是负数"),
        ("危房改造 很多", "^看不懂“很多”：完成数要写整数"),
        ("危房改造 4.5", "“4.5”不是整数"),
        ("42", "没有写任务"),
        ("危房改造 42\n易地搬迁", "^第2行“易地搬迁”后面要写累计完成数"),
        ("危房改造 42 50", "“42 50”是两个数"),  # not 4250
        ("危房改造 四十二 五十", "“42 50”是两个数"),
        ("42 危房改造 50", "“42 50”是两个数"),
        ("危房改造 20-25", "“20-25”是一个范围"),  # not a minus
        ("危房改造 20处-25处", "“20-25”是一个范围"),
        ("危房改造 42 -5", "不能是负数"),
        ("危房改造 20+3", r"“20\+3”请写成累计完成数，如 23；只报新增请写 \+3"),  # never 20
        ("危房改造 25处+3处", r"“25\+3”请写成累计完成数"),
    ],
)
def test_report_reader_rejects(text: str, reason: str) -> None:
    with pytest.raises(ReportFormError, match=reason):
        report(text)


TASK_WORDS = ["危房改造", "危改", "易地搬迁", "产业扶贫", "贫困村提升", "光伏扶贫", "光伏"]


@settings(deadline=None)
@given(
    task=st.sampled_from(TASK_WORDS),
    value=st.integers(min_value=0, max_value=99_999),
    numeral=st.sampled_from(["digits", "fullwidth", "chinese"]),
    space=st.booleans(),
    traditional=st.booleans(),
    unit=st.sampled_from(["", "处", "户", "个", "座"]),
    of=st.one_of(st.none(), st.integers(min_value=1, max_value=99_999)),
)
def test_report_reader_round_trips(task: str, value: int, numeral: str, space: bool,
                                   traditional: bool, unit: str, of: int | None) -> None:
    if numeral == "chinese":
        shown = cn2an.an2cn(value)
    elif numeral == "fullwidth":
        shown = "".join(chr(ord(c) + 0xFEE0) for c in str(value))
    else:
        shown = str(value)
    text = f"{task}{' ' if space else ''}{shown}{unit}" + (f"/{of}" if of is not None else "")
    if traditional:
        text = to_traditional(text)
    (item,) = report(text)
    assert find_task(load_config(), item.task) == find_task(load_config(), task)
    assert (item.amount, item.mode, item.of, item.correction) == (value, "total", of, False)


@settings(deadline=None)
@given(st.text(max_size=40))
def test_report_reader_only_ever_says_report_form_error(text: str) -> None:
    try:
        items = report(text)
    except ReportFormError as e:
        assert e.reason
    else:
        assert items and all(i.amount >= 0 for i in items)


# -- the #目标 parser -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "task", "amount", "deadline", "start"),
    [
        ("危房改造 50 截止 6月30日", "危房改造", 50, "6月30日", None),
        ("危房改造 五十 截止 六月三十日", "危房改造", 50, "6月30日", None),
        ("危房改造50处 截止6月30日 开始6月1日", "危房改造", 50, "6月30日", "6月1日"),
        ("危房改造 50 6月30日前", "危房改造", 50, "6月30日", None),
        ("危房改造 50 截止 6月底", "危房改造", 50, "6月底", None),
        ("易地搬迁 20 开始 2019-06-01 截止 2019-07-31", "易地搬迁", 20, "2019-07-31", "2019-06-01"),
    ],
)
def test_target_forms(text: str, task: str, amount: int, deadline: str, start: str | None) -> None:
    t = parse_target(args(text))
    assert (t.task, t.amount, t.deadline, t.start) == (task, amount, deadline, start)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("危房改造 0 截止 6月30日", "目标数要大于 0"),
        ("危房改造 -5 截止 6月30日", "目标数要大于 0"),
        ("危房改造 50", "请写截止日期"),
        ("危房改造 截止 6月30日", "后面要写目标数"),
        ("危房改造 50 截止 6月31日", "看不懂截止日期“6月31日”"),
        ("危房改造 50 截止", "“截止”后面要写截止日期"),
        ("截止 6月30日", "请写任务、目标数和截止日期"),
        ("危房改造 50 30 截止 6月30日", "“50 30”是两个数"),  # not 5030
    ],
)
def test_target_parser_rejects(text: str, reason: str) -> None:
    with pytest.raises(Usage, match=reason):
        parse_target(args(text))
