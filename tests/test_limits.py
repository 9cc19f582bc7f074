"""Input limits: cleaning, bounded numbers, excerpts, reply caps and the inbound check."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.limits import (
    Limits,
    Rejected,
    Sanitized,
    bounded_int,
    clean_text,
    clip_reply,
    excerpt,
    sanitize,
)
from bot.messages import Inbound, Mention

LIMITS = Limits()
AT = datetime(2019, 6, 3, 1, 0, tzinfo=UTC)
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦, 7 code points
FLAG = "\U0001f1e8\U0001f1f3"  # 🇨🇳
THUMB = "\U0001f44d\U0001f3fd"  # 👍🏽
HEART = "\u2764\ufe0f"  # ❤️


BASE = Inbound(
    transport="wechaty",
    id="m1",
    sender="wxid_a",
    sender_name="张三",
    text="收到",
    at=AT,
    room="r1@chatroom",
    topic="皇叔洼村工作群",
)


def inbound(**changes: Any) -> Inbound:
    return dataclasses.replace(BASE, **changes)


def utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- clean_text -----------------------------------------------------------------------

CLEAN_CASES = [
    ("", ""),
    ("收到", "收到"),
    ("收\x00到", "收到"),
    ("\x00\x00", ""),
    ("a\x01b\x08c\x0bd\x0ce\x1bf\x7fg", "abcdefg"),  # C0 and DEL
    ("a\x80b\x85c\x9fd", "abcd"),  # C1
    ("一\n二\t三", "一\n二\t三"),  # tab and newline stay
    ("一\r\n二\r三", "一\n二\n三"),
    ("\r\n\r\n", "\n\n"),
    ("a\ud800b", "a\ufffdb"),  # lone high surrogate
    ("a\udc00b", "a\ufffdb"),  # lone low surrogate
    ("\udc00\ud800", "\ufffd\ufffd"),  # reversed pair: two lone halves
    ("\ud800", "\ufffd"),
    ("x\ud83d\ude00y", "x\U0001f600y"),  # a correctly paired surrogate pair: its emoji
    ("\U0001f600", "\U0001f600"),
    (FAMILY * 2, FAMILY * 2),  # ZWJ (a format character) is kept
    ("@张三\u2005收到", "@张三\u2005收到"),  # the mention space is kept
    ("\u3000全角\u3000", "\u3000全角\u3000"),
    ("\u200b零宽", "\u200b零宽"),
]


@pytest.mark.parametrize(("raw", "expected"), CLEAN_CASES)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_clean_text_of_a_long_text_keeps_it_whole() -> None:
    long = "进度" * 10_000
    assert clean_text(long) == long


@pytest.mark.parametrize(
    ("raw", "expected"), [("收到".encode(), "收到"), (b"\xff", "\ufffd"), (None, "")]
)
def test_clean_text_never_raises_on_non_text(raw: Any, expected: str) -> None:
    assert clean_text(raw) == expected


# Every code point, surrogates and controls included.
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()))
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
NASTY = st.sampled_from(["\x00", "\r", "\r\n", "\x85", "\ud800", "\udfff", "\u200d", "\ufe0f"])


@st.composite
def with_surrogates(draw: st.DrawFn) -> str:
    """Text with surrogates and control characters injected at random places."""
    chars = list(draw(ANY_TEXT))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(chars)))
        chars.insert(at, draw(st.one_of(SURROGATES, NASTY)))
    return "".join(chars)


TEXTS = st.one_of(ANY_TEXT, with_surrogates())


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_clean_text_properties(raw: str) -> None:
    out = clean_text(raw)
    assert utf8_ok(out)
    assert "\x00" not in out and "\r" not in out
    assert all(ch in "\n\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F) for ch in out)
    assert clean_text(out) == out
    assert len(out) <= len(raw)


# -- bounded_int ----------------------------------------------------------------------

INT_CASES: list[tuple[str, dict[str, int], int | None]] = [
    ("42", {}, 42),
    ("0", {}, 0),
    (" 7 ", {}, 7),
    ("四十二", {}, 42),
    ("两", {}, 2),
    ("一百", {}, 100),
    ("十亿", {}, 10**9),
    ("九十九亿", {}, None),
    ("４２", {}, 42),  # full-width digits
    ("＋5", {}, 5),
    ("+5", {}, 5),
    ("-3", {}, None),  # lo=0 by default
    ("-3", {"lo": -10}, -3),
    ("-0", {}, 0),
    ("007", {}, 7),
    ("1000000000", {}, 10**9),
    ("1000000001", {}, None),
    ("2147483647", {}, None),
    ("2147483648", {}, None),  # one past PostgreSQL INTEGER
    ("2147483648", {"hi": 10**10}, 2147483648),
    ("9" * 10, {"hi": 10**10}, 9_999_999_999),
    ("9" * 11, {"hi": 10**12}, None),  # more than ten digits: not even converted
    ("99999999999999999999", {}, None),  # the OverflowError of issue 18
    ("9" * 30, {}, None),
    ("9" * 5000, {}, None),  # past int()'s 4300-digit limit
    ("0" * 30 + "1", {}, 1),  # leading zeros are not digits of the value
    ("0" * 40 + "1", {}, None),  # but a word this long is not a number anyone typed
    ("", {}, None),
    ("   ", {}, None),
    ("4.5", {}, None),
    ("1e9", {}, None),
    ("12个", {}, None),
    ("张三", {}, None),
    ("+", {}, None),
    ("--3", {"lo": -10}, None),
    ("٤٢", {}, None),  # Arabic-Indic digits: not what anyone here types
    ("\x00", {}, None),
    ("\ud800", {}, None),
    ("5", {"lo": 6}, None),
    ("5", {"lo": 6, "hi": 1}, None),  # an empty range
]


@pytest.mark.parametrize(("word", "bounds", "expected"), INT_CASES)
def test_bounded_int(word: str, bounds: dict[str, int], expected: int | None) -> None:
    assert bounded_int(word, **bounds) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        TEXTS,
        st.from_regex(r"[+-]?[0-9０-９]{1,40}", fullmatch=True),
        st.text(
            alphabet="零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟+-", max_size=40
        ),
    ),
    st.integers(-(10**12), 10**12),
    st.integers(-(10**12), 10**12),
)
def test_bounded_int_never_raises_and_stays_in_range(word: str, lo: int, hi: int) -> None:
    value = bounded_int(word, lo, hi)
    assert value is None or lo <= value <= hi


@given(st.integers(0, 10**9))
def test_bounded_int_reads_every_value_in_range(n: int) -> None:
    assert bounded_int(str(n)) == n


# -- excerpt --------------------------------------------------------------------------

EXCERPT_CASES: list[tuple[str, int | None, str]] = [
    ("", None, ""),
    ("张三家", None, "张三家"),
    ("一" * 20, None, "一" * 20),
    ("一" * 21, None, "一" * 20 + "…"),
    ("一" * 20_000, None, "一" * 20 + "…"),
    ("一" * 20_000, 5, "一" * 5 + "…"),
    ("多行\n文本\t在此", None, "多行 文本 在此"),  # on one line
    ("含\x00空\ud800字", None, "含空\ufffd字"),
    ("abc 12345", 4, "abc…"),  # no space before the ellipsis
    (FAMILY * 10, 20, FAMILY * 2 + "…"),  # 14 code points: the third family would split
    (FAMILY * 10, 6, FAMILY[:5] + "…"),  # not one family fits: cut inside, not at a ZWJ
    ("ab" + FLAG * 5, 5, "ab" + FLAG + "…"),  # a flag is never halved
    ("a" + FLAG * 5, 5, "a" + FLAG * 2 + "…"),
    ("ab" + THUMB * 3, 3, "ab…"),  # the skin tone stays with its hand
    ("abc" + HEART * 3, 4, "abc…"),  # nor the variation selector with its heart
    ("abc" + HEART * 3, 5, "abc" + HEART + "…"),
    ("e\u0301" * 5, 3, "e\u0301…"),  # combining accent
    ("x", 0, "…"),
]


@pytest.mark.parametrize(("text", "n", "expected"), EXCERPT_CASES)
def test_excerpt(text: str, n: int | None, expected: str) -> None:
    assert excerpt(text, n) == expected


def test_excerpt_of_one_huge_cluster_is_cut_inside_it() -> None:
    zalgo = "a" + "\u0301" * 50
    assert excerpt(zalgo, 10) == zalgo[:10] + "…"
    joined = "\U0001f468" + "\u200d\U0001f468" * 20  # one ZWJ sequence of 41 code points
    out = excerpt(joined, 10)
    assert not out[:-1].endswith("\u200d") and len(out) <= 11


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(0, 50))
def test_excerpt_properties(text: str, n: int) -> None:
    out = excerpt(text, n)
    assert len(out) <= n + 1
    assert utf8_ok(out)
    assert "\n" not in out
    whole = " ".join(clean_text(text).split())
    if len(whole) <= n:
        assert out == whole
    else:  # cut (the table above checks where): a prefix, never ending on a joiner
        kept = out.removesuffix("…")
        assert out.endswith("…") and whole.startswith(kept) and not kept.endswith("\u200d")


# -- clip_reply -----------------------------------------------------------------------


def test_clip_reply_leaves_a_short_reply_alone() -> None:
    assert clip_reply("已记录", 100) == "已记录"
    assert clip_reply("", 10) == ""
    assert clip_reply("一" * 100, 100) == "一" * 100


def test_clip_reply_cuts_after_a_whole_line() -> None:
    lines = [f"{i}. 皇叔洼村 20/50 处" for i in range(1, 200)]
    out = clip_reply("\n".join(lines), 200)
    assert len(out) <= 200 and out.endswith("\n…（已截断）")
    assert out.removesuffix("…（已截断）").splitlines() == lines[: len(out.splitlines()) - 1]


def test_clip_reply_cuts_a_single_long_line() -> None:
    echo = "没有找到单位“" + "村" * 20_000 + "”"  # the 20,111-character reply of issue 18
    out = clip_reply(echo, LIMITS.max_reply_chars)
    assert len(out) == LIMITS.max_reply_chars
    assert out.startswith("没有找到单位“村") and out.endswith("村…（已截断）")


def test_clip_reply_prefers_the_line_only_when_it_keeps_enough() -> None:
    text = "短\n" + "长" * 100
    assert clip_reply(text, 50) == "短\n" + "长" * 42 + "…（已截断）"  # 44 + 6 characters


def test_clip_reply_does_not_split_an_emoji() -> None:
    assert clip_reply(FAMILY * 10, 20) == FAMILY * 2 + "…（已截断）"  # 14 + 6 characters
    assert clip_reply(FAMILY * 10, 19) == FAMILY + "…（已截断）"


def test_clip_reply_with_no_room_at_all() -> None:
    assert clip_reply("一" * 10, 3) == "…（已"
    assert clip_reply("一" * 10, 0) == ""


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.integers(0, 60))
def test_clip_reply_properties(text: str, n: int) -> None:
    out = clip_reply(text, n)
    assert len(out) <= max(n, 0)
    if len(text) <= n:
        assert out == text
    elif n >= 7:
        assert out.endswith("…（已截断）") and text.startswith(out.removesuffix("…（已截断）"))


# -- sanitize -------------------------------------------------------------------------


def ok(result: Sanitized | Rejected) -> Sanitized:
    assert isinstance(result, Sanitized), result
    return result


def rejected(result: Sanitized | Rejected) -> str:
    assert isinstance(result, Rejected), result
    return result.reason


def test_an_ordinary_message_passes_unchanged() -> None:
    msg = inbound(mentions=(Mention("wxid_b", "李四"),), mentions_bot=True)
    assert sanitize(msg, LIMITS) == Sanitized(msg, too_long=False)
    dm = inbound(room=None, topic=None)
    assert sanitize(dm, LIMITS) == Sanitized(dm)


BAD = "holds whitespace, control characters or lone surrogates"

REJECT_CASES: list[tuple[dict[str, object], str]] = [
    ({"sender": ""}, "sender id is empty"),
    ({"id": ""}, "message id is empty"),
    ({"transport": ""}, "transport is empty"),
    ({"room": ""}, "room id is empty"),
    ({"sender": "w" * 129}, "sender id too long (129 > 128 characters)"),
    ({"id": "9" * 20_000}, "message id too long (20000 > 128 characters)"),
    ({"room": "r" * 200}, "room id too long (200 > 128 characters)"),
    ({"transport": "t" * 33}, "transport too long (33 > 32 characters)"),
    ({"sender": "wxid\x00a"}, f"sender id {BAD}"),
    ({"sender": "wxid_\ud800"}, f"sender id {BAD}"),
    ({"room": "r\udc001"}, f"room id {BAD}"),
    ({"id": "m 1"}, f"message id {BAD}"),
    ({"mentions": (Mention("a b", "x"),)}, f"mention id {BAD}"),
    ({"mentions": (Mention("m" * 129, "x"),)}, "mention id too long (129 > 128 characters)"),
    ({"mentions": (Mention("\ud800"),)}, f"mention id {BAD}"),
    ({"mentions": tuple(Mention(f"w{i}") for i in range(501))}, "too many mentions (501 > 500)"),
    ({"sender": None}, "sender id is not text (NoneType)"),
    ({"sender": 12345}, "sender id is not text (int)"),
]


@pytest.mark.parametrize(("fields", "reason"), REJECT_CASES)
def test_unusable_ids_are_rejected(fields: dict[str, object], reason: str) -> None:
    assert rejected(sanitize(inbound(**fields), LIMITS)) == reason


def test_ids_at_the_column_length_pass() -> None:
    long_id = "w" * 128
    msg = inbound(sender=long_id, id=long_id, room=long_id, mentions=(Mention(long_id),))
    assert ok(sanitize(msg, LIMITS)).msg == msg


def test_a_mention_without_id_is_kept_as_a_name() -> None:
    msg = inbound(mentions=(Mention("", "王五"),))
    assert ok(sanitize(msg, LIMITS)).msg.mentions == (Mention("", "王五"),)


def test_ten_family_emoji_in_a_name_are_cut_to_the_column() -> None:
    name = FAMILY * 10  # 70 code points: over VARCHAR(64)
    out = ok(sanitize(inbound(sender_name=name, mentions=(Mention("wxid_b", name),)), LIMITS)).msg
    assert out.sender_name == FAMILY * 9  # 63 code points, no family cut in half
    assert out.mentions == (Mention("wxid_b", FAMILY * 9),)


def test_names_and_topic_are_cleaned_cut_and_on_one_line() -> None:
    out = ok(
        sanitize(
            inbound(
                sender_name="张\x00三\ud800\n副书记",
                topic="群" * 300,
                mentions=(Mention("wxid_b", "李\r\n四\t"),),
            ),
            LIMITS,
        )
    ).msg
    assert out.sender_name == "张三\ufffd 副书记"
    assert out.topic == "群" * 128
    assert out.mentions == (Mention("wxid_b", "李 四 "),)


def test_text_is_cleaned() -> None:
    out = ok(sanitize(inbound(text="收到\x00 1\r\n\ud800"), LIMITS))
    assert out.msg.text == "收到 1\n\ufffd" and not out.too_long


def test_long_text_is_flagged_not_rejected() -> None:
    at_limit = "#通知 全体 " + "通" * (LIMITS.max_command_chars - len("#通知 全体 "))
    assert not ok(sanitize(inbound(text=at_limit), LIMITS)).too_long
    result = ok(sanitize(inbound(text=at_limit + "知"), LIMITS))
    assert result.too_long and result.msg.text == at_limit + "知"
    huge = ok(sanitize(inbound(text="村" * 20_000), LIMITS))
    assert huge.too_long and len(huge.msg.text) == 20_000


def test_the_limits_are_configurable() -> None:
    tight = Limits(max_command_chars=10, max_name_chars=2, max_id_chars=4)
    result = ok(
        sanitize(inbound(text="一" * 11, sender="wxid", room="r1", sender_name="张三丰"), tight)
    )
    assert result.too_long and result.msg.sender_name == "张三"
    assert isinstance(sanitize(inbound(sender="wxid_"), tight), Rejected)


@pytest.mark.parametrize(
    "bad",
    [
        {"max_command_chars": 0},
        {"max_id_chars": -1},
        {"max_mentions": -1},
        {"int_lo": 5, "int_hi": 4},
    ],
)
def test_nonsense_limits_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="inconsistent input limits"):
        Limits(**bad)


def test_a_message_that_breaks_every_check_is_rejected_not_raised() -> None:
    class Weird:
        def __len__(self) -> int:
            raise RuntimeError("boom")

    msg = inbound(mentions=Weird())
    assert rejected(sanitize(msg, LIMITS)) == "unusable message (RuntimeError)"


def test_the_limits_fit_the_database_columns() -> None:
    from sqlmodel import SQLModel

    import bot.models  # noqa: F401  (registers the tables)

    tables = SQLModel.metadata.tables

    def width(table: str, column: str) -> int | None:
        return getattr(tables[table].c[column].type, "length", None)

    assert width("person", "name") == LIMITS.max_name_chars
    assert width("room", "topic") == LIMITS.max_topic_chars
    assert width("person", "id") == width("room", "id") == LIMITS.max_id_chars
    for table in tables.values():
        for column in table.columns:
            length = getattr(column.type, "length", None)
            if length is None:
                continue
            if column.name == "transport":
                assert length >= LIMITS.max_transport_chars, column
            elif column.name.endswith(("_id", "_by")) or column.name == "id":
                assert length >= LIMITS.max_id_chars, column  # an accepted id always fits


NAMES = st.one_of(TEXTS, st.just(FAMILY * 10), st.text(alphabet=FAMILY + FLAG + THUMB + "\u200d"))
IDS = st.one_of(
    st.from_regex(r"wxid_[a-z0-9]{1,20}", fullmatch=True),
    st.text(max_size=200),
    with_surrogates(),
    st.text(min_size=120, max_size=140, alphabet="ab"),
)


@settings(max_examples=300, deadline=None)
@given(
    transport=st.one_of(st.just("wechaty"), st.text(max_size=40)),
    msg_id=IDS,
    sender=IDS,
    sender_name=NAMES,
    text=st.one_of(TEXTS, st.text(min_size=1990, max_size=2010, alphabet="通知")),
    room=st.one_of(st.none(), IDS),
    topic=st.one_of(st.none(), NAMES, st.text(min_size=100, max_size=200)),
    mentions=st.lists(st.builds(Mention, IDS, NAMES), max_size=4),
)
def test_sanitize_properties(
    transport: str,
    msg_id: str,
    sender: str,
    sender_name: str,
    text: str,
    room: str | None,
    topic: str | None,
    mentions: list[Mention],
) -> None:
    msg = Inbound(transport, msg_id, sender, sender_name, text, AT, room, topic, tuple(mentions))
    result = sanitize(msg, LIMITS)
    if isinstance(result, Rejected):
        assert result.reason and len(result.reason) < 120
        return
    out = result.msg
    assert out.transport == transport and out.id == msg_id and out.sender == sender
    assert out.room == room and out.at == AT
    ids = [out.transport, out.id, out.sender, *([out.room] if out.room is not None else [])]
    for value in ids + [m.id for m in out.mentions]:
        assert len(value) <= LIMITS.max_id_chars and utf8_ok(value)
        assert "\x00" not in value and not any(ch.isspace() for ch in value)
    assert out.sender and out.id
    for name, given_name in [(out.sender_name, sender_name)] + [
        (m.name, g.name) for m, g in zip(out.mentions, mentions, strict=True)
    ]:
        whole = re.sub(r"[\n\t]+", " ", clean_text(given_name))
        assert len(name) <= LIMITS.max_name_chars and clean_text(name) == name
        if len(whole) <= LIMITS.max_name_chars:
            assert name == whole
        else:  # cut, not at a joiner
            assert whole.startswith(name) and not name.endswith("\u200d")
        assert "\n" not in name and "\t" not in name
    assert out.topic is None or len(out.topic) <= LIMITS.max_topic_chars
    assert (out.topic is None) == (topic is None)
    assert clean_text(out.text) == out.text and utf8_ok(out.text)
    assert result.too_long == (len(out.text) > LIMITS.max_command_chars)
    assert sanitize(out, LIMITS) == Sanitized(out, result.too_long)  # idempotent
