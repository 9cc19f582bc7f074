"""Normalisation and the shared small parsers."""

from __future__ import annotations

from datetime import date, time

from hypothesis import given
from hypothesis import strategies as st

from bot.messages import Mention
from bot.text import normalize, numerals_to_digits, parse_date, parse_int, parse_time, tokenize


def test_normalize_scripts_widths_and_numerals() -> None:
    assert normalize("＃進度　危房改造　四十二") == "#进度 危房改造 42"
    assert normalize("#加分 @張三 六淨六有") == "#加分 @张三 六净六有"
    assert normalize("收到 十二") == "收到 12"
    assert normalize("截止 六月三十日") == "截止 6月30日"
    assert normalize("#进度 危房改造 ４２／５０") == "#进度 危房改造 42/50"
    # Thousands separators (a figure copied from a sheet); invisible characters.
    assert normalize("#目标 危房改造 1,200 截止 6月30日") == "#目标 危房改造 1200 截止 6月30日"
    assert normalize("12,300,000 1,2 1,2345 1,200.5") == "12300000 1,2 1,2345 1,200.5"
    assert normalize("#查分\u200b") == "#查分" and normalize("#进\ufeff度") == "#进度"


def test_numerals_inside_words_are_names() -> None:
    for word in ("张三", "六净六有", "十佳模范", "第一书记", "每周一", "王二小家"):
        assert numerals_to_digits(word) == word


@given(st.integers(min_value=0, max_value=99999))
def test_chinese_numerals_round_trip(n: int) -> None:
    import cn2an

    cn = cn2an.an2cn(n)
    assert normalize(f"#进度 危房改造 {cn}") == f"#进度 危房改造 {n}"
    assert parse_int(cn) == n


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_normalize_never_fails_and_is_idempotent(s: str) -> None:
    once = normalize(s)
    assert normalize(once) == once


@given(st.text(max_size=40), st.lists(st.text(min_size=1, max_size=5), max_size=3))
def test_tokenize_pairs_at_most_the_reported_mentions(text: str, ids: list[str]) -> None:
    mentions = tuple(Mention(i) for i in ids)
    tokens = tokenize(text, mentions)
    paired = [t for t in tokens if isinstance(t, Mention) and t.id]
    assert [m.id for m in paired] == ids[: len(paired)]


def test_tokenize_mentions_with_spaces_and_punctuation() -> None:
    toks = tokenize("@Zhang San，20、防汛值班", (Mention("wx1", "Zhang San"),))
    assert toks == (Mention("wx1", "Zhang San"), "20", "防汛值班")
    assert tokenize("@王五 @赵六 评议员", (Mention("a"),)) == (
        Mention("a", "王五"), Mention("", "赵六"), "评议员",
    )


def test_tokenize_pairs_mentions_by_name_not_by_list_order() -> None:
    reported = (Mention("wx_ls", "李四"), Mention("wx_zs", "张三"))
    assert tokenize("@张三 @李四 评议员", reported) == (
        Mention("wx_zs", "张三"), Mention("wx_ls", "李四"), "评议员",
    )
    # The same person named twice keeps their id; nobody else's is borrowed.
    assert tokenize("@张三 @张三", (Mention("wx_zs", "张三"), Mention("wx_ls", "李四"))) == (
        Mention("wx_zs", "张三"), Mention("wx_zs", "张三"),
    )


def test_parse_date_forms() -> None:
    today = date(2019, 6, 3)
    assert parse_date("6月30日", today) == date(2019, 6, 30)
    assert parse_date("2019-06-30", today) == date(2019, 6, 30)
    assert parse_date("6/30", today) == date(2019, 6, 30)
    assert parse_date("六月三十日", today) == date(2019, 6, 30)
    assert parse_date("1月5日", date(2019, 12, 20)) == date(2020, 1, 5)
    assert parse_date("2月30日", today) is None
    assert parse_date("明天", today) == date(2019, 6, 4)
    assert parse_date("危房", today) is None


def test_parse_time_forms() -> None:
    assert parse_time("17:00") == time(17, 0)
    assert parse_time("下午5点") == time(17, 0)
    assert parse_time("9点半") == time(9, 30)
    assert parse_time("25:00") is None
    assert parse_time("17") is None
