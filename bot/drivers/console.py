"""`villagebot console`: a terminal chat for trying commands.

Type messages as the current speaker in the current group. Lines starting with '/'
steer the console: /room ID [topic], /as ID [name], /dm (talk to the bot directly),
/who, /quit. Piped standard input works the same: `echo '#帮助' | villagebot console`.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from dataclasses import dataclass
from typing import TextIO

from bot.app import App
from bot.messages import Inbound, Mention, Outgoing
from bot.sender import OutboxSender

NAME = "console"
HELP = "控制台：/room 群ID [群名] 换群，/as 联系人ID [名字] 换人，/dm 私聊，/who 当前身份，/quit 退出"


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


async def run_console(app: App, inp: TextIO | None = None, out: TextIO | None = None,
                      speaker: Speaker | None = None) -> None:  # fmt: skip
    inp = inp or sys.stdin
    out = out or sys.stdout
    me = speaker or Speaker("console_admin", "管理员", "console_room", "控制台测试群")
    transport = ConsoleTransport(out, app.config.bot.name)
    sender = OutboxSender(app.db, {NAME: transport}, app.clock)
    interactive = inp.isatty()
    if interactive:
        out.write(HELP + "\n")
    ids = itertools.count(1)
    while True:
        if interactive:
            out.write(f"{me.name}@{me.room or '私聊'}> ")
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
            transport=NAME, id=f"console-{app.clock.now().timestamp()}-{next(ids)}",
            sender=me.id, sender_name=me.name, text=shown, at=app.clock.now(), room=me.room,
            topic=me.topic if me.room else None, mentions=_mentions(text),
        )  # fmt: skip
        await app.handle(msg)
        await sender.flush()
