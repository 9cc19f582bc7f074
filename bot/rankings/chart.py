"""Bar charts of the rankings, as PNG bytes (matplotlib's Agg backend, imported lazily):
the drawing (`render`), and the charts of a bulletin, a `#排名` and a `#积分排名` as pure
functions of their data objects.

Chinese labels need a CJK font, and matplotlib's bundled DejaVu has none. The package
ships one: `bot/fonts/VillageSans-Regular.otf`, a GB 2312 subset of Noto Sans CJK SC
(SIL OFL 1.1; see `bot/fonts/build.py`). A system CJK font, where one is installed
(Debian's fonts-noto-cjk or fonts-wqy-*), is only a fallback for characters outside that
subset. Drawing uses the object API (no pyplot, no global rcParams), so database
worker threads may render side by side.

The PNG is deterministic for given inputs: fixed size and dpi, no metadata, and a
palette image written by Pillow (a few kilobytes, not a few dozen).

A chart is not drawn in the transaction that queues it (a command's, a bulletin
job's): `Chart` is everything `render` needs, built from the data objects there and
kept in the outbox row as JSON; the sender draws it when it sends (`draw_stored`),
after the commit and outside any lock.
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.progress import day
from bot.rankings.bulletin import Bulletin
from bot.rankings.ranking import COMPOSITE, PointsStanding, Ranked, Standing, common_schedule
from bot.rankings.wording import per_household, section_head, streak_mark

log = logging.getLogger(__name__)

FONT_FILE = Path(__file__).parent.parent / "fonts" / "VillageSans-Regular.otf"
FONT_FAMILY = "Village Sans SC"
# Installed system fonts used for characters the shipped subset lacks, if present.
SYSTEM_FALLBACKS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
                    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback")
# Phone-shaped: the picture is read in a chat at about 360 px wide. Type sizes are
# chosen for that: a label of LABEL_PT is LABEL_PT × DPI / 72 × 360 / (WIDTH_IN × DPI)
# = LABEL_PT × 5 / WIDTH_IN px there (10.4 px for 10 pt on 4.8 in; `phone_px`).
DPI = 150
WIDTH_IN = 4.8
PHONE_PX = 360
TITLE_PT, PANEL_PT, LABEL_PT, NOTE_PT = 13, 11, 10, 9
MAX_BARS = 30  # per panel; a longer ranking is cut (the text lists it whole)

# Bar styles: ahead of schedule, behind it, last (末位), not reported this week (本周未报:
# an old figure), and a neutral one (points).
COLORS = {"ahead": "#3b7dd8", "behind": "#e8903c", "last": "#c62828", "stale": "#9e9e9e",
          "plain": "#2e8b57"}
LABEL_COLORS = {"last": "#c62828"}


class ChartError(RuntimeError):
    """A chart cannot be drawn here (no matplotlib, or the font is missing)."""


@dataclass(frozen=True)
class Bar:
    label: str  # left of the bar: '1 吴城乡'
    value: float  # its length (lead in percentage points, points per household …)
    note: str  # at the end of the bar, short: '+10', '12.5'
    style: str = "plain"  # a key of COLORS


@dataclass(frozen=True)
class Panel:
    title: str
    bars: Sequence[Bar]
    signed: bool = True  # values on both sides of a zero line (lead); else from zero


@dataclass(frozen=True)
class Chart:
    """A chart to draw: the arguments of `render`, as plain data (JSON in the outbox)."""

    title: str
    panels: tuple[Panel, ...]
    note: str = ""
    traditional: bool = False

    def render(self) -> bytes:
        return render(self.title, self.panels, note=self.note, traditional=self.traditional)

    def to_json(self) -> str:
        # A value from SQL may be a Decimal: stored as the float it is drawn as.
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"),
                          default=float)

    @classmethod
    def from_json(cls, text: str) -> Chart:
        d = json.loads(text)
        panels = tuple(Panel(p["title"], tuple(Bar(**b) for b in p["bars"]), p["signed"])
                       for p in d["panels"])
        return cls(d["title"], panels, d["note"], d["traditional"])


def draw_stored(data: str) -> bytes | None:
    """The PNG of a chart kept in the outbox (`Chart.to_json`); None, logged, when it
    cannot be drawn here: the message goes without it."""
    try:
        return Chart.from_json(data).render()
    except (ChartError, ValueError, KeyError, TypeError):
        log.exception("chart not drawn")
        return None


def _fonts() -> list[str]:
    """The font families to draw with, the shipped CJK font first; registers it with
    matplotlib's font manager (once per process)."""
    try:
        from matplotlib import font_manager
    except ImportError as e:  # pragma: no cover - matplotlib is a dependency
        raise ChartError("matplotlib is not installed; charts are unavailable") from e
    if not FONT_FILE.is_file():
        raise ChartError(f"the chart font {FONT_FILE.name} is missing from the package "
                         "(bot/fonts); reinstall villagebot or rebuild it with "
                         "python -m bot.fonts.build")
    manager = font_manager.fontManager
    if not any(f.name == FONT_FAMILY for f in manager.ttflist):
        manager.addfont(str(FONT_FILE))
    installed = {f.name for f in manager.ttflist}
    return [FONT_FAMILY, *(f for f in SYSTEM_FALLBACKS if f in installed)]


