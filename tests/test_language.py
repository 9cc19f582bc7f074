"""The chat-language readers: quote-replies, acknowledgements, hashtags, how-to questions.

Inputs go through `normalize` first, as the router does; quote-replies are split on the
text as received (and also survive normalisation).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.language import (
    Ack,
    Quoted,
    classify_ack,
    edit_distance,
    hashtag_kind,
    help_topic,
    quoted_notice_id,
    split_quote,
    suggest,
)
from bot.text import normalize

# The command names and aliases as the handlers declare them (a snapshot, kept literal so
# that these tests do not depend on how the handlers are laid out).
COMMANDS: dict[str, tuple[str, ...]] = {
    "帮助": ("help", "命令", "菜单"),
    "通知": ("发通知", "发布通知", "通告"),
    "收到": (),
    "回执": ("通知回执", "回执查询"),
    "绑定": (),
    "任命": ("授权",),
    "免职": ("撤职", "取消任命"),
    "登记": ("登记农户", "建户"),
    "加分": ("奖励", "加积分", "奖分"),
    "扣分": ("减分", "扣积分", "罚分"),
    "确认": ("确认加分",),
    "撤销": ("撤销积分", "冲正"),
    "查分": ("查积分", "积分", "余额", "我的积分", "积分查询"),
    "明细": ("积分明细", "流水"),
    "积分榜": ("十佳", "积分排行", "光荣榜"),
    "规则": ("积分规则", "加分规则"),
    "商品": ("商品列表", "货架", "超市"),
    "上架": ("上新", "补货", "改商品"),
    "兑换": ("换购", "兑奖"),
    "异议": ("申诉", "有异议"),
    "复核": ("复议",),
    "代查": ("打印积分", "查询单"),
    "目标": ("设定目标", "下达目标"),
    "进度": ("报进度", "进度报送"),
    "撤回": ("撤回进度",),
    "进度查询": ("查进度", "查询进度", "进度情况"),
    "未报": ("未报送", "谁没报"),
    "排名": ("排行", "进度排名", "排行榜"),
    "积分排名": ("村积分排名", "各村积分排名", "积分排名榜"),
    "例会": ("周例会", "例会提醒", "每周例会"),
    "提醒": ("定时提醒",),
    "提醒列表": ("查看提醒", "提醒清单", "例会列表", "查看例会"),
    "取消提醒": ("删除提醒", "取消例会", "删除例会"),
}

SEP15 = "- " * 14 + "-"
SEP16 = "- " * 15 + "-"


# -- normalisation facts the readers rely on ------------------------------------------


def test_normalize_keeps_what_the_readers_need() -> None:
    quote = f"「张三：【通知 12】请各村」\n{SEP15}\n收到"
    assert normalize(quote) == f"「张三:【通知 12】请各村」\n{SEP15}\n收到"  # colon goes ASCII
    assert normalize("@村务助手\u2005怎么报进度") == "@村务助手 怎么报进度"  # U+2005 → space
    assert normalize("…") == "..."
    assert normalize("收到十二号通知") == "收到十二号通知"  # 到 keeps the numeral a word


# -- quote-replies --------------------------------------------------------------------

NOTICE = '【通知 22】请各村于6月30日前报送危房改造进度 — 请回复"收到"'

QUOTES: list[tuple[str, Quoted | None]] = [
    (f"「县指挥部：{NOTICE}」\n{SEP15}\n收到", Quoted("收到", "县指挥部", NOTICE)),
    (
        f"「县指挥部：{NOTICE}」\n{SEP16}\n收到，马上落实",
        Quoted("收到，马上落实", "县指挥部", NOTICE),
    ),
    (f"「县指挥部:{NOTICE}」\n{SEP15}\n杨家坪村收到", Quoted("杨家坪村收到", "县指挥部", NOTICE)),
    (
        "「村务助手：【通知 7】明天上午9点开会，请各村书记…」\n" + SEP15 + "\n收到",
        Quoted("收到", "村务助手", "【通知 7】明天上午9点开会，请各村书记…"),
    ),
    (
        "「王主任：第一条\n第二条\n第三条」\n" + SEP15 + "\n好的",
        Quoted("好的", "王主任", "第一条\n第二条\n第三条"),
    ),
    ("「李四：今天几点开会」\n-----\n九点", Quoted("九点", "李四", "今天几点开会")),
    ("「李四：今天几点开会」\n - - - - - - \n九点", Quoted("九点", "李四", "今天几点开会")),
    (
        "「李四：今天几点开会」\n" + SEP15 + "\n九点\n在村委会",
        Quoted("九点\n在村委会", "李四", "今天几点开会"),
    ),
    # a quote of a quote, as text: the first separator after a balanced 「…」 ends it
    (
        f"「张三：「李四：几点开会」\n{SEP15}\n九点」\n{SEP15}\n好的",
        Quoted("好的", "张三", f"「李四：几点开会」\n{SEP15}\n九点"),
    ),
    ("「没有名字的引用」\n" + SEP15 + "\n收到", Quoted("收到", "", "没有名字的引用")),
    # not quote-replies
    ("「乡村振兴」是今年的重点", None),
    ("「张三：今天开会」", None),
    ("「张三：今天开会」\n收到", None),
    (f"「张三：今天开会」\n{SEP15}\n", None),
    (f"「张三：今天开会」\n{SEP15}\n   ", None),
    ("收到", None),
    ("- - - - - - -\n收到", None),
    ("「张三：今天开会」\n- - -\n收到", None),  # three dashes are no separator
]


@pytest.mark.parametrize(("text", "want"), QUOTES)
def test_split_quote(text: str, want: Quoted | None) -> None:
    assert split_quote(text) == want


def test_split_quote_after_normalize() -> None:
    got = split_quote(normalize(f"「縣指揮部：{NOTICE}」\n{SEP16}\n收到！"))
    assert got is not None
    assert (got.reply, got.quoted_name, quoted_notice_id(got.quoted_text)) == (
        "收到!",
        "县指挥部",
        22,
    )


def _xml(title: str, name: str, content: str, kind: str = "57") -> str:
    return (
        '<?xml version="1.0"?>\n<msg><appmsg appid="" sdkver="0">'
        f"<title>{title}</title><des></des><type>{kind}</type>"
        "<refermsg><type>1</type><svrid>8214</svrid><fromusr>123@chatroom</fromusr>"
        f"<chatusr>wxid_abc</chatusr><displayname>{name}</displayname>"
        f"<content>{content}</content></refermsg></appmsg>"
        "<fromusername>wxid_me</fromusername></msg>"
    )


XML_QUOTES: list[tuple[str, Quoted | None]] = [
    (
        _xml("收到", "县指挥部", "【通知 22】请各村报送"),
        Quoted("收到", "县指挥部", "【通知 22】请各村报送"),
    ),
    (
        _xml("已收到，马上办", "王主任", "明天开会&amp;报材料"),
        Quoted("已收到，马上办", "王主任", "明天开会&报材料"),
    ),
    # the quoted message was itself an app message: its own title is its text
    (
        _xml(
            "好的",
            "张三",
            "&lt;msg&gt;&lt;appmsg&gt;&lt;title&gt;几点开会&lt;/title&gt;&lt;/appmsg&gt;&lt;/msg&gt;",
        ),
        Quoted("好的", "张三", "几点开会"),
    ),
    ("<msg><appmsg><title>收到</title></appmsg></msg>", None),  # no refermsg
    (_xml("", "张三", "几点开会"), None),  # no reply
    ("<msg><appmsg><title>收到</title><refermsg>", None),  # broken XML
    (
        '<!DOCTYPE msg [<!ENTITY a "aaaa">]><msg><appmsg><title>&a;</title>'
        "<refermsg><content>x</content></refermsg></appmsg></msg>",
        None,
    ),  # no DTDs
    ("<p>收到</p>", None),
]


@pytest.mark.parametrize(("text", "want"), XML_QUOTES)
def test_split_quote_xml(text: str, want: Quoted | None) -> None:
    assert split_quote(text) == want


def test_xml_inside_a_text_quote() -> None:
    inner = "<msg><appmsg><title>几点开会</title><refermsg><content>x</content></refermsg></appmsg></msg>"
    got = split_quote(f"「张三：{inner}」\n{SEP15}\n九点")
    assert got == Quoted("九点", "张三", "几点开会")


@pytest.mark.parametrize(
    ("quoted", "want"),
    [
        ("【通知 22】请各村报送", 22),
        ("【通知22】请各村报送", 22),
        ("【通知 22】(1/2) 请各村报送", 22),
        ("【通知 22（1/2）】请各村报送", 22),
        ("【通知 3】第1次提醒：本群还没有确认收到。内容：…", 3),
        ("【周通报】浑源县进度排名", None),
        ("通知 22 请各村报送", None),
        ("【通知 12345678901】太长", None),
        ("", None),
    ],
)
def test_quoted_notice_id(quoted: str, want: int | None) -> None:
    assert quoted_notice_id(quoted) == want


# -- acknowledgements ------------------------------------------------------------------

ACKS: list[tuple[str, Ack]] = [
    ("收到", Ack(None, None)),
    ("收到，马上落实", Ack(None, None)),
    ("收到!", Ack(None, None)),
    ("收到！", Ack(None, None)),
    ("收到。", Ack(None, None)),
    ("收到[强]", Ack(None, None)),
    ("收到[抱拳][抱拳]", Ack(None, None)),
    ("收到👍", Ack(None, None)),
    ("收到🙏🙏", Ack(None, None)),
    ("收到，已转发各组", Ack(None, None)),
    ("收到马上落实", Ack(None, None)),
    ("收到,谢谢", Ack(None, None)),
    ("收到~", Ack(None, None)),
    ("收到了", Ack(None, None)),
    ("收到啦", Ack(None, None)),
    ("收到收到", Ack(None, None)),
    ("收到ok", Ack(None, None)),
    ("杨家坪村收到", Ack(None, "杨家坪村")),
    ("王家庄村已收到", Ack(None, "王家庄村")),
    ("杨家坪村：收到", Ack(None, "杨家坪村")),
    ("吴城乡 收到", Ack(None, "吴城乡")),
    ("三组收到", Ack(None, "三组")),
    ("农业农村局收到", Ack(None, "农业农村局")),
    ("张三收到", Ack(None, "张三")),
    ("张书记收到", Ack(None, "张书记")),
    ("小王收到", Ack(None, "小王")),
    ("我收到了", Ack(None, None)),
    ("收悉", Ack(None, None)),
    ("已收悉", Ack(None, None)),
    ("来文收悉", Ack(None, None)),
    ("已阅", Ack(None, None)),
    ("已閱", Ack(None, None)),
    ("已收到", Ack(None, None)),
    ("已经收到了", Ack(None, None)),
    ("好的收到", Ack(None, None)),
    ("好的，收到", Ack(None, None)),
    ("嗯嗯收到", Ack(None, None)),
    ("OK收到", Ack(None, None)),
    ("收到12", Ack(12, None)),
    ("收到 12", Ack(12, None)),
    ("#收到 12", Ack(12, None)),
    ("＃收到　十二", Ack(12, None)),
    ("收到12号通知", Ack(12, None)),
    ("收到第12号通知", Ack(12, None)),
    ("收到十二号通知", Ack(12, None)),
    ("收到通知12", Ack(12, None)),
    ("12号通知收到", Ack(12, None)),
    ("第十二号通知已收到", Ack(12, None)),
    ("通知收到", Ack(None, None)),
    ("收到通知了", Ack(None, None)),
    ("收到12，马上落实", Ack(12, None)),
    ("收到 3组已转发", Ack(None, None)),
    ("楊家坪村收到", Ack(None, "杨家坪村")),
    ("收到，馬上落實", Ack(None, None)),
    # acknowledged, then a question of its own (a trailing '?' alone asks)
    ("收到，模板在哪里下载？", Ack(None, None)),
    ("王家庄村收到！几点开会?", Ack(None, "王家庄村")),
    # numbers that cannot be notice ids: flagged, never an OverflowError
    ("收到1234567890", Ack(None, None, bad_id=True)),
    ("收到99999999999999999999999999", Ack(None, None, bad_id=True)),
    ("收到0", Ack(None, None, bad_id=True)),
    ("1234567890号通知收到", Ack(None, None, bad_id=True)),
]

# Space-separated: a negation, a question, a request to reply, an object, no ack word.
_NOT_ACKS = (
    "没收到 未收到 还没收到 还没有收到 尚未收到 张三没收到 "
    "收到了吗 收到了吗？ 收到吗 收到没 收到没有 收到了没 收到? 收到了12号通知吗 收到12？ 收到了没，？ "
    "收到了，没？ 收到了，没有？ 收到，不？ 收到，是吗？ 都收到了，对吧？ 已经收到了，对吗？ 收到，谁没收到？ 收到，吗？ "
    "收到请回复 收到，请回复 请回复收到 请大家回复收到 "
    "收不到 收到货了吗 快递收到了 东西收到了 收到红包 收到，谢谢老板的红包 "
    "大家收到了吗 大家收到 有没有收到 收到的通知在哪里 收到3个 "
    "各村收到 请各村收到后回复 今天收到县里通知，明天开会 好的 明白 OK [强] 今天开会 阅"
)
NOT_ACKS = [*_NOT_ACKS.split(), ""]


@pytest.mark.parametrize(("text", "want"), ACKS)
def test_acknowledgements(text: str, want: Ack) -> None:
    assert classify_ack(normalize(text)) == want


@pytest.mark.parametrize("text", NOT_ACKS)
def test_not_acknowledgements(text: str) -> None:
    assert classify_ack(normalize(text)) is None


def test_quote_reply_then_ack() -> None:
    q = split_quote(f"「县指挥部：{NOTICE}」\n{SEP15}\n收到[强]")
    assert q is not None
    assert classify_ack(normalize(q.reply)) == Ack(None, None)
    assert quoted_notice_id(q.quoted_text) == 22


# -- hashtags --------------------------------------------------------------------------

JIELONG = (
    "#接龙\n6月28日防汛值班报名\n例 张三 6月28日\n1. 张三 6月28日\n2. 李四 6月29日\n3. 王五 6月30日"
)

HASHTAGS: list[tuple[str, str, str | None]] = [
    ("#进度 危房改造 42", "command", None),
    ("#进度危房改造42", "command", None),
    ("#进度查询", "command", None),
    ("#查积分", "command", None),
    ("#Help", "command", None),
    ("#", "command", None),
    ("#接龙", "chat", None),
    (JIELONG, "chat", None),
    ("#话题 村里的路什么时候修", "chat", None),
    ("#乡村振兴#", "chat", None),
    ("#乡村振兴# 今天的学习内容", "chat", None),
    ("#进度#", "chat", None),
    ("#加油", "chat", None),
    ("#签到", "chat", None),
    ("#安全生产", "chat", None),
    ("#防汛 注意安全", "chat", None),
    ("#好人好事 张三扶老人过马路", "chat", None),
    ("#12", "chat", None),
    ("#天气不错", "chat", None),
    ("#查询", "near_miss", "查分"),  # one edit from 查分; two from 回执查询 is too far
    ("#查寻进度", "near_miss", "进度查询"),
    ("#进渡 危房改造 42", "near_miss", "进度"),
    ("#进渡42", "near_miss", "进度"),
    ("#度进", "near_miss", "进度"),
    ("#报告 危房改造 42", "near_miss", "进度"),
    ("#汇报", "near_miss", "进度"),
    ("#上报 危房改造 42", "near_miss", "进度"),
    ("#查份", "near_miss", "查分"),
    ("#积份", "near_miss", "查分"),
    ("#通报", "near_miss", "通知"),
    ("#进度查看", "command", None),  # 进度 + args "查看", as the router reads it
    ("#进渡查询", "near_miss", "进度查询"),
    ("#提醒表", "command", None),  # 提醒 + args "表": the router reads it as #提醒
    ("#hlep", "near_miss", "帮助"),
    ("#收悉", "near_miss", "收到"),
]


@pytest.mark.parametrize(("text", "kind", "suggestion"), HASHTAGS)
def test_hashtag_kind(text: str, kind: str, suggestion: str | None) -> None:
    got = hashtag_kind(normalize(text), COMMANDS)
    assert (got.kind, got.suggestion) == (kind, suggestion)


def test_hashtag_with_names_only() -> None:
    assert hashtag_kind("#进渡", ["进度", "加分"]).suggestion == "进度"
    assert hashtag_kind("#查积分", ["查分"]).kind == "near_miss"  # no aliases given


@pytest.mark.parametrize(
    ("word", "want"),
    [
        ("进渡", "进度"),
        ("加份", "加分"),
        ("报告", "进度"),
        ("查积分", "查分"),
        ("加油", None),
        ("接龙", None),
        ("乡村振兴", None),
        ("进", None),
        ("", None),
        ("积分排明", "积分排名"),
    ],
)
def test_suggest(word: str, want: str | None) -> None:
    assert suggest(word, COMMANDS) == want


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("进度", "进度", 0),
        ("进渡", "进度", 1),
        ("度进", "进度", 1),
        ("进度查询", "进度", 2),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("ab", "", 2),
    ],
)
def test_edit_distance(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b) == d


# -- how-to questions --------------------------------------------------------------------

HELP: list[tuple[str, str | None]] = [
    ("怎么加分", "加分"),
    ("如何报进度", "进度"),
    ("怎样查积分", "查分"),
    ("怎么用", ""),
    ("帮我看看怎么提醒", "提醒"),
    ("怎么报进度", "进度"),  # '@村务助手 怎么报进度' once the caller strips the mention
    ("有什么功能", ""),
    ("这个机器人怎么使用", ""),
    ("积分怎么查", "查分"),
    ("进度怎么报？", "进度"),
    ("怎麼扣分", "扣分"),
    ("怎么取消提醒", "取消提醒"),
    ("发通知的格式是什么", "通知"),
    ("教我兑换", "兑换"),
    ("#怎么加分", "加分"),
    # not how-to questions
    ("怎么还没发工资", None),  # "how come": a complaint, and no command word
    ("为什么我的积分少了", None),
    ("怎么又要报进度", None),
    ("今天怎么这么热", None),
    ("怎么回事", None),
    ("怎么去县里", None),
    ("加分", None),
    ("张三加分了", None),
    ("进度报了吗", None),
    ("收到", None),
    ("明天开会吗", None),
    ("你好", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "want"), HELP)
def test_help_topic(text: str, want: str | None) -> None:
    assert help_topic(normalize(text), COMMANDS) == want


# -- none of them ever raises --------------------------------------------------------------

_PIECE_WORDS = (
    "「 」 ： : 收到 已 没 吗 ? # ＃ 12 十二 号 通知 】 村 张 [强] 👍 怎么 进度 加分 - … "
    "<msg> <appmsg> <title> </title> <refermsg> </refermsg> </appmsg> </msg> <! &"
)
_PIECES = st.sampled_from([*_PIECE_WORDS.split(), "\n", " ", SEP15, "9" * 30, "【通知 "])
_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=25).map("".join),
)


@given(_TEXT)
def test_never_raises(text: str) -> None:
    for t in (text, normalize(text)):
        q = split_quote(t)
        if q is not None:
            quoted_notice_id(q.quoted_text)
        classify_ack(t)
        hashtag_kind(t, COMMANDS)
        help_topic(t, COMMANDS)
        suggest(t, COMMANDS)
