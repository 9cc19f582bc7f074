"""Commands: how they are declared, recognised, permitted, parsed and run.

A command module (in `bot/handlers/`) declares `COMMANDS`, a tuple of `Command`: its names,
the roles it needs, its usage line and example, a pure argument parser, and a function
that calls the domain and queues its reply through `Ctx`. Nothing runs at import time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import language
from bot.config import Config
from bot.limits import excerpt
from bot.messages import Inbound, Mention, Quote
from bot.models.core import AuditEntry, OrgUnit, Person, Room
from bot.org import OrgError, Roles, resolve_person
from bot.orgcache import OrgView
from bot.outbox import ChartData, OutboxWriter
from bot.text import Args, normalize, simplify, tokenize


class Usage(Exception):
    """The arguments are wrong: the reply names what, and shows the command's example."""


class Refusal(Exception):
    """The command cannot be done; the message is the whole reply. Nothing is changed."""


@dataclass(frozen=True)
class Permission:
    """Who may use a command where. The router refuses by it and #帮助 lists by it, so
    that #帮助 never offers a command the router would refuse.

    `roles`: any one of them, valid on the group's unit, allows the command (() is
    everyone); they are also what #帮助 shows as 谁能用. `check`, when given, decides
    instead of `roles` (e.g. "HQ, or a cadre above the unit"): it returns the refusal
    text, or None to allow.
    """

    roles: tuple[str, ...] = ()
    check: Callable[[Ctx], str | None] | None = None

    def refusal(self, ctx: Ctx) -> str | None:
        """None if the sender may use `ctx.command` here, else the reply refusing it."""
        if self.check is not None:
            return self.check(ctx)
        if self.roles and not ctx.roles.has(*self.roles):
            return needs(ctx.command)
        return None

    def offered(self, ctx: Ctx) -> bool:
        """Whether #帮助 lists `ctx.command`: the sender holds one of its roles (a check
        may allow more people, whom #帮助 does not guess at) and the router allows it."""
        if self.roles and not ctx.roles.has(*self.roles):
            return False
        return self.refusal(ctx) is None


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    usage: str
    example: str
    parse: Callable[[Args], Any]
    run: Callable[[Ctx, Any], None]
    aliases: tuple[str, ...] = ()
    # `roles` and `check` make the command's `permission` (see Permission).
    roles: tuple[str, ...] = ()
    # "group": a bound group; "room": any group, bound or not; "any": also direct messages.
    scope: str = "group"
    check: Callable[[Ctx], str | None] | None = None
    # Whether a whole message (normalised, and the message it quotes if it is a
    # quote-reply) runs this command without '#' (收到).
    bare: Callable[[str, Quote | None], bool] | None = None
    # The unit levels whose groups the command works in; () is every level. #帮助 lists
    # a command only where it works.
    levels: tuple[str, ...] = ()
    # A cheap read run before anything is written or rate-limited: False means the
    # message is ordinary chat after all (收到 with no notice waiting in the group).
    gate: Callable[[Session, Inbound, Parsed], bool] | None = None
    detail: str = ""
    permission: Permission = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "permission", Permission(self.roles, self.check))

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass
class Ctx:
    """What a handler sees: the message, who sent it where, and how to answer."""

    session: Session
    msg: Inbound
    config: Config
    now: datetime
    writer: OutboxWriter
    person: Person
    room: Room | None
    unit: OrgUnit | None
    roles: Roles
    command: Command
    services: dict[str, Any] = field(default_factory=dict)
    # The per-process cache as this message sees it (`bot.orgcache`); None outside a
    # message's unit of work. Read it before writing to the org's tables.
    org: OrgView | None = None

    @property
    def zone(self) -> ZoneInfo:
        return self.config.zone

    def local(self, when: datetime | None = None) -> datetime:
        return (when or self.now).astimezone(self.zone)

    def reply(self, text: str, mentions: Sequence[str] = (), image: bytes | None = None,
              chart: ChartData | None = None) -> None:
        """Answer in the group the message came from (@ the sender there, see
        `reply_mentions`), or to the sender directly. `chart`: drawn when sent."""
        self.writer.put(
            self.session, text, room_id=self.msg.room,
            to_id=None if self.msg.room else self.msg.sender,
            transport=self.msg.transport, reply_to=self.msg.id,
            mentions=reply_mentions(self.config, self.msg, mentions), image=image,
            account=self.msg.account,  # the bot account that received it answers
            chart=chart,
        )

    def send(self, room_id: str, text: str, kind: str = "notice", image: bytes | None = None) -> None:
        """Post in another group (a broadcast, a flag to a supervising group)."""
        self.writer.put(self.session, text, room_id=room_id, kind=kind, image=image)

    def audit(self, action: str, **detail: Any) -> None:
        self.session.add(
            AuditEntry(
                at=self.now, actor_id=self.person.id, action=action,
                detail=json.dumps(detail, ensure_ascii=False, default=str), msg_id=self.msg.id,
            )
        )

    def resolve(self, mention: Mention) -> Person:
        """The person an @mention or a bare name means; Refusal when it is unclear."""
        try:
            return resolve_person(self.session, mention, self.msg.room, self.unit, self.now)
        except OrgError as e:
            raise Refusal(str(e)) from None

    def require_unit(self, *levels: str) -> OrgUnit:
        if self.unit is None:
            raise Refusal(UNBOUND)
        if levels and self.unit.level not in levels:
            raise Refusal(f"#{self.command.name} 只能在{'/'.join(levels)}级的群里使用")
        return self.unit


