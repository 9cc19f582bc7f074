"""The application: everything wired in `build_app()`, one transaction per message.

The path of a message: a transport converts it to `Inbound` and awaits `App.handle`,
which checks every field (`bot.limits.sanitize`: an unusable message is logged and
dropped); ordinary chat stops there (no database work). A command hops once into the
database thread as a unit of work (`Database.unit`), where `_handle_in` journals it (a
duplicate delivery stops here), asks its gate (a bare 收到 with nothing to acknowledge is
chat, but stays journaled), checks the sender's role, parses, runs the handler and
writes its replies to the outbox, all in one transaction, or in one savepoint of a
transaction shared with the other messages waiting (group commit). After the commit
the outbox sender is woken to deliver.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from bot.accounts import Memberships, note_member
from bot.clock import Clock, SystemClock
from bot.config import Config, load_config
from bot.db import Database, insert_ignore
from bot.hotpath import Statements
from bot.jobs import JobKind, JobRunner
from bot.limits import Limits, Rejected, Sanitized, excerpt, sanitize
from bot.messages import Inbound
from bot.migrate import create_schema
from bot.models.core import Person, Room
from bot.org import OrgError, note_speaker, roles_of, touch_person
from bot.orgcache import OrgCache, OrgView, attach
from bot.outbox import OutboxWriter
from bot.ratelimit import RateLimiter
from bot.router import UNBOUND, Command, Ctx, Parsed, Refusal, Router, Usage, reply_mentions
from bot.text import simplify
from bot.welcome import Join, clean_join, greet, welcome_mentions, welcome_text

log = logging.getLogger(__name__)

ERROR_REPLY = "处理出错了，已记录。请稍后再试，或联系管理员。"
ATTEMPTS = 3  # tries of one message's transaction when it collides with another
RATE_REPLY = "您发送命令太快了，请稍等一分钟再发。"


@dataclass
class _Memo:
    """What is decided once per message, kept across its attempts."""

    now: datetime | None = None
    verdict: str | None = None  # the rate limiter's
    # The handler runs in a savepoint of its own (after it refused once without one).
    careful: bool = False
    # Group memberships written by the attempt, known to the cache once it committed.
    members: list[tuple[str, str]] = field(default_factory=list)


class _Redo(Exception):
    """The handler refused, or failed on a number, without a savepoint of its own: the
    whole unit is rolled back and the message handled again with one (`_Memo.careful`),
    which undoes the handler's writes but keeps the journal entry and the reply."""


