"""Input normalisation and the small parsers every command shares.

`normalize` turns what people type into one canonical form: full-width to half-width
(NFKC), Traditional to Simplified (OpenCC), Chinese numerals to digits where they stand
as numbers, Chinese and ASCII punctuation alike. Numerals inside words are left alone:
"张三" and "六净六有" are names, not numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache

import opencc

from bot.messages import Mention

NUMERAL_CHARS = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
_NUMERAL_RUN = re.compile(f"[{NUMERAL_CHARS}]+")
# A numeral run counts as a number when it follows one of these (or a non-CJK char)...
_LEFT_OK = set("年月日号点时:：/-+=第共计约")
# ...and is followed by a measure word, a time word, or a non-CJK char.
_RIGHT_OK = set("处户个座分月日号点时天周年元次人名家项件斤箱袋包瓶桶条")
# Separators: Chinese and ASCII punctuation treated alike.
_SEPARATORS = re.compile(r"[\s,，、;；:：。!！?？]+")


@lru_cache(maxsize=2)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=2)
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2tw")  # Taiwan-standard glyphs (群, not 羣)


def to_traditional(text: str) -> str:
    return _s2t().convert(text)


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def cn2an_smart(s: str) -> float:
    """cn2an's reading of a numeral run ("smart" mode). cn2an is imported here, at the
    first numeral, not at start: it costs about 0.2 s and 4 MiB (issue 17, P6)."""
    import cn2an

    return cn2an.cn2an(s, "smart")  # type: ignore[no-any-return]


def numerals_to_digits(text: str) -> str:
    """四十二 → 42 where the numeral stands as a number; words are left alone."""

    def repl(m: re.Match[str]) -> str:
        s, start, end = m.group(0), m.start(), m.end()
        left = text[start - 1] if start > 0 else " "
        right = text[end] if end < len(text) else " "
        if _is_cjk(left) and left not in _LEFT_OK:
            return s
        if _is_cjk(right) and right not in _RIGHT_OK:
            return s
        try:
            value = cn2an_smart(s)
        except (ValueError, KeyError, TypeError, IndexError):
            return s
        return str(int(value)) if float(value).is_integer() else str(value)

    return _NUMERAL_RUN.sub(repl, text)


# Invisible characters that copy-paste and some keyboards leave in text (zero-width
# space and non-joiner, word joiner, BOM, soft hyphen); the emoji joiner U+200D stays.
_INVISIBLE = re.compile("[\u200b\u200c\u2060\ufeff\u00ad]")


# A figure with thousands separators as a spreadsheet writes it (1,200, 3，000): commas
# between groups of three digits.
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)")


def normalize(text: str) -> str:
    """The canonical form of a message's text (see the module doc)."""
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _t2s().convert(text)
    text = numerals_to_digits(text)
    return text.strip()


def simplify(text: str) -> str:
    """NFKC and Traditional → Simplified only: for names and free text."""
    return _t2s().convert(unicodedata.normalize("NFKC", text)).strip()


@dataclass(frozen=True, slots=True)
class Args:
    """A command's arguments: tokens, with @mentions already paired to contact ids."""

    tokens: tuple[str | Mention, ...]
    text: str  # the normalised argument text, mentions included as typed

    def words(self) -> list[str]:
        return [t for t in self.tokens if isinstance(t, str)]

    def mentions(self) -> list[Mention]:
        return [t for t in self.tokens if isinstance(t, Mention)]

    def __len__(self) -> int:
        return len(self.tokens)


def split_words(text: str) -> list[str]:
    return [w for w in _SEPARATORS.split(text) if w]


