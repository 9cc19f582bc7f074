"""Reading a #进度 message the way cadres type it on a phone.

Besides today's one-line form (`危房改造 42`, `42/50`, `+5`) people paste templates:
numbered lines, 【任务】 headers, two tasks on a line, their own village's name, a
截至 date, remarks in brackets, emoji, a signature underneath. `read_report` reads
such a message into items when every figure is unambiguous, and otherwise refuses the
whole message with a short reason naming the line and showing an example: a wrong
figure must never be recorded, so anything not understood is refused, never skipped.

Pure: it takes the configured tasks, the group's own unit names (and aliases) and the
names of the units around it; it never touches the database. The input is the argument
text after `#进度`, already passed through `bot.text.normalize`.

A one-line message is not quoted back in a refusal (the line is the message, and the
wording is today's: “危房改造”后面要写累计完成数); in a longer one each refusal names its
line: 第2行“易地搬迁”后面要写累计完成数. A number before the task ('42 危房改造') is read
only in a one-line message with no other number: in a list it reads as numbering.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.config import TaskConfig
from bot.text import NUMERAL_CHARS, cn2an_smart, simplify

MEASURES = "处户个座家项件套间栋所人亩"


@dataclass(frozen=True)
class ReportItem:
    task: str  # the configured (canonical) name
    amount: int
    mode: Literal["total", "add"]  # the cumulative figure, or an amount added to it
    of: int | None  # the target as written ('42/50', '目标50')
    line_no: int  # 1-based among the message's non-blank lines
    remark: str | None = None  # '（其中新开工3处）' → '其中新开工3处'
    as_of: tuple[int, int] | None = None  # (month, day) from '截至6月17日'
    correction: bool = False  # '更正': may be lower than the last figure


class ReportFormError(ValueError):
    """The message cannot be read without guessing; `reason` says where and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- word lists ---------------------------------------------------------------------

# Words that may stand before a figure (after a task, or before it at the line start).
_PLAIN = {
    "",
    "完成",
    "已完成",
    "完成了",
    "已完成了",
    "已",
    "为",
    "是",
    "达",
    "达到",
    "已达",
    "已达到",
    "实际完成",
    "现完成",
    "有",
}
_CUM = {
    "累计",
    "累计完成",
    "累计已完成",
    "已累计完成",
    "累计完成了",
    "共",
    "共计",
    "共完成",
    "共计完成",
    "总计",
    "合计",
    "总共",
    "一共",
    "一共完成",
    "总共完成",
    "累计达",
    "累计达到",
    "累计共",
    "累计共完成",
    "累计为",
}
_ADD = {"新增", "新增完成", "增加", "新完成", "又完成", "再完成"}
_TARGET = {
    "目标",
    "任务",
    "计划",
    "目标任务",
    "任务数",
    "目标数",
    "计划数",
    "总任务",
    "总任务数",
    "目标任务数",
    "应完成",
    "计划完成",
}
# 'now' words go with any figure; 'period' words only with an added amount (本周完成5户
# may be the week's work or the total: refused).
_NOW = ("截至目前", "截止目前", "目前", "现在", "当前", "至今", "已经", "现")
_PERIOD = ("本周", "本月", "今日", "今天", "昨日", "昨天", "本日", "这周", "上周")
# Header words ignored before the first task: '完成情况：危房改造42'.
_HEADER = (
    "进度情况",
    "进展情况",
    "完成情况",
    "进度报送",
    "工作进度",
    "报送",
    "汇报",
    "上报",
    "进度",
    "情况",
    "如下",
    "具体",
)
_CORRECTION = ("更正", "修正", "纠正", "改正")
# What may follow the last figure of a task.
_TAIL_OK = {"", "了", "完成", "已完成", "已上报", "谢谢", "请审核", "请查收", "以上", "请核实"}
# Names that are not another unit.
_GENERIC_UNITS = (
    "我们村",
    "本村",
    "我村",
    "全村",
    "该村",
    "本乡",
    "我乡",
    "全乡",
    "本镇",
    "我镇",
    "全镇",
    "本社区",
    "村委会",
    "村两委",
    "村民委员会",
    "居委会",
    "村委",
)
_UNIT_NAME = re.compile(r"^([\u4e00-\u9fff]{1,10}?(?:村|社区|乡|镇|街道|县|区|市))")

