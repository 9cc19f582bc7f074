"""Notices: HQ broadcasts to every group in a scope, groups acknowledge with 收到.

Plain functions over a session; they never commit. A notice is one `Notice` row and one
`NoticeTarget` row per group it went to; a group's first 收到 is its acknowledgement.
The chases are a job per notice (`bot/schedules/notices.py`), keyed `notice:<id>`.

For the dashboard: `open_notices(session, now)` lists the notices still waiting for
acknowledgements, `receipts(session, notice_id)` gives one notice's acknowledged and
missing groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot.calendar import after_quiet_hours
from bot.config import Config
from bot.models.core import OrgUnit, Person, RoleGrant, Room
from bot.models.jobs import Job
from bot.models.notices import Notice, NoticeTarget
from bot.org import CADRE, HQ, ancestor_ids, find_units, is_within
from bot.text import simplify

# Words that mean "every group under the root".
WHOLE = frozenset({"全体", "全市", "全部", "所有", "所有群", "全体群", "各群", "全市各群"})
# Words that mean "the county (or township) this group belongs to".
LOCAL = {"全县": "县", "本县": "县", "全区": "县", "本区": "县",
         "全乡": "乡", "本乡": "乡", "全镇": "乡", "本镇": "乡"}  # fmt: skip
PROMPT = '请回复"收到"'
# The job kind that chases a notice (bot/schedules/notices.py).
CHASE_KIND = "notice_chase"
# A notice is refused beyond this many messages per group.
MAX_PARTS = 10
# The same text to the same scope again within this time is taken as a slip, not sent.
RESEND_WINDOW = timedelta(minutes=30)


class NoticeError(Exception):
    """Something the sender must change; the message is the reply."""


def job_key(notice_id: int) -> str:
    return f"notice:{notice_id}"


# -- who may notify where ----------------------------------------------------------


def authority(session: Session, person_id: str, here: OrgUnit | None) -> list[OrgUnit]:
    """The units within which the person may send notices from this group, widest first.

    HQ (指挥部) on this group's unit or above: that unit's whole subtree (granted on the
    city: everywhere). A cadre (干部) granted on a county (or the city): that subtree.
    Cadres of townships and villages may not send notices.
    """
    if here is None:
        return []
    rows = session.exec(
        select(RoleGrant.role, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == col(RoleGrant.unit_id))
        .where(
            RoleGrant.person_id == person_id,
            col(RoleGrant.unit_id).in_(ancestor_ids(here)),
            col(RoleGrant.role).in_((HQ, CADRE)),
        )
    ).all()
    units = {u.id: u for role, u in rows if role == HQ or u.level in ("市", "县")}
    return sorted(units.values(), key=lambda u: len(u.path))


def may_notify(units: Iterable[OrgUnit], allowed: Sequence[OrgUnit]) -> list[OrgUnit]:
    """The units outside what the sender may notify."""
    return [u for u in units if not any(is_within(u, a) for a in allowed)]


# -- scope -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    units: tuple[OrgUnit, ...]
    label: str  # "全体", "浑源县、阳高县"
    whole: bool


def resolve_scope(
    session: Session, words: Sequence[str], here: OrgUnit, allowed: Sequence[OrgUnit]
) -> Scope:
    """The units a scope names: 全体 (the root of this group's tree), 本县, or unit names.

    A name that several units share is taken within the sender's authority, then within
    this group's tree; still ambiguous, it is refused with the places to choose from.
    """
    root_id = ancestor_ids(here)[0]
    units: list[OrgUnit] = []
    for raw in words:
        word = simplify(raw)
        if word in WHOLE:
            root = session.get(OrgUnit, root_id)
            assert root is not None
            return Scope((root,), "全体", True)
        if word in LOCAL:
            level = LOCAL[word]
            unit = next((u for u in _ancestors(session, here) if u.level == level), None)
            if unit is None:
                raise NoticeError(f"本群是{here.level}级，没有“{word}”，请写单位名称")
        else:
            found = find_units(session, word)
            if len(found) > 1:
                found = [u for u in found if any(is_within(u, a) for a in allowed)] or found
            if len(found) > 1:
                found = [u for u in found if ancestor_ids(u)[0] == root_id] or found
            if not found:
                raise NoticeError(f"找不到单位“{word}”")
            if len(found) > 1:
                places = "、".join(f"{_parent(session, u)}的{u.name}" for u in found)
                raise NoticeError(f"有{len(found)}个“{word}”（{places}），请写明是哪一个")
            unit = found[0]
        if all(u.id != unit.id for u in units):
            units.append(unit)
    return Scope(tuple(units), "、".join(u.name for u in units), False)


def _ancestors(session: Session, unit: OrgUnit) -> list[OrgUnit]:
    ids = ancestor_ids(unit)
    found = {u.id: u for u in session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(ids)))}
    return [found[i] for i in ids if i in found]


def _parent(session: Session, unit: OrgUnit) -> str:
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    return parent.name if parent else "（无）"


def target_rooms(
    session: Session, units: Sequence[OrgUnit], exclude_room: str | None
) -> list[tuple[Room, OrgUnit]]:
    """Every bound group in the units' subtrees, each once, in tree order; the group
    the notice was written in is left out (its people have just seen it)."""
    q = select(Room, OrgUnit).join(OrgUnit, col(OrgUnit.id) == col(Room.unit_id))
    seen: dict[str, tuple[Room, OrgUnit]] = {}
    for unit in units:
        rows = session.exec(q.where(col(OrgUnit.path).startswith(unit.path))).all()
        for room, u in rows:
            if room.id != exclude_room:
                seen.setdefault(room.id, (room, u))
    return sorted(seen.values(), key=lambda ru: (_path_key(ru[1].path), ru[0].id))


def _path_key(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in path.strip("/").split("/") if p)


# -- the text ----------------------------------------------------------------------

# A sentence: up to its closing punctuation (and closing quotes), or the end.
_SENTENCE = re.compile(r".*?(?:[。！？!?；;…]+[”’」』\"')）]*|$)", re.S)


def _pieces(text: str, budget: int) -> list[str]:
    """Paragraphs that fit; a paragraph that does not, as sentences; a sentence that
    does not, cut at the budget."""
    out: list[str] = []
    for para in re.findall(r"[^\n]*(?:\n+|$)", text):
        if not para:
            continue
        if len(para.strip()) <= budget:
            out.append(para)
            continue
        for sentence in _SENTENCE.findall(para):
            while len(sentence) > budget:
                out.append(sentence[:budget])
                sentence = sentence[budget:]
            if sentence:
                out.append(sentence)
    return out


def split_text(text: str, budget: int) -> list[str]:
    """The text in chunks of at most `budget` characters, cut at paragraph boundaries
    where possible, else at sentence ends, else anywhere."""
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, budget):
        if current.strip() and len((current + piece).strip()) > budget:
            chunks.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        chunks.append(current.strip())
    return chunks


def _prompt(text: str) -> str:
    return f"\n— {PROMPT}" if "\n" in text else f" — {PROMPT}"


def format_parts(notice_id: int, text: str, max_chars: int, prompt: bool = True) -> list[str]:
    """The messages a notice is posted as: `【通知 12】内容 — 请回复"收到"`, or numbered
    parts `【通知 12】(1/3) …` each at most `max_chars` long, the prompt on the last.
    Without `prompt` (a group that cannot reply) the same, without asking for 收到."""
    ask = _prompt if prompt else (lambda _t: "")
    single = f"【通知 {notice_id}】{text}{ask(text)}"
    if len(single) <= max_chars:
        return [single]
    n = 2
    while True:
        header = len(f"【通知 {notice_id}】({n}/{n}) ")
        chunks = split_text(text, max_chars - header - len(ask("\n")))
        if len(str(len(chunks))) <= len(str(n)):
            break
        n = len(chunks)
    total = len(chunks)
    return [
        f"【通知 {notice_id}】({i}/{total}) {c}" + (ask(c) if i == total else "")
        for i, c in enumerate(chunks, start=1)
    ]


def excerpt(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


# -- sending -----------------------------------------------------------------------


def create_notice(
    session: Session,
    author_id: str,
    author_room_id: str | None,
    scope: Scope,
    text: str,
    targets: Sequence[tuple[Room, OrgUnit]],
    now: datetime,
    msg_id: str | None = None,
) -> Notice:
    """The notice and a target row per group (the caller queues the posts)."""
    notice = Notice(author_id=author_id, author_room_id=author_room_id, scope=scope.label,
                    text=text, msg_id=msg_id, created_at=now)  # fmt: skip
    session.add(notice)
    session.flush()
    assert notice.id is not None
    for room, unit in targets:
        session.add(NoticeTarget(notice_id=notice.id, room_id=room.id, unit_id=unit.id))
    session.flush()
    return notice


def recent_same(session: Session, author_id: str, scope: Scope, text: str, now: datetime
                ) -> Notice | None:  # fmt: skip
    """The author's notice with this text to this scope sent within `RESEND_WINDOW`, if
    any: the same notice pasted twice (a new message id, so the journal cannot tell) must
    not reach every group twice."""
    rows = session.exec(
        select(Notice).where(Notice.author_id == author_id, Notice.scope == scope.label,
                             col(Notice.created_at) > now - RESEND_WINDOW)
    )  # fmt: skip
    flat = " ".join(text.split())
    return next((n for n in rows if " ".join(n.text.split()) == flat), None)


def chase_times(since: datetime, config: Config) -> list[datetime]:
    """When a notice's job runs: `ack_chase_max` chases, then the report to the author.

    Each comes `ack_chase_hours` after the one before (the first after the notice);
    one that falls in the quiet hours waits for their end, and the next counts from it.
    """
    step = timedelta(hours=config.notices.ack_chase_hours)
    out: list[datetime] = []
    t = since
    for _ in range(config.notices.ack_chase_max + 1):
        t = after_quiet_hours(t + step, config)
        out.append(t)
    return out


# -- acknowledging -----------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    # "acked": recorded now; "already": this group had acknowledged it; "none": nothing
    # awaits acknowledgement here; "not_here": the notice did not go to this group;
    # "unknown": no such notice.
    status: str
    notice_id: int | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    # Other notices this group has still to acknowledge, newest first.
    waiting: tuple[int, ...] = ()


def acknowledge(
    session: Session,
    room_id: str,
    person_id: str,
    now: datetime,
    notice_id: int | None = None,
    msg_id: str | None = None,
) -> Ack:
    """Record this group's acknowledgement of a notice (the newest one waiting, or the
    one named). The first 收到 counts; later ones change nothing."""
    if notice_id is None:
        target = session.exec(
            select(NoticeTarget)
            .where(NoticeTarget.room_id == room_id, col(NoticeTarget.acked_at).is_(None))
            .order_by(col(NoticeTarget.notice_id).desc())
            .limit(1)
        ).first()
        if target is None:
            return Ack("none")
    else:
        target = session.exec(
            select(NoticeTarget).where(
                NoticeTarget.notice_id == notice_id, NoticeTarget.room_id == room_id
            )
        ).first()
        if target is None:
            exists = session.get(Notice, notice_id) is not None
            return Ack("not_here" if exists else "unknown", notice_id)
    nid = target.notice_id
    # Conditional update: of two 收到 racing in one group, exactly one is the first.
    won = session.execute(
        update(NoticeTarget)
        .where(col(NoticeTarget.id) == target.id, col(NoticeTarget.acked_at).is_(None))
        .values(acked_at=now, acked_by=person_id, ack_msg_id=msg_id)
    ).rowcount  # type: ignore[attr-defined]
    session.expire(target)
    if not won:
        session.refresh(target)
        status = "none" if notice_id is None else "already"
        return Ack(status, nid, target.acked_at, target.acked_by)
    waiting = tuple(
        session.exec(
            select(NoticeTarget.notice_id)
            .where(NoticeTarget.room_id == room_id, col(NoticeTarget.acked_at).is_(None))
            .order_by(col(NoticeTarget.notice_id).desc())
        ).all()
    )
    if not _missing_count(session, nid):
        # Everyone has it: no more chases.
        job = session.exec(select(Job).where(Job.key == job_key(nid))).first()
        if job is not None:
            job.active = False
    return Ack("acked", nid, now, person_id, waiting)


def _missing_count(session: Session, notice_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(NoticeTarget)
            .where(NoticeTarget.notice_id == notice_id, col(NoticeTarget.acked_at).is_(None))
        ).one()
    )


def is_waiting(session: Session, room_id: str, notice_id: int | None = None) -> bool:
    """Whether a notice (any, or the one named) awaits this group's acknowledgement."""
    q = select(NoticeTarget.id).where(
        NoticeTarget.room_id == room_id, col(NoticeTarget.acked_at).is_(None)
    )
    if notice_id is not None:
        q = q.where(NoticeTarget.notice_id == notice_id)
    return session.exec(q.limit(1)).first() is not None


