"""Why a report or a target cannot be accepted: `ProgressError` (its message is the
reply) and the typed cases that the caller words or answers differently."""

from __future__ import annotations


class ProgressError(Exception):
    """A report or target that cannot be accepted; the message is the reply."""


class UnknownTask(ProgressError):
    """No configured task is called `word`."""

    def __init__(self, word: str, known: tuple[str, ...]) -> None:
        super().__init__(word)
        self.word, self.known = word, known


class BadDate(ProgressError):
    """A date that passed the form check but is no date on the group's today."""


class ReportRefused(ProgressError):
    """A report message of which some lines cannot be accepted: none is recorded.
    `refused` pairs each bad line's number (from 1) with its error."""

    def __init__(self, refused: tuple[tuple[int, ProgressError], ...], lines: int) -> None:
        super().__init__(f"{len(refused)} of {lines} lines refused")
        self.refused, self.lines = refused, lines