_SEP_CHARS = " \t,;:。、!?~…·-—_|"
_SEPS = re.compile(f"[{re.escape(_SEP_CHARS)}]+")
_REPEATED = re.compile(r"^#?\s*(?:进度报送|报进度|进度)(?!查询)\s*")
_NUMBERING = re.compile(r"^(?:\(\d{1,2}\)|\d{1,2}[.、)](?!\d)|第\d{1,2}[项条]?[、.:]?)\s*")
_BRACKET_EMOJI = re.compile(r"\[([^\[\]\d]{1,4})\]")
_SQUARE = re.compile(r"【([^【】]*)】")
_PAREN = re.compile(r"\(([^()]*)\)|\([^()]*$")
_NOTE = re.compile(r"(?:备注|说明|注:)\s*:?(.*)$")
_INNER = re.compile(rf"(?:(?<=[\d{MEASURES}\s,;。)])|^)(?:其中|包括|含)[^,;。]*")
_AS_OF = re.compile(
    r"(?:截至到|截止到|截至|截止)\s*(?:\d{4}年)?(\d{1,2})(?:月|[./-])(\d{1,2})[日号]?"
    r"(?:\s*\d{1,2}[时点](?:\d{1,2}分)?)?(?:为止|止)?"
)
_NOW_PHRASE = re.compile(r"(?:截至|截止)(?:到)?(?:目前|今日|今天|现在|当前)(?:为止|止)?")
_NOT_FIGURES = re.compile(
    r"(?:\d{4}年(?:度)?)?\d{1,2}月\d{1,2}[日号]|\d{4}[-./]\d{1,2}[-./]\d{1,2}"
    r"|\d{4}年(?:度)?|\d{1,2}月份|第\d+[周期批次季]|\d{1,2}:\d{2}|\d{1,2}[时点](?:\d{1,2}分|半)?"
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"
)
_PHONE_WORDS = re.compile(r"(?:联系电话|电话|手机|联系方式)\s*:?")
_NUMERAL_RUN = re.compile(f"[{NUMERAL_CHARS}]+")
_LEFT_OK = set("年月日号第共计约至成增为达到标务划有是")
_NUMBER = re.compile(
    rf"(?P<sign>[+-])?(?P<n>\d+(?:\.\d+)?)\s*"
    rf"(?:(?P<pct>%)|[{MEASURES}]?(?:\s*/\s*(?P<of>\d+(?:\.\d+)?)\s*[{MEASURES}]?)?)"
)
# A remark cut out of a line leaves one private-use char; its index is the char's offset.
_MARK_BASE = 0xE100
_MARKS = re.compile("[\ue100-\uf8ff]")
_MAX_DIGITS = 7


def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _strip_emoji(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in ("So", "Sk", "Cf", "Co", "Cs", "Mn") and ch != "√"
    )


def _squash(text: str) -> str:
    return _SEPS.sub("", _MARKS.sub("", text))


def _marks(text: str) -> list[int]:
    return [ord(c) - _MARK_BASE for c in _MARKS.findall(text)]


@dataclass
class _Found:
    task: TaskConfig
    start: int
    end: int


@dataclass
class _Figures:
    amount: int
    mode: Literal["total", "add"]
    of: int | None
    correction: bool


