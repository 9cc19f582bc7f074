"""What the points area refuses, as exception classes; the message is the reply.

Callers decide by class (an unknown rule is a usage error, a pack count that is not
whole gets an example), never by matching the text.
"""

from __future__ import annotations

from bot.models.points import Good


class PointsError(Exception):
    """Something that cannot be done; the message is the reply. Nothing is changed."""


class UnknownRule(PointsError):
    """No rule of the village is named by `word`."""

    def __init__(self, word: str) -> None:
        super().__init__(f"没有“{word}”这条规则（发送 #规则 查看）")
        self.word = word


class NotAllowed(PointsError):
    """The sender's roles do not allow this on this entry or household."""


class NotWholePacks(PointsError):
    """A count that is not a whole number of packs; `nearest` is the closest that is."""

    def __init__(self, good: Good, count: int, nearest: int) -> None:
        super().__init__(
            f"{good.name}按{good.pack_size}{good.pack_unit}一份兑换，{count}{good.pack_unit}不是整份"
        )
        self.good, self.count, self.nearest = good, count, nearest
