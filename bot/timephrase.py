"""The time phrase at the start of a reminder: "今晚8点", "6月28日 下午5点", "每周五 17:00".

A hand-written strict grammar rather than a general parser (jionlp's parse_time): a
general parser guesses (unknown words dropped, "3点" taken as 03:00 or 15:00 by its own
rule), is a heavy dependency (jieba, dictionaries), and its guesses cannot be refused; here every word of the phrase
is read exactly or the whole command is refused with one correct example.

The input is text after `bot.text.normalize` (digits mostly, but numerals after 晚/午/周
stay Chinese: "今晚八点"), with the phrase first and the reminder's content after it.
Pure: no database and no config; the zone is `now`'s.

Hours without 上午/下午 are read the way offices talk: "1点"–"5点" (no colon) are the
afternoon, 13:00–17:00 ("3点开会" said at 10:00 means 15:00; nobody sets a reminder
for 03:00 without saying 凌晨), and the confirmation shows the absolute time so a slip
is seen at once. "6点"–"11点" are the morning; when that has passed today the command
is refused with the 今晚 form as a hint, never moved to the evening in silence.
Colon times ("3:00") are 24-hour and taken as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.calendar import is_workday

WEEKDAY_NAMES = "一二三四五六日"
_WEEKDAY_CHARS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}

EX_DATE = "6月28日 17:00 报送月度考核材料"
EX_TONIGHT = "今晚8点 开视频会"
EX_TOMORROW = "明天 9:00 开会"
EX_AFTERNOON = "明天下午3点 开会"
EX_WEEKLY = "每周五 17:00 报送周报"
EX_MONTHLY = "每月1日 9:00 党员大会"
EX_LAST_DAY = "每月最后一天 16:00 报送月报"
EX_LATER = "半小时后 开会"


class TimePhraseError(ValueError):
    """The phrase was not understood exactly; the message says what and shows an example."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse(phrase: str, why: str, example: str) -> TimePhraseError:
    return TimePhraseError(f"没看懂时间“{phrase.strip()}”：{why}。例：#提醒 {example}")


# -- recurrence ----------------------------------------------------------------------

Kind = Literal["daily", "workdays", "weekly", "monthly", "month_last_day", "month_last_workday"]
_KINDS: tuple[Kind, ...] = (
    "daily",
    "workdays",
    "weekly",
    "monthly",
    "month_last_day",
    "month_last_workday",
)


def _month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A repeating reminder time in a zone. `weekdays` (0 = Monday) for weekly, `day`
    (1–28) for monthly. Workdays follow China's holidays and make-up days."""

    kind: Kind
    at: time
    zone: ZoneInfo
    weekdays: tuple[int, ...] = ()
    day: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown recurrence kind {self.kind!r}")
        if self.kind == "weekly" and (
            not self.weekdays or any(not 0 <= w <= 6 for w in self.weekdays)
        ):
            raise ValueError("weekly needs weekdays 0-6")
        if self.kind == "monthly" and not 1 <= self.day <= 28:
            raise ValueError("monthly needs a day 1-28")

    def _on(self, day: date) -> bool:
        if self.kind == "daily":
            return True
        if self.kind == "workdays":
            return is_workday(day)
        if self.kind == "weekly":
            return day.weekday() in self.weekdays
        if self.kind == "monthly":
            return day.day == self.day
        days = _month_days(day.year, day.month)
        if self.kind == "month_last_day":
            return day == days[-1]
        return day == next(d for d in reversed(days) if is_workday(d))

    def next_after(self, after: datetime) -> datetime:
        """The first run strictly after `after` (any aware datetime), in the rule's zone."""
        day = after.astimezone(self.zone).date()
        for _ in range(400):
            if self._on(day):
                when = datetime.combine(day, self.at, tzinfo=self.zone)
                if when > after:
                    return when
            day += timedelta(days=1)
        raise ValueError(f"no run of {self.describe()} within 400 days")

    def describe(self) -> str:
        """'每周五 17:00', '每个工作日 08:30', '每月最后一个工作日 16:00'."""
        hhmm = f"{self.at:%H:%M}"
        if self.kind == "weekly":
            days = "、".join(WEEKDAY_NAMES[w] for w in self.weekdays)
            return f"每周{days} {hhmm}"
        if self.kind == "monthly":
            return f"每月{self.day}日 {hhmm}"
        label = {
            "daily": "每天",
            "workdays": "每个工作日",
            "month_last_day": "每月最后一天",
            "month_last_workday": "每月最后一个工作日",
        }[self.kind]
        return f"{label} {hhmm}"

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": f"{self.at:%H:%M}",
            "zone": self.zone.key,
            "weekdays": list(self.weekdays),
            "day": self.day,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Recurrence:
        hh, mm = str(payload["at"]).split(":")
        return cls(
            payload["kind"],
            time(int(hh), int(mm)),
            ZoneInfo(payload["zone"]),
            tuple(int(w) for w in payload.get("weekdays", ())),
            int(payload.get("day", 0)),
        )


