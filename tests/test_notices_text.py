"""Pure parts of notices: splitting long notices, and the 收到 / #通知 parsers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.handlers.notices import is_bare_ack, parse_ack, parse_notice
from bot.messages import Quote
from bot.notices import chase_times, format_parts, percent, split_text
from bot.router import Usage
from bot.text import Args, normalize
from tests.conftest import SHANGHAI

_HEADER = re.compile(r"^【通知 \d+】(?:\(\d+/\d+\) )?")
_PROMPT = re.compile(r'\n?(?: )?— 请回复"收到"$')


def _bodies(parts: list[str]) -> list[str]:
    return [_PROMPT.sub("", _HEADER.sub("", p)) for p in parts]


text_chars = st.sampled_from(list("危房改造各村要在周五前上报材料。！？；，、 \nAB12") + ["\n\n"])


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(text_chars, min_size=1, max_size=900).map("".join).filter(str.strip),
    max_chars=st.integers(min_value=100, max_value=400),
    notice_id=st.integers(min_value=1, max_value=100_000),
)
def test_parts_fit_keep_everything_and_prompt_once(text: str, max_chars: int, notice_id: int) -> None:
    text = text.strip()
    parts = format_parts(notice_id, text, max_chars)
    assert all(len(p) <= max_chars for p in parts)
    assert all(p.startswith(f"【通知 {notice_id}】") for p in parts)
    assert [bool(_PROMPT.search(p)) for p in parts] == [False] * (len(parts) - 1) + [True]
    if len(parts) > 1:
        n = len(parts)
        assert [p.split(" ", 2)[1] for p in parts] == [f"{notice_id}】({i}/{n})" for i in range(1, n + 1)]
    squash = "".join
    assert squash("".join(_bodies(parts)).split()) == squash(text.split())


def test_split_prefers_paragraphs_then_sentences() -> None:
    paras = ["甲" * 30 + "。", "乙" * 30 + "。", "丙" * 30 + "。"]
    assert split_text("\n".join(paras), 65) == ["\n".join(paras[:2]), paras[2]]
    long = "第一句话写在这里。" * 5 + "第二句"
    chunks = split_text(long, 20)
    assert all(len(c) <= 20 for c in chunks)
    assert all(c.endswith("。") for c in chunks[:-1])
    # A sentence longer than the budget is cut.
    assert split_text("无" * 50, 20) == ["无" * 20, "无" * 20, "无" * 10]


def test_short_notice_is_one_message() -> None:
    assert format_parts(7, "周五开会", 1500) == ['【通知 7】周五开会 — 请回复"收到"']


@pytest.mark.parametrize(
    "text, number",
    [("收到", None), ("收到！", None), ("收到收到", None), ("已收到", None), ("收到了", None),
     ("收到 12", 12), ("收到12", 12), ("收到十二", 12), ("收到[抱拳]", None), ("好的，收到", None),
     ("收到 通知12", 12), ("OK收到", None), ("收到👍", None), ("收到 第3号", 3),
     ("收到，马上落实", None), ("杨家坪村收到", None), ("收到39号通知", 39), ("收悉", None),
     ("已閱", None)],
)
def test_bare_acknowledgements(text: str, number: int | None) -> None:
    norm = normalize(text)
    assert is_bare_ack(norm, None)
    assert parse_ack(Args((), norm)).notice_id == number
    assert parse_ack(Args((), norm)).bare


@pytest.mark.parametrize("text", ["收到吗", "收到了吗？", "收到12份材料", "没收到", "今天收到的材料",
                                  "收到 12月", "收到请回复", "收不到", "收到货了吗", "好的",
                                  "收到 99999999999999999999", "收到 2147483648"])
def test_chat_that_is_no_acknowledgement(text: str) -> None:
    assert not is_bare_ack(normalize(text), None)


def test_quote_reply_acknowledgements() -> None:
    notice = Quote("村务助手", '【通知 22】周五前报送材料 — 请回复"收到"')
    other = Quote("张三", "明天几点开会")
    assert is_bare_ack("收到", notice) and is_bare_ack("好的[抱拳]", notice)
    # A quote-reply to anything but a notice answers that message.
    assert not is_bare_ack("收到", other) and not is_bare_ack("好的", None)
    assert not is_bare_ack("收到了吗?", notice)


def test_explicit_ack_numbers_never_overflow() -> None:
    for text in ["99999999999999999999", "2147483648", "通知 1234567890"]:
        with pytest.raises(Usage, match="没有这个编号的通知"):
            parse_ack(Args((), text))
    assert parse_ack(Args((), ",马上落实")) == parse_ack(Args((), ""))


def test_explicit_ack_arguments() -> None:
    assert parse_ack(Args((), "")).notice_id is None
    assert not parse_ack(Args((), "")).bare
    assert parse_ack(Args((), "12")).notice_id == 12
    with pytest.raises(Usage):
        parse_ack(Args((), "明天"))


@pytest.mark.parametrize(
    "text, scope, body",
    [("全体 明天开会", ("全体",), "明天开会"),
     ("浑源县、阳高县 明天开会", ("浑源县", "阳高县"), "明天开会"),
     ("浑源县:明天开会", ("浑源县",), "明天开会"),
     ("浑源县 , 阳高县:第一行\n第二行", ("浑源县", "阳高县"), "第一行\n第二行"),
     (":全体 内容", ("全体",), "内容")],
)
def test_notice_arguments(text: str, scope: tuple[str, ...], body: str) -> None:
    got = parse_notice(Args((), text))
    assert (got.scope, got.body) == (scope, body)


@pytest.mark.parametrize("text", ["", "浑源县", "浑源县   "])
def test_notice_needs_scope_and_text(text: str) -> None:
    with pytest.raises(Usage):
        parse_notice(Args((), text))


def test_percent_rounds_halves_up() -> None:
    assert [percent(1, 3), percent(2, 3), percent(1, 8), percent(0, 0)] == [33, 67, 13, 0]


def test_chase_times_skip_quiet_hours() -> None:
    from datetime import datetime

    from bot.config import load_config

    config = load_config()
    times = chase_times(datetime(2019, 6, 3, 16, 0, tzinfo=SHANGHAI), config)
    assert [t.astimezone(SHANGHAI).strftime("%d %H:%M") for t in times] == [
        "03 20:00", "04 07:00", "04 11:00",
    ]