@dataclass
class App:
    config: Config
    clock: Clock
    db: Database
    router: Router
    writer: OutboxWriter
    jobs: JobRunner
    limiter: RateLimiter
    # Shared helpers handlers may need (task registry, chart renderer …), by name.
    services: dict[str, Any] = field(default_factory=dict)
    # Called after a transaction that queued messages has committed (wakes the sender).
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    # Which bot account is in which group, as this process has recorded it.
    memberships: Memberships = field(default_factory=Memberships)
    # What every message reads and rarely changes (bot.orgcache), and the hot path's
    # statements, built once.
    cache: OrgCache = field(default_factory=OrgCache)
    statements: Statements = field(default_factory=Statements)

    # -- messages ------------------------------------------------------------------

    async def handle(self, msg: Inbound) -> bool:
        """Handle one inbound message; True if it was a command (and so journaled).
        Returns once its transaction has committed (group commit: with whatever other
        messages were waiting); only then is the sender woken."""
        clean = self._sanitized(msg)
        if clean is None:
            return False
        # Learned from any message (chat too), once its ids passed the checks.
        if msg.account and msg.room and not self.memberships.known(msg.account, msg.room):
            await self._note_member(msg.account, msg.room)
        checked = self._parsed(clean)
        if checked is None:
            return False
        msg, parsed, too_long = checked
        memo = _Memo()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                # A retry runs alone: a message that made its batch's commit fail does
                # not take the others down with it again.
                unit = partial(self._handle_in, msg=msg, parsed=parsed, too_long=too_long,
                               memo=memo)
                try:
                    handled = await self.db.unit(unit, alone=attempt > 1)
                except _Redo:
                    handled = await self.db.unit(unit, alone=attempt > 1)
                self._known(memo)
                break
            except Exception as e:
                if not self._try_again(msg, e, attempt):
                    handled = await self.db.unit(
                        partial(self._error_reply, msg=msg, memo=memo), alone=True)
                    break
        self._committed()
        return handled

    def handle_sync(self, msg: Inbound) -> bool:
        """The same as `handle`, in the calling thread (tests, tools)."""
        checked = self._check(msg)
        if checked is None:
            return False
        msg, parsed, too_long = checked
        handled = self.handle_parsed(msg, parsed, too_long)
        self._committed()
        return handled

    def _check(self, msg: Inbound) -> tuple[Inbound, Parsed, bool] | None:
        """The one place inbound fields are checked (`bot.limits.sanitize`): the cleaned
        message and its command, or None for chat and for a message unfit to handle
        (logged and dropped, never answered)."""
        result = self._sanitized(msg)
        return None if result is None else self._parsed(result)

    def _sanitized(self, msg: Inbound) -> Sanitized | None:
        result = sanitize(msg, self.config.limits.input_limits())
        if isinstance(result, Rejected):
            log.warning("dropped an inbound message: %s", result.reason)
            return None
        return result

    def _parsed(self, result: Sanitized) -> tuple[Inbound, Parsed, bool] | None:
        parsed = self.router.parse(result.msg)
        if parsed is None:
            return None
        return result.msg, parsed, result.too_long

    def handle_parsed(self, msg: Inbound, parsed: Parsed, too_long: bool = False) -> bool:
        """`handle` after the checks, in the calling thread, in a transaction of its own."""
        memo = _Memo()
        for attempt in range(1, ATTEMPTS + 1):
            unit = partial(self._handle_in, msg=msg, parsed=parsed, too_long=too_long, memo=memo)
            try:
                try:
                    handled = self.db.unit_sync(unit)
                except _Redo:
                    handled = self.db.unit_sync(unit)
                self._known(memo)
                return handled
            except Exception as e:
                if not self._try_again(msg, e, attempt):
                    break
        return self.db.unit_sync(partial(self._error_reply, msg=msg, memo=memo))

    def _try_again(self, msg: Inbound, e: Exception, attempt: int) -> bool:
        """After a failed attempt at a message: True to try again."""
        if not isinstance(e, DBAPIError):
            log.error("command failed: %r", excerpt(msg.text, 200), exc_info=e)
            return False
        if attempt == ATTEMPTS:
            log.error("command failed %s times: %r", attempt, excerpt(msg.text, 200), exc_info=e)
            return False
        # A conflict with a concurrent transaction (a unique key, a deadlock, a
        # serialisation failure, a busy SQLite) or a failed commit: nothing was kept.
        log.warning("retrying %r after a database conflict: %s", excerpt(msg.text, 200), e.orig)
        return True

    def _handle_in(self, session: Session, msg: Inbound, parsed: Parsed, too_long: bool,
                   memo: _Memo) -> bool:
        """Journal, gate, rate-limit and run one command: one unit of work. The journal
        entry is written first, so a redelivery is a no-op whatever was decided, and on
        SQLite the write lock is taken by the first statement (never upgraded from a read)."""
        if memo.now is None:
            memo.now = self.clock.now()
        now = memo.now
        memo.members = []
        gate = parsed.command.gate if parsed.command is not None else None
        token = self._journal(session, msg, now)
        if token is None:
            log.info("duplicate delivery of %s/%s ignored", msg.transport, msg.id)
            return False
        if gate is not None and not gate(session, msg, parsed):
            return False  # chat after all; journaled, so judged only once
        if memo.verdict is None:  # asked once, even when the message is tried again
            memo.verdict = self.limiter.check(msg.sender, now)
        if memo.verdict == "drop":
            log.info("rate limit: dropped a command from %s", msg.sender)
            return False
        if memo.verdict == "warn":
            self._reply(session, msg, RATE_REPLY)
        elif too_long:
            self._reply(session, msg, too_long_reply(self.config))
        else:
            view = OrgView(self.cache, self.cache.generation(token), session)
            self._dispatch(session, msg, parsed, now, view, memo)
        return True

    def _known(self, memo: _Memo) -> None:
        """After the commit: what the message wrote that the cache may now rely on."""
        if memo.now is not None:
            day = memo.now.date()
            for room_id, person_id in memo.members:
                self.cache.member_written(room_id, person_id, day)

    def _error_reply(self, session: Session, msg: Inbound, memo: _Memo) -> bool:
        """The message failed: journal it with the error reply (unless it was handled)."""
        if self._journal(session, msg, memo.now or self.clock.now()) is not None:
            self._reply(session, msg, ERROR_REPLY)
        return True

    def _journal(self, session: Session, msg: Inbound, now: datetime) -> str | None:
        """Record the message: the cache version's token as of this write (one statement:
        the insert returns it), or None if it was recorded before (a duplicate)."""
        # The unit's first statement (nothing to flush): on the connection, past the
        # ORM's statement handling.
        row = session.connection().execute(self.statements.journal(session), {
            "transport": msg.transport, "msg_id": msg.id, "room_id": msg.room,
            "sender_id": msg.sender, "text": msg.text, "received_at": now}).first()
        if row is None:
            return None
        # No version row (a schema made by hand): a token no other unit will have.
        return row[1] if row[1] is not None else f"none:{id(row)}:{now.timestamp()}"

    def _reply(self, session: Session, msg: Inbound, text: str) -> None:
        self.writer.put(session, text, room_id=msg.room, to_id=None if msg.room else msg.sender,
                        transport=msg.transport, reply_to=msg.id,
                        mentions=reply_mentions(self.config, msg), account=msg.account)

    def _room(self, session: Session, msg: Inbound, view: OrgView) -> Room | None:
        """The message's group: from the cache, written only when new or renamed."""
        if msg.room is None:
            return None
        row = view.room(msg.room)
        if row is None:
            insert_ignore(session, Room, {"id": msg.room, "transport": msg.transport,
                                          "topic": msg.topic or ""}, ["id"])
            room = session.get(Room, msg.room)
            assert room is not None
        else:
            room = attach(session, Room, row.id, {
                "id": row.id, "transport": row.transport, "topic": row.topic,
                "unit_id": row.unit_id, "bound_by": row.bound_by, "bound_at": row.bound_at})
        if msg.topic and room.topic != msg.topic:
            room.topic = msg.topic
        return room

    def _person(self, session: Session, msg: Inbound, now: datetime, view: OrgView,
                memo: _Memo) -> Person:
        """The sender: from the cache, written only when new or renamed; their group
        membership written once a day at most (`OrgCache.member_known`)."""
        row = view.person(msg.sender)
        if row is None:
            person = touch_person(session, msg.sender, msg.sender_name, None, now)
        else:
            person = attach(session, Person, row.id, {
                "id": row.id, "name": row.name, "household_id": row.household_id,
                "updated_at": row.updated_at})
            name = simplify(msg.sender_name)
            if name and person.name != name:
                person.name = name
                person.updated_at = now
        if msg.room is not None and not self.cache.member_known(msg.room, msg.sender,
                                                                  now.date()):
            note_speaker(session, msg.room, msg.sender, now)
            memo.members.append((msg.room, msg.sender))
        return person

    def _dispatch(self, session: Session, msg: Inbound, parsed: Parsed, now: datetime,
                  view: OrgView, memo: _Memo) -> None:
        room = self._room(session, msg, view)
        person = self._person(session, msg, now, view, memo)
        command = parsed.command
        if command is None:
            self._reply(session, msg, parsed.unknown_reply())
            return
        unit = view.unit(room.unit_id) if room is not None and room.unit_id is not None else None
        grants = view.grants(msg.sender, unit) if unit is not None else frozenset[str]()
        roles = roles_of(msg.sender, grants, self.config.bot.admins)
        ctx = Ctx(session=session, msg=msg, config=self.config, now=now, writer=self.writer,
                  person=person, room=room, unit=unit, roles=roles, command=command,
                  services=self.services, org=view)
        if msg.room is None and command.scope != "any":
            self._reply(session, msg, f"#{command.name} 请在工作群里使用。")
            return
        if command.scope == "group" and unit is None:
            self._reply(session, msg, UNBOUND)
            return
        refusal = self.router.allowed(ctx, command)
        if refusal is not None:
            self._reply(session, msg, refusal)
            return
        if _LONG_DIGITS.search(parsed.args.text):
            # No argument needs a number this long (an ID card has 18 digits), and the
            # handlers' int() would refuse one past 4300 digits with an exception.
            self._reply(session, msg, usage_reply(command, NUMBER_TOO_BIG))
            return
        try:
            args = command.parse(parsed.args)
        except Usage as e:
            self._reply(session, msg, usage_reply(command, str(e)))
            return
        # A refusal undoes the handler's writes, but the journal entry and the refusal's
        # reply stay. First without a savepoint (two statements fewer): a refusal then
        # rolls the whole unit back and it runs again with one (`_Redo`).
        if not memo.careful:
            try:
                command.run(ctx, args)
            except (Usage, Refusal, OrgError) as e:
                memo.careful = True
                raise _Redo() from e
            except (OverflowError, DBAPIError) as e:
                if not _out_of_range(e):
                    raise
                memo.careful = True
                raise _Redo() from e
            return
        try:
            with session.begin_nested():
                command.run(ctx, args)
        except Usage as e:
            self._reply(session, msg, usage_reply(command, str(e)))
        except (Refusal, OrgError) as e:
            self._reply(session, msg, quote_short(str(e)))
        except (OverflowError, DBAPIError) as e:
            # A number past what the column holds (a handler that converts its digits
            # unbounded): a mistake in the command, not a fault. Anything else re-raises.
            if not _out_of_range(e):
                raise
            self._reply(session, msg, usage_reply(command, NUMBER_TOO_BIG))

    async def _note_member(self, account: str, room: str) -> None:
        """The account is in the group (bot.accounts): once per process and group."""
        now = self.clock.now()
        try:
            await self.db.run(lambda s: note_member(s, account, room, now))
        except Exception as e:  # only routing knowledge: never in the way of a message
            log.warning("recording account %s in %s failed: %r", account, room, e)
            return
        self.memberships.add(account, room)

    # -- joins ---------------------------------------------------------------------

    async def handle_join(self, join: Join) -> bool:
        """Someone joined a group: welcomed once (`bot.welcome`). True if welcomed."""
        checked = clean_join(join, self.config.limits.input_limits())
        if isinstance(checked, Rejected):
            log.warning("dropped a join event: %s", checked.reason)
            return False
        join = checked
        welcomed = await self.db.call(lambda: self.handle_join_sync(join))
        self._committed()
        return welcomed

    def handle_join_sync(self, join: Join) -> bool:
        now = self.clock.now()
        with self.db.transaction() as session:
            w = greet(session, self.config, join, now)
            if w is None:
                return False
            self.writer.put(session, welcome_text(w), room_id=join.room,
                            transport=join.transport, kind="welcome",
                            mentions=welcome_mentions(w))
        return True

    # -- plumbing ------------------------------------------------------------------

    def _committed(self) -> None:
        for fn in self.on_commit:
            fn()

    def close(self) -> None:
        self.db.close()