@dataclass(frozen=True, slots=True)
class When:
    """A parsed phrase: `at` is the one-off time, or the first run of `rule`."""

    at: datetime
    content: str
    phrase: str  # the text the phrase took up, as typed
    rule: Recurrence | None = field(default=None)


# -- the grammar ---------------------------------------------------------------------

_NUM = r"(?:\d{1,2}|[零〇一二两三四五六七八九十]{1,3})"
_WD = r"[一二三四五六日天1-7]"
_CONTENT_SEPS = " \t\n,、;:.。!?~-—"

_RECURRENCE = re.compile(
    r"(?P<daily>每天|每日|天天)"
    r"|(?P<workdays>每个?工作日|工作日(?:每天)?)"
    rf"|每个?(?:周|星期|礼拜)(?P<weekly>{_WD}(?:[、,和]?{_WD})*)"
    r"|(?P<lastwork>每个?月的?最后[一1]个工作日)"
    r"|(?P<lastday>每个?月的?(?:最后[一1]天|月底))"
    r"|每个?月的?(?P<monthly>\d{1,2})[日号]"
)
_LATER = re.compile(
    rf"(?:(?P<n>{_NUM})\s*个?\s*(?P<half>半)?\s*个?\s*(?:小时|钟头)(?:\s*(?P<nm>\d{{1,2}})\s*分钟?)?"
    rf"|(?P<halfonly>半)\s*个?\s*(?:小时|钟头)"
    rf"|(?P<mins>{_NUM})\s*分钟)\s*(?:以)?后"
)
# Words that name a day and a part of it at once.
_DAY_PERIOD = {
    "今早": (0, "早上"),
    "今晚": (0, "晚上"),
    "今夜": (0, "晚上"),
    "明早": (1, "早上"),
    "明晚": (1, "晚上"),
    "明夜": (1, "晚上"),
}
_DAY_WORDS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_RELDAY = re.compile(
    r"(?P<word>大后天|今天|今日|明天|明日|后天|今早|今晚|今夜|明早|明晚|明夜)"
    rf"|(?P<n>{_NUM})\s*天(?:以)?后"
)
_WEEKDAY = re.compile(rf"\(?\s*(?P<pre>本|这个?|下下个?|下个?)?(?:周|星期|礼拜)(?P<d>{_WD})\s*\)?")
_DATE = re.compile(
    r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?"
    r"|(?P<y2>\d{4})(?P<s2>[-/.])(?P<m2>\d{1,2})(?P=s2)(?P<d2>\d{1,2})(?![\d.:/-])"
    r"|(?P<m3>\d{1,2})\s*月\s*(?P<d3>\d{1,2})\s*[日号]?"
    r"|(?P<m4>\d{1,2})[-/.](?P<d4>\d{1,2})(?![\d.:/-])"
    r"|(?P<rel>本月|这个?月|下个?月)\s*(?P<d6>\d{1,2})\s*[日号]"
    r"|(?:(?P<m7>\d{1,2})\s*|(?P<rel7>本|这个?|下个?))?月底"
    r"|(?P<d5>\d{1,2})\s*[日号]"
)
# A week or month said without its day.
_NO_DAY = re.compile(r"(?:下下个?|下个?|本|这个?|上个?)(?:周|星期|礼拜|月)(?![一二三四五六日天1-7\d底])")
_PERIOD = re.compile(r"上午|下午|中午|傍晚|晚上|晚间|早上|早晨|清晨|凌晨|夜里|夜间|半夜|深夜|早|晚")
_CLOCK = re.compile(
    rf"(?P<h>{_NUM})\s*(?:"
    r":\s*(?P<mc>\d{2})(?!\d)"
    rf"|[点时](?:(?P<half>半)|(?P<q>[一三1])刻钟?|(?P<mm>{_NUM})\s*分钟?|(?P<mb>\d{{1,2}})(?![\d:])|整|钟)?"
    r")"
)
_PERIOD_OF = {
    "早上": "上午",
    "早晨": "上午",
    "清晨": "上午",
    "早": "上午",
    "晚间": "晚上",
    "晚": "晚上",
    "夜里": "晚上",
    "夜间": "晚上",
    "半夜": "晚上",
    "深夜": "晚上",
}