class _Reader:
    def __init__(
        self, tasks: Sequence[TaskConfig], own_names: Sequence[str], other_names: Sequence[str]
    ) -> None:
        self.tasks = tasks
        words = [(simplify(w), t) for t in tasks for w in (t.name, *t.aliases) if w.strip()]
        self.words = sorted(words, key=lambda p: len(p[0]), reverse=True)
        own = {simplify(n) for n in own_names if n.strip()}
        self.own = sorted(own | set(_GENERIC_UNITS), key=len, reverse=True)
        # Units of the org tree that are not this group's (own names win: '王家庄村'
        # is not refused because another unit is called '王家').
        others = {simplify(n) for n in other_names if n.strip()} - own
        self.others = sorted(others, key=len, reverse=True)
        first = tasks[0].name if tasks else "危房改造"
        self.example = f"例：#进度 {first} 42"
        self.names = "、".join(t.name for t in tasks)
        self.many = False  # the message has several lines

    # -- errors --

    def fail(self, where: str, what: str) -> ReportFormError:
        # Of several lines none was recorded: say so, or a cadre resends only the bad
        # line and loses the good ones.
        whole = "本条消息都没有记录，请改正后整条重发。" if self.many else ""
        return ReportFormError(f"{where}{what}。{whole}{self.example}")

    # -- finding things --

    def digits(self, text: str) -> str:
        """Chinese numerals → digits where they stand as a figure: after a task name, a
        keyword ('完成四十二处', which normalize leaves alone because of the 成) or a
        non-CJK char, and before a measure word, a date word or a non-CJK char. '张三'
        in a signature stays a name."""

        def repl(m: re.Match[str]) -> str:
            s, start, end = m.group(0), m.start(), m.end()
            left = text[start - 1] if start > 0 else " "
            right = text[end] if end < len(text) else " "
            if _cjk(right) and right not in MEASURES + "月日号":
                return s
            if (
                _cjk(left)
                and left not in _LEFT_OK
                and not any(text.endswith(w, 0, start) for w, _ in self.words)
            ):
                return s
            try:
                value = cn2an_smart(s)
            except Exception:  # cn2an raises assorted errors on odd runs
                return s
            return str(int(value)) if float(value).is_integer() else s

        return _NUMERAL_RUN.sub(repl, text)

    def task_at(self, text: str, i: int) -> tuple[str, TaskConfig] | None:
        return next(((w, t) for w, t in self.words if text.startswith(w, i)), None)

    def find_tasks(self, text: str) -> list[_Found]:
        found: list[_Found] = []
        i = 0
        while i < len(text):
            hit = self.task_at(text, i)
            if hit is None:
                i += 1
                continue
            found.append(_Found(hit[1], i, i + len(hit[0])))
            i += len(hit[0])
        return found

    def own_prefix(self, text: str, where: str) -> str:
        """The line without the group's own unit name at its start; another unit's
        name there is refused."""
        for name in self.own:
            if text.startswith(name):
                return text[len(name) :].lstrip(_SEP_CHARS)
        if self.task_at(text, 0) is None:
            other = next((n for n in self.others if text.startswith(n)), None)
            m = _UNIT_NAME.match(text)
            if other is None and m and not any(g in m.group(1) for g in "各本全我该每"):
                other = m.group(1)  # a unit the tree does not know: not guessed to be ours
            if other is not None:
                raise self.fail(where, f"写的是“{other}”，不能替其他单位报送；请在该单位的群里报，"
                                       "或去掉单位名")
        return text

    # -- one task's words --

    def figures(self, seg: str, lead: str, where: str, task: str) -> _Figures | None:
        """The figure in the words after a task; `lead` is the keyword written before
        the task at the line start ('累计完成危房改造42'). None when there is no number."""
        correction = False
        for c in _CORRECTION:
            if c in seg:
                correction, seg = True, seg.replace(c, " ")
        totals: list[int] = []
        adds: list[int] = []
        targets: list[int] = []
        pct = False
        pos = 0
        prev: re.Match[str] | None = None
        for m in _NUMBER.finditer(seg):
            pre = _squash(seg[pos : m.start()])
            # '20-25', '20处-25处': a range, not a minus ('42 -5' is one, '20/50-25' not).
            joined = (prev is not None and prev.group("of") is None
                      and seg[prev.end("n") : m.start()].strip(MEASURES) == "")
            prev, pos = m, m.end()
            n, of = m.group("n"), m.group("of")
            if m.group("pct"):
                pct = True  # a percentage is never the figure; its words are not read
                continue
            for v in (n, of):
                if v is not None and "." in v:
                    raise self.fail(where, f"“{v}”不是整数，完成数要写整数，如 42")
                if v is not None and len(v) > _MAX_DIGITS:
                    raise self.fail(where, f"“{v}”这个数太大")
            if lead:
                if pre:
                    raise self.fail(where, f"看不懂“{lead}…{pre}”")
                pre, lead = lead, ""
            kind = self.kind(pre)
            sign = m.group("sign")
            if kind is None or (sign == "+" and kind not in ("plain", "add")):
                raise self.fail(
                    where, f"看不懂“{pre}{sign or ''}{n}”，{task}后面写累计完成数，如 42 或 42/50"
                )
            if sign == "+" and joined and totals:  # '20+3': the sum is not guessed
                raise self.fail(where, f"“{totals[-1]}+{n}”请写成累计完成数，如 "
                                       f"{totals[-1] + int(n)}；只报新增请写 +{n}")
            if sign == "-" and joined and totals:
                raise self.fail(
                    where, f"“{totals[-1]}-{n}”是一个范围，完成数只写一个数，如 42 或 42/50")
            if sign == "-":
                raise self.fail(
                    where,
                    f"完成数不能是负数；如上次报多了，请加“更正”重报，如 #进度 {task} 30 更正",
                )
            if sign == "+":
                kind = "add"
            {"target": targets, "add": adds}.get(kind, totals).append(int(n))
            if of is not None:
                if kind == "target":
                    raise self.fail(where, f"看不懂“{pre}{n}/{of}”")
                targets.append(int(of))
        tail = _squash(seg[pos:])
        if tail not in _TAIL_OK:
            raise self.fail(where, f"看不懂“{tail}”：完成数要写整数，如 42、+5 或 42/50")
        if len(totals) > 1:
            shown = " ".join(map(str, totals))
            many = "两" if len(totals) == 2 else str(len(totals))
            raise self.fail(where, f"“{shown}”是{many}个数，完成数只写一个，如 42 或 42/50")
        if len(targets) > 1:
            raise self.fail(where, f"写了{len(targets)}个目标数，请只写一个")
        of_value = targets[0] if targets else None
        if totals:
            return _Figures(totals[0], "total", of_value, correction)
        if len(adds) > 1:
            raise self.fail(where, f"写了{len(adds)}个新增数，请写累计完成数")
        if adds:
            return _Figures(adds[0], "add", of_value, correction)
        if pct:
            raise self.fail(where, f"只写了百分比，请写完成的数量（{self.unit(task)}数）")
        if targets:
            raise self.fail(where, "只写了目标数，没有写累计完成数")
        if lead:
            raise self.fail(where, f"看不懂“{lead}”")
        return None

    def unit(self, task: str) -> str:
        return next((t.unit for t in self.tasks if t.name == task), "")

    @staticmethod
    def kind(pre: str) -> str | None:
        """'plain' / 'total' (累计) / 'add' (新增) / 'target' for the words before a
        number; None when they are not understood."""
        for w in _NOW:
            if pre.startswith(w):
                pre = pre[len(w) :]
                break
        period = False
        for w in _PERIOD:
            if pre.startswith(w):
                pre, period = pre[len(w) :], True
                break
        if pre in _ADD:
            return "add"
        if period:  # '本周完成5户': the week's work or the total? Not guessed.
            return None
        if pre in _CUM:
            return "total"
        if pre in _PLAIN:
            return "plain"
        if pre in _TARGET:
            return "target"
        return None

    # -- the message --

    def clean(self, raw: str, remarks: list[str], where: str) -> tuple[str, tuple[int, int] | None]:
        """A line with emoji, command words, numbering, remarks, dates and the group's
        own name taken out, and its 截至 date."""
        text = self.digits(_strip_emoji(raw)).strip()

        def emoji(m: re.Match[str]) -> str:
            inner = m.group(1).strip()
            return f" {inner} " if self.task_at(inner, 0) else " "

        text = _BRACKET_EMOJI.sub(emoji, text)
        text = _SQUARE.sub(lambda m: f" {m.group(1)} ", text).strip()
        text = _REPEATED.sub("", text, count=1)
        text = _NUMBERING.sub("", text, count=1)

        def cut(body: str) -> str:
            if len(remarks) >= 0xF8FF - _MARK_BASE:
                raise self.fail(where, "备注太多")
            remarks.append(body.strip(" :"))
            return chr(_MARK_BASE + len(remarks) - 1)

        text = _PAREN.sub(
            lambda m: cut(m.group(1) if m.group(1) is not None else m.group(0)[1:]), text
        )
        text = _NOTE.sub(lambda m: cut(m.group(1)), text)
        for m in _INNER.finditer(text):
            if self.find_tasks(m.group(0)):
                raise self.fail(where, f"“{m.group(0)}”看不出是哪项任务的数，请每项任务分开写")
        text = _INNER.sub(lambda m: cut(m.group(0)), text)
        as_of: tuple[int, int] | None = None
        d = _AS_OF.search(text)
        if d:
            month, day = int(d.group(1)), int(d.group(2))
            if not (1 <= month <= 12 and 1 <= day <= 31):
                raise self.fail(where, f"日期“{d.group(0)}”不对，请写成 6月17日")
            as_of = (month, day)
            text = text[: d.start()] + " " + text[d.end() :]
        text = _NOW_PHRASE.sub(" ", text)
        text = _NOT_FIGURES.sub(" ", text)
        text = _PHONE_WORDS.sub(" ", text)
        text = text.strip(_SEP_CHARS)
        text = _NUMBERING.sub("", text, count=1)  # '截至6月17日 1.危房改造'
        text = self.own_prefix(text, where)
        return text, as_of

    def read(self, text: str) -> list[ReportItem]:
        lines = [ln for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
        if not lines:
            raise self.fail("", "请写任务和累计完成数")
        many = self.many = len(lines) > 1
        items: list[ReportItem] = []
        seen: dict[str, int] = {}
        default_as_of: tuple[int, int] | None = None
        # A task alone on its line ('【危房改造】'), waiting for its figure on the next.
        pending: tuple[_Found, int, str, list[str], tuple[int, int] | None] | None = None
        for no, raw in enumerate(lines, start=1):
            shown = raw.strip()
            shown = shown if len(shown) <= 24 else shown[:23] + "…"
            where = f"第{no}行“{shown}”" if many else ""
            remarks: list[str] = []
            line, as_of = self.clean(raw, remarks, where)
            found = self.find_tasks(line)
            has_number = re.search(r"\d", line) is not None
            if pending is not None:
                p_found, p_no, p_where, p_remarks, p_as_of = pending
                pending = None
                if not found and has_number:
                    fig = self.figures(line, "", where, p_found.task.name)
                    if fig is not None:
                        when = p_as_of or as_of or default_as_of
                        items.append(
                            self.item(
                                p_found.task, fig, p_no, p_remarks + remarks, when, seen, where
                            )
                        )
                        continue
                raise self.fail(p_where or f"“{p_found.task.name}”", "后面要写累计完成数")
            if not found:
                if as_of is not None:
                    default_as_of = as_of  # '截至6月17日各项进度如下：'
                if has_number:
                    word = next(iter(re.findall(r"[\u4e00-\u9fff]+", line)), "")
                    what = (
                        f"没有“{word}”这项任务"
                        if word and self.kind(word) is None
                        else "没有写任务"
                    )
                    raise self.fail(where, f"{what}。任务有：{self.names}")
                continue  # a header or a signature
            head = line[: found[0].start]
            lead = _squash(head)
            for h in _HEADER:
                lead = lead.replace(h, "")
            if re.search(r"\d", lead):
                first = found[0]
                first_seg = line[first.end : found[1].start if len(found) > 1 else len(line)]
                # '①危房改造42' became '1危房改造42': a number written right before the
                # task, with a figure after it, is the item's number, not the figure.
                numbered = re.fullmatch(r"\d{1,2}", head) is not None and int(head) <= 20
                if numbered and self.figures(first_seg, "", where, first.task.name) is not None:
                    lead = ""
                elif not many and len(found) == 1 and not _MARKS.search(head):
                    # '42 危房改造' in a one-line message: today's form, read as the figure
                    # (and refused if another number follows: '42 危房改造 50').
                    fig = self.figures(f"{lead} {first_seg}", "", where, first.task.name)
                    if fig is None:
                        raise self.fail(where, f"数字要写在任务后面，如 {first.task.name} 42")
                    mine = [r for r in (remarks[i] for i in _marks(line)) if r]
                    items.append(self.item(first.task, fig, no, mine, as_of or default_as_of,
                                           seen, where))
                    continue
                else:
                    raise self.fail(where, f"数字要写在任务后面，如 {first.task.name} 42")
            if lead and len(found) > 1:
                raise self.fail(where, f"看不懂“{lead}”，一行有几项任务时，每项后面各写数字")
            for k, f in enumerate(found):
                end = found[k + 1].start if k + 1 < len(found) else len(line)
                seg = line[f.end : end]
                mine = [remarks[i] for i in _marks((head if k == 0 else "") + seg)]
                mine = [r for r in mine if r]
                fig = self.figures(seg, lead if k == 0 else "", where, f.task.name)
                if fig is None:
                    if len(found) == 1 and not _squash(seg):
                        pending = (f, no, where, mine, as_of)
                        break
                    raise self.fail(where, f"“{f.task.name}”后面没有看到数字")
                items.append(self.item(f.task, fig, no, mine, as_of or default_as_of, seen, where))
        if pending is not None:
            raise self.fail(pending[2] or f"“{pending[0].task.name}”", "后面要写累计完成数")
        if not items:
            raise self.fail("", "没有看到任务和累计完成数")
        return items

    def item(
        self,
        task: TaskConfig,
        fig: _Figures,
        no: int,
        remarks: list[str],
        as_of: tuple[int, int] | None,
        seen: dict[str, int],
        where: str,
    ) -> ReportItem:
        if task.name in seen:
            again = f"在第{seen[task.name]}行" if seen[task.name] != no else "前面"
            raise self.fail(
                f"{where}：" if where else "",
                f"“{task.name}”{again}已经报过，一条消息每项任务只报一次",
            )
        seen[task.name] = no
        remark = "；".join(remarks) or None
        return ReportItem(
            task.name, fig.amount, fig.mode, fig.of, no, remark, as_of, fig.correction
        )


def read_report(
    text: str,
    tasks: Sequence[TaskConfig],
    own_names: Sequence[str],
    other_names: Sequence[str] = (),
) -> list[ReportItem]:
    """The items of a #进度 message (see the module doc); ReportFormError when any line
    cannot be read without guessing. `own_names` are the group's unit (with its aliases
    and longer forms); `other_names` the units of the tree that a line may not be for."""
    return _Reader(tasks, own_names, other_names).read(text)
