"""Reading the language of group chat: quote-replies, acknowledgements, hashtags, how-to
questions. Pure functions over text; nothing here touches the database.

- `split_quote` reads a WeChat quote-reply (text form or XML) into its reply and the quoted
  message; `quoted_notice_id` finds which notice a quoted message was.
- `classify_ack` decides whether a reply acknowledges a notice (`收到`, `杨家坪村已收到`,
  `收到12号通知`, `收悉`, `已阅` …) and which one it names.
- `hashtag_kind` tells a `#` command from a near miss (`#进渡` → 进度) and from ordinary
  chat (`#接龙`, `#话题 …`, `#乡村振兴#`); `suggest` finds the near command.
- `help_topic` reads "怎么加分" / "怎么用" as a request for help on a command, or general help.

Inputs are expected normalised (`bot.text.normalize`): Simplified, half-width, numerals
as digits where they stand alone. `split_quote` also accepts the text as received.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.text import parse_int

# -- quote-replies ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quoted:
    reply: str  # what the sender wrote
    quoted_name: str  # display name of the quoted sender ("" when the puppet gave none)
    quoted_text: str  # the quoted message (possibly cut by WeChat with …)


# A separator line: at least five dashes, spaces allowed between (puppets vary: 15, 16 …).
_SEP_LINE = re.compile(r"^[ \t\u2005\u3000]*(?:[-－—][ \t\u2005\u3000]*){5,}$")
_NAME_COLON = re.compile(r"^([^\n:：「」]{1,40})[:：]")
_MAX_XML = 200_000


def split_quote(text: str) -> Quoted | None:
    """The parts of a quote-reply, or None when the text is not one.

    Text form: `「名字：引用的话」`, a line of spaced dashes, then the reply. The quote may
    span lines and contain a quote itself (the first separator after a balanced 「…」
    ends it). XML form: `<msg><appmsg><title>reply</title><refermsg>…` as some puppets
    pass it. No reply (nothing after the separator) is no quote-reply.
    """
    s = text.strip()
    if s.startswith("<"):
        return _split_xml(s)
    if not s.startswith("「"):
        return None
    lines = s.split("\n")
    candidates: list[int] = []
    for i in range(1, len(lines)):
        if not _SEP_LINE.match(lines[i]):
            continue
        block = "\n".join(lines[:i]).rstrip()
        if block.endswith("」"):
            candidates.append(i)
            if block.count("「") == block.count("」"):
                candidates = [i]
                break
    if not candidates:
        return None
    i = candidates[0]
    block = "\n".join(lines[:i]).strip()
    reply = "\n".join(lines[i + 1 :]).strip()
    if not reply:
        return None
    inner = block[1:-1].strip()
    name, quoted = "", inner
    m = _NAME_COLON.match(inner)
    if m:
        name, quoted = m.group(1).strip(), inner[m.end() :].strip()
    if quoted.startswith("<"):  # a quote of a quote: the puppet left the XML in
        nested = _split_xml(quoted)
        if nested is not None:
            quoted = nested.reply
    return Quoted(reply, name, quoted)


def _split_xml(s: str) -> Quoted | None:
    # No DTDs: entity definitions are the only way XML can blow up or reach out.
    if len(s) > _MAX_XML or "<!" in s:
        return None
    try:
        root = ET.fromstring(s)
    except (ET.ParseError, ValueError):
        return None
    appmsg = root if root.tag == "appmsg" else root.find("appmsg")
    if appmsg is None:
        return None
    refer = appmsg.find("refermsg")
    reply = (appmsg.findtext("title") or "").strip()
    if refer is None or not reply:
        return None
    name = (refer.findtext("displayname") or "").strip()
    quoted = (refer.findtext("content") or "").strip()
    if quoted.startswith("<") and "<!" not in quoted and len(quoted) <= _MAX_XML:
        # The quoted message was an app message itself (a quote): its text is its title.
        try:
            inner = ET.fromstring(quoted)
        except (ET.ParseError, ValueError):
            inner = None
        if inner is not None:
            title = inner.findtext("appmsg/title") or inner.findtext("title")
            if title:
                quoted = title.strip()
    return Quoted(reply, name, quoted)


# `【通知 22】`, `【通知22】`, `【通知 22（1/2）】`; the bot writes parts as `【通知 22】(1/2)`.
_NOTICE_HEAD = re.compile(r"【\s*通知\s*(\d{1,9})\s*(?:[(（]\s*\d+\s*/\s*\d+\s*[)）])?\s*】")


def quoted_notice_id(quoted_text: str) -> int | None:
    """The notice number in a quoted bot message's header, if it has one."""
    m = _NOTICE_HEAD.search(quoted_text)
    return int(m.group(1)) if m else None