def _skip(text: str, pos: int) -> int:
    """The position after any spaces and commas at `pos`."""
    while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
        pos += 1
    return pos


def _num(s: str) -> int:
    """'17', '八', '十二', '二十' → int (0–99)."""
    if s.isdigit():
        return int(s)
    if "十" in s:
        tens, _, ones = s.partition("十")
        if len(tens) > 1 or len(ones) > 1:
            raise ValueError(s)
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    if len(s) != 1:
        raise ValueError(s)
    return _CN_DIGITS[s]


@dataclass
class _Parts:
    rule: re.Match[str] | None = None
    later: re.Match[str] | None = None
    day: re.Match[str] | None = None  # _RELDAY or _DATE
    weekday: re.Match[str] | None = None
    period: str | None = None
    period_text: str = ""
    clock: re.Match[str] | None = None

    def has_day(self) -> bool:
        return self.day is not None or self.weekday is not None

    def complete(self) -> bool:
        return self.later is not None or self.clock is not None


def _scan(text: str) -> tuple[_Parts, int]:
    """Read the parts of the phrase at the start of `text`; the end of the phrase."""
    p = _Parts()
    pos = end = _skip(text, 0)

    while pos < len(text):
        if (
            p.rule is None
            and p.later is None
            and not p.has_day()
            and p.clock is None
            and p.period is None
        ):
            if m := _RECURRENCE.match(text, pos):
                p.rule, pos = m, m.end()
            elif m := _LATER.match(text, pos):
                p.later, pos = m, m.end()
                end = pos
                break
            if p.rule is not None:
                end = pos
                pos = _skip(text, pos)
                continue
        if p.clock is None and (m := _CLOCK.match(text, pos)):
            p.clock, pos = m, m.end()
        elif p.clock is None and p.period is None and (m := _PERIOD.match(text, pos)):
            p.period, p.period_text, pos = m.group(0), m.group(0), m.end()
            if not _CLOCK.match(text, _skip(text, pos)):
                raise _refuse(text[:pos], f"“{m.group(0)}”后面要写几点", EX_AFTERNOON)
        elif (m := _RELDAY.match(text, pos) or _DATE.match(text, pos)) or (
            m := _WEEKDAY.match(text, pos)
        ):
            is_weekday = m.re is _WEEKDAY
            if p.clock is not None:
                # "17:00 6月28日 报送": a day after the time, if it stands apart.
                rest = text[m.end() : m.end() + 1]
                if p.has_day() or (rest and not rest.isspace() and rest != ","):
                    break
            if p.rule is not None or p.later is not None:
                raise _refuse(text[: m.end()], "重复的提醒不用写日期", EX_WEEKLY)
            if is_weekday and p.day is not None and m.re is _WEEKDAY and p.day.re is _DATE:
                p.weekday = m  # "6月28日（周五）": checked against the date later
            elif p.has_day():
                raise _refuse(text[: m.end()], "写了两个日期", EX_DATE)
            elif is_weekday:
                p.weekday = m
            else:
                p.day = m
                word = m.groupdict().get("word")
                if word in _DAY_PERIOD:
                    p.period, p.period_text = _DAY_PERIOD[word][1], word
                    if not _CLOCK.match(text, _skip(text, m.end())):
                        raise _refuse(text[: m.end()], f"“{word}”后面要写几点", EX_TONIGHT)
            pos = m.end()
        else:
            break
        end = pos
        if p.clock is not None and p.has_day():
            break
        pos = _skip(text, pos)
    return p, end


