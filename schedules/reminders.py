"""Job kinds of the reminders area (being built)."""

from __future__ import annotations

KINDS: tuple = ()