def font_files(families: Sequence[str] | None = None) -> list[str]:
    """The font files matplotlib resolves the chart's families to, in fallback order (a
    str, or matplotlib's str subclass that also carries a collection's face index)."""
    from matplotlib import font_manager

    fams = list(families) if families is not None else _fonts()
    return [font_manager.findfont(font_manager.FontProperties(family=f), fallback_to_default=False)
            for f in fams]


def _covers(maps: Sequence[dict[int, Any]], text: str) -> bool:
    return all(ch.isspace() or any(ord(ch) in m for m in maps) for ch in text)


def _script(texts: list[str], traditional: bool, paths: Sequence[str]) -> list[str]:
    """The labels in the reply script; a label whose Traditional form has glyphs none of
    the fonts hold stays Simplified (readable, rather than boxes)."""
    if not traditional:
        return texts
    from matplotlib.font_manager import get_font

    from bot.text import to_traditional

    maps = [get_font(p).get_charmap() for p in paths]
    out = []
    for t in texts:
        tt = to_traditional(t)
        out.append(tt if tt == t or _covers(maps, tt) else t)
    return out


def phone_px(pt: float) -> float:
    """The size in px of `pt` type when the chart is shown PHONE_PX wide."""
    return pt * DPI / 72 * PHONE_PX / (WIDTH_IN * DPI)


def shared_limits(panels: Sequence[Panel]) -> tuple[float, float]:
    """The x range every panel of a chart is drawn on: one scale, so that +5 is drawn
    shorter than +49 wherever they stand; room is left for the notes at the bar ends."""
    values = [b.value for p in panels for b in p.bars[:MAX_BARS]]
    lo, hi = min(0.0, *values), max(0.0, *values)
    span = (hi - lo) or 10.0
    pad = span * 0.25
    signed_ = any(p.signed for p in panels)
    return lo - (pad if lo < 0 or signed_ else 0), hi + pad


def render(title: str, panels: Sequence[Panel], *, note: str = "",
           traditional: bool = False) -> bytes:
    """One PNG: a title, one horizontal bar chart per panel (first bar on top), and a
    one-line `note` at the foot (what the bars mean)."""
    fig = figure(title, panels, note=note, traditional=traditional)
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return _compact(raw.getvalue())