def reply_mentions(config: Config, msg: Inbound, mentions: Sequence[str] = ()) -> tuple[str, ...]:
    """Who a reply to `msg` @s: the sender first in a group (a muted group notifies only
    on an @; `[bot] mention_sender_in_groups`), never in a direct message."""
    if msg.room is None or not config.bot.mention_sender_in_groups:
        return tuple(mentions)
    return tuple(dict.fromkeys((msg.sender, *mentions)))


def needs(command: Command) -> str:
    return f"#{command.name} 需要{'或'.join(command.roles)}权限"


UNBOUND = "本群还没有绑定单位。管理员可发送：#绑定 村 皇叔洼村 上级 吴城乡"
_PREFIX = re.compile(r"^[#＃]\s*")
# After a command's name, a short how-to question about it (#进度怎么报, #积分怎么查?).
# Only a verb may follow (#异议 怎么少了5分 is a complaint to file, not a question).
_HOW_AFTER = re.compile(r"^(?:怎么|如何|怎样|咋)样?\S{0,2}?(?:呢|啊)?[?？]?$")


def split_message(msg: Inbound) -> tuple[str, Quote | None]:
    """The reply part of a message and the message it quotes (None: not a quote-reply).

    WeChat delivers a quote-reply as one text (`「名字：引用」`, a line of dashes, the
    reply); a transport that separates them sets `Inbound.quote`. Handlers that need the
    quoted context (which notice 收到 answers) read it from their message with this."""
    if msg.quote is not None:
        return msg.text, msg.quote
    q = language.split_quote(msg.text)
    if q is None:
        return msg.text, None
    return q.reply, Quote(q.quoted_name, q.quoted_text)


@dataclass(frozen=True)
class Parsed:
    command: Command | None  # None: '#something' that is no command
    word: str  # the command word as typed
    args: Args
    quote: Quote | None = None  # the quoted message, for a quote-reply
    # For a '#word' that is no command: the command it nearly is (#进渡 → #进度).
    suggestion: Command | None = None
    # A bare form said to people ('@贾主任 收到'): the ids mentioned ahead of it (its gate
    # decides whether it was said to them about the notice, or is chat with them).
    said_to: tuple[str, ...] = ()

    def unknown_reply(self) -> str:
        """The answer to a '#word' that is no command (`command` is None)."""
        if self.suggestion is not None:
            return f"您是不是要 #{self.suggestion.name}？例：{self.suggestion.example}"
        return f"没有“{excerpt(self.word)}”这个命令。发送 #帮助 查看可用的命令。"


