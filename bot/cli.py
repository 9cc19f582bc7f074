"""The `villagebot` command."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
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
            f"或在配置文件里把 {key} 改成一个空闲端口。")


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
    if db is None:  # said out loud: it may create a database file where it runs
        typer.echo(f"数据库：{_shown(cfg.database.url)}" + ("" if config else "（默认；可用 --db 指定）"),
                   err=True)
    app = build_app(cfg, db_url=db, admins=["console_admin", *admin])
    try:
        asyncio.run(run_console(app))
    finally:
        app.close()


@cli.command()
def demo(
    config: ConfigOpt = None,
    db: Annotated[str, typer.Option("--db", help="rebuilt fresh at each start")] = "sqlite:///demo.db",
    host: Annotated[str | None, typer.Option(
        envvar="VILLAGEBOT_DEMO_HOST", help="default: transports.simulator.host")] = None,
    port: Annotated[int | None, typer.Option(
        envvar="VILLAGEBOT_DEMO_PORT", help="0: any free port; default: transports.simulator.port",
    )] = None,
) -> None:
    """The demo city (大同市) in the web chat simulator, with a read-only dashboard.

    `VILLAGEBOT_DEMO_PORT` / `VILLAGEBOT_DEMO_HOST` stand for --port / --host, so that
    `VILLAGEBOT_DEMO_PORT=0 make demo` serves on a free port (the URL printed says which)."""
    from bot.demo import run_demo

    cfg = _config(config)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sim = cfg.transports.simulator
    # Checked first: building the demo city takes a while.
    _check_port(host or sim.host, sim.port if port is None else port,
                "transports.simulator.port（或 --port）")
    try:
        asyncio.run(run_demo(cfg, db, host, port, echo=typer.echo))
    except ConfigError as e:
        typer.echo(f"config error:\n{e}", err=True)
        raise typer.Exit(2) from None
    except OSError as e:
        typer.echo(f"无法启动模拟器（{e.strerror or e}）：请检查 transports.simulator 的 host 和 port。",
                   err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


@cli.command()
def migrate(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Create or upgrade the database schema."""
    from bot.db import make_engine
    from bot.migrate import create_schema

    cfg = _config(config)
    url = _said_db(cfg, config, db)
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    typer.echo("数据库结构已是最新")


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
def run(
    config: ConfigOpt = None,
    db: DbOpt = None,
    account: Annotated[str | None, typer.Option(
        "--account", help="Hold only this WeChat account (transports.wechaty.accounts); "
        "run one process per account on one PostgreSQL database. Default: all.")] = None,
) -> None:
    """The real bot: WeChat and WeCom as configured, the paced outbox, the schedules."""
    from bot.runner import run_bot

    cfg = _config(config)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per timer tick
    sim = cfg.transports.simulator
    if sim.dashboard_in_run:
        _check_port(sim.host, sim.port, "transports.simulator.port")
    logging.getLogger("bot.cli").info("%s", _db_line(cfg, config, db))
    try:
        asyncio.run(run_bot(cfg, db_url=db, account=account))
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
# They speak Chinese (the office staff run them), name the database they used, and
# refuse to guess one: without --db or --config the default database must exist.

export_cli = typer.Typer(no_args_is_help=True, help="导出数据到 .xlsx 或 .csv 文件")
cli.add_typer(export_cli, name="export")
import_cli = typer.Typer(no_args_is_help=True, help="从 .xlsx、.xls 或 .csv 文件导入数据")
cli.add_typer(import_cli, name="import")

AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="截至哪一天，如 2019-06-30（默认今天）")]
OutPath = Annotated[Path, typer.Argument(help="要写的文件：.xlsx，或 .csv（UTF-8，Excel 可直接打开）")]


def _file_db(cfg: Config, config: Path | None, db: str | None) -> str:
    """The database URL a file command uses, said out loud; a defaulted SQLite file that
    does not exist is refused rather than silently created empty."""
    from sqlalchemy.engine import make_url

    url = db or cfg.database.url
    if db is None and config is None:
        parsed = make_url(url)
        file = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and file not in ("", ":memory:") \
                and not Path(file).exists():
            typer.echo(f"没有找到默认数据库 {file}：请用 --db 或 --config 指定要用的数据库，"
                       "例如 --db sqlite:///state.db", err=True)
            raise typer.Exit(2)
        typer.echo(f"数据库：{_shown(url)}（默认；可用 --db 或 --config 指定）", err=True)
    else:
        typer.echo(f"数据库：{_shown(url)}", err=True)
    return url


def _said_db(cfg: Config, config: Path | None, db: str | None) -> str:
    """The database URL a command that writes uses, said on standard error (it may
    create a database where it runs)."""
    typer.echo(_db_line(cfg, config, db), err=True)
    return db or cfg.database.url


