"""What the points commands share: a domain refusal as the reply, entry numbers."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.points import PointsError
from bot.router import Ctx, Refusal, Usage
from bot.text import Args, numerals_to_digits

T = TypeVar("T")


def domain(fn: Callable[[Ctx, T], None]) -> Callable[[Ctx, T], None]:
    """A domain refusal becomes the reply (and the handler's writes are undone)."""

    @functools.wraps(fn)
    def run(ctx: Ctx, args: T) -> None:
        try:
            fn(ctx, args)
        except PointsError as e:
            raise Refusal(str(e)) from None

    return run


_ID = re.compile(r"^(?:第|#|no\.?)?(\d+)(?:条|号)?$", re.IGNORECASE)


def _entry_id(word: str) -> int | None:
    m = _ID.match(numerals_to_digits(word.strip()))
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class IdsArgs:
    ids: tuple[int, ...]
    reason: str = ""


def parse_ids(args: Args) -> IdsArgs:
    ids: list[int] = []
    words = args.words()
    for i, w in enumerate(words):
        n = _entry_id(w)
        if n is None:
            if not ids:
                raise Usage(f"“{w}”不是记录编号")
            return IdsArgs(tuple(ids), " ".join(words[i:]))
        ids.append(n)
    if not ids:
        raise Usage("请写记录编号")
    return IdsArgs(tuple(dict.fromkeys(ids)))


@dataclass(frozen=True)
class NoArgs:
    pass


def parse_none(args: Args) -> NoArgs:
    return NoArgs()