class Router:
    def __init__(self, commands: Iterable[Command], bot_name: str, bot_id: str = "") -> None:
        self.commands: tuple[Command, ...] = tuple(commands)
        self._by_name: dict[str, Command] = {}
        for c in self.commands:
            for n in c.names:
                key = simplify(n).lower()
                if key in self._by_name:
                    raise ValueError(f"command name {n!r} declared twice")
                self._by_name[key] = c
        # Longest first, so that "进度查询" wins over "进度".
        self._names = sorted(self._by_name, key=len, reverse=True)
        self._bare = [c for c in self.commands if c.bare is not None]
        # Every command's names, for reading near misses and how-to questions.
        self.vocabulary: dict[str, tuple[str, ...]] = {
            simplify(c.name): tuple(simplify(a) for a in c.aliases) for c in self.commands
        }
        self.bot_name = simplify(bot_name)
        self.bot_id = bot_id

    def lookup(self, name: str) -> Command | None:
        return self._by_name.get(simplify(name).lstrip("#").lower())

    def _name_at_start(self, text: str) -> str | None:
        """The longest command name `text` starts with (ASCII names in any case)."""
        return next((n for n in self._names if text[: len(n)].lower() == n), None)

    def parse(self, msg: Inbound) -> Parsed | None:
        """The command in a message, or None for ordinary chat (which gets no reply).

        A quote-reply is read by its reply part; the quoted message rides along as
        context (`Parsed.quote`). Addressed (after '#' or an @mention of the bot): a
        command name at the start; else a how-to question (`#怎么加分` is `#帮助 加分`);
        else a bare form (`#已收到`); else a near miss of a command (a `suggestion`).
        Other '#' words (a topic, a 接龙, `#…#`) are chat; an @mention that is no command
        is answered that there is no such command.
        """
        reply, quote = split_message(msg)
        text = normalize(reply)
        mentions = tuple(m for m in msg.mentions if not (self.bot_id and m.id == self.bot_id))
        addressed = hashed = False
        if _PREFIX.match(text):
            text = _PREFIX.sub("", text, count=1)
            addressed = hashed = True
        else:
            at_bot = f"@{self.bot_name}"
            rest = text[len(at_bot) :]
            # "@村务助手小王" is someone else: the bot's name must end there (WeChat puts
            # a space after a mention), unless a command follows at once.
            if text.startswith(at_bot) and (
                not rest or not rest[0].isalnum() or self._name_at_start(rest) is not None
            ):
                text = rest.lstrip(" \t\n,:;、")
                addressed = True
                # Without a configured bot id: one mention more than '@'s left is the
                # bot's: the one with its name, else the first.
                if len(mentions) > text.count("@"):
                    bot = next((m for m in mentions if simplify(m.name) == self.bot_name),
                               mentions[0])
                    mentions = tuple(m for m in mentions if m is not bot)
            elif msg.mentions_bot:
                addressed = True
            text = _PREFIX.sub("", text, count=1)
        if not addressed:
            return self._bare_command(text, mentions, quote)
        if not text:
            return Parsed(self.lookup("帮助"), "帮助", Args((), ""), quote)
        name = self._name_at_start(text)
        helper = self.lookup("帮助")
        if name is not None and (longer := self._slip_of_longer(text, name)) is not None:
            # '#进度查寻': a slip in a longer command's name, not #进度 with '查寻'.
            return Parsed(None, text.split()[0], Args((), text), quote,
                          suggestion=self._by_name[longer])
        if name is not None:
            rest = text[len(name) :].strip()
            command = self._by_name[name]
            if (
                helper is not None
                and _HOW_AFTER.match(rest)
                and language.help_topic(text, self.vocabulary) is not None
            ):  # #进度怎么报
                return Parsed(helper, "帮助", Args((command.name,), command.name), quote)
            return Parsed(command, name, Args(tokenize(rest, mentions), rest), quote)
        topic = language.help_topic(text, self.vocabulary)
        if topic is not None and helper is not None:
            return Parsed(helper, "帮助", Args((topic,) if topic else (), topic), quote)
        bare = self._bare_command(text, mentions, quote)
        if bare is not None:
            return bare
        tag = language.hashtag_kind(text, self.vocabulary)
        word = text.split()[0]
        if tag.kind == "near_miss" and tag.suggestion is not None:
            near = self.lookup(tag.suggestion)
            return Parsed(None, tag.word, Args((), text), quote, suggestion=near)
        if hashed:
            return None  # a topic, a 接龙, #乡村振兴#: chat
        return Parsed(None, word, Args((), text), quote)

    def _slip_of_longer(self, text: str, name: str) -> str | None:
        """A longer command name that `text` starts with but for one slip (进度查寻 for
        进度查询), when `name` is its start and the typed word is as long as it."""
        word = text.split(maxsplit=1)[0] if text.strip() else ""
        for longer in self._names:
            if (len(longer) > len(name) and longer.startswith(name) and len(word) == len(longer)
                    and word != longer and language.edit_distance(word, longer, 2) == 1):
                return longer
        return None

    def _bare_command(
        self, text: str, mentions: tuple[Mention, ...], quote: Quote | None
    ) -> Parsed | None:
        # '@贾主任 收到': a bare form said to people the transport reports mentioned.
        said_to: tuple[str, ...] = ()
        if text.startswith("@") and mentions:
            rest = language.after_mentions(text, (normalize(m.name) for m in mentions),
                                           limit=len(mentions))
            if rest != text:
                text, said_to = rest, tuple(m.id for m in mentions)
        for c in self._bare:
            assert c.bare is not None
            if c.bare(text, quote):
                return Parsed(c, c.name, Args(tokenize(text, mentions)[1:], text), quote,
                              said_to=said_to)
        return None

    def allowed(self, ctx: Ctx, command: Command) -> str | None:
        """None if the sender may use the command here, else the refusal text."""
        return command.permission.refusal(_about(ctx, command))

    def usable(self, ctx: Ctx) -> list[Command]:
        """The commands #帮助 offers the sender of `ctx` where it was sent."""
        in_room = ctx.msg.room is not None
        level = ctx.unit.level if ctx.unit is not None else None
        out = []
        for c in self.commands:
            if not in_room and c.scope != "any":
                continue
            if c.levels and level is not None and level not in c.levels:
                continue
            if not c.permission.offered(_about(ctx, c)):
                continue
            out.append(c)
        return out


def _about(ctx: Ctx, command: Command) -> Ctx:
    """`ctx` as the command would see it (a check names the command in its refusal)."""
    return ctx if ctx.command is command else replace(ctx, command=command)