def newest_waiting(session: Session, room_id: str) -> int | None:
    """The notice a bare 收到 in this group would acknowledge."""
    return session.exec(
        select(NoticeTarget.notice_id)
        .where(NoticeTarget.room_id == room_id, col(NoticeTarget.acked_at).is_(None))
        .order_by(col(NoticeTarget.notice_id).desc())
        .limit(1)
    ).first()


# -- receipts (also for the dashboard) ---------------------------------------------


@dataclass(frozen=True)
class GroupReceipt:
    """One group a notice went to, and who acknowledged it when (None: not yet)."""

    room_id: str
    topic: str
    unit_id: int | None
    unit_name: str
    acked_at: datetime | None
    acked_by: str | None
    acked_by_name: str


@dataclass(frozen=True)
class Receipt:
    """A notice's acknowledgements: `acked` in the order they came, `missing` in tree
    order."""

    notice: Notice
    author_name: str
    acked: tuple[GroupReceipt, ...]
    missing: tuple[GroupReceipt, ...]

    @property
    def total(self) -> int:
        return len(self.acked) + len(self.missing)

    @property
    def percent(self) -> int:
        return percent(len(self.acked), self.total)


def percent(part: int, whole: int) -> int:
    """A whole-number percentage, halves rounded up."""
    return (200 * part + whole) // (2 * whole) if whole else 0