def figure(title: str, panels: Sequence[Panel], *, note: str = "", traditional: bool = False,
           families: Sequence[str] | None = None) -> Any:
    """The matplotlib Figure `render` saves (`families` overrides the fonts: tests)."""
    families = list(families) if families is not None else _fonts()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    paths = font_files(families)
    panels = [p for p in panels if p.bars]
    if not panels:
        raise ValueError("nothing to draw")
    heights = [0.55 + 0.36 * min(len(p.bars), MAX_BARS) for p in panels]
    note_lines = note.count("\n") + 1 if note else 0
    foot = 0.08 + 0.2 * note_lines
    total = 0.6 + sum(heights) + 0.4 * len(panels) + foot
    fig = Figure(figsize=(WIDTH_IN, total), dpi=DPI)
    FigureCanvasAgg(fig)
    big = FontProperties(family=families, size=TITLE_PT)
    mid = FontProperties(family=families, size=PANEL_PT)
    small = FontProperties(family=families, size=LABEL_PT)
    tiny = FontProperties(family=families, size=NOTE_PT)
    texts = [title, note]
    for p in panels:
        texts += [p.title, *(b.label for b in p.bars[:MAX_BARS])]
    it = iter(_script(texts, traditional, paths))
    # Title and foot in inches from the edges: the same on a short or a tall chart.
    fig.suptitle(next(it), fontproperties=big, y=1 - 0.12 / total, va="top")
    foot_text = next(it)
    if note:
        fig.text(0.02, 0.06 / total, foot_text, fontproperties=tiny, color="#555555",
                 va="bottom", linespacing=1.3)
    limits = shared_limits(panels)
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        _draw(ax, panel, next(it), [next(it) for _ in panel.bars[:MAX_BARS]], limits, mid, small)
    fig.tight_layout(rect=(0, foot / total, 1, 1))
    return fig


def _draw(ax: Any, panel: Panel, title: str, labels: list[str], limits: tuple[float, float],
          mid: Any, small: Any) -> None:
    bars = list(panel.bars[:MAX_BARS])
    ys = list(range(len(bars)))
    values = [b.value for b in bars]
    ax.barh(ys, values, height=0.62, color=[COLORS.get(b.style, COLORS["plain"]) for b in bars])
    ax.invert_yaxis()
    ax.set_yticks(ys, labels=labels, fontproperties=small)
    for tick, b in zip(ax.get_yticklabels(), bars, strict=True):
        if b.style in LABEL_COLORS:
            tick.set_color(LABEL_COLORS[b.style])
    ax.set_xlim(*limits)
    nudge = (limits[1] - limits[0]) * 0.01
    for y, b in zip(ys, bars, strict=True):
        right = b.value >= 0
        ax.text(b.value + (nudge if right else -nudge), y, b.note, va="center",
                ha="left" if right else "right", fontproperties=small, color="#333333")
    ax.axvline(0, color="#666666", linewidth=0.8)
    ax.set_title(title, fontproperties=mid, loc="left")
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_visible(False)
    ax.set_ylim(len(bars) - 0.5, -0.5)


# Every colour drawn, each with a ramp towards white for anti-aliased edges and text.
INKS = ("#000000", "#333333", "#555555", "#666666")


def _palette() -> list[int]:
    out: list[int] = [255, 255, 255]
    for ink in (*COLORS.values(), *LABEL_COLORS.values(), *INKS):
        rgb = [int(ink[i : i + 2], 16) for i in (1, 3, 5)]
        for t in (0.0, 0.2, 0.4, 0.6, 0.8):
            out += [round(c + (255 - c) * t) for c in rgb]
    return out


