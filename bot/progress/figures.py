"""The arithmetic of progress (product spec §3): no database, no text.

With dates in the config's zone:
- completion = done / target;
- schedule (序时进度) = elapsed days / planned days clamped to [0, 1], where elapsed =
  the date measured on − start and planned = deadline − start, in calendar days;
- lead = completion − schedule, in percentage points.
Percentages are shown rounded half up to whole numbers, and the lead shown is the
difference of the two percentages shown, so a reply always adds up.

Several reporting units ("leaves", see `bot.progress.reports`) add up to one set of
figures: the sum of their done and targets, and a schedule that is the target-weighted
mean of theirs (the amount due by now over the total target), which is simply the
common schedule when they share start and deadline.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction


def schedule_fraction(start: date, deadline: date, on: date) -> Fraction:
    """序时进度 on `on`: elapsed / planned calendar days, clamped to [0, 1]."""
    planned = (deadline - start).days
    elapsed = (on - start).days
    if planned <= 0:
        return Fraction(1 if elapsed >= planned else 0)
    return min(Fraction(1), max(Fraction(0), Fraction(elapsed, planned)))


def pct(x: Fraction) -> int:
    """A fraction as a whole percentage, rounded half up (0.845 → 85)."""
    return math.floor(x * 100 + Fraction(1, 2))


@dataclass(frozen=True)
class Figures:
    """A unit's progress on one task on one date.

    `exact_completion` and `exact_schedule` are exact fractions (84/100 is 84 %;
    completion may exceed 1); `completion`, `schedule` and `lead` (completion − schedule
    in percentage points) are them as floats. The `*_pct` fields are what the chat
    shows: whole percentages rounded half up, and `lead_pct = completion_pct − schedule_pct`.
    """

    done: int
    target: int
    exact_completion: Fraction
    exact_schedule: Fraction
    completion_pct: int
    schedule_pct: int
    lead_pct: int
    start: date  # the earliest start of the targets counted
    deadline: date  # the latest deadline of the targets counted
    on: date  # the date measured on
    reported_on: date | None  # the newest report counted, if any
    units: int  # reporting units counted (1 for a village)
    reported_units: int  # of them, those with a report by `on`

    @property
    def completion(self) -> float:
        return float(self.exact_completion)

    @property
    def schedule(self) -> float:
        return float(self.exact_schedule)

    @property
    def lead(self) -> float:
        return float((self.exact_completion - self.exact_schedule) * 100)


@dataclass(frozen=True)
class Leaf:
    """One reporting unit's target and newest figure, as the roll-up needs them."""

    unit_id: int
    path: str
    amount: int
    start: date
    deadline: date
    done: int
    reported_on: date | None


@dataclass(frozen=True)
class Period:
    """Reporting units sharing one plan period (start, deadline), summed: what the
    roll-up needs of them (SQL groups them so: `bot.progress.rollup`)."""

    start: date
    deadline: date
    amount: int  # their targets, summed
    done: int  # their newest figures, summed
    units: int
    reported_units: int  # of them, those with a report by the date measured on
    reported_on: date | None  # the newest report among them


def aggregate(leaves: Sequence[Leaf], on: date) -> Figures | None:
    """The figures of these reporting units together on `on`; None without a target."""
    by_period: dict[tuple[date, date], list[Leaf]] = defaultdict(list)
    for leaf in leaves:
        by_period[(leaf.start, leaf.deadline)].append(leaf)
    periods = []
    for (s, d), group in by_period.items():
        reported = [leaf.reported_on for leaf in group if leaf.reported_on is not None]
        periods.append(Period(s, d, sum(leaf.amount for leaf in group),
                              sum(leaf.done for leaf in group), len(group), len(reported),
                              max(reported) if reported else None))
    return combine(periods, on)


def combine(periods: Sequence[Period], on: date) -> Figures | None:
    """The figures of the reporting units of these plan periods together on `on`;
    None without a target. The amount due by `on` is summed per plan period."""
    target = sum(p.amount for p in periods)
    if not periods or target <= 0:
        return None
    done = sum(p.done for p in periods)
    due = sum(p.amount * schedule_fraction(p.start, p.deadline, on) for p in periods)
    completion = Fraction(done, target)
    schedule = Fraction(due) / target
    reported = [p.reported_on for p in periods if p.reported_on is not None]
    c, s = pct(completion), pct(schedule)
    return Figures(
        done=done, target=target, exact_completion=completion, exact_schedule=schedule,
        completion_pct=c, schedule_pct=s, lead_pct=c - s,
        start=min(p.start for p in periods),
        deadline=max(p.deadline for p in periods), on=on,
        reported_on=max(reported) if reported else None, units=sum(p.units for p in periods),
        reported_units=sum(p.reported_units for p in periods),
    )