# -- acknowledgements ---------------------------------------------------------------

# One '@name' said ahead of the words (WeChat puts a space after a mention; NFKC has
# made its U+2005 a plain space).
_AT_WORD = re.compile(r"@[^\s@]{1,20}[\s,，:：]+")


def after_mentions(text: str, names: Iterable[str] = (), limit: int = 1) -> str:
    """`text` without the @mentions it starts with ('@赵主任 收到' → '收到'), at most
    `limit` of them (the mentions the transport reported): the mentioned people's names
    (which may hold a space), else any '@word '."""
    named = sorted((n for n in names if n), key=len, reverse=True)
    for _ in range(limit):
        if not text.startswith("@"):
            break
        name = next((n for n in named if text.startswith("@" + n)), None)
        if name is not None and text[len(name) + 1 : len(name) + 2] in ("", " ", ",", "，", ":", "："):
            text = text[len(name) + 1 :].lstrip(" ,，:：")
            continue
        m = _AT_WORD.match(text)
        if m is None:
            break
        text = text[m.end() :]
    return text


@dataclass(frozen=True, slots=True)
class Ack:
    notice_id: int | None  # the notice named (收到12, 12号通知收到), else None
    name_before: str | None  # the unit or person named before it (杨家坪村收到)
    bad_id: bool = False  # a number was given but cannot be a notice id (0, ten digits …)


MAX_NOTICE_DIGITS = 9

_ACK_WORD = re.compile(r"收到|收悉|已阅")
_NUMERAL = r"(?:\d+|[零〇一二两三四五六七八九十百千万]+)"
# Words said before the acknowledgement that do not change it.
_INTERJECTION = re.compile(r"^(?:(?:好的?|好嘞|明白了?|嗯+|哦+|ok|okay|是的?|谢谢)[\s,.!~、;]*)+")
_ADVERB = re.compile(r"(?:已经|已|刚刚|刚|均已|都已|也已|现已|已全部|全部|均|都|也)$")
_NEGATED = re.compile(r"(?:没|未|不|无|否)有?$")
_NUM_BEFORE = re.compile(
    rf"^(?:第?\s*(?P<n>{_NUMERAL})\s*[号期]\s*(?:通知|文件)?|通知\s*(?P<m>{_NUMERAL})?|来文|文件|材料)$"
)
_NUM_AFTER = re.compile(
    rf"^(?:了\s*)?(?:通知\s*)?(?:第\s*)?(?P<n>{_NUMERAL})\s*(?:[号期]\s*)?(?:通知|文件)?"
)
_NOTICE_AFTER = re.compile(r"^(?:了\s*)?(?:通知|文件)")
# Where a unit name ends (杨家坪村, 三组, 农业农村局, 乡村振兴办 …).
_UNIT = re.compile(
    r"^[\u4e00-\u9fff0-9]{1,14}"
    r"(?:村|乡|镇|县|区|市|组|办|局|队|所|站|社|委|部|室|中心|处|科|股|街道|社区|委会|指挥部)$"
)
# 各村收到 / 请各组收到 address others: a request, not an acknowledgement.
_ADDRESSEE = re.compile(r"^(?:请|各|全体|所有|全部)")
# Common surnames: a 2–4 character "name" before 收到 must start with one (小王, 老张 too),
# so that 快递收到了 / 东西收到了 stay chat.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关"
    "兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻"
    "祁蒲房滕屈饶解牟艾尤阳穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂"
    "全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝郁"
)
_TITLE = r"(?:书记|主任|站长|所长|镇长|乡长|县长|村长|组长|队长|局长|委员|会计|干部|专干|网格员|同志|老师)"
_PERSON = re.compile(
    rf"^(?:(?:小|老)[{_SURNAMES}]|[{_SURNAMES}][\u4e00-\u9fff]{{1,3}}?|[{_SURNAMES}]){_TITLE}?$"
)
_PRONOUN = re.compile(r"^(?:我|我们|本人|我这边|这边)$")
# Nouns that start with a surname character but are things, not people.
_NOT_NAMES = frozenset({"包裹", "钱款", "钱包", "文件夹", "快件", "白菜", "方便面"})
_CHAT_NOUNS = re.compile(r"红包|快递|包裹|货了|收到货")
_SEP_CHARS = " \t\n,，、;；.。!！~…·-—()（）:：\"“”'"
_EMOJI_START = re.compile(
    r"^(?:\[[^\[\]\s]{1,6}\]|[\u2600-\u27bf\U0001f000-\U0001faff\ufe0f\u200d])"
)
# A clause may follow without a comma when it starts with one of these (收到马上落实).
_CLAUSE_START = re.compile(
    r"^(?:马上|立即|立刻|会|将|已|正在|尽快|按时|按要求|谢谢|感谢|明白|好的|落实|转发|遵照|照办|执行|ok|收到|收悉)"
)
_PARTICLE = re.compile(r"^(?:了|啦|嘞|咯|啊|哈|的|喽|哦|呢|哒)+")
_QUESTION = re.compile(r"^[\s了啦]*(?:吗|么|嘛|没|不|否|木有|没有)")
# After a number: what it counts or dates is not a notice (收到 12份, 收到 6月).
_COUNT_UNIT = re.compile(r"^[月日份个张件元块万天点年斤吨本条次页户人位]")
# An acknowledgement closed by a comma or a stop, then a question of its own (收到，模板
#在哪下载？); not a tag asking whether it was received (收到了，没？ 都收到了，对吧？).
_ASKS_AFTER = re.compile(
    r"^[^?？]*?(?:收到|收悉|已阅)[了啦嘞咯啊哈的喽哦哒]?[,，。.!！;；]+(?P<q>[^,，。.!！;；?？\s].*)")