def _compact(png: bytes) -> bytes:
    """The same picture on a fixed palette of the chart's own colours: a fraction of
    the bytes, and the bar colours exact however small a bar is."""
    from PIL import Image

    pal = Image.new("P", (1, 1))
    colours = _palette()
    pal.putpalette(colours + colours[:3] * (256 - len(colours) // 3))
    with Image.open(io.BytesIO(png)) as img:
        small = img.convert("RGB").quantize(palette=pal, dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def signed(n: float) -> str:
    """'+10', '-30', '0'."""
    n = int(math.floor(n + 0.5)) if isinstance(n, float) else n
    return f"+{n}" if n > 0 else str(n)


# -- the rankings' charts ------------------------------------------------------------


def _bars(ranked: Sequence[Ranked], marks: dict[int, str] | None = None) -> list[Bar]:
    marks = marks or {}
    out = []
    for r in ranked:
        tags = ["未报"] if r.entry.stale_on is not None else []  # the legend explains it
        if r.last:
            tags.append(marks.get(r.unit.id or 0, "末位"))
        style = ("last" if r.last else "stale" if r.entry.stale_on is not None
                 else "behind" if r.behind else "ahead")
        out.append(Bar(f"{r.rank} {r.unit.name}" + (f"（{'，'.join(tags)}）" if tags else ""),
                       r.entry.lead_pct, signed(r.entry.lead_pct), style))
    return out


LEAD_NOTE = ("条长：超前(+)或滞后(-)序时进度的百分点，各栏同一比例\n"
             "蓝：超前或持平　橙：滞后　红：末位　灰：本周未报（旧数据）")


def ranking_chart_data(title: str, panels: Sequence[tuple[str, Sequence[Ranked]]],
                       traditional: bool = False, marks: Sequence[dict[int, str]] = ()) -> Chart:
    """A bar chart of one or more rankings (a panel each), bars = lead over schedule;
    `marks` per panel: what a last unit's label says (unit id → '连续3周末位')."""
    return Chart(
        title,
        tuple(Panel(t, tuple(_bars(rs, marks[i] if i < len(marks) else None)))
              for i, (t, rs) in enumerate(panels)),
        note=LEAD_NOTE, traditional=traditional,
    )


def ranking_chart(title: str, panels: Sequence[tuple[str, Sequence[Ranked]]],
                  traditional: bool = False, marks: Sequence[dict[int, str]] = ()) -> bytes:
    return ranking_chart_data(title, panels, traditional, marks).render()


def bulletin_chart_data(b: Bulletin, traditional: bool = False) -> Chart:
    panels = [(section_head(sec), sec.ranked) for sec in b.sections]
    marks = [{uid: streak_mark(b.kind.name, n) for uid, n in sec.streaks.items()}
             for sec in b.sections]
    return ranking_chart_data(f"{b.scope.name} {b.kind.chart_title(b.period)} {day(b.on)}",
                              panels, traditional, marks)


def standing_chart_data(st: Standing, traditional: bool = False) -> Chart:
    """The chart of a #排名 reply: one panel, the task's or the composite's."""
    if st.composite:
        return ranking_chart_data(f"{st.scope} {COMPOSITE}排名 {day(st.on)}",
                                  [(f"{'、'.join(st.tasks)} 平均", st.ranked)], traditional)
    task, common = st.tasks[0], common_schedule(st.ranked)
    panel = f"{task}（序时进度 {common}%）" if common is not None else task
    return ranking_chart_data(f"{st.scope} {task}排名 {day(st.on)}", [(panel, st.ranked)],
                              traditional)


def standing_chart(st: Standing, traditional: bool = False) -> bytes:
    return standing_chart_data(st, traditional).render()


def points_chart_data(ps: PointsStanding, traditional: bool = False) -> Chart:
    """The chart of a #积分排名 reply: the villages listed, by points per household."""
    bars = tuple(Bar(f"{r} {ps.labels[a.village.id or 0]}", a.per_household, per_household(a))
                 for r, a in ps.shown)
    return Chart(f"{ps.scope} {ps.first.month}月积分排名", (Panel("", bars, signed=False),),
                 note="条长：本月每户平均加到的爱心积分（分）", traditional=traditional)


def points_chart(ps: PointsStanding, traditional: bool = False) -> bytes:
    return points_chart_data(ps, traditional).render()
