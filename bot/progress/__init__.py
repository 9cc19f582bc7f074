"""Progress against targets and the time-proportional schedule (序时进度).

Other areas (rankings, bulletins, the dashboard, the CLI) import from here:
- `figures`: the arithmetic, no database (`Figures`, `schedule_fraction`, `pct`);
- `rollup`: the figures the database holds now (`unit_figures`, `sub_unit_figures`,
  `report_history`, `tasks_with_targets`);
- `targets`: the configured tasks (`find_task`, `measure`), setting targets, who may;
- `reports`: recording and withdrawing reports, #进度查询, who has not reported;
- `form`: reading a #进度 message as typed (templates too) into items, no database;
- `intake`: a #进度 message read against the group's unit and recorded;
- `wording`: the text of replies and messages, from the result objects above;
- `files`: targets from a CSV/XLSX file, progress to a workbook.
"""

from bot.progress.errors import BadDate, ProgressError, ReportRefused, UnknownTask
from bot.progress.figures import Figures, pct, schedule_fraction
from bot.progress.form import ReportFormError, ReportItem, read_report
from bot.progress.intake import report_message
from bot.progress.reports import (
    UNCHANGED_RUN,
    WITHDRAW_WINDOW,
    Flag,
    Overview,
    Recorded,
    ReportBatch,
    ReportLine,
    Unreported,
    UnreportedList,
    Withdrawn,
    overview,
    record_report,
    record_reports,
    unreported,
    unreported_units,
    withdraw,
    withdraw_last,
)
from bot.progress.rollup import (
    has_any_target,
    has_targets_below,
    latest_report,
    report_history,
    sub_unit_figures,
    tasks_with_targets,
    unit_figures,
)
from bot.progress.targets import (
    DeadlineDue,
    SetterDenied,
    TargetChange,
    TargetSet,
    deadlines_due,
    find_task,
    get_target,
    measure,
    parse_day,
    set_target,
    set_unit_target,
    setter_denied,
    task_named,
    task_names,
    who_sets_targets,
)
from bot.progress.wording import FLAG_HEAD, day, describe, lead_words, unreported_text, when

__all__ = [
    "FLAG_HEAD", "UNCHANGED_RUN", "WITHDRAW_WINDOW",
    "BadDate", "DeadlineDue", "Figures", "Flag", "Overview", "ProgressError", "Recorded",
    "ReportBatch", "ReportFormError", "ReportItem", "ReportLine", "ReportRefused", "SetterDenied", "TargetChange",
    "TargetSet", "UnknownTask", "Unreported", "UnreportedList", "Withdrawn",
    "day", "deadlines_due", "describe", "find_task", "get_target", "has_any_target",
    "has_targets_below", "latest_report", "lead_words", "measure", "overview", "parse_day",
    "pct", "read_report", "record_report", "record_reports", "report_history", "report_message", "schedule_fraction",
    "set_target", "set_unit_target", "setter_denied", "sub_unit_figures", "task_named",
    "task_names", "tasks_with_targets", "unit_figures", "unreported", "unreported_text",
    "unreported_units", "when", "who_sets_targets", "withdraw", "withdraw_last",
]
