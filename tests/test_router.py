"""Router.parse: quote-replies, '#' words that are no command, how-to questions and the
bare acknowledgement forms, read from the real command declarations."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.messages import Inbound, Mention, Quote
from bot.router import Parsed, Router, split_message
from bot.wiring import registries
from tests.conftest import START

SEP = "- " * 14 + "-"
NOTICE = '【通知 22】周五前报送材料 — 请回复"收到"'


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(registries().commands, "村务助手")


def msg(text: str, *, quote: Quote | None = None, mentions: tuple[Mention, ...] = (),
        mentions_bot: bool = False, at: datetime = START) -> Inbound:
    return Inbound(transport="t", id="m", sender="u", sender_name="张三", text=text, at=at,
                   room="r", mentions=mentions, mentions_bot=mentions_bot, quote=quote)


def parse(router: Router, text: str, **kw) -> Parsed | None:
    return router.parse(msg(text, **kw))


def name(p: Parsed | None) -> str | None:
    return p.command.name if p is not None and p.command is not None else None


def test_vocabulary_comes_from_the_commands(router: Router) -> None:
    assert router.vocabulary["进度"] == ("报进度", "进度报送")
    assert set(router.vocabulary) == {c.name for c in router.commands}


# -- quote-replies ------------------------------------------------------------------


def test_a_quote_reply_runs_its_reply_part(router: Router) -> None:
    text = f"「张三：明天要报危房改造」\n{SEP}\n#进度 危房改造 42"
    p = parse(router, text)
    assert name(p) == "进度" and p is not None
    assert p.args.text == "危房改造 42"
    assert p.quote == Quote("张三", "明天要报危房改造")
    # The quoted part is context only: a quoted command runs nothing.
    assert parse(router, f"「张三：#进度 危房改造 42」\n{SEP}\n好的") is None


def test_split_message_prefers_the_transports_quote() -> None:
    q = Quote("村务助手", NOTICE)
    assert split_message(msg("收到", quote=q)) == ("收到", q)
    assert split_message(msg(f"「村务助手：{NOTICE}」\n{SEP}\n收到")) == ("收到", q)
    assert split_message(msg("收到")) == ("收到", None)


def test_quote_reply_of_a_notice_acknowledges(router: Router) -> None:
    for reply in ["收到", "好的", "收到，马上落实", "[OK]", "明白"]:
        p = parse(router, f"「村务助手：{NOTICE}」\n{SEP}\n{reply}")
        assert name(p) == "收到", reply
        assert p is not None and p.quote is not None and "通知 22" in p.quote.text
    # Quoting a person's message, 收到 answers that person: chat.
    assert parse(router, f"「李四：明天几点开会」\n{SEP}\n收到") is None
    # An agreeing word without a quoted notice is chat.
    assert parse(router, "好的") is None
    assert parse(router, f"「村务助手：{NOTICE}」\n{SEP}\n收到了吗？") is None


# -- acknowledgements ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["收到", "杨家坪村收到", "收到39号通知", "收到，马上落实",
                                  "收悉", "已阅", "已閱", "张书记收到", "收到[抱拳]"])
def test_acknowledgements_are_the_bare_command(router: Router, text: str) -> None:
    assert name(parse(router, text)) == "收到"


@pytest.mark.parametrize("text", ["没收到", "收到了吗？", "收到请回复", "收不到", "收到货了吗",
                                  "收到 99999999999999999999", "收到 2147483648", "快递收到了"])
def test_chat_that_mentions_receiving(router: Router, text: str) -> None:
    assert parse(router, text) is None


def test_addressed_ack_with_an_impossible_number_is_the_command(router: Router) -> None:
    p = parse(router, "#收到 99999999999999999999")
    assert name(p) == "收到" and p is not None and p.args.text == "99999999999999999999"


# -- '#' words ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["#吃饭", "#乡村振兴#", "#话题 今天的工作", "#防汛 注意安全",
                                  "#接龙\n明天参会\n1. 张三\n2. 李四", "#每日一学 第三课"])
def test_hashtags_that_are_no_command_are_chat(router: Router, text: str) -> None:
    assert parse(router, text) is None


@pytest.mark.parametrize("text, suggested", [("#进渡 危房改造 42", "进度"), ("#度进", "进度"),
                                             ("#报告 危房改造 42", "进度"), ("#查份", "查分"),
                                             ("#进度查寻", "进度查询"), ("#进度查看", "进度查询")])
def test_near_misses_carry_a_suggestion(router: Router, text: str, suggested: str) -> None:
    p = parse(router, text)
    assert p is not None and p.command is None and p.suggestion is not None
    assert p.suggestion.name == suggested
    assert p.unknown_reply() == f"您是不是要 #{suggested}？例：{p.suggestion.example}"


def test_an_unknown_word_to_the_bot_is_answered(router: Router) -> None:
    p = parse(router, "@村务助手 吃饭")
    assert p is not None and p.command is None and p.suggestion is None
    assert p.unknown_reply() == "没有“吃饭”这个命令。发送 #帮助 查看可用的命令。"
    p = parse(router, "吃饭", mentions_bot=True)
    assert p is not None and p.word == "吃饭"


# -- how-to questions ---------------------------------------------------------------


@pytest.mark.parametrize("text, topic", [("#怎么加分", "加分"), ("#如何报进度", "进度"),
                                         ("@村务助手 怎么报进度", "进度"), ("#怎样查积分", "查分"),
                                         ("#怎么用", None)])
def test_how_to_questions_are_help(router: Router, text: str, topic: str | None) -> None:
    p = parse(router, text)
    assert name(p) == "帮助" and p is not None
    assert p.args.words() == ([topic] if topic else [])


def test_how_to_questions_need_addressing(router: Router) -> None:
    assert parse(router, "怎么报进度") is None
    # A command name first stays that command, whatever words follow.
    assert name(parse(router, "#通知 全体 如何做好防汛工作")) == "通知"


def test_a_how_to_after_a_command_name_is_help_on_it(router: Router) -> None:
    for text, topic in [("#进度怎么报", "进度"), ("#积分怎么查?", "查分"), ("#加分 如何加", "加分")]:
        p = parse(router, text)
        assert name(p) == "帮助" and p is not None and p.args.words() == [topic], text
    # What follows a command's name is its argument, however it starts.
    assert name(parse(router, "#异议 怎么少了5分")) == "异议"
    assert name(parse(router, "#进度怎么没")) == "进度"
