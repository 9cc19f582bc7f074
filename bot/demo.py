"""The demo city: 大同市 and the counties, townships and villages of its HQ's reports.

Nothing here writes to the database directly. The city is seeded by a script of chat
messages said by its people on a virtual clock (bind the groups, appoint, register
households, set targets, report weekly, award points, broadcast a notice …), run
through the app like any other messages, so the seed exercises the real commands and
stays correct as they change. Lines whose command does not exist (yet) are skipped and
logged, so a missing command family never breaks the demo.

The story runs from Monday 6 May 2019 to the demo's start on Monday 3 June 2019 08:00;
the scheduled jobs (chases, bulletins, reminders) run on the way as in real time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.app import ERROR_REPLY
from bot.clock import VirtualClock
from bot.messages import Inbound, Mention, Outgoing

log = logging.getLogger(__name__)

ZONE = ZoneInfo("Asia/Shanghai")
YEAR = 2019
SEED_START = datetime(YEAR, 5, 6, 8, 30, tzinfo=ZONE)  # a Monday
DEMO_START = datetime(YEAR, 6, 3, 8, 0, tzinfo=ZONE)  # a Monday, before the weekly bulletin
ADMIN_ID = "demo_admin"
ADMIN_NAME = "系统管理员"
STEP = timedelta(seconds=20)  # between the generated set-up messages


@dataclass(frozen=True)
class DemoUnit:
    key: str  # also the group's room id, "sim_" + key
    name: str
    level: str
    parent: str | None
    topic: str

    @property
    def room(self) -> str:
        return f"sim_{self.key}"


@dataclass(frozen=True)
class DemoPerson:
    id: str
    name: str
    unit: str  # the unit (and so the group) they belong to
    role: str | None = None  # granted on `unit` by the admin
    household: str | None = None  # linked by the village cadre
    title: str = ""  # what they do, shown in the simulator


def _u(key: str, name: str, level: str, parent: str | None, topic: str) -> DemoUnit:
    return DemoUnit(key, name, level, parent, topic)


# The six counties/districts the report names; townships it does not name are
# plausible ones of the same county.
UNITS: tuple[DemoUnit, ...] = (
    _u("datong", "大同市", "市", None, "大同市脱贫攻坚指挥部"),
    _u("yunzhou", "云州区", "县", "datong", "云州区脱贫攻坚工作群"),
    _u("yanggao", "阳高县", "县", "datong", "阳高县脱贫攻坚工作群"),
    _u("lingqiu", "灵丘县", "县", "datong", "灵丘县脱贫攻坚工作群"),
    _u("guangling", "广灵县", "县", "datong", "广灵县脱贫攻坚工作群"),
    _u("tianzhen", "天镇县", "县", "datong", "天镇县脱贫攻坚工作群"),
    _u("hunyuan", "浑源县", "县", "datong", "浑源县脱贫攻坚工作群"),
    _u("guayuanxiang", "瓜园乡", "乡", "yunzhou", "瓜园乡工作群"),
    _u("xicetianxiang", "西册田乡", "乡", "yunzhou", "西册田乡工作群"),
    _u("longquan", "龙泉镇", "乡", "yanggao", "龙泉镇工作群"),
    _u("wuling", "武灵镇", "乡", "lingqiu", "武灵镇工作群"),
    _u("huquan", "壶泉镇", "乡", "guangling", "壶泉镇工作群"),
    _u("yuquan", "玉泉镇", "乡", "tianzhen", "玉泉镇工作群"),
    _u("wucheng", "吴城乡", "乡", "hunyuan", "吴城乡工作群"),
    _u("dongping", "东坪村", "村", "guayuanxiang", "东坪村村务群"),
    _u("guayuan", "瓜园村", "村", "guayuanxiang", "瓜园村村务群"),
    _u("xicetian", "西册田村", "村", "xicetianxiang", "西册田村村务群"),
    _u("pansi", "潘寺村", "村", "longquan", "潘寺村村务群"),
    _u("shuiquan", "水泉村", "村", "wuling", "水泉村村务群"),
    _u("jianxi", "涧西村", "村", "huquan", "涧西村村务群"),
    _u("wayaokou", "瓦窑口村", "村", "yuquan", "瓦窑口村村务群"),
    _u("huangshuwa", "皇叔洼村", "村", "wucheng", "皇叔洼村村务群"),
    _u("wuchengcun", "吴城村", "村", "wucheng", "吴城村村务群"),
)


def _p(pid: str, name: str, unit: str, role: str | None = None, household: str | None = None,
       title: str = "") -> DemoPerson:
    return DemoPerson(f"wxid_{pid}", name, unit, role, household, title)


PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson(ADMIN_ID, ADMIN_NAME, "datong", None, None, "管理员"),
    _p("jiajiangang", "贾健刚", "datong", "指挥部", title="市指挥部工作指导一组组长"),
    _p("baixuefeng", "白雪峰", "datong", "指挥部", title="市扶贫办主任"),
    # county / district cadres
    _p("wangfang", "王芳", "yunzhou", "干部", title="云州区扶贫办"),
    _p("zhangqiang", "张强", "yanggao", "干部", title="阳高县扶贫办"),
    _p("zhaolei", "赵磊", "lingqiu", "干部", title="灵丘县扶贫办"),
    _p("sunli", "孙丽", "guangling", "干部", title="广灵县扶贫办"),
    _p("zhoutao", "周涛", "tianzhen", "干部", title="天镇县扶贫办"),
    _p("liming", "李明", "hunyuan", "干部", title="浑源县扶贫办"),
    # township cadres
    _p("huanghai", "黄海", "guayuanxiang", "干部", title="瓜园乡干部"),
    _p("wujing", "吴静", "xicetianxiang", "干部", title="西册田乡干部"),
    _p("yangfan", "杨帆", "longquan", "干部", title="龙泉镇干部"),
    _p("zhengkai", "郑凯", "wuling", "干部", title="武灵镇干部"),
    _p("fengliang", "冯亮", "huquan", "干部", title="壶泉镇干部"),
    _p("hejun", "何军", "yuquan", "干部", title="玉泉镇干部"),
    _p("chengang", "陈刚", "wucheng", "干部", title="吴城乡干部"),
    # 皇叔洼村
    _p("liuwei", "刘伟", "huangshuwa", "干部", title="皇叔洼村党支部书记"),
    _p("tianxiuying", "田秀英", "huangshuwa", "评议员", title="评议小组（村民代表）"),
    _p("hanguilan", "韩桂兰", "huangshuwa", "超市管理员", title="爱心超市管理员"),
    _p("wangjinshan", "王金山", "huangshuwa", household="王金山家"),
    _p("wangxiaoyan", "王小燕", "huangshuwa", household="王金山家"),
    _p("lishouye", "李守业", "huangshuwa", household="李守业家"),
    _p("zhaoerhu", "赵二虎", "huangshuwa", household="赵二虎家"),
    _p("sunyumei", "孙玉梅", "huangshuwa", household="孙玉梅家"),
    # 吴城村
    _p("guoyongping", "郭永平", "wuchengcun", "干部", title="吴城村党支部书记"),
    _p("guomancang", "郭满仓", "wuchengcun", household="郭满仓家"),
    _p("liuchunhua", "柳春花", "wuchengcun", household="柳春花家"),
    # 潘寺村: the love supermarket that got the donated 粽子
    _p("gaozhiyuan", "高志远", "pansi", "干部", title="潘寺村第一书记"),
    _p("panyulan", "潘玉兰", "pansi", "评议员", title="评议小组（党员代表）"),
    _p("wangdeshun", "王德顺", "pansi", "评议员", title="评议小组（群众代表）"),
    _p("panyoufu", "潘有福", "pansi", "超市管理员", title="扶贫爱心超市管理员"),
    _p("panerniu", "潘二牛", "pansi", household="潘二牛家"),
    _p("liuguihua", "刘桂花", "pansi", household="刘桂花家"),
    _p("zhangmancang", "张满仓", "pansi", household="张满仓家"),
    _p("lixiuzhen", "李秀珍", "pansi", household="李秀珍家"),
    _p("lixiaojun", "李小军", "pansi", household="李秀珍家"),
    # 东坪村: the square-dancing women who sweep old people's yards
    _p("kangjianjun", "康建军", "dongping", "干部", title="东坪村党支部书记"),
    _p("wucuilan", "武翠兰", "dongping", "评议员", title="评议小组（妇女代表）"),
    _p("houchunsheng", "侯春生", "dongping", "超市管理员", title="爱心超市管理员"),
    _p("hexiufang", "贺秀芳", "dongping", household="贺秀芳家"),
    _p("duanzhiqiang", "段志强", "dongping", household="段志强家"),
    _p("houdaniang", "侯秀莲", "dongping", household="侯秀莲家"),
    # 瓜园村: willow-weaving training
    _p("xuelijuan", "薛丽娟", "guayuan", "干部", title="瓜园村党支部书记"),
    _p("anyuxia", "安玉霞", "guayuan", "评议员", title="评议小组（党员代表）"),
    _p("qiaojianping", "乔建平", "guayuan", "超市管理员", title="爱心超市管理员"),
    _p("liuguiying", "柳桂英", "guayuan", household="柳桂英家"),
    _p("qiaolanhua", "乔兰花", "guayuan", household="乔兰花家"),
    _p("yanfusheng", "闫福生", "guayuan", household="闫福生家"),
    # 西册田村: deductions for uncivil conduct
    _p("changjianguo", "常建国", "xicetian", "干部", title="西册田村党支部书记"),
    _p("renshufen", "任淑芬", "xicetian", "评议员", title="评议小组（群众代表）"),
    _p("jiafugui", "贾富贵", "xicetian", "超市管理员", title="爱心超市管理员"),
    _p("chengdayong", "程大勇", "xicetian", household="程大勇家"),
    _p("renlaosan", "任老三", "xicetian", household="任老三家"),
    _p("baifengying", "白凤英", "xicetian", household="白凤英家"),
    # villages of the other counties
    _p("yinzhigang", "尹志刚", "shuiquan", "干部", title="水泉村党支部书记"),
    _p("yinguozhu", "尹国柱", "shuiquan", household="尹国柱家"),
    _p("xinghaiyan", "邢海燕", "jianxi", "干部", title="涧西村第一书记"),
    _p("xingfuquan", "邢福全", "jianxi", household="邢福全家"),
    _p("niujianhua", "牛建华", "wayaokou", "干部", title="瓦窑口村党支部书记"),
    _p("niushuanzhu", "牛栓柱", "wayaokou", household="牛栓柱家"),
)

# Households without a member on WeChat: served by #代查.
PHONELESS = {"huangshuwa": ("马福家",), "pansi": ("潘老汉家",)}

# Targets set by the county cadre in each village's group: start 6 May, due 30 June.
TARGET_DEADLINE = "6月30日"
TARGETS: dict[str, tuple[tuple[str, int], ...]] = {
    "huangshuwa": (("危房改造", 50), ("易地搬迁", 20), ("贫困村提升", 1)),
    "wuchengcun": (("危房改造", 30), ("易地搬迁", 16)),
    "pansi": (("危房改造", 40), ("易地搬迁", 60), ("产业扶贫", 120)),
    "dongping": (("危房改造", 25), ("产业扶贫", 60)),
    "guayuan": (("危房改造", 20), ("产业扶贫", 80)),
    "xicetian": (("危房改造", 30), ("易地搬迁", 40)),
    "shuiquan": (("危房改造", 35), ("易地搬迁", 80), ("光伏扶贫", 2)),
    "jianxi": (("危房改造", 30), ("易地搬迁", 30), ("产业扶贫", 50)),
    "wayaokou": (("危房改造", 45), ("易地搬迁", 50), ("光伏扶贫", 3)),
}

# Cumulative figures reported on the Fridays 10, 17, 24 and 31 May (None: not reported
# that week, so the Friday chase names the village). 序时进度 on those days: 7, 20, 33,
# 45 %. 皇叔洼村 races ahead on demolitions; 瓦窑口村 (天镇县) falls behind.
REPORT_DAYS = (10, 17, 24, 31)
REPORTS: dict[str, dict[str, tuple[int | None, ...]]] = {
    "huangshuwa": {"危房改造": (8, 20, 33, 42), "易地搬迁": (2, 5, 8, 11), "贫困村提升": (0, 0, 0, 1)},
    "wuchengcun": {"危房改造": (2, 6, 10, 13), "易地搬迁": (1, 3, 5, 7)},
    "pansi": {"危房改造": (4, 9, 14, 19), "易地搬迁": (5, 14, 22, 30), "产业扶贫": (10, 30, 45, 60)},
    "dongping": {"危房改造": (2, 5, None, 11), "产业扶贫": (5, 12, None, 28)},
    "guayuan": {"危房改造": (1, 4, 7, 10), "产业扶贫": (8, 20, 30, 41)},
    "xicetian": {"危房改造": (2, 6, 9, 13), "易地搬迁": (3, 8, 13, 18)},
    "shuiquan": {"危房改造": (3, 8, 12, 16), "易地搬迁": (6, 16, 27, 38), "光伏扶贫": (0, 0, 1, 1)},
    "jianxi": {"危房改造": (2, 5, 9, 12), "易地搬迁": (2, 6, 10, 14), "产业扶贫": (4, 10, 16, 22)},
    "wayaokou": {"危房改造": (2, 4, None, 9), "易地搬迁": (2, 5, None, 11), "光伏扶贫": (0, 0, None, 0)},
}

# Goods stocked by each village's keeper: (name, pack, price, stock).
GOODS: dict[str, tuple[tuple[str, str, int, int], ...]] = {
    "pansi": (("粽子", "10个", 15, 6000), ("洗衣粉", "1袋", 20, 80), ("食用油", "1桶", 50, 40)),
    "dongping": (("毛巾", "2条", 10, 100), ("洗衣粉", "1袋", 20, 60)),
    "guayuan": (("食用油", "1桶", 50, 30), ("香皂", "2块", 8, 120)),
    "xicetian": (("洗衣粉", "1袋", 20, 50), ("大米", "10斤", 40, 400)),
    "huangshuwa": (("毛巾", "2条", 10, 80), ("食用油", "1桶", 50, 20)),
}

# The rest of the story, one message a line: "M-D HH:MM group name: text". Times are
# 2019; `group` is a unit key; `name` is one of PEOPLE (names are unique in the demo).
STORY = """
5-6 10:00 datong 贾健刚: #例会 每周一 09:00 指挥部例会 提前1小时
5-6 10:02 datong 贾健刚: #提醒 6月28日 17:00 报送月度考核材料
5-6 10:03 datong 白雪峰: 一周一例会、一月一考核一通报一奖惩，请各县区按时报送进度。
5-6 10:05 hunyuan 李明: #例会 每周二 08:30 浑源县脱贫攻坚调度会 提前30分钟
5-8 09:10 pansi 潘玉兰: #加分 @潘二牛 六净六有
5-8 09:12 pansi 王德顺: #加分 @刘桂花 公益活动
5-8 09:15 pansi 潘玉兰: #加分 @张满仓 有脱贫产业
5-8 09:20 pansi 潘二牛: #查分
5-9 15:00 dongping 武翠兰: #加分 @贺秀芳 20 给孤寡老人打扫院子擦玻璃
5-9 15:05 dongping 武翠兰: #加分 @侯秀莲 六净六有
5-9 16:00 guayuan 安玉霞: #加分 @柳桂英 15 参加柳编培训
5-9 16:05 guayuan 安玉霞: #加分 @乔兰花 15 参加柳编培训
5-10 11:00 xicetian 任淑芬: #扣分 @程大勇 打架斗殴
5-10 11:05 xicetian 任淑芬: #加分 @白凤英 六净六有
5-13 09:30 huangshuwa 田秀英: #加分 @王金山 公益活动
5-13 09:32 huangshuwa 田秀英: #加分 @孙玉梅 六净六有
5-15 10:00 pansi 王德顺: #加分 @李秀珍 十佳模范
5-16 14:00 xicetian 任淑芬: #扣分 @任老三 破坏公共环境
5-16 14:10 xicetian 任老三: #异议 13 垃圾不是我家倒的
5-20 09:00 huangshuwa 田秀英: #加分 @赵二虎 不大操大办红白事
5-21 10:00 dongping 武翠兰: #加分 @段志强 有脱贫产业
5-22 09:00 guayuan 安玉霞: #加分 @闫福生 六净六有
5-27 10:00 datong 贾健刚: #通知 全体 5月30日在天镇县召开全市脱贫攻坚现场推进会，各县区汇报危房改造、易地搬迁进度，请做好准备
5-27 10:05 yunzhou 王芳: 收到
5-27 10:06 yanggao 张强: 收到
5-27 10:07 lingqiu 赵磊: 收到
5-27 10:08 guangling 孙丽: 收到
5-27 10:10 hunyuan 李明: 收到
5-27 10:12 wucheng 陈刚: 收到
5-27 10:15 huangshuwa 刘伟: 收到
5-27 10:16 pansi 高志远: 收到
5-27 10:20 longquan 杨帆: 收到
5-27 10:22 guayuanxiang 黄海: 收到
5-27 10:25 xicetianxiang 吴静: 收到
5-27 10:26 wuling 郑凯: 收到
5-27 10:30 huquan 冯亮: 收到
5-27 10:35 dongping 康建军: 收到
5-27 10:36 guayuan 薛丽娟: 收到
5-27 10:40 xicetian 常建国: 收到
5-27 10:45 shuiquan 尹志刚: 收到
5-27 11:00 jianxi 邢海燕: 收到
5-27 11:30 wuchengcun 郭永平: 收到
5-27 15:00 datong 贾健刚: #回执 1
5-28 10:00 pansi 潘玉兰: #加分 @潘二牛 不大操大办红白事
5-29 09:00 huangshuwa 田秀英: #加分 @李守业 公益活动
5-31 15:00 pansi 潘有福: #兑换 @潘二牛 粽子 20
5-31 15:05 pansi 潘有福: #兑换 @刘桂花 粽子 10
5-31 15:10 pansi 潘有福: #兑换 @李秀珍 粽子 30
5-31 15:20 dongping 侯春生: #兑换 @贺秀芳 毛巾 2
5-31 16:00 huangshuwa 韩桂兰: #兑换 @王金山 毛巾 2
5-31 16:30 pansi 李秀珍: #查分
5-31 17:30 datong 白雪峰: #排名 危房改造
5-31 17:35 datong 贾健刚: #未报
5-31 17:40 datong 贾健刚: #积分排名
6-1 10:30 pansi 潘二牛: #积分榜
6-1 10:00 huangshuwa 刘伟: #代查 马福家
6-3 07:40 hunyuan 李明: #通知 浑源县 6月5日前报送危房改造验收材料，逾期按未完成计
6-3 07:48 huangshuwa 刘伟: 收到
"""

_STORY_LINE = re.compile(r"^(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2}) (\w+) (\S+?): (.+)$")
_MENTION = re.compile(r"@(\S+?)(?=\s|$)")


@dataclass(frozen=True)
class Say:
    at: datetime
    room: str  # a unit key
    sender: str  # a person id
    text: str


def unit(key: str) -> DemoUnit:
    return _UNITS[key]


def person_named(name: str) -> DemoPerson:
    return _BY_NAME[name]


_UNITS = {u.key: u for u in UNITS}
_BY_NAME = {p.name: p for p in PEOPLE}
_BY_ID = {p.id: p for p in PEOPLE}


def mentions_in(text: str) -> tuple[tuple[str, str], ...]:
    """The (id, name) of every demo person @mentioned in `text`, in order."""
    return tuple((_BY_NAME[n].id, n) for n in _MENTION.findall(text) if n in _BY_NAME)


def _cadre_of(key: str) -> DemoPerson:
    return next(p for p in PEOPLE if p.unit == key and p.role == "干部")


def _county_of(key: str) -> str:
    u = unit(key)
    while u.level != "县":
        assert u.parent is not None
        u = unit(u.parent)
    return u.key


def setup_script() -> list[Say]:
    """Bind every group, appoint the people, register households, stock goods, set targets."""
    out: list[Say] = []
    at = SEED_START

    def say(room: str, sender: str, text: str) -> None:
        nonlocal at
        out.append(Say(at, room, sender, text))
        at += STEP

    for u in UNITS:
        parent = f" 上级 {unit(u.parent).name}" if u.parent else ""
        say(u.key, ADMIN_ID, f"#绑定 {u.level} {u.name}{parent}")
    for p in PEOPLE:
        if p.role:
            say(p.unit, ADMIN_ID, f"#任命 @{p.name} {p.role}")
    households: dict[tuple[str, str], list[str]] = {}
    for p in PEOPLE:
        if p.household:
            households.setdefault((p.unit, p.household), []).append(p.name)
    for (key, hh), names in households.items():
        at_names = " ".join(f"@{n}" for n in names)
        say(key, _cadre_of(key).id, f"#登记 {at_names} 户 {hh}")
    for key, phoneless in PHONELESS.items():
        for hh in phoneless:
            say(key, _cadre_of(key).id, f"#登记 户 {hh}")
    for key, goods in GOODS.items():
        keeper = next(p for p in PEOPLE if p.unit == key and p.role == "超市管理员")
        for name, pack, price, stock in goods:
            say(key, keeper.id, f"#上架 {name} {pack} {price}分 库存 {stock}")
    for key, targets in TARGETS.items():
        county_cadre = _cadre_of(_county_of(key))
        for task, amount in targets:
            say(key, county_cadre.id, f"#目标 {task} {amount} 截止 {TARGET_DEADLINE}")
    return out


def report_script() -> list[Say]:
    """Each village cadre's weekly report, Friday mornings: one message, a line a task."""
    out: list[Say] = []
    for week, day in enumerate(REPORT_DAYS):
        at = datetime(YEAR, 5, day, 9, 0, tzinfo=ZONE)
        for key, tasks in REPORTS.items():
            lines = [f"{task} {figures[week]}" for task, figures in tasks.items()
                     if figures[week] is not None]
            if lines:
                out.append(Say(at, key, _cadre_of(key).id, "#进度 " + "\n".join(lines)))
                at += timedelta(minutes=7)
    return out


