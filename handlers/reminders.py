"""Commands of the reminders family (being built)."""

from __future__ import annotations

COMMANDS: tuple = ()