# PostgreSQL's "numeric value out of range" (SQLSTATE 22003).
_OUT_OF_RANGE = "22003"
NUMBER_TOO_BIG = "数字太大了"
# A run of digits (any script's: handlers match \\d) longer than any argument needs.
_LONG_DIGITS = re.compile(r"\d{41}")
# A quoted piece of user input in a reply: “…”.
_QUOTED = re.compile(r"“([^“”]*)”")


def _out_of_range(e: Exception) -> bool:
    """SQLite refuses an int past 64 bits with OverflowError (before the query runs);
    PostgreSQL with SQLSTATE 22003."""
    if isinstance(e, OverflowError):
        return True
    return isinstance(e, DBAPIError) and getattr(e.orig, "sqlstate", None) == _OUT_OF_RANGE


def quote_short(text: str) -> str:
    """`text` with every “quoted” piece of user input cut to a short excerpt."""
    short = Limits().max_excerpt_chars
    return _QUOTED.sub(
        lambda m: m.group(0) if len(m.group(1)) <= short else f"“{excerpt(m.group(1))}”", text
    )


def too_long_reply(config: Config) -> str:
    n = config.limits.max_command_chars
    return f"命令太长了（超过 {n} 字），没有处理。请分几条发送。"


def usage_reply(command: Command, reason: str) -> str:
    reason = quote_short(reason).rstrip("。")
    return f"{reason}。例：{command.example}" if reason else f"格式：{command.usage}。例：{command.example}"