def _clock(p: _Parts, phrase: str, recurring: bool) -> tuple[time, int, bool]:
    """The time of day, days to add (晚上12点 is the next day's 00:00), and whether the
    hour was written without 上午/下午 on a 12-hour dial (6点–12点)."""
    m = p.clock
    if m is None:
        example = EX_WEEKLY if recurring else (EX_DATE if p.day is not None else EX_TOMORROW)
        raise _refuse(phrase, "要写几点", example)
    try:
        h = _num(m.group("h"))
        mm = m.group("mc") or m.group("mm") or m.group("mb")
        minute = 30 if m.group("half") else _num(mm) if mm else 0
        if m.group("q"):
            minute = 15 if m.group("q") in "一1" else 45
    except (ValueError, KeyError):
        raise _refuse(phrase, f"“{m.group(0)}”不是时间", EX_TOMORROW) from None
    if minute > 59:
        raise _refuse(phrase, "分钟要在0到59之间", EX_TOMORROW)
    period = _PERIOD_OF.get(p.period or "", p.period)
    if period is None:
        if h > 23:
            raise _refuse(phrase, f"没有{h}点", EX_TOMORROW)
        colon = m.group("mc") is not None
        if not colon and 1 <= h <= 5:
            return time(h + 12, minute), 0, False  # "3点开会": 15:00 (see the docstring)
        return time(h, minute), 0, not colon and 6 <= h <= 11
    colon = m.group("mc") is not None
    said = f"{p.period_text}{m.group(0)}"
    # 24-hour clock times that agree with the word are fine ("今晚 20:00", "下午 17:00").
    if colon and period in ("中午", "下午", "傍晚", "晚上") and 13 <= h <= 23:
        if period == "晚上" and h < 18 or period != "晚上" and h > 19:
            raise _refuse(phrase, f"“{said}”对不上", EX_AFTERNOON)
        return time(h, minute), 0, False
    ok = {
        "上午": range(0, 13),
        "中午": (10, 11, 12, 1, 2),
        "下午": range(1, 12),
        "傍晚": range(4, 9),
        "晚上": (*range(0, 5), *range(6, 13)),
        "凌晨": range(0, 7),
    }[period]
    if h not in ok:
        raise _refuse(phrase, f"{p.period_text}不能是{h}点", EX_AFTERNOON)
    if period in ("下午", "傍晚") or (period == "中午" and h < 10):
        h += 12
    elif period == "晚上":
        if h == 12 or h <= 4:  # 晚上12点 is the next day's 00:00; 夜里1点 the small hours after
            if recurring:
                raise _refuse(
                    phrase, f"“{said}”已是第二天，请写第二天的 {h % 12:02d}:{minute:02d}", EX_WEEKLY
                )
            return time(h % 12, minute), 1, False
        h += 12
    return time(h, minute), 0, False


def _later(m: re.Match[str], now: datetime, phrase: str) -> datetime:
    try:
        if m.group("mins"):
            minutes = _num(m.group("mins"))
        elif m.group("halfonly"):
            minutes = 30
        else:
            minutes = _num(m.group("n")) * 60 + (30 if m.group("half") else 0)
            if m.group("nm"):
                minutes += int(m.group("nm"))
    except (ValueError, KeyError):
        raise _refuse(phrase, "看不懂多久以后", EX_LATER) from None
    if minutes <= 0:
        raise _refuse(phrase, "要写多久以后", EX_LATER)
    return now.replace(second=0, microsecond=0) + timedelta(minutes=minutes)