def receipts(session: Session, notice_id: int) -> Receipt | None:
    """The acknowledged and missing groups of a notice; None if there is no such notice."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        return None
    rows = session.exec(
        select(NoticeTarget, Room, OrgUnit, Person)
        .join(Room, col(Room.id) == col(NoticeTarget.room_id))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(NoticeTarget.unit_id))
        .outerjoin(Person, col(Person.id) == col(NoticeTarget.acked_by))
        .where(NoticeTarget.notice_id == notice_id)
    ).all()
    acked: list[GroupReceipt] = []
    missing: list[GroupReceipt] = []
    for t, room, unit, person in sorted(
        rows, key=lambda r: (_path_key(r[2].path) if r[2] else (), r[1].id)
    ):
        g = GroupReceipt(
            room_id=room.id, topic=room.topic, unit_id=t.unit_id,
            unit_name=unit.name if unit else "", acked_at=t.acked_at, acked_by=t.acked_by,
            acked_by_name=(person.name or person.id) if person else (t.acked_by or ""),
        )  # fmt: skip
        (acked if t.acked_at else missing).append(g)
    acked.sort(key=lambda g: (g.acked_at, g.room_id))
    author = session.get(Person, notice.author_id)
    return Receipt(notice, (author.name if author else "") or notice.author_id,
                   tuple(acked), tuple(missing))  # fmt: skip


def group_labels(groups: Sequence[GroupReceipt]) -> list[str]:
    """How groups are named in replies: the unit's name, with the group's name when the
    unit has several groups among these."""
    per_unit: dict[int | None, int] = {}
    for g in groups:
        per_unit[g.unit_id] = per_unit.get(g.unit_id, 0) + 1
    out = []
    for g in groups:
        if not g.unit_name:
            out.append(g.topic or g.room_id)
        elif per_unit[g.unit_id] > 1 or g.unit_id is None:
            out.append(f"{g.unit_name}（{g.topic or g.room_id}）")
        else:
            out.append(g.unit_name)
    return out


def join_capped(names: Sequence[str], limit: int) -> str:
    """Names joined by 、, cut short with 等N个 past `limit` characters."""
    out: list[str] = []
    size = 0
    for name in names:
        if out and size + len(name) + 1 > limit:
            return "、".join(out) + f" 等{len(names)}个"
        out.append(name)
        size += len(name) + 1
    return "、".join(out)


@dataclass(frozen=True)
class NoticeSummary:
    """A notice still waiting for acknowledgements."""

    id: int
    created_at: datetime
    author_id: str
    author_name: str
    scope: str
    excerpt: str
    total: int
    acked: int
    next_chase_at: datetime | None  # None: no more chases

    @property
    def missing(self) -> int:
        return self.total - self.acked

    @property
    def percent(self) -> int:
        return percent(self.acked, self.total)


def open_notices(session: Session, now: datetime, days: int = 30) -> list[NoticeSummary]:
    """Notices sent in the `days` before `now` that some group has not acknowledged yet,
    newest first, with their counts and the time of the next chase (None when the chases
    are over)."""
    since = now - timedelta(days=days)
    acked_count = func.count(col(NoticeTarget.acked_at))
    rows = session.exec(
        select(Notice, func.count(), acked_count)
        .join(NoticeTarget, col(NoticeTarget.notice_id) == col(Notice.id))
        .where(col(Notice.created_at) >= since, col(Notice.created_at) <= now)
        .group_by(col(Notice.id))
        .having(acked_count < func.count())
        .order_by(col(Notice.id).desc())
    ).all()
    if not rows:
        return []
    keys = [job_key(n.id) for n, _, _ in rows if n.id is not None]
    jobs = {
        j.key: j
        for j in session.exec(select(Job).where(col(Job.key).in_(keys), col(Job.active).is_(True)))
    }
    authors = {
        p.id: p.name
        for p in session.exec(
            select(Person).where(col(Person.id).in_({n.author_id for n, _, _ in rows}))
        )
    }
    out = []
    for n, total, acked in rows:
        assert n.id is not None
        job = jobs.get(job_key(n.id))
        out.append(
            NoticeSummary(
                id=n.id,
                created_at=n.created_at,
                author_id=n.author_id,
                author_name=authors.get(n.author_id) or n.author_id,
                scope=n.scope,
                excerpt=excerpt(n.text),
                total=int(total),
                acked=int(acked),
                next_chase_at=job.next_at if job else None,
            )  # fmt: skip
        )
    return out
