"""The `villagebot` command."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from bot.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from sqlmodel import Session

    from bot.tabular import Row

T = TypeVar("T")

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="villagebot: 村务助手")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config file (TOML)")]
DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL, e.g. sqlite:///state.db")]
AdminOpt = Annotated[list[str], typer.Option("--admin", help="a bootstrap admin's contact id")]


def _config(path: Path | None):  # type: ignore[no-untyped-def]
    try:
        return load_config(path, os.environ)
    except ConfigError as e:
        typer.echo(f"config error:\n{e}", err=True)
        raise typer.Exit(2) from None


def _port_in_use(host: str, port: int, key: str) -> str:
    return (f"端口 {host}:{port} 已被占用：请先停掉占用它的程序，"
            f"或在配置文件里把 {key} 改成一个空闲端口。")  # fmt: skip


def _check_port(host: str, port: int, key: str) -> None:
    """Exit 1 with one line before anything starts when `host:port` cannot be bound."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # a bad host: the server says so when it binds
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                typer.echo(_port_in_use(host, port, key), err=True)
                raise typer.Exit(1) from None
            typer.echo(f"无法在 {host}:{port} 上监听（{e.strerror}）：请检查配置 {key}。", err=True)
            raise typer.Exit(1) from None


def _in_db(cfg: Config, db: str | None, fn: Callable[[Session], T]) -> T:
    """`fn(session)` as one transaction on the configured (or given) database, its
    schema brought up to date first."""
    from bot.db import Database
    from bot.migrate import create_schema

    database = Database(db or cfg.database.url, synchronous=cfg.database.sqlite_synchronous)
    try:
        create_schema(database.engine)
        return database.run_sync(fn)
    finally:
        database.close()


