"""Template-style #进度 messages: every form people type, read exactly or refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.progress.form import ReportFormError, ReportItem, read_report
from bot.text import normalize

TASKS = load_config().tasks
OWN = ("王家庄村", "王家庄")
OTHERS = ("东坪村", "东坪", "吴城乡")


def read(text: str) -> list[ReportItem]:
    return read_report(normalize(text), TASKS, OWN, OTHERS)


def short(items: list[ReportItem]) -> list[str]:
    """'危房改造=42', '危房改造+5', '危房改造=42/50', with '@2' for a later line."""
    out = []
    for i in items:
        s = f"{i.task}{'=' if i.mode == 'total' else '+'}{i.amount}"
        s += f"/{i.of}" if i.of is not None else ""
        s += f"@{i.line_no}" if i.line_no != 1 else ""
        out.append(s)
    return out


READ = [
    # today's forms
    ("危房改造 42", ["危房改造=42"]),
    ("危房改造 42/50", ["危房改造=42/50"]),
    ("危房改造 42 / 50 处", ["危房改造=42/50"]),
    ("危房改造 +5", ["危房改造+5"]),
    ("危房改造42处", ["危房改造=42"]),
    ("危房改造四十二处", ["危房改造=42"]),
    ("易地搬迁二十二户", ["易地搬迁=22"]),
    ("危房改造 １２", ["危房改造=12"]),
    ("危改 42", ["危房改造=42"]),
    ("易地扶贫搬迁 18户", ["易地搬迁=18"]),
    ("危房改造 42\n易地搬迁 3户", ["危房改造=42", "易地搬迁=3@2"]),
    ("危房改造 42\n#进度 易地搬迁 18", ["危房改造=42", "易地搬迁=18@2"]),
    ("危房改造 42\n＃进度报送 光伏 6座", ["危房改造=42", "光伏扶贫=6@2"]),
    # numbered lines
    ("1.危房改造42户", ["危房改造=42"]),
    ("1、危房改造 42", ["危房改造=42"]),
    ("(1)危房改造42", ["危房改造=42"]),
    ("（1）危房改造42", ["危房改造=42"]),
    ("①危房改造42", ["危房改造=42"]),
    ("一、危房改造42", ["危房改造=42"]),
    ("（一）危房改造42", ["危房改造=42"]),
    ("1. 危房改造 42\n2. 易地搬迁 18", ["危房改造=42", "易地搬迁=18@2"]),
    (
        "①危房改造42处\n②易地搬迁18户\n③产业扶贫7户",
        ["危房改造=42", "易地搬迁=18@2", "产业扶贫=7@3"],
    ),
    ("第1项 危房改造 42", ["危房改造=42"]),
    # 【任务】
    ("【危房改造】42户", ["危房改造=42"]),
    ("【危房改造】：完成42户", ["危房改造=42"]),
    ("【危房改造】\n完成42户", ["危房改造=42"]),
    ("[危房改造]42", ["危房改造=42"]),
    # two tasks on a line
    ("危房改造42户，易地搬迁18户", ["危房改造=42", "易地搬迁=18"]),
    ("危房改造42 易地搬迁18", ["危房改造=42", "易地搬迁=18"]),
    ("危房改造42；易地搬迁18", ["危房改造=42", "易地搬迁=18"]),
    ("危房改造42处、光伏扶贫3座。", ["危房改造=42", "光伏扶贫=3"]),
    # the group's own unit
    ("王家庄村 危房改造 42", ["危房改造=42"]),
    ("王家庄村：危房改造42处", ["危房改造=42"]),
    ("王家庄危房改造42", ["危房改造=42"]),
    ("本村危房改造42处", ["危房改造=42"]),
    # emoji
    ("危房改造42处[强]", ["危房改造=42"]),
    ("危房改造42处[OK]", ["危房改造=42"]),
    ("危房改造42处👍", ["危房改造=42"]),
    ("👍👍危房改造 42 ✅", ["危房改造=42"]),
    # 截至
    ("截至6月17日，危房改造完成42处", ["危房改造=42"]),
    ("截至六月十七日，危房改造完成四十二处", ["危房改造=42"]),
    ("截止目前，危房改造完成42处", ["危房改造=42"]),
    # remarks
    ("危房改造42处（其中新开工3处）", ["危房改造=42"]),
    ("危房改造42处，其中新开工3处", ["危房改造=42"]),
    ("危房改造42处（备注：新开工3处）", ["危房改造=42"]),
    ("危房改造42处(含易地搬迁安置3处)", ["危房改造=42"]),
    ("危房改造42处 备注：7月底前全部完工", ["危房改造=42"]),
    ("危房改造42/50（84%）", ["危房改造=42/50"]),
    # 新增 / 累计 / 完成
    ("危房改造 新增5户", ["危房改造+5"]),
    ("危房改造本周新增5户", ["危房改造+5"]),
    ("危房改造本周新增5户，累计42户", ["危房改造=42"]),
    ("危房改造累计完成42户", ["危房改造=42"]),
    ("危房改造已完成42", ["危房改造=42"]),
    ("危房改造完成42处", ["危房改造=42"]),
    ("累计完成危房改造42户", ["危房改造=42"]),
    ("危房改造 目标50处，已完成42处", ["危房改造=42/50"]),
    ("危房改造：目前已完成42处", ["危房改造=42"]),
    ("危房改造 完成率84%，累计42处", ["危房改造=42"]),
    ("危房改造 30 更正", ["危房改造=30"]),
    # a number before the task, in a one-line message: today's form
    ("42 危房改造", ["危房改造=42"]),
    ("42处 危房改造 更正", ["危房改造=42"]),
    ("+5 危房改造", ["危房改造+5"]),
    # headers and signatures are ignored
    ("王家庄村进度报送：\n危房改造 42", ["危房改造=42@2"]),
    ("本周进度如下：\n危房改造42\n易地搬迁18", ["危房改造=42@2", "易地搬迁=18@3"]),
    ("危房改造 42\n王家庄村 张三", ["危房改造=42"]),
    ("危房改造 42\n报送人：张三", ["危房改造=42"]),
    ("危房改造 42\n——张三", ["危房改造=42"]),
    ("危房改造 42\n村委会 6月17日", ["危房改造=42"]),
    ("危房改造 42\n报送人：李四 电话13812345678", ["危房改造=42"]),
    # WeChat-style templates
    (
        "王家庄村进度报送：\n\n1、危房改造：累计完成42处（其中新开工3处）；\n\n"
        "2、易地搬迁：完成18户；\n3、光伏扶贫：3座[强]\n\n报送人：张三\n6月17日",
        ["危房改造=42@2", "易地搬迁=18@3", "光伏扶贫=3@4"],
    ),
    (
        "截至6月17日，王家庄村各项任务进度如下：\n【危房改造】42/50处\n【易地搬迁】18户\n——张三👍",
        ["危房改造=42/50@2", "易地搬迁=18@3"],
    ),
    (
        "#进度 危房改造 42\n#进度 易地搬迁 本周新增3户，累计18户\n#进度 产业扶贫 7",
        ["危房改造=42", "易地搬迁=18@2", "产业扶贫=7@3"],
    ),
    ("\n\n危房改造  42\n\n", ["危房改造=42"]),
]


@pytest.mark.parametrize(("text", "expected"), READ, ids=[t for t, _ in READ])
def test_reads(text: str, expected: list[str]) -> None:
    assert short(read(text)) == expected


REFUSED = [
    ("", "请写任务和累计完成数"),
    # A one-line message is not quoted back; a longer one names the line.
    ("危房改造", "“危房改造”后面要写累计完成数。例：#进度 危房改造 42"),
    ("危房改造 42\n易地搬迁", "第2行“易地搬迁”后面要写累计完成数。本条消息都没有记录，请改正后整条重发。例：#进度 危房改造 42"),
    ("【危房改造】\n【易地搬迁】18", "第1行“【危房改造】”后面要写累计完成数"),
    ("危房改造 42 18", "“42 18”是两个数，完成数只写一个"),
    ("危房改造42户18户", "“42 18”是两个数"),
    ("危房改造 42 累计50", "“42 50”是两个数"),
    ("危房改造 42 7 18", "“42 7 18”是3个数"),
    ("危房改造 84%", "只写了百分比，请写完成的数量（处数）"),
    ("危房改造 42.5", "“42.5”不是整数"),
    ("危房改造 42\n危改 43", "第2行“危改 43”：“危房改造”在第1行已经报过"),
    ("危房改造42，危房改造43", "“危房改造”前面已经报过"),
    ("厕所改造 12", "没有“厕所改造”这项任务。任务有：危房改造、易地搬迁"),
    ("危房改造 42\n厕所改造 12", "第2行“厕所改造 12”没有“厕所改造”这项任务"),
    ("危房改造42 厕所改造12", "看不懂"),
    ("新增5户", "没有写任务"),
    ("危房改造 42\n18", "第2行“18”没有写任务"),
    ("危房改造 42\n王家庄村 张三 第3组 5", "第2行"),
    ("李家村 危房改造 42", "写的是“李家村”，不能替其他单位报送"),
    ("李家村：危房改造42处", "不能替其他单位报送"),
    ("危房改造 42\n李家村 张三", "不能替其他单位报送"),
    # A number before the task is the figure only in a one-line message ('42 危房改造'):
    # in a list it reads as numbering, and then the figure is missing.
    ("42 危房改造\n18 易地搬迁", "第1行“42 危房改造”数字要写在任务后面"),
    ("1 危房改造\n2 易地搬迁", "数字要写在任务后面"),
    ("42 危房改造 50", "“42 50”是两个数"),
    ("1 危房改造 42", "“1 42”是两个数"),
    # Another unit of the tree, by a name without a unit suffix.
    ("东坪 危房改造 42", "写的是“东坪”，不能替其他单位报送"),
    ("危房改造 42\n东坪 张三", "第2行“东坪 张三”写的是“东坪”"),
    ("危房改造 -3", "完成数不能是负数"),
    ("危房改造 本周完成5户", "看不懂“本周完成5”"),
    ("危房改造 未完成8处", "看不懂“未完成8”"),
    ("危房改造 新增5 新增3", "写了2个新增数"),
    ("危房改造 目标50", "只写了目标数"),
    ("危房改造42处，其中易地搬迁3处", "看不出是哪项任务的数"),
    ("新增危房改造5处，易地搬迁3户", "一行有几项任务时"),
    ("截至6月40日，危房改造42", "日期“截至6月40日”不对"),
    ("危房改造 42 张三", "看不懂“张三”"),
    ("危房改造 1万", "看不懂“万”"),
    ("危房改造 99999999", "太大"),
    ("王家庄村进度报送：\n报送人：张三", "没有看到任务和累计完成数"),
    ("危房改造 百分之八十", "看不懂“百分之八十”"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED, ids=[t for t, _ in REFUSED])
def test_refuses(text: str, reason: str) -> None:
    with pytest.raises(ReportFormError) as e:
        read(text)
    assert reason in e.value.reason
    assert "例：#进度" in e.value.reason


def test_details() -> None:
    [item] = read("截至6月17日，危房改造完成42处（其中新开工3处）")
    assert item == ReportItem("危房改造", 42, "total", None, 1, "其中新开工3处", (6, 17))
    [item] = read("危房改造 30 更正")
    assert item.correction
    # A 截至 on a header line dates every item below it; a line's own date wins.
    items = read("截至6月17日进度如下：\n危房改造42\n截至6月18日 易地搬迁18")
    assert [i.as_of for i in items] == [(6, 17), (6, 18)]
    [a, b] = read("危房改造42户（含新建5户），易地搬迁18户(备注：已入住)")
    assert (a.remark, b.remark) == ("含新建5户", "备注:已入住")
    [item] = read("危房改造本周新增5户")
    assert (item.mode, item.amount) == ("add", 5)


def test_first_line_is_the_rest_of_the_command_line() -> None:
    # "#进度\n危房改造 12" reaches the reader as "危房改造 12": lines count from there.
    assert [i.line_no for i in read("危房改造 12\n\n易地搬迁 3户")] == [1, 2]


# -- properties ------------------------------------------------------------------------

NAMES = [t.name for t in TASKS]


def render(style: int, rows: list[tuple[str, int]]) -> str:
    unit = {t.name: t.unit for t in TASKS}
    if style == 0:  # today's lines
        return "\n".join(f"{name} {n}" for name, n in rows)
    if style == 1:  # numbered, with a header and a signature
        body = "\n".join(
            f"{i}、{name}：累计完成{n}{unit[name]}；" for i, (name, n) in enumerate(rows, 1)
        )
        return f"王家庄村进度报送：\n\n{body}\n\n报送人：张三"
    if style == 2:  # 【】 headers with remarks and emoji
        return "\n".join(
            f"【{name}】{n}{unit[name]}（其中新开工1{unit[name]}）[强]" for name, n in rows
        )
    # one line, comma separated, after a 截至 date
    return "截至6月17日，" + "，".join(f"{name}完成{n}{unit[name]}" for name, n in rows)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True).flatmap(
        lambda names: st.lists(
            st.integers(min_value=0, max_value=99999), min_size=len(names), max_size=len(names)
        ).map(lambda ns: list(zip(names, ns, strict=True)))
    ),
    st.integers(min_value=0, max_value=3),
)
def test_templates_read_back(rows: list[tuple[str, int]], style: int) -> None:
    items = read(render(style, rows))
    assert [(i.task, i.amount, i.mode) for i in items] == [(name, n, "total") for name, n in rows]


_ALPHABET = st.sampled_from(
    list("危房改造易地搬迁光伏产业扶贫村王家庄李张三累计完成新增目标本周其中含备注截至月日号")
    + list("0123456789+-/%.,;:()[]【】（）\n #①一二十百")
    + ["👍", "[强]", "更正"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_any_text_raises_only_report_form_error(text: str) -> None:
    try:
        items = read(text)
    except ReportFormError as e:
        assert e.reason
        return
    for i in items:
        assert i.task in NAMES and i.amount >= 0 and i.mode in ("total", "add")
    assert len({i.task for i in items}) == len(items)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_unicode_raises_only_report_form_error(text: str) -> None:
    with contextlib.suppress(ReportFormError):
        read(text)
