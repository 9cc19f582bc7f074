"""Job kinds of the progress area (being built)."""

from __future__ import annotations

KINDS: tuple = ()