def _db_line(cfg: Config, config: Path | None, db: str | None) -> str:
    note = ""
    if db is None and os.environ.get("VILLAGEBOT_DATABASE_URL"):
        note = "（来自 VILLAGEBOT_DATABASE_URL）"
    elif db is None and config is None:
        note = "（默认；可用 --db 或 --config 指定）"
    return f"数据库：{_shown(db or cfg.database.url)}{note}"


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _as_of(cfg: Config, text: str | None) -> tuple[date, datetime] | None:
    """--as-of: (the day, the end of that day as an aware time), or None when absent."""
    from datetime import time, timedelta

    from bot.progress import parse_day

    if text is None:
        return None
    today = datetime.now(UTC).astimezone(cfg.zone).date()
    day = parse_day(text, today)
    if day is None:
        typer.echo(f"--as-of：看不懂日期“{text}”，例如 --as-of 2019-06-30", err=True)
        raise typer.Exit(2)
    end = datetime.combine(day + timedelta(days=1), time(), cfg.zone) - timedelta(microseconds=1)
    return day, end


def _export(cfg: Config, url: str, fn: Callable[[Session], T]) -> T:
    from bot.tabular import ExportFailed

    try:
        return _in_db(cfg, url, fn)
    except ExportFailed as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    except OSError as e:
        typer.echo(f"写不了文件：{e.strerror}", err=True)
        raise typer.Exit(2) from None


@export_cli.command("notices")
def export_notices_cmd(path: OutPath, config: ConfigOpt = None, db: DbOpt = None,
                       as_of: AsOfOpt = None) -> None:
    """每条通知，以及各群何时由谁确认。"""
    from bot.notices import files

    cfg = _config(config)
    until = _as_of(cfg, as_of)
    url = _file_db(cfg, config, db)
    notices, rows = _export(
        cfg, url, lambda s: files.export_notices(s, path, cfg.zone, until[1] if until else None)
    )
    typer.echo(f"已导出 {notices} 条通知、{rows} 行回执 → {path}")


@import_cli.command("targets")
def import_targets_cmd(
    path: Annotated[Path, typer.Argument(help=".xlsx、.xls 或 .csv 文件，列：单位、任务、目标、截止[、开始、上级]")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="按哪一天判断日期（默认今天），如 2019-06-03")] = None,
) -> None:
    """从文件设定目标；任何一行有错，就什么都不改。"""
    from bot.progress import files

    cfg = _config(config)
    when = _as_of(cfg, as_of)
    now = None if when is None else datetime.combine(when[0], datetime.min.time().replace(hour=12),
                                                     cfg.zone)
    r = _import_file(
        path, cfg, _file_db(cfg, config, db), files.read_table,
        lambda s, rows, t: files.import_targets(s, cfg, rows, now or t), "目标",
    )
    typer.echo(f"导入 {r.created + r.replaced} 个目标（新设 {r.created}，替换 {r.replaced}）")


def _import_file(path: Path, cfg: Config, db: str, read: Callable[[Path], list[Row]],
                 run: Callable[[Session, list[Row], datetime], T], what: str) -> T:
    """Read a table, then import it in one transaction; a bad file or row exits 1 with
    the reasons, an unreadable one 2."""
    from bot.tabular import ImportFailed

    try:
        rows = read(path)
    except OSError as e:
        typer.echo(f"{path}：读不了文件（{e.strerror}）", err=True)
        raise typer.Exit(2) from None
    except ImportFailed as e:
        typer.echo(f"{path}：\n{e}", err=True)
        raise typer.Exit(1) from None
    now = datetime.now(UTC)
    try:
        return _in_db(cfg, db, lambda s: run(s, rows, now))
    except ImportFailed as e:
        typer.echo(f"{path}: 有 {len(e.errors)} 行有错，没有导入任何{what}：\n{e}", err=True)
        raise typer.Exit(1) from None


@export_cli.command("progress")
def export_progress_cmd(
    path: OutPath,
    config: ConfigOpt = None,
    db: DbOpt = None,
    as_of: AsOfOpt = None,
    on: Annotated[str | None, typer.Option("--on", help="同 --as-of（旧写法）")] = None,
) -> None:
    """各单位各任务：完成、目标、完成率、序时进度、超前滞后，与群里看到的一致。"""
    from bot.progress import files

    cfg = _config(config)
    when = _as_of(cfg, as_of or on)
    day = when[0] if when else datetime.now(UTC).astimezone(cfg.zone).date()
    url = _file_db(cfg, config, db)
    n = _export(cfg, url, lambda s: files.export_progress(s, cfg, path, day))
    typer.echo(f"已导出 {n} 行进度（截至 {day.isoformat()}）→ {path}")


