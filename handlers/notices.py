"""Commands of the notices family (being built)."""

from __future__ import annotations

COMMANDS: tuple = ()
