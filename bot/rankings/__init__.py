"""Rankings and bulletins (product spec §5): `#排名`, `#积分排名`, the weekly and monthly
bulletins with their charts, and the bulletin workbook.

- `ranking`: entries, ranks, task and composite rankings, forecasts, streaks (the data);
- `kinds`: the registry of bulletin kinds (title, streak word, period, config time);
- `bulletin`: a bulletin built once, with every label it needs;
- `wording`: the text of bulletins and replies, from those data objects;
- `chart`: the bar charts, from the same data;
- `files`: the month's bulletin as a workbook (`villagebot export bulletin`).
"""

from bot.rankings.bulletin import Bulletin, Section, build_bulletin, bulletin_scopes
from bot.rankings.chart import (
    Chart,
    ChartError,
    bulletin_chart_data,
    points_chart,
    points_chart_data,
    standing_chart,
    standing_chart_data,
)
from bot.rankings.kinds import (
    BULLETIN_LEVELS,
    KINDS,
    MONTHLY,
    WEEKLY,
    BulletinKind,
    bulletin_kind,
    month_bounds,
)
from bot.rankings.ranking import (
    COMPOSITE,
    RANKING_LEVELS,
    Entry,
    Forecast,
    NothingToRank,
    NoVillages,
    PointsStanding,
    Ranked,
    Standing,
    UnknownTask,
    common_schedule,
    composite_entry,
    composite_of,
    composite_ranking,
    figure_on,
    forecast,
    last_streak,
    points_ranking,
    points_standing,
    rank,
    record_outcome,
    report_week,
    stale_since,
    standing,
    task_ranking,
)
from bot.rankings.wording import (
    bulletin_text,
    cn_number,
    forecast_text,
    rank_line,
    stale_mark,
    streak_mark,
)

__all__ = [
    "BULLETIN_LEVELS", "COMPOSITE", "KINDS", "MONTHLY", "RANKING_LEVELS", "WEEKLY", "Bulletin",
    "BulletinKind", "Chart", "ChartError", "Entry", "Forecast", "NoVillages", "NothingToRank",
    "PointsStanding", "Ranked", "Section", "Standing", "UnknownTask", "build_bulletin",
    "bulletin_chart_data", "bulletin_kind", "bulletin_scopes", "bulletin_text", "cn_number",
    "common_schedule", "composite_entry", "composite_of", "composite_ranking", "figure_on",
    "forecast", "forecast_text", "last_streak", "month_bounds", "points_chart",
    "points_chart_data",
    "points_ranking", "points_standing", "rank", "rank_line", "record_outcome", "report_week",
    "stale_mark", "stale_since", "standing", "standing_chart",
    "standing_chart_data", "streak_mark", "task_ranking",
]
