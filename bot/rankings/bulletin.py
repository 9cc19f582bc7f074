"""A bulletin, built once: each task's ranking of a scope's sub-units, with streaks and
forecasts and (for a kind with the meeting review) the villages' points, and every
label its text and chart need. `bot.rankings.wording` and `bot.rankings.chart` turn it
into the message and the picture without going back to the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, select

from bot.config import Config
from bot.models.core import OrgUnit, Room
from bot.org import names_of, unit_label
from bot.points import VillageActivity, village_activity
from bot.progress import measure, report_history, tasks_with_targets
from bot.rankings.kinds import BULLETIN_LEVELS, BulletinKind, bulletin_kind
from bot.rankings.ranking import (
    Forecast,
    Ranked,
    forecast,
    last_streak,
    record_outcome,
    task_ranking,
)


@dataclass(frozen=True)
class Section:
    task: str
    measure: str
    ranked: list[Ranked]
    streaks: dict[int, int] = field(default_factory=dict)  # unit id → bulletins last in a row
    forecasts: dict[int, Forecast] = field(default_factory=dict)  # unit id → forecast


@dataclass(frozen=True)
class Bulletin:
    kind: BulletinKind
    scope: OrgUnit
    period: date  # the week's Monday, the month's 1st
    on: date  # the date measured on
    sections: list[Section]
    activity: list[VillageActivity] = field(default_factory=list)  # the review's villages
    labels: dict[int, str] = field(default_factory=dict)  # village id → label under scope


def build_bulletin(session: Session, config: Config, scope: OrgUnit, kind: str | BulletinKind,
                   period: date, on: date, now: datetime, store: bool = True
                   ) -> Bulletin | None:
    """The bulletin for `scope`'s group: each task's ranking of its sub-units on `on`,
    with streaks and forecasts; with `store`, the outcome is recorded first (the
    bulletin is being published). None when no sub-unit has a target."""
    k = bulletin_kind(kind) if isinstance(kind, str) else kind
    sections = []
    for task in tasks_with_targets(session, scope, config):
        ranked = task_ranking(session, scope, task, on)
        if not ranked:
            continue
        if store:
            record_outcome(session, k.name, period, scope, task, ranked, now)
        streaks = {r.unit.id or 0: last_streak(session, k.name, scope.id or 0, task,
                                               r.unit.id or 0, period)
                   for r in ranked if r.last}
        forecasts = {}
        for r in ranked:
            fig = r.entry.fig
            if fig is None or not r.entry.reported or r.entry.stale_on is not None:
                continue  # no forecast from a figure that is not this week's
            fc = forecast(report_history(session, r.unit, task), fig, on)
            if fc is not None:
                forecasts[r.unit.id or 0] = fc
        sections.append(Section(task, measure(config, task), ranked, streaks, forecasts))
    if not sections:
        return None
    activity: list[VillageActivity] = []
    labels: dict[int, str] = {}
    if k.review:
        activity = village_activity(session, scope, *k.bounds(period, config))
        if activity:
            names = names_of(session, [a.village for a in activity])
            labels = {a.village.id or 0: unit_label(a.village, names, scope) for a in activity}
    return Bulletin(k, scope, period, on, sections, activity, labels)


def bulletin_scopes(session: Session, with_rooms: bool = True) -> list[OrgUnit]:
    """The HQ and county units (those with a group: where bulletins go), in tree order."""
    q = select(OrgUnit).where(col(OrgUnit.level).in_(BULLETIN_LEVELS))
    if with_rooms:
        q = q.where(col(OrgUnit.id).in_(select(Room.unit_id).where(col(Room.unit_id).is_not(None))))
    units = session.exec(q).all()
    return sorted(units, key=lambda u: [int(p) for p in u.path.strip("/").split("/") if p])