def _date(m: re.Match[str], today: date, phrase: str) -> date:
    g = m.groupdict()
    y = g["y"] or g["y2"]
    mo = g["m"] or g["m2"] or g["m3"] or g["m4"]
    if m.group(0).endswith("月底"):  # "月底", "下个月底", "6月底": that month's last day
        if g["m7"] is None:
            return _month_days(*_this_or_next(today, (g["rel7"] or "").startswith("下")))[-1]
        month = int(g["m7"])
        if not 1 <= month <= 12:
            raise _refuse(phrase, f"没有{month}月", EX_DATE)
        day = _month_days(today.year, month)[-1]
        return _month_days(today.year + 1, month)[-1] if (today - day).days > 183 else day
    d = int(g["d"] or g["d2"] or g["d3"] or g["d4"] or g["d5"] or g["d6"])
    if g["rel"] is not None:  # "下个月5号", "本月28日": that month, even if passed
        year, month = _this_or_next(today, g["rel"].startswith("下"))
    elif mo is None:  # "28号": this month, or next month once the day has passed
        year, month = _this_or_next(today, d < today.day)
    else:
        year, month = (int(y) if y else today.year), int(mo)
    if not 1 <= month <= 12:
        raise _refuse(phrase, f"没有{month}月", EX_DATE)
    try:
        day = date(year, month, d)
    except ValueError:
        raise _refuse(phrase, f"{month}月没有{d}日", EX_DATE) from None
    if y is None and mo is not None and (today - day).days > 183:
        try:  # a January date typed in December
            day = day.replace(year=year + 1)
        except ValueError:
            raise _refuse(phrase, f"{year + 1}年2月没有29日", EX_DATE) from None
    return day


def _this_or_next(today: date, nxt: bool) -> tuple[int, int]:
    """(year, month) of today's month, or of the next one."""
    if not nxt:
        return today.year, today.month
    return today.year + today.month // 12, today.month % 12 + 1


def _weekday(m: re.Match[str]) -> int:
    d = m.group("d")
    return int(d) - 1 if d.isdigit() else _WEEKDAY_CHARS[d]


def _recurrence(m: re.Match[str], at: time, zone: ZoneInfo, phrase: str) -> Recurrence:
    if m.group("daily"):
        return Recurrence("daily", at, zone)
    if m.group("workdays"):
        return Recurrence("workdays", at, zone)
    if m.group("lastwork"):
        return Recurrence("month_last_workday", at, zone)
    if m.group("lastday"):
        return Recurrence("month_last_day", at, zone)
    if days := m.group("weekly"):
        chars = [c for c in days if c not in "、,和"]
        wds = [int(c) - 1 if c.isdigit() else _WEEKDAY_CHARS[c] for c in chars]
        if len(set(wds)) != len(wds):
            raise _refuse(phrase, "星期几写重了", EX_WEEKLY)
        return Recurrence("weekly", at, zone, tuple(sorted(wds)))
    day = int(m.group("monthly"))
    if not 1 <= day <= 31:
        raise _refuse(phrase, f"没有{day}日", EX_MONTHLY)
    if day > 28:
        raise _refuse(phrase, f"有的月份没有{day}日，月底请写“每月最后一天”", EX_LAST_DAY)
    return Recurrence("monthly", at, zone, day=day)


def _past(at: datetime, today: date, hint: str = "") -> TimePhraseError:
    return TimePhraseError(
        f"{format_when(at, today)} 已经过去了，请写以后的时间{hint}。例：#提醒 {EX_DATE}"
    )