_TAG_QUESTION = re.compile(
    r"^(?:吗|么|嘛|没|不|否|对吧|是吧|对吗|是吗|是不是|对不对|还是|有没有)|[没未]收到")
_ASKS_REPLY = re.compile(r"请.{0,10}回复|^[\s,，]*回复|回复收到|回个")


def _number(raw: str | None) -> tuple[int | None, bool]:
    """(notice id, bad) for a number as typed; never raises, whatever its size."""
    if raw is None:
        return None, False
    if raw.isdigit():
        if len(raw) > MAX_NOTICE_DIGITS or int(raw) == 0:
            return None, True
        return int(raw), False
    n = parse_int(raw) if len(raw) <= 12 else None
    if n is None or n <= 0 or len(str(n)) > MAX_NOTICE_DIGITS:
        return None, True
    return n, False


def _clause_ok(rest: str) -> bool:
    """What follows the acknowledgement: nothing, punctuation/emoji, or a clause."""
    if not rest:
        return True
    if rest[0] in _SEP_CHARS or _EMOJI_START.match(rest) or _CLAUSE_START.match(rest):
        return not _ASKS_REPLY.search(rest)
    return False


def classify_ack(text: str) -> Ack | None:
    """An acknowledgement of a notice, or None for anything else.

    Shape: [interjection] [name or notice ref] [adverb] 收到|收悉|已阅 [particle]
    [notice ref] [punctuation, emoji or a clause]. The name before must look like a unit
    (ends in 村/乡/镇/县/区/组/办/局/队 …) or a person (a surname and 1–3 characters, 小王,
    张书记), so that 快递收到了 stays chat. Never an acknowledgement: a negation before
    (没收到, 未收到), a question after (收到了吗, 收到没) or a trailing '?' (unless the
    acknowledgement was closed first: 收到，模板在哪下载？), a request to
    reply (收到请回复, 请回复收到), an object after (收到红包, 收到货了吗).
    """
    t = text.strip().lower()
    if t[:1] in "#＃":
        t = t[1:].lstrip()
    if not t or len(t) > 200:
        return None
    if t.rstrip(_SEP_CHARS).endswith(("?", "？")) or t.endswith(("?", "？")):
        closed = _ASKS_AFTER.search(t)
        if closed is None or _TAG_QUESTION.search(closed.group("q")):
            return None  # 收到？ asks; 收到，模板在哪下载？ acknowledges, then asks
    if _CHAT_NOUNS.search(t):
        return None
    m = _ACK_WORD.search(t)
    if m is None:
        return None
    before, after = t[: m.start()], t[m.end() :]
    # -- before
    b = before.strip(" \t\n:：,，")
    if _NEGATED.search(b):
        return None
    b = _INTERJECTION.sub("", b).strip(" \t\n:：,，")
    b = _ADVERB.sub("", b).strip(" \t\n:：,，")
    notice_id: int | None = None
    bad = False
    name: str | None = None
    if b:
        nb = _NUM_BEFORE.match(b)
        if nb:
            notice_id, bad = _number(nb.group("n") or nb.group("m"))
        elif (_UNIT.match(b) and not _ADDRESSEE.match(b)) or (
            _PERSON.match(b) and b not in _NOT_NAMES
        ):
            name = b
        elif not _PRONOUN.match(b):
            return None
    # -- after
    after = re.sub(r"^(?:[\s,，]*(?:收到|收悉))+", "", after)  # 收到收到
    if _QUESTION.match(after):
        return None
    rest = _PARTICLE.sub("", after, count=1)
    stripped = rest.lstrip()
    na = _NUM_AFTER.match(stripped)
    if na and notice_id is None and not bad:
        tail = _PARTICLE.sub("", stripped[na.end() :], count=1)
        if not _QUESTION.match(tail) and _clause_ok(tail):
            notice_id, bad = _number(na.group("n"))
            return Ack(notice_id, name, bad)
        if _COUNT_UNIT.match(tail):
            return None  # a count or a date: 收到 12份材料, 收到 12月
    nn = _NOTICE_AFTER.match(stripped)
    if nn:
        tail = _PARTICLE.sub("", stripped[nn.end() :], count=1)
        if _QUESTION.match(tail):
            return None
        if _clause_ok(tail):
            return Ack(notice_id, name, bad)
    if not _clause_ok(rest):
        return None
    return Ack(notice_id, name, bad)


