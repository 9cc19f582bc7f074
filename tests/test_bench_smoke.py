"""The bench's statement counter still runs against the bot (no timings asserted)."""

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
