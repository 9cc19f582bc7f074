"""Jobs: things that fall due at a time (reminders, chases, bulletins, 公示).

- `engine`: a kind of job (`JobKind`) and what it is given to run (`JobCtx`); handling
  one due occurrence once (`JobRunner`), with the rules for missed runs.
- `scheduling`: the API every area uses to make, re-time and cancel jobs.
- `loop`: running every occurrence due by a time; switching off a job that cannot run.
- `timer`: the APScheduler layer that wakes the loop in `villagebot run`.

The kinds themselves live in `bot.schedules`.
"""

from bot.jobs.engine import (
    LATE_MARK,
    ON_TIME,
    JobCtx,
    JobKind,
    JobRunner,
    RunResult,
    classify,
    once,
)
from bot.jobs.loop import run_due, run_due_sync
from bot.jobs.scheduling import cancel, next_due_at, schedule, seed_builtin, upsert_job

__all__ = [
    "LATE_MARK",
    "ON_TIME",
    "JobCtx",
    "JobKind",
    "JobRunner",
    "RunResult",
    "cancel",
    "classify",
    "next_due_at",
    "once",
    "run_due",
    "run_due_sync",
    "schedule",
    "seed_builtin",
    "upsert_job",
]