# Replies that agree without saying 收到: they acknowledge only as a quote-reply of a
# notice (好的 on its own is chat).
_AGREE_WORD = (
    r"(?:好的?|好嘞|明白了?|知道了|了解|ok|okay|嗯+|是的?|马上落实|立即落实|抓紧落实|已落实|"
    r"落实|遵照执行|照办|执行|已转发|转发|已安排|安排|谢谢|感谢|收到|收悉|已阅)"
)
_AGREE = re.compile(
    rf"^(?:{_AGREE_WORD}|\[[^\[\]\s]{{1,6}}\]|[\u2600-\u27bf\U0001f000-\U0001faff\ufe0f\u200d])"
    rf"(?:[\s,，、.。!！~]*(?:{_AGREE_WORD}|\[[^\[\]\s]{{1,6}}\]|"
    rf"[\u2600-\u27bf\U0001f000-\U0001faff\ufe0f\u200d]))*[\s,，、.。!！~]*$"
)


def agrees(text: str) -> bool:
    """A short reply that agrees: 好的, 明白, 马上落实, [OK], 👍 … (not a question)."""
    t = text.strip().lower()
    return 0 < len(t) <= 30 and _AGREE.match(t) is not None


# -- hashtags -----------------------------------------------------------------------

HashKind = Literal["command", "near_miss", "chat"]


@dataclass(frozen=True, slots=True)
class Hashtag:
    kind: HashKind
    word: str  # the word after '#' as typed (normalised)
    suggestion: str | None = None  # for a near miss: the command name to suggest


# Words people use for a command that is called something else (canonical names).
SYNONYMS: Mapping[str, str] = {
    word: name
    for name, words in (
        ("进度", "报告 汇报 上报 报进展 进展 报数 进度上报"),
        ("查分", "查分数 看积分 积分余额 查余额"),
        ("通知", "通报 公告 发公告 群发"),
        ("收到", "签收 收悉 已阅"),
        ("帮助", "使用说明 说明 功能 指令 帮忙"),
        ("例会", "会议 开会"),
        ("提醒", "定时 闹钟"),
        ("排名", "排行名 名次"),
    )
    for word in words.split()
}
# '#' words that are topics people post, however close they come to a command name.
_CHAT_WORDS = (
    "接龙 话题 加油 签到 打卡 点赞 排查 提问 投票 转发 分享 通报批评 乡村振兴 每日一学 学习"
    " 安全生产 防汛 表扬 好人好事"
)
CHAT_WORDS = frozenset(_CHAT_WORDS.split())
_WORD_END = re.compile(r"[\s#＃,，、;；:：。.!！?？~…()（）【】\[\]\"“”'0-9+\-/]")


def _table(commands: Mapping[str, Sequence[str]] | Iterable[str]) -> dict[str, str]:
    """Every name and alias (lower case) → its command's canonical name."""
    out: dict[str, str] = {}
    if isinstance(commands, Mapping):
        for name, aliases in commands.items():
            out.setdefault(name.lower(), name)
            for a in aliases:
                out.setdefault(a.lower(), name)
    else:
        for name in commands:
            out.setdefault(name.lower(), name)
    return out


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Levenshtein distance with adjacent transpositions (度进 ↔ 进度 is 1), capped at `limit`."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return min(prev[-1], limit)


def _allowed(word: str, name: str) -> int:
    # By the shorter of the two: 查询 is not a near miss of 回执查询.
    return 1 if min(len(word), len(name)) <= 3 else 2


