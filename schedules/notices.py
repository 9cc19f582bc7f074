"""Job kinds of the notices area (being built)."""

from __future__ import annotations

KINDS: tuple = ()
