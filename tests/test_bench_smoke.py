"""The bench's statement counter and its multi-process harness still run against the
bot (no timings asserted)."""

import pytest
from sqlalchemy import create_engine, text

from bench import multi
from bench.common import CADRE, Counter, Say, make_app, setup_city


def test_statement_counter_counts_one_report() -> None:
    app = make_app("sqlite://")
    try:
        say = Say(app)
        setup_city(say, 1)
        counter = Counter(app.db.engine)
        with counter.counting():
            say.sync("#进度 危房改造 5", sender=CADRE)
        assert isinstance(counter.n, int) and counter.n > 0
    finally:
        app.close()


@pytest.mark.postgres
def test_two_bench_processes_each_send_the_messages_of_their_groups(pg_url: str) -> None:
    """bench/multi.py: two spawned processes, each its own app on one database, send
    the P2 messages of their own four groups; every message is handled once."""
    rate, cpu_ms = multi.p2_processes(pg_url, 16, procs=2)
    assert rate > 0 and cpu_ms > 0
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT split_part(msg_id, '_', 1), room_id, COUNT(*) FROM inbound_message "
                "WHERE msg_id LIKE 'm%' GROUP BY 1, 2 ORDER BY 2")).all()
            reports = conn.execute(text("SELECT COUNT(*) FROM progress_report")).scalar()
    finally:
        engine.dispose()
    # Per group: one warm-up #查分 and two timed messages (a report, then an award).
    assert [tuple(r) for r in rows] == [("m0", f"r_v{k}", 3) for k in range(4)] + [
        ("m1", f"r_v{k}", 3) for k in range(4, 8)]
    assert reports == 8