def freeze_startup_objects() -> None:
    """Once a long-running process has started (`villagebot run`; the bench, which
    measures that process): collect, then move every object alive into the collector's
    permanent generation (`gc.freeze`), so that a full collection scans only what was
    made since. The ~118,000 objects of the start (SQLAlchemy, pydantic, the models)
    made one gen-2 pass cost 60–70 ms of CPU, a stall every message waited behind
    (issue 17, P3's p99); frozen, under 1 ms. Not for tests and tools that build many
    apps (docs/performance.md)."""
    gc.collect()
    gc.freeze()


def build_app(
    config: Config | None = None,
    *,
    commands: Iterable[Command],
    kinds: Iterable[JobKind],
    seed: Callable[[App], None] | None = None,
    clock: Clock | None = None,
    db_url: str | None = None,
    admins: Iterable[str] = (),
) -> App:
    """Everything the bot needs, wired once. Opens (and migrates) the database.

    The commands, the job kinds and `seed` (which puts the built-in jobs in place) are
    given by the caller: `bot.wiring` has the defaults, so that this module needs no
    command or schedule module.
    """
    config = config or load_config()
    if admins:
        config = config.with_overrides(bot={"admins": [*config.bot.admins, *admins]})
    clock = clock or SystemClock()
    db = Database(db_url or config.database.url, config.database.workers,
                  config.database.sqlite_synchronous)
    create_schema(db.engine)
    writer = OutboxWriter(config, clock)
    services: dict[str, Any] = {}
    router = Router(commands, config.bot.name, config.bot.contact_id)
    jobs = JobRunner(kinds, config, clock, writer, services)
    limiter = RateLimiter(config.limits.burst, config.limits.per_minute)
    services["router"] = router
    app = App(config=config, clock=clock, db=db, router=router, writer=writer, jobs=jobs,
              limiter=limiter, services=services)
    if seed is not None:
        seed(app)
    return app
