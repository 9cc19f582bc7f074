"""Ban-safe pacing by default (bot/pacing.py, `[outbox]`): random gaps, the quiet pause
after a burst, and the config keys of before still meaning what they meant."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from bot.config import ConfigError, load_config
from bot.pacing import Pacer
from tests.conftest import START


def test_defaults_are_ban_safe() -> None:
    o = load_config().outbox
    assert (o.gap_min_seconds, o.gap_max_seconds) == (8, 20)
    assert (o.burst_size, o.burst_pause_min_seconds, o.burst_pause_max_seconds) == (20, 120, 300)
    assert o.per_group_per_minute == 3 and o.daily_cap == 800


def test_random_gaps_and_a_quiet_pause_after_a_burst() -> None:
    p = Pacer.from_config(load_config(), rng=random.Random(3))
    now, waits = START, []
    for i in range(45):
        assert p.wait(f"g{i}", now) == 0
        p.sent(f"g{i}", now)
        w = p.wait(f"g{i + 1}", now)
        waits.append(w)
        now += timedelta(seconds=w)
    pauses = [i for i, w in enumerate(waits) if w > 20]
    assert pauses == [19, 39]  # after the 20th and the 40th in a row
    assert all(120 <= waits[i] <= 300 for i in pauses)
    gaps = [w for i, w in enumerate(waits) if i not in pauses]
    assert all(8 <= g <= 20 for g in gaps) and len(set(gaps)) == len(gaps)  # not a beat


def test_a_rest_starts_a_new_run() -> None:
    p = Pacer(min_gap=1, jitter=0, burst_size=3, burst_pause_min=60, burst_pause_max=60)
    p.sent("a", START)
    p.sent("a", START + timedelta(seconds=1))
    p.sent("a", START + timedelta(seconds=100))  # rested: the run starts again here
    assert p.wait("b", START + timedelta(seconds=100)) == 1
    p.sent("b", START + timedelta(seconds=101))
    p.sent("c", START + timedelta(seconds=102))
    assert p.wait("d", START + timedelta(seconds=102)) == 60


def test_the_per_group_limit() -> None:
    p = Pacer(min_gap=0, jitter=0, per_group_per_minute=3, burst_size=0)
    for s in range(3):
        p.sent("g", START + timedelta(seconds=s))
    assert p.wait("g", START + timedelta(seconds=3)) == 57
    assert p.wait("other", START + timedelta(seconds=3)) == 0


def write(tmp_path, text: str):  # type: ignore[no-untyped-def]
    f = tmp_path / "c.toml"
    f.write_text(text, encoding="utf-8")
    return f


def test_the_old_keys_still_work(tmp_path) -> None:
    o = load_config(write(tmp_path, "[outbox]\nmin_gap_seconds = 0\njitter_seconds = 0\n")).outbox
    assert (o.gap_min_seconds, o.gap_max_seconds) == (0, 0)
    o = load_config(write(tmp_path, "[outbox]\nmin_gap_seconds = 5\n")).outbox
    assert (o.gap_min_seconds, o.gap_max_seconds) == (5, 7)  # jitter's old default, 2
    o = load_config().with_overrides(outbox={"min_gap_seconds": 1, "jitter_seconds": 3}).outbox
    assert (o.gap_min_seconds, o.gap_max_seconds) == (1, 4)
    p = Pacer.from_config(load_config(write(tmp_path, "[outbox]\nmin_gap_seconds = 2\n"
                                                      "jitter_seconds = 1\n")))
    assert (p.min_gap, p.jitter) == (2, 1)


@pytest.mark.parametrize(("text", "says"), [
    ('[outbox]\nmin_gap_seconds = "fast"\n', "new names: gap_min_seconds, gap_max_seconds"),
    ("[outbox]\ngap_min_seconds = 30\ngap_max_seconds = 10\n",
     "gap_max_seconds must be at least gap_min_seconds"),
    ("[outbox]\nburst_pause_min_seconds = 30\nburst_pause_max_seconds = 10\n",
     "burst_pause_max_seconds must be at least burst_pause_min_seconds"),
    ("[outbox]\ngap_min_seconds = -1\n", "outbox.gap_min_seconds = -1"),
])
def test_bad_pacing_is_refused(tmp_path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert says in str(e.value)
