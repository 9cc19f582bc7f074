"""Commands of the points family (being built)."""

from __future__ import annotations

COMMANDS: tuple = ()
