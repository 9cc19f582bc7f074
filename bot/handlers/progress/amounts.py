"""How amounts are written in #目标: '50', '50处', '五十' (#进度 is read by bot.progress.form)."""

from __future__ import annotations

import re

from bot.router import Usage
from bot.text import numerals_to_digits

_MEASURES = "处户个座家项件套间栋所人亩"
_AMOUNT = re.compile(rf"^(?P<sign>[+-])?(?P<n>\d+)[{_MEASURES}]?(?:/(?P<of>\d+)[{_MEASURES}]?)?$")


def amount(text: str) -> re.Match[str] | None:
    return _AMOUNT.match(numerals_to_digits(text))


def joined(words: list[str], prefix: str, what: str) -> str:
    """The amount's words as one ('42 / 50 处' → '42/50处'); two numbers side by side
    ('42 50') are refused rather than read as 4250."""
    for a, b in zip(words, words[1:], strict=False):
        if a[-1:].isdigit() and b[:1].isdigit():
            raise Usage(f"{prefix}“{a} {b}”是两个数，{what}只写一个，如 42 或 42/50")
    return "".join(words)
