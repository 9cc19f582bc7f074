"""Job kinds of the bulletins area (being built)."""

from __future__ import annotations

KINDS: tuple = ()
