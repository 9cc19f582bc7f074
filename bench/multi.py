"""P2 and P3 with several bot processes sharing one PostgreSQL database (issue 17 §7).

Each process is a fresh interpreter (multiprocessing, spawn) that builds its own app
with `build_app` on the same database and sends its share of the groups: the same
commands, rows and room layout as the one-process figures. The parent binds the city
once, starts the processes, waits until every one has built its app and warmed it (one
`#查分` per group of its share, not timed), then hands them all one start time; each
sends its results back over a pipe.

`procs=1` runs the same program in one child, so the one- and two-process figures
differ only in the number of processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from bench.common import CADRE, RATER, Say, make_app, setup_city, write_text

GROUPS = 8  # village groups, split evenly between the processes


def _share(rooms: list[str], procs: int, k: int) -> list[str]:
    """Process k's groups: a contiguous block, so each has every kind of P3 message."""
    per = len(rooms) // procs
    return rooms[k * per:(k + 1) * per]


# P3's mix, as in `bench.goals.p3_latency`: reports, awards, #查分, chat in equal shares.
def _mix(k: int) -> tuple[str, str]:
    kind, i = k % 4, k // 4
    if kind < 2:
        return write_text(i)
    return ("#查分 户0", RATER) if kind == 2 else ("今天下午几点开会？", CADRE)


def _child(kind: str, url: str, procs: int, k: int, params: dict[str, Any],
           conn: Connection) -> None:
    try:
        rooms: list[str] = conn.recv()  # once the parent has bound the city
        mine = _share(rooms, procs, k)
        app = make_app(url)
        try:
            say = Say(app, f"m{k}_")
            for room in mine:  # warm-up, not timed: this process's first statements
                say.sync("#查分 户0", sender=RATER, room=room)
            conn.send(("ready", None))
            t0 = conn.recv()
            cpu = time.process_time()
            value = asyncio.run(_RUN[kind](say, rooms, mine, t0, params))
            conn.send(("done", (value, time.process_time() - cpu)))
        finally:
            app.close()
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


async def _p2(say: Say, rooms: list[str], mine: list[str], t0: float,
              params: dict[str, Any]) -> float:
    """As `bench.goals.p2_postgres`: each group's messages awaited one after another,
    the groups at once. Returns when this process's last one committed."""
    n, groups = params["n"], len(rooms)

    async def stream(room: str) -> None:
        g = rooms.index(room)
        for i in range(g, n, groups):
            t, who = write_text(i // groups)
            await say(t, sender=who, room=room)

    await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
    await asyncio.gather(*(stream(r) for r in mine))
    return time.perf_counter()


async def _p3(say: Say, rooms: list[str], mine: list[str], t0: float,
              params: dict[str, Any]) -> list[float]:
    """As `bench.goals.p3_latency`, message k to group k mod 8 at t0 + k / rate; this
    process sends the messages of its groups. Latencies in seconds."""
    rate, total = params["rate"], params["total"]
    own = set(mine)
    lat: list[float] = []

    async def one(k: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        t, who = _mix(k)
        await say(t, sender=who, room=rooms[k % len(rooms)])
        lat.append(time.perf_counter() - at)

    await asyncio.gather(*(one(k, t0 + k / rate) for k in range(total)
                           if rooms[k % len(rooms)] in own))
    return lat


_RUN = {"p2": _p2, "p3": _p3}


def _run(kind: str, url: str, procs: int, params: dict[str, Any]
         ) -> tuple[float, list[Any], float]:
    """Bind the city on `url`, run `procs` children: (the common start, their results,
    the CPU seconds they spent from the start, together).
    perf_counter is CLOCK_MONOTONIC on Linux, one clock for every process."""
    ctx = mp.get_context("spawn")
    pipes, children = [], []
    # The children start (and import) while the parent binds the city.
    for k in range(procs):
        mine, theirs = ctx.Pipe()
        p = ctx.Process(target=_child, args=(kind, url, procs, k, params, theirs),
                        daemon=True)
        p.start()
        theirs.close()
        pipes.append(mine)
        children.append(p)
    try:
        app = make_app(url)
        try:
            rooms = setup_city(Say(app, "setup_"), GROUPS)
        finally:
            app.close()
        for c in pipes:
            c.send(rooms)
        for c in pipes:
            _expect(c, "ready")
        t0 = time.perf_counter() + 0.1
        for c in pipes:
            c.send(t0)
        done = [_expect(c, "done") for c in pipes]
        return t0, [v for v, _ in done], sum(cpu for _, cpu in done)
    finally:
        for c in pipes:  # a child still waiting for its rooms or its start ends here
            c.close()
        for p in children:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def _expect(conn: Connection, what: str) -> Any:
    try:
        tag, value = conn.recv()
    except EOFError:
        raise RuntimeError("a bench process ended without a word") from None
    if tag == "error":
        raise RuntimeError(f"a bench process failed:\n{value}")
    assert tag == what, tag
    return value


def p2_processes(url: str, n: int, procs: int = 2) -> tuple[float, float]:
    """P2 (reports and awards from 8 groups at once on PostgreSQL) split between
    `procs` processes: (msg/s from the common start to the last commit, the bot
    processes' CPU ms per message)."""
    t0, ends, cpu = _run("p2", url, procs, {"n": n})
    return n / (max(ends) - t0), cpu * 1000 / n


def p3_processes(url: str, rate: int, seconds: float, procs: int = 2) -> float:
    """P3 (a mixed burst at `rate` msg/s over 8 groups) on PostgreSQL, split between
    `procs` processes: p99 latency in ms over all of their messages."""
    _, lats, _cpu = _run("p3", url, procs, {"rate": rate, "total": int(rate * seconds)})
    lat = sorted(x for part in lats for x in part)
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
