"""Commands of the progress family (being built)."""

from __future__ import annotations

COMMANDS: tuple = ()
