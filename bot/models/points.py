"""Tables of the points area."""

from __future__ import annotations
