"""The command reference (docs/commands.md), written from the commands' own declarations,
so it cannot drift from what the bot accepts."""

from __future__ import annotations

from bot.router import Command

SCOPES = {"group": "绑定了单位的群", "room": "任何群", "any": "群里或私聊"}


def markdown(commands: list[Command], families: list[tuple[str, list[Command]]]) -> str:
    out = [
        "# Commands",
        "",
        "Written by `villagebot commands` from the declarations in `bot/handlers/`; a test keeps",
        "this file equal to its output. A command starts with `#` (or `＃`) or an @mention of",
        "the bot; `收到` also works bare. Traditional characters, full-width digits and Chinese",
        "numerals are accepted everywhere.",
        "",
    ]
    for family, cmds in families:
        out += [f"## {family}", "", "| command | who | where | example |", "|---|---|---|---|"]
        for c in cmds:
            names = " / ".join(f"`#{n}`" for n in c.names)
            who = "、".join(c.roles) if c.roles else "所有人"
            where = SCOPES.get(c.scope, c.scope)
            if c.levels:
                where += "（" + "/".join(c.levels) + "级）"
            out.append(f"| {names}<br>{c.summary} | {who} | {where} | `{c.example}` |")
        out.append("")
        for c in cmds:
            out.append(f"- `{c.usage}`" + (f" — {c.detail}" if c.detail else ""))
        out.append("")
    return "\n".join(out)
