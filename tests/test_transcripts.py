"""Replay transcripts checked in as tests: tests/transcripts/NAME.jsonl is replayed with
the bootstrap admin `wxid_admin`, and every line the bot prints must equal
NAME.expected.jsonl. To write a new expected file: VILLAGEBOT_REGEN=1 pytest -k NAME,
then read it line by line before committing it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_config
from bot.drivers.replay import replay

HERE = Path(__file__).parent / "transcripts"
TRANSCRIPTS = sorted(p for p in HERE.glob("*.jsonl") if not p.name.endswith(".expected.jsonl"))


def run(path: Path, db_url: str = "sqlite://") -> list[dict]:
    out = io.StringIO()
    with path.open(encoding="utf-8") as src:
        asyncio.run(replay(src, out, load_config(), db_url, ["wxid_admin"]))
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_transcript(path: Path) -> None:
    expected_path = path.with_name(path.stem + ".expected.jsonl")
    got = run(path)
    if os.environ.get("VILLAGEBOT_REGEN"):
        expected_path.write_text(
            "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in got), encoding="utf-8"
        )
    expected = [json.loads(line) for line in expected_path.read_text(encoding="utf-8").splitlines()]
    assert got == expected


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
        timeout=120, check=False,
    )


def test_cli_replay_malformed_line_exits_2(tmp_path: Path) -> None:
    t = tmp_path / "bad.jsonl"
    t.write_text(
        '{"at": "2019-06-03T09:00:00+08:00", "room": "r1", "from": "u1", "text": "#帮助", "id": "a"}\n'
        '{"at": "2019-06-03T09:01:00", "room": "r1", "from": "u1", "text": "#帮助"}\n',
        encoding="utf-8",
    )
    p = _cli("replay", str(t))
    assert p.returncode == 2
    assert "line 2" in p.stderr and "UTC offset" in p.stderr
    # The line before the bad one was answered.
    assert json.loads(p.stdout.splitlines()[0])["reply_to"] == "a"
    t.write_text("not json\n", encoding="utf-8")
    p = _cli("replay", str(t))
    assert p.returncode == 2 and "line 1: not valid JSON" in p.stderr
    good = '{"at": "2019-06-03T09:00:00+08:00", "room": "r1", "from": "u1", "text": "#帮助", "id": "a"}\n'
    t.write_bytes(good.encode("utf-8") + "#帮助\n".encode("gbk"))
    p = _cli("replay", str(t))
    assert p.returncode == 2 and "line 2: not UTF-8 text" in p.stderr
    # A byte-order mark (as Windows editors write) is not an error.
    t.write_text(good, encoding="utf-8-sig")
    p = _cli("replay", str(t))
    assert p.returncode == 0 and json.loads(p.stdout)["reply_to"] == "a"


def test_replay_without_ids_is_deterministic_and_keeps_names(tmp_path: Path) -> None:
    t = tmp_path / "t.jsonl"
    t.write_text(
        '{"at": "2019-06-03T09:00:00+08:00", "room": "r1", "from": "wxid_admin", "text": "#绑定 市 大同市"}\n'
        '{"at": "2019-06-03T09:01:00+08:00", "room": "r1", "from": "u1", "name": "刘伟", "text": "#帮助"}\n'
        '{"at": "2019-06-03T09:02:00+08:00", "room": "r1", "from": "u1", "text": "#帮助"}\n'
        '{"at": "2019-06-03T09:03:00+08:00", "room": "r1", "from": "wxid_admin", "text": "#任命 刘伟 干部"}\n',
        encoding="utf-8",
    )
    first, second = run(t), run(t)
    assert first == second
    assert len({o["reply_to"] for o in first}) == 4
    # The name given on line 2 survives line 3, which has none.
    assert first[-1]["text"] == "已任命 刘伟 为 大同市干部"


def test_cli_replay_db_keeps_state_across_runs(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'state.db'}"
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_text(
        '{"at": "2019-06-03T09:00:00+08:00", "room": "r1", "from": "boss", "text": "#绑定 市 大同市", "id": "a"}\n',
        encoding="utf-8",
    )
    two.write_text(
        '{"at": "2019-06-04T09:00:00+08:00", "room": "r2", "from": "boss", "text": "#绑定 县 浑源县 上级 大同市", "id": "b"}\n',
        encoding="utf-8",
    )
    assert _cli("replay", str(one), "--db", db, "--admin", "boss").returncode == 0
    p = _cli("replay", str(two), "--db", db, "--admin", "boss")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["text"] == "已新建并绑定：本群 → 浑源县（县，上级 大同市）"


def test_cli_console_answers_piped_help() -> None:
    p = _cli("console", "--db", "sqlite://", stdin="#帮助\n")
    assert p.returncode == 0, p.stderr
    assert "可用的命令" in p.stdout and "#绑定" in p.stdout


def test_command_reference_is_current() -> None:
    from bot.cli import reference_text

    doc = Path(__file__).parents[1] / "docs" / "commands.md"
    assert doc.read_text(encoding="utf-8") == reference_text(), (
        "docs/commands.md is out of date: villagebot commands > docs/commands.md"
    )
