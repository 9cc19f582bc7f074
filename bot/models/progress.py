"""Tables of the progress area."""

from __future__ import annotations