def suggest(word: str, commands: Mapping[str, Sequence[str]] | Iterable[str]) -> str | None:
    """The command a mistyped or synonym word most likely means (its canonical name).

    A synonym (报告 → 进度) wins; otherwise the closest name or alias within edit
    distance 1 (when word or name has at most 3 characters) or 2 (longer); on a tie a
    command's own name beats an alias, then the command listed first wins. Words in CHAT_WORDS and single characters suggest nothing.
    """
    w = word.strip().lower()
    if len(w) < 2 or len(w) > 20 or w in CHAT_WORDS:
        return None
    table = _table(commands)
    if w in table:
        return table[w]
    canon = set(table.values())
    syn = SYNONYMS.get(w)
    if syn is not None and syn in canon:
        return syn
    best: tuple[int, int, str] | None = None
    for alias, name in table.items():
        d = edit_distance(w, alias)
        key = (d, 0 if alias == name.lower() else 1, name)  # names before aliases
        if d <= _allowed(w, alias) and (best is None or key[:2] < best[:2]):
            best = key
    return best[2] if best else None


def hashtag_kind(text: str, commands: Mapping[str, Sequence[str]] | Iterable[str]) -> Hashtag:
    """What a message starting with '#' is: a command, a near miss of one, or chat.

    Command: the text after '#' starts with a command name or alias (as the router reads
    it, longest first; `#` alone is #帮助). Chat: a closed hashtag (`#乡村振兴#`), a 接龙
    post, a topic word (CHAT_WORDS), or any word `suggest` finds nothing for. The word
    ends at a space, punctuation, a digit or another '#'. Text without '#' is read as if
    the caller had already stripped it.
    """
    s = text.strip()
    if s[:1] in "#＃":
        s = s[1:].lstrip()
    table = _table(commands)
    low = s.lower()
    end = _WORD_END.search(s)
    word = s[: end.start()] if end else s
    if end and s[end.start()] in "#＃" and word:
        return Hashtag("chat", word)  # #乡村振兴# is a topic, never a command
    if not s:
        return Hashtag("command", "")
    if word in CHAT_WORDS:
        return Hashtag("chat", word)
    for name in sorted(table, key=len, reverse=True):
        if low.startswith(name):
            return Hashtag("command", s[: len(name)])
    hit = suggest(word, commands) if word else None
    if hit is not None:
        return Hashtag("near_miss", word, hit)
    return Hashtag("chat", word)


# -- how-to questions ---------------------------------------------------------------

# "How come …" / "why …": a complaint, not a request for instructions.
_WHY = re.compile(
    r"为什么|为啥|怎么还|怎么又|怎么没|怎么不|怎么回事|怎么搞的|怎么会|怎么这么|咋还|咋又|咋没|咋不|咋回事"
)
_HOW = re.compile(r"怎么|怎样|如何|咋|怎么样|教教?我|什么格式|格式是|的格式|用法|操作方法|步骤")
# Asking what the bot can do at all.
_GENERAL = re.compile(
    r"怎么用|怎样用|如何用|咋用|怎么使用|如何使用|怎么操作|如何操作|使用方法|使用说明|"
    r"有什么功能|有哪些功能|有啥功能|什么功能|能干什么|能做什么|会干什么|能干啥|会什么|"
    r"有哪些命令|有什么命令|什么命令|哪些指令|什么指令|帮助|说明书|不会用"
)
_GENERAL_NAMES = frozenset({"帮助", "help", "命令", "菜单"})


def help_topic(text: str, commands: Mapping[str, Sequence[str]]) -> str | None:
    """The command a how-to question asks about, "" for general help, None if not one.

    A how-to marker (怎么/如何/怎样/咋/教我/用法/格式 …) together with a command name or
    alias (longest match, then earliest) names that command: 怎么加分 → 加分, 如何报进度
    → 进度, 积分怎么查 → 查分. A question about using the bot at all (怎么用, 有什么功能)
    is general help (""). "Why / how come" (为什么, 怎么还没 …) is a complaint, not a
    how-to: None. A how-to with no command word (怎么去县里) is None.
    """
    s = text.strip().lower()
    if s[:1] in "#＃":
        s = s[1:].lstrip()
    if not s or len(s) > 100 or _WHY.search(s):
        return None
    how = _HOW.search(s) is not None
    general = _GENERAL.search(s) is not None
    if not how and not general:
        return None
    table = _table(commands)
    best: tuple[int, int, str] | None = None  # (-length, position, canonical)
    for alias, name in table.items():
        pos = s.find(alias)
        if pos < 0 or not alias:
            continue
        key = (-len(alias), pos, name)
        if best is None or key[:2] < best[:2]:
            best = key
    if best is not None:
        name = best[2]
        return "" if name.lower() in _GENERAL_NAMES else name
    return "" if general else None
