"""The message corpus (`tests/corpus/`): messages typed the way people type them in
Chinese work groups, each with the outcome a cadre or villager expects, run through a
whole bot (SQLite, virtual clock, in-memory transport).

`setup.jsonl` builds the named fixture states once (commands run through the bot; a line
with `"fixture"` belongs to that state only). Each case then runs on a fresh copy of its
state's SQLite file, and its outcome is classified:

- right: what the case expects (a confirmed action with the expected state change and
  reply, an expected reply, a refusal with an example, or silence);
- refused: no state change and a reply showing an example (`例`) where an action or a
  reply was expected (acceptable: the user is told how to say it);
- other: no state change and some other reply where an action was expected (a
  permission refusal, a refusal without example; reported);
- ignored: no reply and no state change where something was expected;
- silent misread: a state change that is not the expected one, or a confirmation whose
  reply lacks the expected figure/time (a failure);
- spurious: a reply to a message that should get none (a failure).

The table of counts per category is printed (run with `-s` to see it); the test fails
only on silent misreads and spurious replies.

Case fields: `id`, `text`, `from` (a person key of PEOPLE), `room` (a key of ROOMS,
default village), `fixture` (default village), `at` (ISO time, default CASE_AT),
`mentions` (person keys), `quote` ({"name", "text"}: sent as a WeChat text
quote-reply), `expect` (recorded | reply | refused | ignored), `reply_contains`
(substrings all required), `recorded` (the state change: `report` [{task, figure}],
`points` [{household, delta}], `stock` {good: delta}, `reminder` [{at}], `ack`
[notice ids, in the case's room]).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.clock import VirtualClock
from bot.config import Config, load_config
from bot.drivers.memory import MemoryChat
from bot.wiring import build_app

CORPUS = Path(__file__).parent / "corpus"
SETUP_AT = datetime.fromisoformat("2019-06-03T09:00:00+08:00")  # a Monday
CASE_AT = "2019-06-12T10:00:00+08:00"  # a Wednesday, no holiday near
FIXTURES = ("village", "quiet")  # quiet: the same village with no notice waiting
ADMIN = "wxid_admin"
SHANGHAI = ZoneInfo("Asia/Shanghai")

PEOPLE: dict[str, tuple[str, str]] = {
    "admin": (ADMIN, "管理员"),
    "jia": ("wxid_jia", "贾健刚"),  # HQ, city
    "zhao": ("wxid_zhao", "赵主任"),  # HQ, county
    "liuwei": ("wxid_liuwei", "刘伟"),  # cadre, 皇叔洼村
    "tian": ("wxid_tian", "田秀英"),  # evaluator
    "wang": ("wxid_wang", "王德顺"),  # evaluator
    "han": ("wxid_han", "韩桂兰"),  # shop keeper
    "yang": ("wxid_yang", "杨书记"),  # cadre, 杨家坪村
    "zs": ("wxid_zs", "张三"),  # villager, 张三家
    "ls": ("wxid_ls", "李四"),  # villager, 李四家
    "wu": ("wxid_wu", "吴乡长"),  # town, no role
}
ROOMS: dict[str, tuple[str, str]] = {
    "city": ("r_city", "大同市指挥部群"),
    "county": ("r_county", "浑源县工作群"),
    "town": ("r_town", "吴城乡工作群"),
    "village": ("r_village", "皇叔洼村工作群"),
    "village2": ("r_village2", "杨家坪村工作群"),
}
EXPECTS = ("recorded", "reply", "refused", "ignored")
OUTCOMES = ("right", "refused", "other", "ignored", "misread", "spurious")
QUOTE_SEP = "- - - - - - - - - - - - - - -"


# -- loading ------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:  # pragma: no cover - a corpus typo
                raise AssertionError(f"{path.name}:{n}: {e}") from e


def load_cases() -> dict[str, list[dict[str, Any]]]:
    """Category (the file's stem) → its cases, checked for well-formedness."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(CORPUS.glob("*.jsonl")):
        if path.stem == "setup":
            continue
        cases = list(_lines(path))
        for c in cases:
            where = f"{path.name} {c.get('id')}"
            assert c.get("id") and isinstance(c.get("text"), str), where
            assert c.get("expect") in EXPECTS, where
            assert c.get("from", "liuwei") in PEOPLE, where
            assert c.get("room", "village") in ROOMS, where
            assert c.get("fixture", "village") in FIXTURES, where
            if c["expect"] == "recorded":
                assert c.get("recorded"), where
        out[path.stem] = cases
    return out


# -- state --------------------------------------------------------------------------

# The domain state a message may change, one query per area; the journal, the outbox,
# the audit log and who-was-seen-where are bookkeeping, not state a user means.
SNAPSHOT = {
    "report": "SELECT id, unit_id, task, figure, correction, withdrawn_at IS NOT NULL"
    " FROM progress_report",
    "target": "SELECT unit_id, task, amount, start, deadline FROM progress_target",
    "points": "SELECT p.id, h.name, p.kind, p.delta, p.rule, p.status, p.reverses_id,"
    " p.confirmed_by FROM point_entry p JOIN household h ON h.id = p.household_id",
    "stock": "SELECT name, stock, price, pack_size FROM good",
    "objection": "SELECT id, entry_id, decision FROM point_objection",
    "notice": "SELECT id, scope, text FROM notice",
    "ack": "SELECT notice_id, room_id, acked_at IS NOT NULL FROM notice_target",
    "reminder": "SELECT key, kind, room_id, active, next_at, payload FROM job",
    "role": "SELECT person_id, unit_id, role FROM role_grant",
    "household": "SELECT id, unit_id, name FROM household",
    "person": "SELECT id, household_id FROM person WHERE household_id IS NOT NULL",
    "unit": "SELECT id, name, parent_id FROM org_unit",
    "room": "SELECT id, unit_id FROM room",
}


def snapshot(app: Any) -> dict[str, set[tuple[Any, ...]]]:
    with app.db.engine.connect() as conn:
        return {k: {tuple(r) for r in conn.execute(text(q))} for k, q in SNAPSHOT.items()}


@dataclass
class Diff:
    added: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)
    removed: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def areas(self) -> set[str]:
        return {k for k, v in self.added.items() if v} | {k for k, v in self.removed.items() if v}


