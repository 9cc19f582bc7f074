"""Bounds on what arrives from WeChat, checked in one place before anything uses it.

A transport hands over whatever the puppet delivered: ids, display names and text may
hold NUL (PostgreSQL refuses it), lone surrogates (valid JSON escapes such as "\\ud800"
that no UTF-8 encoder, database or HTML page accepts), C0/C1 control characters, names
longer than their column, and numbers of any length. `sanitize` cleans or refuses every
field of an `Inbound`; `bounded_int` parses the numbers in arguments within a range;
`excerpt` and `clip_reply` keep what is echoed back short. Pure: no I/O, never raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from bot.messages import Inbound, Mention
from bot.text import bounded_int, numerals_to_digits  # noqa: F401  (re-exported)


@dataclass(frozen=True, slots=True)
class Limits:
    """The input limits; defaults follow the database columns in `bot/models`."""

    # Characters in a command. A WeChat text may be far longer, but no command needs
    # more: the longest legitimate commands are notices (`#通知 全体 …`), and an office
    # pastes a document of a few pages into one; it goes in parts of `notices.max_chars`
    # (1500 by default): 6000 lets four through. The parsers are linear in it
    # (tests/test_hardening.py runs every command at this size).
    max_command_chars: int = 6000
    # Display names (sender, mentions): `Person.name`, `OrgUnit.name` are VARCHAR(64).
    # Longer names are cut, not refused: a person with ten family emoji in their name
    # must still be able to report.
    max_name_chars: int = 64
    # Group topics: `Room.topic` is VARCHAR(128). Cut, not refused.
    max_topic_chars: int = 128
    # Contact, room, message and mention ids: every id column is VARCHAR(128). An id
    # cannot be cut without turning it into someone else's, so a longer one is refused.
    max_id_chars: int = 128
    # The transport's name: `transport` columns are VARCHAR(32).
    max_transport_chars: int = 32
    # A WeChat group holds at most 500 members, so no real message mentions more.
    max_mentions: int = 500
    # User input echoed in a reply ("没有找到“…”"): enough to recognise what was typed.
    max_excerpt_chars: int = 20
    # Numeric arguments (amounts, points, targets, notice ids): 0..10^9 fits a
    # PostgreSQL INTEGER (max 2147483647) with room for sums, and is beyond any count
    # a village or county reports.
    int_lo: int = 0
    int_hi: int = 10**9
    # Last-resort cap on one reply (`clip_reply`): 20 times the longest reply in the
    # transcripts (≈270), room for a notice part (1500) and a 回执 listing hundreds of
    # groups, yet it stops a 20,000-character echo.
    max_reply_chars: int = 5000

    def __post_init__(self) -> None:
        sizes = (
            self.max_command_chars,
            self.max_name_chars,
            self.max_topic_chars,
            self.max_id_chars,
            self.max_transport_chars,
            self.max_excerpt_chars,
            self.max_reply_chars,
        )
        if min(sizes) < 1 or self.max_mentions < 0 or self.int_lo > self.int_hi:
            raise ValueError(f"inconsistent input limits: {self}")


# -- text cleaning --------------------------------------------------------------------

# C0 and C1 controls and DEL, except tab and newline (\r is folded into \n first).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ONE_LINE = re.compile(r"[\n\t]+")


def _fix_surrogates(s: str) -> str:
    # A high+low pair held as two code points is the character it encodes (as a UTF-16
    # round trip gives); every other surrogate becomes U+FFFD, one for one.
    utf16 = s.encode("utf-16-le", "surrogatepass")
    return utf16.decode("utf-16-le", "replace")


def clean_text(s: str) -> str:
    """`s` without NUL and other control characters (tab and newline stay), with
    \\r\\n and \\r as \\n and every lone surrogate as U+FFFD; always valid UTF-8."""
    if not isinstance(s, str):  # defensive: a transport may hand over bytes or None
        s = s.decode("utf-8", "replace") if isinstance(s, bytes | bytearray) else ""
    if _SURROGATE.search(s):
        s = _fix_surrogates(s)
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", s)


def _one_line(s: str) -> str:
    """For names and topics: clean, and tabs/newlines as one space."""
    return _ONE_LINE.sub(" ", clean_text(s))


# -- cutting without splitting a character ----------------------------------------------

_ZWJ = "\u200d"


def _attaches(ch: str) -> bool:
    """`ch` belongs to the character before it (never starts a grapheme)."""
    cp = ord(ch)
    return (
        ch == _ZWJ
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF  # variation selectors supplement
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or 0xDC00 <= cp <= 0xDFFF  # a low surrogate after its high half
        or unicodedata.category(ch) in ("Mn", "Mc", "Me")  # combining marks, keycap
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF  # flags are pairs of these


def _dangles(ch: str) -> bool:
    """`ch` must not end a cut: it joins or modifies what follows or precedes."""
    cp = ord(ch)
    return ch == _ZWJ or 0xFE00 <= cp <= 0xFE0F or 0xD800 <= cp <= 0xDBFF


def _boundary(s: str, k: int) -> int:
    """The largest cut position ≤ k that does not split a grapheme-ish cluster (emoji
    ZWJ sequences, modifiers, flags, combining marks, surrogate pairs)."""
    k = max(0, min(k, len(s)))
    start = k
    while 0 < k < len(s):
        if _attaches(s[k]) or s[k - 1] == _ZWJ:
            k -= 1
            continue
        if _is_regional(s[k]) and _is_regional(s[k - 1]):
            j = k
            while j > 0 and _is_regional(s[j - 1]):
                j -= 1
            if (k - j) % 2 == 1:  # s[k] is the second half of a flag
                k -= 1
                continue
        break
    if k == 0 and start > 0:
        # One cluster longer than the room (a run of combining marks): cut inside it,
        # but never end on a joiner or half a surrogate pair.
        k = start
        while k > 0 and _dangles(s[k - 1]):
            k -= 1
    return k


def _truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[: _boundary(s, n)]


def excerpt(s: str, n: int | None = None) -> str:
    """At most `n` characters of user input for a reply, plus `…` when cut.

    Cleaned and on one line (an excerpt is quoted inside a sentence); cut between
    characters as people see them, so no emoji is left half-drawn.
    """
    if n is None:
        n = Limits().max_excerpt_chars
    s = " ".join(clean_text(s).split())
    if len(s) <= n:
        return s
    return s[: _boundary(s, max(n, 0))].rstrip() + "…"


_CLIPPED = "…（已截断）"


def clip_reply(text: str, max_chars: int) -> str:
    """`text` if it fits in `max_chars`, else its start ending with `…（已截断）`,
    cut after a whole line when that keeps at least half of the room."""
    if len(text) <= max_chars:
        return text
    room = max_chars - len(_CLIPPED)
    if room <= 0:
        return _CLIPPED[: max(max_chars, 0)]
    line_end = text.rfind("\n", 0, room)  # the kept part and its "\n" fit in `room`
    if line_end >= room // 2:
        return text[: line_end + 1] + _CLIPPED
    return text[: _boundary(text, room)] + _CLIPPED


# -- numbers ------------------------------------------------------------------------------

# `bounded_int` lives with the other parsers in `bot.text` (this module builds on it).


# -- the inbound message ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message not to handle: the caller logs `reason` and drops it, never answers."""

    reason: str


