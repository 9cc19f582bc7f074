"""#帮助: the commands this sender may use here, or one in detail."""

from __future__ import annotations

from dataclasses import dataclass

from bot.router import Command, Ctx, Usage
from bot.text import Args


@dataclass(frozen=True)
class HelpArgs:
    topic: str | None


def parse_help(args: Args) -> HelpArgs:
    words = args.words()
    if len(words) > 1:
        raise Usage("一次只能查一个命令")
    return HelpArgs(words[0].lstrip("#") if words else None)


def run_help(ctx: Ctx, args: HelpArgs) -> None:
    router = ctx.services["router"]
    if args.topic is None:
        usable = router.usable(ctx)
        lines = [f"#{c.name} {c.summary}" for c in usable if c.bare is None or c.name != "收到"]
        head = "可用的命令（发送 #帮助 命令名 看详细）：" if lines else "暂无可用的命令。"
        ctx.reply("\n".join([head, *lines]))
        return
    command = router.lookup(args.topic)
    if command is None:
        raise Usage(f"没有“{args.topic}”这个命令")
    lines = [f"#{command.name}：{command.summary}", f"格式：{command.usage}", f"例：{command.example}"]
    if command.aliases:
        lines.append("也可以写作：" + "、".join(f"#{a}" for a in command.aliases))
    roles = command.permission.roles
    lines.append("谁能用：" + ("、".join(roles) if roles else "所有人"))
    if command.detail:
        lines.append(command.detail)
    ctx.reply("\n".join(lines))


COMMANDS = (
    Command(
        name="帮助", aliases=("help", "命令", "菜单"), summary="查看可用的命令",
        usage="#帮助 [命令名]", example="#帮助 进度", parse=parse_help, run=run_help, scope="any",
        detail="也可以直接问：#怎么加分、#如何报进度（或 @ 本助手问）。",
    ),
)
