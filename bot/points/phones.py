"""Household phones: read as a mainland mobile number, stored as its 11 digits, shown
masked (138****5678) wherever a phone is displayed."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-‐‑–—−()（）.·]")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalize_phone(text: str) -> str | None:
    """A mainland mobile number as its 11 digits, or None. Spaces, dashes, brackets
    and a +86 / 0086 / 86 prefix are tolerated; full-width digits too."""
    t = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    for prefix in ("+86", "0086", "86"):
        if t.startswith(prefix) and len(t) == len(prefix) + 11:
            t = t[len(prefix):]
            break
    return t if _MOBILE.fullmatch(t) else None


def mask_phone(phone: str) -> str:
    """How a phone is shown anywhere: 138****5678."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"