def story_script(story: str = STORY) -> list[Say]:
    out = []
    for n, raw in enumerate(story.strip().splitlines(), start=1):
        m = _STORY_LINE.match(raw.strip())
        if not m:
            raise ValueError(f"demo story line {n} is malformed: {raw!r}")
        month, day, hour, minute, room, name, text = m.groups()
        if room not in _UNITS or name not in _BY_NAME:
            raise ValueError(f"demo story line {n}: unknown group or person: {raw!r}")
        at = datetime(YEAR, int(month), int(day), int(hour), int(minute), tzinfo=ZONE)
        out.append(Say(at, room, _BY_NAME[name].id, text))
    return out


def script() -> list[Say]:
    """The whole seed, in time order (set-up first on its day)."""
    steps = setup_script() + report_script() + story_script()
    return sorted(steps, key=lambda s: s.at)  # stable: same-time lines keep their order


# -- running it --------------------------------------------------------------------


class Driver(Protocol):
    """What the seed needs: MemoryChat in tests, the simulator in `villagebot demo`."""

    app: Any

    async def say(self, text: str, *, sender: str, name: str = "", room: str | None = ...,
                  topic: str | None = None, mentions: tuple[str | tuple[str, str], ...] = (),
                  msg_id: str | None = None, at: datetime | None = None) -> list[Outgoing]: ...

    async def advance(self, until: datetime) -> list[Outgoing]: ...


