"""Targets and progress reports: #目标, #进度, #撤回, #进度查询, #未报.

Each handler parses its words, calls one function of `bot.progress` and puts the
result into words with `bot.progress.wording`.
"""

from __future__ import annotations

from bot.handlers.progress.queries import parse_task_arg, run_query, run_unreported
from bot.handlers.progress.reports import (
    parse_report,
    parse_withdraw,
    run_report,
    run_withdraw,
)
from bot.handlers.progress.targets import check_target, parse_target, run_target
from bot.org import CADRE, HQ
from bot.router import Command

__all__ = ["COMMANDS", "parse_report", "parse_target"]

COMMANDS = (
    Command(
        name="目标", aliases=("设定目标", "下达目标"), summary="设定本单位的任务目标",
        usage="#目标 任务 目标数 截止 日期 [开始 日期]", example="#目标 危房改造 50 截止 6月30日",
        parse=parse_target, run=run_target, roles=(HQ, CADRE), check=check_target,
        detail="指挥部，或上级单位的干部可用（干部不能给本单位定目标）。不写开始日期就从今天开始；"
               "再设一次就替换原目标（尚未到期的目标保留原来的开始日期）。",
    ),
    Command(
        name="进度", aliases=("报进度", "进度报送"), summary="报送本单位的累计完成数",
        usage="#进度 任务 累计数[/目标数] [更正]", example="#进度 危房改造 42",
        parse=parse_report, run=run_report, roles=(CADRE,),
        detail="累计数写到今天为止一共完成多少；“+5”或“新增5”在上次的数上加5；比上次少要加“更正”。"
               "一条消息可以报几项：每行一项，或一行几项（危房改造42处，易地搬迁18户）。"
               "也可以直接贴报送模板：编号（1.、①）、【任务】、本村村名、括号里的备注、表情、"
               "落款都可以；“截至6月17日”限最近7天，按报送当天记；同时写“新增”和“累计”时按累计记。"
               "有一行看不准，整条都不记，回复会指出是哪一行。",
    ),
    Command(
        name="撤回", aliases=("撤回进度",), summary="撤回自己最近一次的进度报送（24小时内）",
        usage="#撤回", example="#撤回", parse=parse_withdraw, run=run_withdraw, roles=(CADRE,),
    ),
    Command(
        name="进度查询", aliases=("查进度", "查询进度", "进度情况"), summary="查看本单位（或下级各单位）的进度",
        usage="#进度查询 [任务]", example="#进度查询 危房改造", parse=parse_task_arg, run=run_query,
    ),
    Command(
        name="未报", aliases=("未报送", "谁没报"), summary="本周还没有报送进度的单位",
        usage="#未报 [任务]", example="#未报", parse=parse_task_arg, run=run_unreported,
        roles=(CADRE, HQ),
    ),
)