@cli.command()
def replay(
    transcript: Annotated[Path, typer.Argument(help="JSON lines; '-' for standard input")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    admin: AdminOpt = [],  # noqa: B006
) -> None:
    """Run a transcript on a virtual clock; print every message the bot sends."""
    from bot.drivers.replay import TranscriptError
    from bot.drivers.replay import replay as run_replay

    cfg = _config(config)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        src = sys.stdin.buffer if str(transcript) == "-" else transcript.open("rb")
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
    from bot.drivers.console import run_console
    from bot.wiring import build_app

    cfg = _config(config)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = build_app(cfg, db_url=db, admins=["console_admin", *admin])
    try:
        asyncio.run(run_console(app))
    finally:
        app.close()


@cli.command()
def demo(
    config: ConfigOpt = None,
    db: Annotated[str, typer.Option("--db", help="rebuilt fresh at each start")] = "sqlite:///demo.db",
    host: Annotated[str | None, typer.Option(help="default: transports.simulator.host")] = None,
    port: Annotated[int | None, typer.Option(help="default: transports.simulator.port")] = None,
) -> None:
    """The demo city (大同市) in the web chat simulator, with a read-only dashboard."""
    from bot.demo import run_demo

    cfg = _config(config)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sim = cfg.transports.simulator
    # Checked first: building the demo city takes a while.
    _check_port(host or sim.host, sim.port if port is None else port,
                "transports.simulator.port（或 --port）")  # fmt: skip
    try:
        asyncio.run(run_demo(cfg, db, host, port, echo=typer.echo))
    except ConfigError as e:
        typer.echo(f"config error:\n{e}", err=True)
        raise typer.Exit(2) from None
    except OSError as e:
        typer.echo(f"无法启动模拟器（{e.strerror or e}）：请检查 transports.simulator 的 host 和 port。",
                   err=True)  # fmt: skip
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


@cli.command()
def migrate(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Create or upgrade the database schema."""
    from bot.db import make_engine
    from bot.migrate import create_schema

    cfg = _config(config)
    engine = make_engine(db or cfg.database.url)
    create_schema(engine)
    engine.dispose()
    typer.echo("schema up to date")


@cli.command()
def verify(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Check the points ledger's hash chain: exit 1 at the first broken entry."""
    from bot.models.core import OrgUnit
    from bot.points import chain

    cfg = _config(config)

    def check(s):  # type: ignore[no-untyped-def]
        v = chain.verify(s)
        village = s.get(OrgUnit, v.broken.unit_id) if v.broken else None
        return v, village.name if village else ""

    v, where = _in_db(cfg, db, check)
    if v.broken is not None:
        typer.echo(f"台账校验失败：{where or v.broken.unit_id}，{v.broken.problem}")
        raise typer.Exit(1)
    typer.echo(f"台账完整：{v.villages} 个村，{v.entries} 条记录，哈希链无误")


@cli.command()
def run(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """The real bot: WeChat and WeCom as configured, the paced outbox, the schedules."""
    from bot.runner import run_bot

    cfg = _config(config)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per timer tick
    sim = cfg.transports.simulator
    if sim.dashboard_in_run:
        _check_port(sim.host, sim.port, "transports.simulator.port")
    try:
        asyncio.run(run_bot(cfg, db_url=db))
    except ConfigError as e:
        typer.echo(f"config error:\n{e}", err=True)
        raise typer.Exit(2) from None
    except OSError as e:  # taken between the check and the start
        if e.errno == errno.EADDRINUSE:
            typer.echo(_port_in_use(sim.host, sim.port, "transports.simulator.port"), err=True)
        else:
            typer.echo(f"无法启动（{e.strerror or e}）：请检查配置。", err=True)
        raise typer.Exit(1) from None


# -- file commands ---------------------------------------------------------------------
# Each area's file formats (import and export) live in one module of that area; each
# command below imports it as `files`, so that moving one is a one-line change here.

export_cli = typer.Typer(no_args_is_help=True, help="export data to files")
cli.add_typer(export_cli, name="export")


@export_cli.command("notices")
def export_notices_cmd(
    path: Annotated[Path, typer.Argument(help="the .xlsx file to write")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Every notice, and per group when and by whom it was acknowledged."""
    from bot.notices import files

    cfg = _config(config)
    notices, rows = _in_db(cfg, db, lambda s: files.export_notices(s, path, cfg.zone))
    typer.echo(f"{notices} notices, {rows} group rows → {path}")


import_cli = typer.Typer(no_args_is_help=True, help="import data from files")
cli.add_typer(import_cli, name="import")


@import_cli.command("targets")
def import_targets_cmd(
    path: Annotated[Path, typer.Argument(help="a .csv or .xlsx file: unit, task, amount, start, deadline[, parent]")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Set targets from a file; a file with any bad row changes nothing."""
    from bot.progress import files

    cfg = _config(config)
    r = _import_file(
        path, cfg, db, files.read_table,
        lambda s, rows, now: files.import_targets(s, cfg, rows, now), "目标",
    )
    typer.echo(f"导入 {r.created + r.replaced} 个目标（新设 {r.created}，替换 {r.replaced}）")


def _import_file(path: Path, cfg: Config, db: str | None, read: Callable[[Path], list[Row]],
                 run: Callable[[Session, list[Row], datetime], T], what: str) -> T:  # fmt: skip
    """Read a table, then import it in one transaction; a bad file or row exits 1 with
    the reasons, an unreadable one 2."""
    from bot.tabular import ImportFailed

    try:
        rows = read(path)
    except OSError as e:
        typer.echo(f"{path}: {e.strerror}", err=True)
        raise typer.Exit(2) from None
    except ImportFailed as e:
        typer.echo(f"{path}:\n{e}", err=True)
        raise typer.Exit(1) from None
    now = datetime.now(UTC)
    try:
        return _in_db(cfg, db, lambda s: run(s, rows, now))
    except ImportFailed as e:
        typer.echo(f"{path}: 有 {len(e.errors)} 行有错，没有导入任何{what}：\n{e}", err=True)
        raise typer.Exit(1) from None


@export_cli.command("progress")
def export_progress_cmd(
    path: Annotated[Path, typer.Argument(help="the .xlsx file to write")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    on: Annotated[str | None, typer.Option("--on", help="the date measured on (default today)")] = None,
) -> None:
    """Per unit and task: done, target, completion, 序时进度 and lead, as the chat shows."""
    from bot.progress import files, parse_day

    cfg = _config(config)
    today = datetime.now(UTC).astimezone(cfg.zone).date()
    day = parse_day(on, today) if on else today
    if day is None:
        typer.echo(f"--on: not a date: {on!r}", err=True)
        raise typer.Exit(2)
    n = _in_db(cfg, db, lambda s: files.export_progress(s, cfg, path, day))
    typer.echo(f"{n} rows → {path}")


@import_cli.command("households")
def import_households_cmd(
    path: Annotated[Path, typer.Argument(help="a .csv or .xlsx file: village, household[, parent, member_id, member_name]")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Register households and link members by contact id; any bad row changes nothing."""
    from bot.points import files

    r = _import_file(path, _config(config), db, files.read_table, files.import_households, "农户")
    note = f"，{r.names_only} 位成员没有联系人id、未关联" if r.names_only else ""
    typer.echo(f"导入 {r.households} 户（新登记 {r.created} 户），关联成员 {r.linked} 位{note}")


@export_cli.command("ledger")
def export_ledger_cmd(
    path: Annotated[Path, typer.Argument(help="the .xlsx file to write")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    unit: Annotated[str | None, typer.Option("--unit", help="only this unit's villages")] = None,
) -> None:
    """The points ledger, one row per entry, oldest first."""
    from bot.org import OrgError, find_unit
    from bot.points import files

    cfg = _config(config)
    now = datetime.now(UTC)

    def run(s):  # type: ignore[no-untyped-def]
        scope = find_unit(s, unit) if unit else None
        return files.export_ledger(s, cfg, path, now, scope)

    try:
        n = _in_db(cfg, db, run)
    except OrgError as e:
        typer.echo(f"--unit: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{n} rows → {path}")


@export_cli.command("bulletin")
def export_bulletin_cmd(
    path: Annotated[Path, typer.Argument(help="the .xlsx file to write")],
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: last month)")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """A month's bulletin: rankings, weekly bulletin records, villages' points."""
    from datetime import timedelta

    from bot.rankings import files

    cfg = _config(config)
    now = datetime.now(UTC)
    first = files.parse_month(month) if month else (
        now.astimezone(cfg.zone).date().replace(day=1) - timedelta(days=1)).replace(day=1)
    if first is None:
        typer.echo(f"--month: expected YYYY-MM, e.g. 2019-06, got {month!r}", err=True)
        raise typer.Exit(2)
    ranks, weeks, villages = _in_db(cfg, db, lambda s: files.export_bulletin(s, cfg, path, first, now))
    typer.echo(f"{first:%Y-%m}: {ranks} ranking rows, {weeks} weekly rows, "
               f"{villages} villages → {path}")


@cli.command()
def commands() -> None:
    """Print the command reference (docs/commands.md) as Markdown."""
    typer.echo(reference_text(), nl=False)


def reference_text() -> str:
    from bot.handlers import ALL
    from bot.reference import markdown

    titles = {"help": "帮助", "org": "组织与人员", "progress": "目标与进度",
              "points": "爱心积分与爱心超市", "reminders": "例会与提醒", "notices": "通知与回执",
              "rankings": "排名与通报"}  # fmt: skip
    families = [(titles.get(m.__name__.rsplit(".", 1)[-1], m.__name__), list(m.COMMANDS))
                for m in ALL]  # fmt: skip
    return markdown([c for _, cs in families for c in cs], families)


def main() -> None:
    cli()