@dataclass
class SeedResult:
    said: int = 0
    skipped: list[str] = field(default_factory=list)  # lines whose command is unknown
    problems: list[str] = field(default_factory=list)  # lines the bot answered with an error
    sent: int = 0  # messages the bot sent during the seed


# A reply that means the line did not do what the script meant.
_PROBLEM = re.compile(r"例：|权限|找不到|请用@指定|还没有绑定|请在工作群里使用|处理出错")


def is_problem(text: str) -> bool:
    return text == ERROR_REPLY or bool(_PROBLEM.search(text))


async def seed(driver: Driver, until: datetime = DEMO_START,
               steps: Sequence[Say] | None = None) -> SeedResult:
    """Say every line of the script on the virtual clock, then move it to `until`."""
    result = SeedResult()
    router = driver.app.router
    for n, step in enumerate(script() if steps is None else steps, start=1):
        await _advance(driver, step.at, result)
        u = unit(step.room)
        who = _BY_ID[step.sender]
        mentions = mentions_in(step.text)
        probe = Inbound(transport="demo", id="probe", sender=who.id, sender_name=who.name,
                        text=step.text, at=step.at, room=u.room,
                        mentions=tuple(Mention(i, nm) for i, nm in mentions))
        parsed = router.parse(probe)
        # A '#' line that is no command: the router reads it as chat or as a near miss.
        unknown = step.text.startswith("#") if parsed is None else parsed.command is None
        if unknown:
            log.info("demo seed: skipped (no such command yet): %s", step.text)
            result.skipped.append(step.text)
            continue
        sent = await driver.say(step.text, sender=who.id, name=who.name, room=u.room,
                                topic=u.topic, mentions=mentions, msg_id=f"seed-{n}")
        result.said += 1
        result.sent += len(sent)
        for o in sent:
            if o.reply_to == f"seed-{n}" and is_problem(o.text):
                log.warning("demo seed: %r was answered %r", step.text, o.text)
                result.problems.append(f"{step.text} → {o.text}")
    await _advance(driver, until, result)
    if result.skipped:
        log.warning("demo seed: %d lines skipped, their commands do not exist yet",
                    len(result.skipped))
    return result


