"""`make bench` (`python -m bench`): the performance goals P1–P6 as ratios.

Each goal's figure is taken beside its baseline in the same run, interleaved, three
rounds; printed as median [min–max] with the target and MET / NOT MET. Then the SQL
statements each command sends. `--quick` (about 3 minutes) uses smaller counts and a
smaller city for P4, and says so. PostgreSQL goals are skipped when no server answers
at 127.0.0.1:5432. Figures, not assertions: a shared machine makes them noisy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import baselines, goals, multi
from bench.common import Summary, pg_database


@dataclass(frozen=True)
class Sizes:
    p1: int  # messages for P1, and one-row commits / naive reports for its baselines
    p2: int
    p3_seconds: float
    p4_villages: int
    p4_rows: int
    p5: int
    rounds: int = 3


FULL = Sizes(p1=2000, p2=2000, p3_seconds=10, p4_villages=3000, p4_rows=5_000_000, p5=1000)
QUICK = Sizes(p1=300, p2=400, p3_seconds=3, p4_villages=300, p4_rows=200_000, p5=200)


def row(goal: str, what: str, s: Summary, target: str, met: bool | None) -> None:
    if not s.values:  # not measured (--only)
        return
    verdict = "—" if met is None else ("MET" if met else "NOT MET")
    print(f"{goal:<4} {what:<44} {s.show():<24} {target:<10} {verdict}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="smaller counts; fits in 3 minutes")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the counts (development)")
    ap.add_argument("--only", default="", metavar="P4,P5",
                    help="run only these goals (comma-separated), e.g. --only P4")
    args = ap.parse_args(argv)
    only = {g.strip().upper() for g in args.only.split(",") if g.strip()}
    unknown = only - {"P1", "P2", "P3", "P4", "P5", "P6"}
    if unknown:
        ap.error(f"unknown goal(s): {', '.join(sorted(unknown))}")

    def on(goal: str) -> bool:
        return not only or goal in only

    z = QUICK if args.quick else FULL
    if args.scale != 1.0:
        f = args.scale
        z = Sizes(max(20, int(z.p1 * f)), max(16, int(z.p2 * f)), max(0.5, z.p3_seconds * f),
                  max(100, int(z.p4_villages * f)), max(1000, int(z.p4_rows * f)),
                  max(10, int(z.p5 * f)), z.rounds)
    mode = "quick" if args.quick else "full"
    print(f"villagebot bench ({mode} mode; python {sys.version.split()[0]}; {z.rounds} rounds, "
          f"median [min–max])")
    print(f"  P1 {z.p1} msgs; P2 {z.p2} msgs in 8 groups; P3 200 msg/s for {z.p3_seconds:g} s; "
          f"P4 {z.p4_villages:,} villages, {z.p4_rows:,} ledger rows; P5 {z.p5} reminders")
    t_start = time.perf_counter()
    r_raw, r_naive = Summary(), Summary()
    bot_raw, bot_naive, bot_pg = Summary(), Summary(), Summary()
    pg_base, p3, p5s, p5p = Summary(), Summary(), Summary(), Summary()
    # Issue 17 §7: two bot processes on one PostgreSQL database (bench/multi.py).
    bot_pg1, bot_pg2, cpu_pg1, cpu_pg2 = Summary(), Summary(), Summary(), Summary()
    p3pg1, p3pg2 = Summary(), Summary()
    rank_r, pts_r, chafen, p6t, p6m = Summary(), Summary(), Summary(), Summary(), Summary()
    pg_ok = True
    if on("P2") or on("P3") or on("P5"):
        probe = pg_database()
        pg_ok = probe is not None
        if probe is not None:
            probe[1]()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        p4_app = (goals.p4_load(f"sqlite:///{d / 'p4.db'}", z.p4_villages, z.p4_rows)
                  if on("P4") else None)
        for r in range(z.rounds):
            if on("P1"):
                # P1: the bot between its two baselines, each on a fresh file.
                raw = baselines.raw_sqlite(d / f"raw{r}.db", z.p1 * 4)
                bot = goals.p1_sqlite(d / f"bot{r}.db", z.p1)
                naive = baselines.naive_bot(d / f"naive{r}.db", z.p1)
                r_raw.add(raw)
                r_naive.add(naive)
                bot_raw.add(bot / raw)
                bot_naive.add(bot / naive)
            # P2 and P5 on PostgreSQL.
            pg = pg_database() if pg_ok and (on("P2") or on("P5")) else None
            if pg is None:
                pg_ok = pg_ok and not (on("P2") or on("P5"))
            else:
                url, drop = pg
                try:
                    if on("P2"):
                        base = baselines.pg_autocommit(url, z.p2 * 4)
                        bot_pg.add(goals.p2_postgres(url, z.p2) / base)
                        pg_base.add(base)
                finally:
                    drop()
                if on("P2"):
                    # The same messages from two processes, each its own app and half of
                    # the groups; in full mode also from one child process, to show the
                    # harness costs nothing, and the CPU per message either way.
                    if not args.quick:  # the harness itself, one process (full mode)
                        with _pg() as url:
                            rate, cpu = multi.p2_processes(url, z.p2, procs=1)
                            bot_pg1.add(rate / base)
                            cpu_pg1.add(cpu)
                    with _pg() as url:
                        rate, cpu = multi.p2_processes(url, z.p2, procs=2)
                        bot_pg2.add(rate / base)
                        cpu_pg2.add(cpu)
                if on("P5"):
                    url, drop = pg_database() or ("", lambda: None)
                    try:
                        p5p.add(goals.p5_reminders(url, z.p5))
                    finally:
                        drop()
            if on("P3"):
                p3.add(goals.p3_latency(d / f"p3_{r}.db", 200, z.p3_seconds))
                if pg_ok:  # the same burst on PostgreSQL, one process then two
                    with _pg() as url:
                        p3pg1.add(multi.p3_processes(url, 200, z.p3_seconds, procs=1))
                    with _pg() as url:
                        p3pg2.add(multi.p3_processes(url, 200, z.p3_seconds, procs=2))
            if on("P5"):
                p5s.add(goals.p5_reminders(f"sqlite:///{d / f'p5_{r}.db'}", z.p5))
            if p4_app is not None:
                rk, rk_sql, pts, pts_sql, cf = goals.p4_round(p4_app)
                rank_r.add(rk / rk_sql)
                pts_r.add(pts / pts_sql)
                chafen.add(cf)
            if on("P6"):
                t, m = goals.p6_ready(d / "p6.db", 3000)
                p6t.add(t)
                p6m.add(m)
            print(f"  round {r + 1} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
        if p4_app is not None:
            p4_app.close()  # type: ignore[attr-defined]
    print()
    print(f"{'goal':<4} {'figure (ratio to its baseline)':<44} {'median [min–max]':<24} "
          f"{'target':<10} verdict")
    row("P1", "bot / raw sqlite3 FULL one-row commits", bot_raw, "≥ 0.15", bot_raw.median >= 0.15)
    row("P1", "bot / naive AsyncSession bot (4 rows)", bot_naive, "≥ 2", bot_naive.median >= 2)
    if pg_ok:
        drv = baselines.pg_driver().split(" ")[0]
        row("P2", f"bot 8 groups / {drv} 8 conns", bot_pg, "≥ 0.08", bot_pg.median >= 0.08)
        row("P2", f"2 processes, 8 groups / {drv} 8 conns", bot_pg2, "≥ 0.08",
            bot_pg2.median >= 0.08)
    elif on("P2"):
        print("P2   skipped: no PostgreSQL server answered")
    row("P3", "p99 latency / 50 ms (200 msg/s mixed)", _scaled(p3, 1 / 50), "< 1",
        p3.median < 50)
    if pg_ok:
        row("P3", "PG 1 process: p99 / 50 ms", _scaled(p3pg1, 1 / 50), "< 1", p3pg1.median < 50)
        row("P3", "PG 2 processes: p99 / 50 ms", _scaled(p3pg2, 1 / 50), "< 1",
            p3pg2.median < 50)
    row("P4", "#排名 at the city / its bare SQL", rank_r, "≤ 1.5", rank_r.median <= 1.5)
    row("P4", "#积分排名 at the city / its bare SQL", pts_r, "≤ 1.5", pts_r.median <= 1.5)
    row("P4", "#查分 end to end / 1 ms", _scaled(chafen, 1.0), "≤ 1", chafen.median <= 1)
    row("P5", "SQLite: last reminder late / 1 s", p5s, "≤ 1", p5s.median <= 1)
    if pg_ok:
        row("P5", "PostgreSQL: last reminder late / 1 s", p5p, "≤ 1", p5p.median <= 1)
    row("P6", "ready with wechaty, 3,000 groups / 2 s", _scaled(p6t, 1 / 2), "≤ 1",
        p6t.median <= 2)
    row("P6", "max RSS / 150 MiB", _scaled(p6m, 1 / 150), "≤ 1", p6m.median <= 150)
    print()
    print("baselines and absolute figures (medians):")
    print(f"  raw sqlite3 FULL one-row commits {r_raw.show('{:,.0f}')} /s; naive AsyncSession "
          f"bot {r_naive.show('{:,.0f}')} reports/s")
    print(f"  bot on SQLite FULL {_mul(bot_raw, r_raw).show('{:,.0f}')} msg/s")
    if pg_ok:
        print(f"  {baselines.pg_driver()} 8 connections {pg_base.show('{:,.0f}')} rows/s; "
              f"bot 8 groups {_mul(bot_pg, pg_base).show('{:,.0f}')} msg/s")
        if bot_pg2.values:
            one = (f"1 child process {_mul(bot_pg1, pg_base).show('{:,.0f}')} msg/s, "
                   f"{cpu_pg1.show('{:.1f}')} ms CPU a message; " if bot_pg1.values else "")
            print(f"  the same messages from {one}2 processes "
                  f"{_mul(bot_pg2, pg_base).show('{:,.0f}')} msg/s, {cpu_pg2.show('{:.1f}')} ms "
                  f"CPU a message (the bot processes' CPU; PostgreSQL's not counted)")
        if p3pg1.values:
            print(f"  P3 on PostgreSQL p99 {p3pg1.show('{:,.0f}')} ms in 1 process, "
                  f"{p3pg2.show('{:,.0f}')} ms in 2")
    print(f"  P3 p99 {p3.show('{:,.0f}')} ms; #查分 {chafen.show('{:.2f}')} ms; P6 "
          f"{p6t.show('{:.2f}')} s, {p6m.show('{:.0f}')} MiB (import + open + read the groups; "
          f"no gateway handshake)")
    print()
    print("SQL statements per command (SQLite, counted on the app's engine, BEGIN included):")
    for name, n in goals.statement_counts().items():
        print(f"  {name:<36} {n}")
    print(f"\n({time.perf_counter() - t_start:.0f} s)")


@contextmanager
def _pg() -> Iterator[str]:
    """A scratch PostgreSQL database for one measurement, dropped after it."""
    made = pg_database()
    if made is None:
        raise RuntimeError("PostgreSQL stopped answering")
    url, drop = made
    try:
        yield url
    finally:
        drop()


def _scaled(s: Summary, f: float) -> Summary:
    return Summary([v * f for v in s.values])


def _mul(a: Summary, b: Summary) -> Summary:
    return Summary([x * y for x, y in zip(a.values, b.values, strict=True)])


if __name__ == "__main__":
    main()
