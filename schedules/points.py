"""Job kinds of the points area (being built)."""

from __future__ import annotations

KINDS: tuple = ()