@dataclass(frozen=True, slots=True)
class Sanitized:
    """A message fit to handle. `too_long`: the text is over the command limit, so a
    command in it is refused with a short reply (chat of any length is fine)."""

    msg: Inbound
    too_long: bool = False


_ID_CHARS = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff]*")


def _id_problem(field: str, value: object, limit: int, *, empty_ok: bool = False) -> str | None:
    """Why `value` cannot be used as an id, or None. Ids are refused, never repaired:
    a repaired id could be someone else's. No whitespace either: the outbox stores
    mention ids space-separated."""
    if not isinstance(value, str):
        return f"{field} is not text ({type(value).__name__})"
    if not value and not empty_ok:
        return f"{field} is empty"
    if len(value) > limit:
        return f"{field} too long ({len(value)} > {limit} characters)"
    if not _ID_CHARS.fullmatch(value):
        return f"{field} holds whitespace, control characters or lone surrogates"
    return None


def _name(s: object, limit: int) -> str:
    return _truncate(_one_line(s), limit) if isinstance(s, str) else ""


def sanitize(msg: Inbound, limits: Limits) -> Sanitized | Rejected:
    """Every inbound field checked: ids refused when unusable, names and topic cleaned
    and cut to their columns, text cleaned and flagged when over the command limit."""
    try:
        return _sanitize(msg, limits)
    except Exception as e:  # a transport handed over something no check foresaw
        return Rejected(f"unusable message ({type(e).__name__})")


def _sanitize(msg: Inbound, limits: Limits) -> Sanitized | Rejected:
    checks = [
        _id_problem("transport", msg.transport, limits.max_transport_chars),
        _id_problem("message id", msg.id, limits.max_id_chars),
        _id_problem("sender id", msg.sender, limits.max_id_chars),
    ]
    if msg.room is not None:
        checks.append(_id_problem("room id", msg.room, limits.max_id_chars))
    if len(msg.mentions) > limits.max_mentions:
        checks.append(f"too many mentions ({len(msg.mentions)} > {limits.max_mentions})")
    else:
        checks += [
            # An empty id: a name the transport could not resolve, kept as a bare name.
            _id_problem("mention id", m.id, limits.max_id_chars, empty_ok=True)
            for m in msg.mentions
        ]
    problem = next((p for p in checks if p is not None), None)
    if problem is not None:
        return Rejected(problem)
    text = clean_text(msg.text) if isinstance(msg.text, str) else ""
    clean = replace(
        msg,
        sender_name=_name(msg.sender_name, limits.max_name_chars),
        text=text,
        topic=None if msg.topic is None else _name(msg.topic, limits.max_topic_chars),
        mentions=tuple(Mention(m.id, _name(m.name, limits.max_name_chars)) for m in msg.mentions),
    )
    return Sanitized(clean, too_long=len(text) > limits.max_command_chars)