def diff(before: dict[str, set[tuple[Any, ...]]], after: dict[str, set[tuple[Any, ...]]]) -> Diff:
    d = Diff()
    for k in before:
        d.added[k] = after[k] - before[k]
        d.removed[k] = before[k] - after[k]
    return d


def _as_local(value: Any) -> datetime:
    """A stored UTC time (SQLite gives text) as an aware Shanghai time."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(SHANGHAI)


def state_matches(d: Diff, expected: dict[str, Any], room_id: str) -> str | None:
    """None when the state changed exactly as expected, else what differs."""
    changed = d.areas
    want = set(expected)
    # Redeeming changes the ledger too: the stock area carries its points rows.
    allowed = want | ({"points"} if "stock" in want else set())
    extra = changed - allowed
    if extra:
        return f"also changed: {', '.join(sorted(extra))}"
    for area, spec in expected.items():
        added, removed = d.added[area], d.removed[area]
        if area == "report":
            got = sorted((r[2], r[3]) for r in added)
            exp = sorted((s["task"], s["figure"]) for s in spec)
            if got != exp or removed:
                return f"reports {got}, expected {exp}"
        elif area == "points":
            got = sorted((r[1], r[3]) for r in added)
            exp = sorted((s["household"], s["delta"]) for s in spec)
            if got != exp or removed:
                return f"ledger {got}, expected {exp}"
        elif area == "stock":
            old = {r[0]: r[1] for r in removed}
            new = {r[0]: r[1] for r in added}
            got_delta = {k: new[k] - old.get(k, 0) for k in new}
            if got_delta != spec or set(old) != set(new):
                return f"stock change {got_delta}, expected {spec}"
        elif area == "reminder":
            new_jobs = {r[0]: r for r in added}
            old_keys = {r[0] for r in removed}
            fresh = [r for k, r in new_jobs.items() if k not in old_keys]
            got_at = sorted(_as_local(r[4]).isoformat(timespec="minutes") for r in fresh)
            exp_at = sorted(
                datetime.fromisoformat(s["at"]).isoformat(timespec="minutes") for s in spec
            )
            if got_at != exp_at:
                return f"new jobs at {got_at}, expected {exp_at}"
        elif area == "ack":
            got_ids = sorted(r[0] for r in added if r[1] == room_id and r[2])
            if got_ids != sorted(spec) or len(added) != len(spec):
                return f"acknowledged {sorted((r[0], r[1]) for r in added)}, expected {spec}"
        else:  # pragma: no cover - a corpus typo
            return f"unknown state area {area}"
    return None


# -- running ------------------------------------------------------------------------


def _quote(case: dict[str, Any]) -> str:
    q = case.get("quote")
    if not q:
        return str(case["text"])
    return f"「{q['name']}：{q['text']}」\n{QUOTE_SEP}\n{case['text']}"


async def _say(chat: MemoryChat, line: dict[str, Any], msg_id: str) -> str:
    sender, name = PEOPLE[line.get("from", "liuwei")]
    room, topic = ROOMS[line.get("room", "village")]
    mentions = tuple(PEOPLE[m] for m in line.get("mentions", ()))
    sent = await chat.say(
        _quote(line),
        sender=sender,
        name=name,
        room=room,
        topic=topic,
        mentions=mentions,
        msg_id=msg_id,
    )
    return "\n".join(o.text for o in sent)


def build_fixture(config: Config, fixture: str, path: Path) -> None:
    clock = VirtualClock(SETUP_AT)
    app = build_app(config, clock=clock, db_url=f"sqlite:///{path}", admins=[ADMIN])
    try:
        chat = MemoryChat(app)
        for i, line in enumerate(_lines(CORPUS / "setup.jsonl"), 1):
            if line.get("fixture", fixture) != fixture:
                continue
            clock.set(SETUP_AT + timedelta(minutes=i))
            reply = asyncio.run(_say(chat, line, f"setup{i}"))
            assert line["ok"] in reply, f"setup line {i} ({line['text']}): {reply!r}"
    finally:
        app.close()


@dataclass
class Result:
    category: str
    case: dict[str, Any]
    outcome: str
    reply: str
    why: str = ""


def classify(case: dict[str, Any], reply: str, d: Diff, room_id: str) -> tuple[str, str]:
    expect = case["expect"]
    changed = bool(d.areas)
    wants = [s for s in case.get("reply_contains", ())]
    has_wanted = all(s in reply for s in wants)
    if expect == "recorded":
        if changed:
            bad = state_matches(d, case["recorded"], room_id)
            if bad:
                return "misread", bad
            if not reply:
                return "misread", "state changed without a reply"
            if not has_wanted:
                return "misread", f"confirmation lacks {[s for s in wants if s not in reply]}"
            return "right", ""
    elif changed:
        return "misread", f"changed {', '.join(sorted(d.areas))}"
    if expect == "ignored":
        return ("spurious", "answered chat") if reply else ("right", "")
    if not reply:
        return "ignored", "no reply"
    if expect == "reply" and has_wanted:
        return "right", ""
    if expect == "refused" and "例" in reply and has_wanted:
        return "right", ""
    if "例" in reply:
        return "refused", ""
    return "other", ""


def run_case(config: Config, category: str, case: dict[str, Any], base: Path, work: Path) -> Result:
    db = work / f"{category}-{case['id']}.db"
    shutil.copyfile(base, db)
    clock = VirtualClock(datetime.fromisoformat(case.get("at", CASE_AT)))
    app = build_app(config, clock=clock, db_url=f"sqlite:///{db}", admins=[ADMIN])
    try:
        before = snapshot(app)
        reply = asyncio.run(_say(MemoryChat(app), case, f"case-{case['id']}"))
        d = diff(before, snapshot(app))
    finally:
        app.close()
    db.unlink()
    room_id = ROOMS[case.get("room", "village")][0]
    outcome, why = classify(case, reply, d, room_id)
    return Result(category, case, outcome, reply, why)


def report(results: list[Result], verbose: bool = False) -> str:
    counts: dict[str, Counter[str]] = {}
    for r in results:
        counts.setdefault(r.category, Counter())[r.outcome] += 1
    head = f"{'category':<14}{'cases':>6}" + "".join(f"{o:>10}" for o in OUTCOMES)
    rows = [head]
    total: Counter[str] = Counter()
    for cat, c in counts.items():
        total.update(c)
        rows.append(f"{cat:<14}{sum(c.values()):>6}" + "".join(f"{c[o]:>10}" for o in OUTCOMES))
    rows.append(
        f"{'total':<14}{sum(total.values()):>6}" + "".join(f"{total[o]:>10}" for o in OUTCOMES)
    )
    for r in results:
        if r.outcome in ("misread", "spurious") or (verbose and r.outcome != "right"):
            rows.append(
                f"  {r.outcome.upper()} {r.category}/{r.case['id']} {r.case['text'][:60]!r}:"
                f" {r.why}; reply {r.reply[:80]!r}"
            )
    return "\n".join(rows)


def test_corpus_is_large_enough() -> None:
    cases = load_cases()
    assert sum(len(v) for v in cases.values()) >= 300
    chat = cases["chat"]
    assert len(chat) >= 80 and all(c["expect"] == "ignored" for c in chat)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    config = load_config()
    base = tmp_path_factory.mktemp("corpus")
    out = {}
    for f in FIXTURES:
        out[f] = base / f"{f}.db"
        build_fixture(config, f, out[f])
    return out


def test_corpus(fixtures: dict[str, Path], tmp_path: Path) -> None:
    config = load_config()
    results = [
        run_case(config, cat, case, fixtures[case.get("fixture", "village")], tmp_path)
        for cat, cases in load_cases().items()
        for case in cases
    ]
    table = report(results, verbose=bool(os.environ.get("CORPUS_VERBOSE")))
    print("\n" + table)
    bad = [r for r in results if r.outcome in ("misread", "spurious")]
    assert not bad, table


def _diff(
    area: str, added: set[tuple[Any, ...]], removed: frozenset[tuple[Any, ...]] = frozenset()
) -> Diff:
    d = Diff({k: set() for k in SNAPSHOT}, {k: set() for k in SNAPSHOT})
    d.added[area] = set(added)
    d.removed[area] = set(removed)
    return d


REPORT_42 = {
    "expect": "recorded",
    "recorded": {"report": [{"task": "危房改造", "figure": 42}]},
    "reply_contains": ["42/"],
}
NO_CHANGE = Diff({k: set() for k in SNAPSHOT}, {k: set() for k in SNAPSHOT})


@pytest.mark.parametrize(
    ("case", "reply", "d", "outcome"),
    [
        (
            REPORT_42,
            "已记录 危房改造 42/50",
            _diff("report", {(9, 4, "危房改造", 42, 0, 0)}),
            "right",
        ),
        (
            REPORT_42,
            "已记录 危房改造 24/50",
            _diff("report", {(9, 4, "危房改造", 24, 0, 0)}),
            "misread",
        ),
        (
            REPORT_42,
            "已记录 危房改造 24/50",
            _diff("report", {(9, 4, "危房改造", 42, 0, 0)}),
            "misread",
        ),
        (REPORT_42, "", _diff("report", {(9, 4, "危房改造", 42, 0, 0)}), "misread"),
        (
            REPORT_42,
            "已记录",
            _diff("points", {(9, "张三家", "award", 42, None, "active", None, None)}),
            "misread",
        ),
        (REPORT_42, "看不懂。例：#进度 危房改造 42", NO_CHANGE, "refused"),
        (REPORT_42, "#进度 需要干部权限", NO_CHANGE, "other"),
        (REPORT_42, "", NO_CHANGE, "ignored"),
        ({"expect": "ignored"}, "", NO_CHANGE, "right"),
        ({"expect": "ignored"}, "没有这个命令", NO_CHANGE, "spurious"),
        ({"expect": "ignored"}, "", _diff("ack", {(2, "r_village", True)}), "misread"),
        ({"expect": "refused"}, "例：#提醒 明天 9:00 开会", NO_CHANGE, "right"),
        (
            {"expect": "refused"},
            "例：#提醒 明天 9:00 开会",
            _diff("reminder", {("k", "once", "r", 1, "t", "{}")}),
            "misread",
        ),
        ({"expect": "reply", "reply_contains": ["80"]}, "余额 80 分", NO_CHANGE, "right"),
        (
            {"expect": "recorded", "recorded": {"ack": [1]}},
            "已记录",
            _diff("ack", {(2, "r_village", True)}),
            "misread",
        ),
        (
            {"expect": "recorded", "recorded": {"ack": [2]}},
            "已记录",
            _diff("ack", {(2, "r_village", True)}),
            "right",
        ),
    ],
)
def test_classify(case: dict[str, Any], reply: str, d: Diff, outcome: str) -> None:
    """The harness itself: a wrong figure is a misread, answered chat is spurious."""
    assert classify(case, reply, d, "r_village")[0] == outcome
