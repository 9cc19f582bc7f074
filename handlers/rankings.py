"""Commands of the rankings family (being built)."""

from __future__ import annotations

COMMANDS: tuple = ()