def parse_when(text: str, now: datetime) -> When:
    """Read the time phrase at the start of `text` (normalised), as of `now` (aware, in
    the local zone, a ZoneInfo). Raises TimePhraseError when any part of it is unclear,
    impossible or already past."""
    zone = now.tzinfo
    if not isinstance(zone, ZoneInfo):
        raise ValueError("now must carry a ZoneInfo")
    today = now.date()
    p, end = _scan(text)
    phrase = text[:end].strip()
    rest = text[end:]
    if not phrase:
        if vague_day := _NO_DAY.match(text):  # "下周 9:00", "下个月 开会": which day?
            raise _refuse(vague_day.group(0), "要写哪一天，如 下周三、下个月5号", EX_DATE)
        if _CLOCK.search(text) or _DATE.search(text):
            raise TimePhraseError(f"请把时间写在最前面。例：#提醒 {EX_DATE}")
        raise TimePhraseError(f"没写时间。例：#提醒 {EX_DATE}")
    # "明天9点 10点 开会": a second time right after a whole phrase is not content.
    # "17:00前", "9点左右": the reminder needs one exact time.
    if vague := re.match(r"之前|以前|前|左右|之后|以后|后", rest):
        raise _refuse(phrase + vague.group(0), "提醒要写一个准点时间", EX_DATE)
    lead = rest.lstrip(_CONTENT_SEPS)
    second = re.match(r"\d", lead) and (_CLOCK.match(lead) or _LATER.match(lead))
    if not second and (pm := _PERIOD.match(lead)):
        second = _CLOCK.match(lead, _skip(lead, pm.end()))
    if second:
        raise _refuse(text[: len(text) - len(lead) + second.end()], "写了两个时间", EX_DATE)
    content = lead

    if p.later is not None:
        return When(_later(p.later, now, phrase), content, phrase)
    if p.rule is not None:
        clock, _, _ = _clock(p, phrase, recurring=True)
        rule = _recurrence(p.rule, clock, zone, phrase)
        return When(rule.next_after(now), content, phrase, rule)

    at_time, extra, twelve_hour = _clock(p, phrase, recurring=False)
    hint = f"。要晚上请写“今晚{p.clock.group(0)}”" if twelve_hour and p.clock else ""
    if p.day is not None and p.day.re is _RELDAY:
        n = p.day.group("n")
        offset = _DAY_WORDS.get(p.day.group("word") or "", 0)
        if p.day.group("word") in _DAY_PERIOD:
            offset = _DAY_PERIOD[p.day.group("word")][0]
        if n is not None:
            offset = _num(n)
        day = today + timedelta(days=offset)
        if offset > 0:
            hint = ""
    elif p.day is not None:
        day = _date(p.day, today, phrase)
        if p.weekday is not None and _weekday(p.weekday) != day.weekday():
            raise _refuse(
                phrase, f"{day.month}月{day.day}日是周{WEEKDAY_NAMES[day.weekday()]}", EX_DATE
            )
        if day != today:
            hint = ""
    elif p.weekday is not None:
        wd = _weekday(p.weekday)
        monday = today - timedelta(days=today.weekday())
        pre = (p.weekday.group("pre") or "").removesuffix("个")
        if pre.startswith("下"):
            day = monday + timedelta(days=7 * len(pre) + wd)
        else:
            day = monday + timedelta(days=wd)
            ahead = datetime.combine(day + timedelta(days=extra), at_time, tzinfo=zone) > now
            if not pre and (day < today or not ahead):
                day += timedelta(days=7)
            elif pre and not ahead:
                raise _refuse(
                    phrase,
                    f"本周{WEEKDAY_NAMES[wd]}已经过去了，下周请写“下周{WEEKDAY_NAMES[wd]}”",
                    "下周五 17:00 报送周报",
                )
        hint = ""
    else:
        day = today
    at = datetime.combine(day + timedelta(days=extra), at_time, tzinfo=zone)
    if at <= now:
        if p.day is None and p.weekday is None and not hint:
            hint = "。要明天提醒请写“明天”"
        raise _past(at, today, hint)
    return When(at, content, phrase)


def format_when(at: datetime, today: date) -> str:
    """'6月28日（周五）17:00', with the year when it is not `today`'s."""
    year = f"{at.year}年" if at.year != today.year else ""
    return f"{year}{at.month}月{at.day}日（周{WEEKDAY_NAMES[at.weekday()]}）{at:%H:%M}"
