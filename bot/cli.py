"""The `villagebot` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.config import ConfigError, load_config

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="villagebot: 村务助手")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config file (TOML)")]
DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL, e.g. sqlite:///state.db")]
AdminOpt = Annotated[list[str], typer.Option("--admin", help="a bootstrap admin's contact id")]


def _config(path: Path | None):  # type: ignore[no-untyped-def]
    try:
        return load_config(path)
    except ConfigError as e:
        typer.echo(f"config error:\n{e}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def replay(
    transcript: Annotated[Path, typer.Argument(help="JSON lines; '-' for standard input")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    admin: AdminOpt = [],  # noqa: B006
) -> None:
    """Run a transcript on a virtual clock; print every message the bot sends."""
    from bot.transports.replay import TranscriptError
    from bot.transports.replay import replay as run_replay

    cfg = _config(config)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        src = sys.stdin if str(transcript) == "-" else transcript.open(encoding="utf-8")
    except OSError as e:
        typer.echo(f"{transcript}: {e.strerror}", err=True)
        raise typer.Exit(2) from None
    with src:
        try:
            asyncio.run(run_replay(src, sys.stdout, cfg, db or "sqlite://", admin))
        except TranscriptError as e:
            typer.echo(f"{transcript}: {e}", err=True)
            raise typer.Exit(2) from None


@cli.command()
def console(config: ConfigOpt = None, db: DbOpt = None, admin: AdminOpt = []) -> None:  # noqa: B006
    """A terminal chat with the bot (also reads piped standard input)."""
    from bot.app import build_app
    from bot.transports.console import run_console

    cfg = _config(config)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = build_app(cfg, db_url=db, admins=["console_admin", *admin])
    try:
        asyncio.run(run_console(app))
    finally:
        app.close()


@cli.command()
def demo(db: DbOpt = None) -> None:
    """The demo city in a fresh SQLite database, in the console."""
    from bot.app import build_app
    from bot.transports.console import run_console

    cfg = _config(None)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = build_app(cfg, db_url=db or "sqlite:///demo.db", admins=["console_admin"])
    try:
        asyncio.run(run_console(app))
    finally:
        app.close()


@cli.command()
def migrate(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Create or upgrade the database schema."""
    from bot.db import Database

    cfg = _config(config)
    database = Database(db or cfg.database.url)
    database.create_schema()
    database.close()
    typer.echo("schema up to date")


def main() -> None:
    cli()