async def _advance(driver: Driver, until: datetime, result: SeedResult) -> None:
    """Let time pass; a failing job is logged and its time skipped, never fatal."""
    try:
        result.sent += len(await driver.advance(until))
    except Exception as e:
        log.exception("demo seed: a scheduled job failed on the way to %s", until)
        result.problems.append(f"定时任务出错（{until:%m-%d %H:%M}）：{e!r}")
        clock = driver.app.clock
        if isinstance(clock, VirtualClock) and clock.now() < until:
            clock.set(until)


def titles() -> dict[str, str]:
    """What each demo person does, shown next to their name in the simulator."""
    return {p.id: p.title for p in PEOPLE if p.title}


def reset_sqlite(db_url: str) -> bool:
    """Delete an SQLite database file (and its WAL files) so the demo starts fresh."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    u = make_url(db_url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return False
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{u.database}{suffix}").unlink(missing_ok=True)
    return True


async def run_demo(
    config: Any,
    db_url: str = "sqlite:///demo.db",
    host: str | None = None,
    port: int | None = None,
    echo: Any = print,
    stop: Any = None,
) -> None:
    """`villagebot demo`: a fresh database, the seed, then the simulator until `stop`
    (an asyncio.Event; forever without one)."""
    import asyncio

    from bot.drivers.simulator import Simulator, serve
    from bot.web.server import check_exposure
    from bot.wiring import build_app

    sim_cfg = config.transports.simulator
    host = host or sim_cfg.host
    port = sim_cfg.port if port is None else port
    check_exposure(host, sim_cfg.token)
    if not reset_sqlite(db_url):
        echo(f"注意：{db_url} 不是 SQLite 文件，不会清空；请给一个空数据库。")
    config = config.with_overrides(bot={"admins": [*config.bot.admins, ADMIN_ID]})
    clock = VirtualClock(SEED_START)
    app = await asyncio.to_thread(build_app, config, clock=clock, db_url=db_url)
    server = None
    try:
        sim = Simulator(app, clock, titles=titles())
        echo("正在生成演示城市：大同市及其县区、乡镇、村的群、人员、农户、目标、积分和商品……")
        result = await seed(sim)
        echo(f"已生成：{result.said} 条群消息，机器人回复 {result.sent} 条；"
             f"虚拟时间 {DEMO_START:%Y-%m-%d %H:%M}。")
        if result.skipped:
            echo(f"（{len(result.skipped)} 条命令暂不支持，已跳过）")
        if result.problems:
            echo(f"（{len(result.problems)} 条命令没有按预期执行，见日志）")
        server = await serve(sim, host, port, sim_cfg.token)
        echo(f"演示已启动，请用浏览器打开：{server.url}")
        echo(f"看板：{server.url.split('?')[0]}dashboard    按 Ctrl+C 退出")
        await (stop or asyncio.Event()).wait()
    finally:
        if server is not None:
            await server.close()
        await asyncio.to_thread(app.close)