@import_cli.command("households")
def import_households_cmd(
    path: Annotated[Path, typer.Argument(
        help=".xlsx、.xls 或 .csv 文件，列：村、户名或户主[、上级、户主、联系电话、成员id、成员姓名]")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """登记农户（户主、联系电话），按联系人id关联成员；任何一行有错，就什么都不改。"""
    from bot.points import files

    cfg = _config(config)
    r = _import_file(path, cfg, _file_db(cfg, config, db), files.read_table,
                     files.import_households, "农户")
    how = f"（其中按本村群里的姓名 {r.by_name} 位）" if r.by_name else ""
    note = f"，{r.names_only} 位成员没有联系人id、未关联" if r.names_only else ""
    phones = ""
    if r.phones:
        phones = f"；{r.phones} 户登记了手机号"
        if r.unclaimed:
            phones += f"，其中 {r.unclaimed} 户还没有成员绑定（户里的人在本村群发送 #认领 手机号 即可）"
    typer.echo(f"导入 {r.households} 户（新登记 {r.created} 户），关联成员 {r.linked} 位{how}{note}{phones}")


@export_cli.command("ledger")
def export_ledger_cmd(
    path: OutPath,
    config: ConfigOpt = None,
    db: DbOpt = None,
    unit: Annotated[str | None, typer.Option("--unit", help="只导出这个单位下的村")] = None,
    as_of: AsOfOpt = None,
) -> None:
    """爱心积分台账：每条记录一行，从早到晚；末尾是各村的哈希链头。"""
    from bot.org import OrgError, find_unit
    from bot.points import files

    cfg = _config(config)
    now = datetime.now(UTC)
    until = _as_of(cfg, as_of)
    url = _file_db(cfg, config, db)

    def run(s):  # type: ignore[no-untyped-def]
        scope = find_unit(s, unit) if unit else None
        return files.export_ledger(s, cfg, path, now, scope, until[1] if until else None)

    try:
        n = _export(cfg, url, run)
    except OrgError as e:
        typer.echo(f"--unit：{e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"已导出 {n} 条积分记录 → {path}")


@export_cli.command("bulletin")
def export_bulletin_cmd(
    path: OutPath,
    month: Annotated[str | None, typer.Option("--month", help="哪个月，如 2019-06（默认：--as-of 或数据最后一天的上个月）")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """一个月的通报：月度排名、周通报记录、各村爱心积分。"""
    from bot.rankings import files

    cfg = _config(config)
    first = files.parse_month(month) if month else None
    if month and first is None:
        typer.echo(f"--month：要写成 年-月，例如 2019-06，而不是“{month}”", err=True)
        raise typer.Exit(2)
    when = _as_of(cfg, as_of)
    url = _file_db(cfg, config, db)

    def run(s):  # type: ignore[no-untyped-def]
        from datetime import time

        real = datetime.now(UTC)
        if when is not None:
            chosen, now = first or files.default_month(when[0]), when[1]
        else:
            # Without --as-of the month is measured at its end (never years later: 2019
            # data against today's clock would be thousands of days overdue); without
            # --month too, it is the month before the data's latest report.
            latest = files.latest_day(s)
            if first is None and latest is not None:
                typer.echo(f"数据最后一天是 {latest.isoformat()}，导出上个月的通报"
                           "（可用 --month 或 --as-of 指定）", err=True)
            base = latest or real.astimezone(cfg.zone).date()
            chosen = first or files.default_month(base)
            end = datetime.combine(files.month_end(chosen), time(23, 59, 59), cfg.zone)
            now = min(end, real)
        return chosen, files.export_bulletin(s, cfg, path, chosen, now)

    chosen, (ranks, weeks, villages) = _export(cfg, url, run)
    typer.echo(f"{chosen.year}年{chosen.month}月通报：排名 {ranks} 行，周通报 {weeks} 行，"
               f"{villages} 个村 → {path}")


@cli.command()
def capacity(
    groups: Annotated[int, typer.Option("--groups", min=1, help="群的个数，如 3010")],
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="微信账号个数，如 6")],
    shared: Annotated[float, typer.Option(
        "--shared", min=0.0, max=1.0, help="有两个账号的群所占比例，如 0.2")] = 0.0,
    config: ConfigOpt = None,
) -> None:
    """全市能多快发到每个群：全市通知、每周各轮、每天余量（按配置里的节奏 [outbox]）。"""
    from bot.capacity import city, report

    typer.echo(report(city(groups, accounts, _config(config), shared)))


@cli.command()
def commands() -> None:
    """Print the command reference (docs/commands.md) as Markdown."""
    typer.echo(reference_text(), nl=False)


def reference_text() -> str:
    from bot.handlers import ALL
    from bot.reference import markdown

    titles = {"help": "帮助", "org": "组织与人员", "progress": "目标与进度",
              "points": "爱心积分与爱心超市", "reminders": "例会与提醒", "notices": "通知与回执",
              "rankings": "排名与通报"}
    families = [(titles.get(m.__name__.rsplit(".", 1)[-1], m.__name__), list(m.COMMANDS))
                for m in ALL]
    return markdown([c for _, cs in families for c in cs], families)


def main() -> None:
    cli()
