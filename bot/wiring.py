"""The composition root: which commands, job kinds and built-in jobs make the bot.

`bot.app` wires whatever it is given; the CLI, the demo, transcript replay and the
tests' fixtures take the defaults from here. This is the one module that names every
command family and every schedule module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot import app as _app
from bot import handlers, schedules
from bot.clock import Clock
from bot.config import Config
from bot.jobs import JobKind
from bot.router import Command


@dataclass(frozen=True)
class Registries:
    commands: tuple[Command, ...]
    kinds: tuple[JobKind, ...]
    # Puts the built-in jobs the config asks for in place (idempotent: jobs are keyed).
    seed: Callable[[_app.App], None]


def registries() -> Registries:
    """Every command family and every schedule module."""
    return Registries(
        commands=tuple(c for module in handlers.ALL for c in module.COMMANDS),
        kinds=tuple(k for module in schedules.ALL for k in module.KINDS),
        seed=schedules.install,
    )


def build_app(
    config: Config | None = None,
    *,
    clock: Clock | None = None,
    db_url: str | None = None,
    admins: Iterable[str] = (),
    commands: Iterable[Command] | None = None,
    kinds: Iterable[JobKind] | None = None,
) -> _app.App:
    """`bot.app.build_app` with the default registries (either can be replaced)."""
    r = registries()
    return _app.build_app(
        config,
        clock=clock,
        db_url=db_url,
        admins=admins,
        commands=r.commands if commands is None else commands,
        kinds=r.kinds if kinds is None else kinds,
        seed=r.seed,
    )
