"""The kinds of job (what runs when due, when it is due next), one module per area.

Each module declares `KINDS`, a tuple of `bot.jobs.JobKind`. `install(app)` seeds the
built-in jobs the config asks for; it is idempotent (jobs are keyed). Running them and
keeping time is the engine's (`bot.jobs`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bot.schedules import bulletins, notices, points, progress, reminders

if TYPE_CHECKING:
    from bot.app import App

ALL = (reminders, progress, points, notices, bulletins)


def install(app: App) -> None:
    """Seed the built-in jobs of every module that has any."""
    now = app.clock.now()
    for module in ALL:
        seed = getattr(module, "seed", None)
        if seed is not None:
            app.db.run_sync(partial(seed, config=app.config, now=now))