def tokenize(text: str, mentions: tuple[Mention, ...]) -> tuple[str | Mention, ...]:
    """Split on separators; '@name' becomes the next Mention the transport reported.

    A mention's name may contain spaces: known names are matched first, longest first,
    and take that mention's id whatever its place in the transport's list. An '@name'
    with no reported id left becomes Mention('', name): a bare name to be resolved among
    the unit's people.
    """
    out: list[str | Mention] = []
    pending = list(mentions)
    names = sorted({simplify(m.name) for m in mentions if m.name}, key=len, reverse=True)
    i, n = 0, len(text)
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.extend(split_words("".join(buf)))
            buf.clear()

    while i < n:
        ch = text[i]
        if ch == "@" and (i == 0 or not text[i - 1].isalnum()):
            flush()
            rest = text[i + 1 :]
            name = next((nm for nm in names if rest.startswith(nm)), None)
            if name is None:
                m = re.match(r"[^\s,，、;；:：@]+", rest)
                name = m.group(0) if m else ""
            i += 1 + len(name)
            # Paired by name where the transport gave names (its list need not follow
            # the text's order); otherwise in order.
            same = [m for m in mentions if m.name and simplify(m.name) == name]
            known: Mention | None
            if same:
                known = next((m for m in pending if m in same), same[0])  # named twice
            else:
                known = next((m for m in pending if not m.name), pending[0] if pending else None)
            if known is not None:
                if known in pending:
                    pending.remove(known)
                out.append(Mention(known.id, name or known.name))
            elif name:
                out.append(Mention("", name))
            continue
        buf.append(ch)
        i += 1
    flush()
    return tuple(out)


_INT = re.compile(r"[+-]?[0-9]+")
# Longer than any numeral for a value up to 10^10: "九十九亿九千九百九十九万九千九百九十九"
# is 19 characters; a word longer than this is not a number we would accept.
_MAX_NUMBER_WORD = 32
_MAX_DIGITS = 10


def bounded_int(word: str, lo: int = 0, hi: int = 10**9) -> int | None:
    """'42', '四十二', '＋5', '０７' → an int within [lo, hi]; anything else → None.

    The digits are counted before converting (a
    5,000-digit argument costs nothing and never reaches int(), which refuses more
    than 4300 digits), and values outside [lo, hi] are refused. Never raises.
    """
    if not isinstance(word, str) or lo > hi:
        return None
    w = word.strip()
    if not w or len(w) > _MAX_NUMBER_WORD:
        return None
    try:
        w = numerals_to_digits(unicodedata.normalize("NFKC", w))
    except Exception:  # cn2an on odd input: not a number, whatever it raised
        return None
    if not _INT.fullmatch(w):
        return None
    digits = w.lstrip("+-").lstrip("0")
    if len(digits) > _MAX_DIGITS:
        return None
    value = int(w)
    return value if lo <= value <= hi else None



def parse_int(word: str, lo: int = 0, hi: int = 10**9) -> int | None:
    """'42', '四十二', '＋5' → an int within [lo, hi]; anything else → None. Bounded, so
    that no command's number overflows a database column or costs a long conversion."""
    return bounded_int(word, lo, hi)


_DATE_FORMS = (
    re.compile(r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?$"),
    re.compile(r"^(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})[日号]?$"),
)


def parse_date(word: str, today: date) -> date | None:
    """'6月30日', '2019-06-30', '6/30', '六月三十日' → a date.

    Without a year: this year's date, or next year's if it has passed by more than
    half a year (a deadline typed in December for January).
    """
    w = numerals_to_digits(unicodedata.normalize("NFKC", word.strip()))
    if w in ("今天", "今日"):
        return today
    if w in ("明天", "明日"):
        return date.fromordinal(today.toordinal() + 1)
    for form in _DATE_FORMS:
        m = form.match(w)
        if not m:
            continue
        gd = m.groupdict()
        try:
            if gd.get("y"):
                return date(int(gd["y"]), int(gd["m"]), int(gd["d"]))
            d = date(today.year, int(gd["m"]), int(gd["d"]))
        except ValueError:
            return None
        if (today - d).days > 183:
            try:
                d = d.replace(year=today.year + 1)
            except ValueError:
                return None
        return d
    return None


_TIME = re.compile(r"^(?P<ap>上午|早上|下午|晚上|中午)?(?P<h>\d{1,2})(?:[:点时](?P<m>\d{1,2}|半)?分?)?$")


def parse_time(word: str) -> time | None:
    """'17:00', '下午5点', '9点半' → a time of day."""
    w = numerals_to_digits(unicodedata.normalize("NFKC", word.strip()))
    m = _TIME.match(w)
    if not m or (m.group("m") is None and ":" not in w and "点" not in w and "时" not in w):
        return None
    h = int(m.group("h"))
    mm = m.group("m")
    minute = 30 if mm == "半" else int(mm or 0)
    if m.group("ap") in ("下午", "晚上") and h < 12:
        h += 12
    if h > 23 or minute > 59:
        return None
    return time(h, minute)
