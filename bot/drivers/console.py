"""`villagebot console`: a terminal chat for trying commands.

Type messages as the current speaker in the current group. Lines starting with '/'
steer the console: /room ID [topic], /as ID [name], /dm (talk to the bot directly),
/who, /quit. Piped standard input works the same: `echo '#帮助' | villagebot console`.
At a terminal, lines can be edited and earlier ones recalled (readline).
When the database cannot be reached the console says so, keeps the command queued
(`bot.inbox`, in memory) and goes on reading; it is handled when the database is back.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from bot.app import App
from bot.inbox import Inbox, database_unreachable
from bot.messages import Inbound, Mention, Outgoing
from bot.sender import OutboxSender

NAME = "console"
QUEUED = "数据库暂时连不上，命令已排队，恢复后处理。"
LEFT = "还有 {n} 条命令未处理（数据库连不上），退出后不再保留。"
# How long a command may take before the console stops waiting for it and reads on.
WAIT_SECONDS = 3.0
HELP = (
    "控制台：/room 群ID [群名] 换群，/as 联系人ID [名字] 换人，/dm 私聊，/who 当前身份，/quit 退出"
)


class ConsoleTransport:
    name = NAME
    can_send_images = False

    def __init__(self, out: TextIO, bot_name: str) -> None:
        self.out = out
        self.bot_name = bot_name

    async def send(self, o: Outgoing) -> None:
        where = f"群 {o.room}" if o.room else f"私聊 {o.to}"
        extra = "（附图片）" if o.image else ""
        self.out.write(f"[{self.bot_name} → {where}] {o.text}{extra}\n")
        self.out.flush()


@dataclass
class Speaker:
    id: str
    name: str
    room: str | None
    topic: str


def _mentions(text: str) -> tuple[Mention, ...]:
    """'@刘伟' in console text mentions the contact id 'wxid_刘伟'... unless written
    '@刘伟(wxid_liuwei)'; the id form is what real transports provide."""
    out = []
    for word in text.split():
        if word.startswith("@") and len(word) > 1:
            name = word[1:]
            if "(" in name and name.endswith(")"):
                name, cid = name[:-1].split("(", 1)
            else:
                cid = f"console_{name}"
            out.append(Mention(cid, name))
    return tuple(out)


async def run_console(
    app: App, inp: TextIO | None = None, out: TextIO | None = None, speaker: Speaker | None = None
) -> None:
    inp = inp or sys.stdin
    out = out or sys.stdout
    me = speaker or Speaker("console_admin", "管理员", "console_room", "控制台测试群")
    transport = ConsoleTransport(out, app.config.bot.name)
    sender = OutboxSender(app.db, {NAME: transport}, app.clock)

    async def flush() -> None:
        try:
            await sender.flush()
        except Exception as e:
            if not database_unreachable(e):
                raise

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    async def queued(_msg: Inbound) -> None:
        say(QUEUED)

    flushes: set[asyncio.Task[None]] = set()

    def handled() -> None:  # a command handled late (the database came back): its replies
        task = asyncio.ensure_future(flush())
        flushes.add(task)
        task.add_done_callback(flushes.discard)

    inbox = Inbox(app.handle, on_queued=queued, notice_after=WAIT_SECONDS, on_handled=handled)
    try:
        await _read(app, inp, out, me, inbox, flush)
    finally:
        if inbox.waiting:
            say(LEFT.format(n=inbox.waiting))
        await inbox.close(0)
        await asyncio.gather(*flushes, return_exceptions=True)


def _readline() -> bool:
    """Turn on line editing for `input()`; False where readline is missing (Windows)."""
    try:
        import readline
    except ImportError:
        return False
    readline.parse_and_bind("tab: complete")
    return True


async def _read(
    app: App,
    inp: TextIO,
    out: TextIO,
    me: Speaker,
    inbox: Inbox,
    flush: Callable[[], Awaitable[None]],
) -> None:
    interactive = inp.isatty()
    # At a terminal: line editing and history (arrow keys, Ctrl-R) through readline,
    # which `input()` uses once it is imported. Piped input is read as it is.
    editing = interactive and inp is sys.stdin and out is sys.stdout and _readline()
    if interactive:
        out.write(HELP + "\n")
    ids = itertools.count(1)
    while True:
        prompt = f"{me.name}@{me.room or '私聊'}> "
        if editing:
            try:
                line = await asyncio.to_thread(input, prompt) + "\n"
            except EOFError:
                break
        else:
            if interactive:
                out.write(prompt)
                out.flush()
            line = await asyncio.to_thread(inp.readline)
            if not line:
                break
        text = line.rstrip("\n")
        if not text.strip():
            continue
        if text.startswith("/"):
            parts = text[1:].split()
            cmd = parts[0] if parts else ""
            if cmd == "quit":
                break
            if cmd == "room" and len(parts) >= 2:
                me.room, me.topic = parts[1], " ".join(parts[2:]) or parts[1]
            elif cmd == "as" and len(parts) >= 2:
                me.id, me.name = parts[1], " ".join(parts[2:]) or parts[1]
            elif cmd == "dm":
                me.room = None
            elif cmd == "who":
                out.write(f"{me.name}（{me.id}）在 {me.room or '私聊'}\n")
            else:
                out.write(HELP + "\n")
            continue
        # Real transports strip the '(id)' of a mention from the text; so does this one.
        shown = " ".join(w.split("(", 1)[0] if w.startswith("@") else w for w in text.split())
        msg = Inbound(
            transport=NAME,
            id=f"console-{app.clock.now().timestamp()}-{next(ids)}",
            sender=me.id,
            sender_name=me.name,
            text=shown,
            at=app.clock.now(),
            room=me.room,
            topic=me.topic if me.room else None,
            mentions=_mentions(text),
        )
        inbox.put(msg)
        # The usual case: handled at once, replies printed before the next prompt.
        if await inbox.wait_handled(msg, WAIT_SECONDS):
            await flush()
