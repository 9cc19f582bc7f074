"""The ranking chart: Chinese labels drawn with the shipped CJK font (not DejaVu's
boxes), deterministic PNG bytes, Traditional labels, a clear error without the font."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from PIL import Image

from bot.rankings import chart
from bot.rankings.chart import Bar, ChartError, Panel

PANELS = [
    Panel("危房改造（序时进度 67%）", [Bar("1 吴城乡", 13, "+13", "ahead"),
                                  Bar("2 官儿乡", -7, "-7", "behind"),
                                  Bar("3 大磁窑镇（末位）", -27, "-27", "last")]),
    Panel("易地搬迁（序时进度 44%）", [Bar("1 皇叔洼村", 25, "+25", "ahead"),
                                  Bar("1 闫家庄村", 25, "+25", "ahead")]),
]
NOTE = "条长：超前(+)或滞后(-)序时进度的百分点"


def _glyph_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if "missing from font" in str(w.message)]


def test_labels_resolve_to_the_shipped_cjk_font_and_no_glyph_is_missing() -> None:
    from matplotlib.font_manager import findfont, get_font
    from matplotlib.text import Text

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fig = chart.figure("浑源县 周通报 6月10日", PANELS, note=NOTE)
        fig.canvas.draw()
    assert _glyph_warnings(record) == []
    texts = [t for t in fig.findobj(Text) if t.get_text().strip()]
    labels = {t.get_text() for t in texts}
    assert {"浑源县 周通报 6月10日", "3 大磁窑镇（末位）", "1 闫家庄村", NOTE} <= labels
    shipped = get_font(str(chart.FONT_FILE)).get_charmap()
    for t in texts:
        # Every text is drawn with the package's own font file, which has every glyph.
        assert Path(findfont(t.get_fontproperties())) == chart.FONT_FILE, t.get_text()
        assert all(ord(ch) in shipped for ch in t.get_text() if not ch.isspace()), t.get_text()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        png = chart.render("浑源县 周通报 6月10日", PANELS, note=NOTE)
    assert _glyph_warnings(record) == []
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as img:
        assert img.size[0] == chart.WIDTH_IN * chart.DPI
        assert img.mode == "P"  # the compact palette form


def test_without_a_cjk_font_matplotlib_reports_missing_glyphs() -> None:
    # The check above can fail: DejaVu alone has no hanzi, and matplotlib says so.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fig = chart.figure("浑源县 周通报", PANELS, families=["DejaVu Sans"])
        fig.canvas.draw()
    assert any("浑" in w or "27985" in w for w in _glyph_warnings(record))


def test_png_bytes_are_deterministic_and_differ_with_content() -> None:
    a = chart.render("浑源县 进度排名", PANELS, note=NOTE)
    b = chart.render("浑源县 进度排名", PANELS, note=NOTE)
    c = chart.render("浑源县 进度排名", PANELS[:1], note=NOTE)
    assert a == b
    assert a != c
    assert len(a) < 40_000


def test_traditional_labels_follow_the_reply_script() -> None:
    from matplotlib.text import Text

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fig = chart.figure("浑源县 进度排名", PANELS, traditional=True)
        fig.canvas.draw()
    assert _glyph_warnings(record) == []

    labels = {t.get_text() for t in fig.findobj(Text)}
    assert "渾源縣 進度排名" in labels or "浑源县 进度排名" in labels
    # Whatever script each label ends up in, every glyph is in one of the chart's fonts.
    from matplotlib.font_manager import get_font

    maps = [get_font(p).get_charmap() for p in chart.font_files()]
    for label in labels:
        assert all(ch.isspace() or any(ord(ch) in m for m in maps) for ch in label), label


def test_a_missing_font_file_is_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(chart, "FONT_FILE", tmp_path / "gone.otf")
    monkeypatch.setattr(chart, "FONT_FAMILY", "Not Registered Sans")
    with pytest.raises(ChartError, match="gone.otf"):
        chart.render("排名", PANELS)


def test_nothing_to_draw_is_refused() -> None:
    with pytest.raises(ValueError):
        chart.render("排名", [Panel("空", [])])


def test_signed() -> None:
    assert [chart.signed(v) for v in (13, -7, 0)] == ["+13", "-7", "0"]


def test_all_panels_of_a_chart_share_one_scale() -> None:
    # +5 in one panel must be drawn shorter than +49 in another: one x range for all.
    panels = [Panel("甲", [Bar("1 甲乡", 5, "+5", "ahead")]),
              Panel("乙", [Bar("1 乙乡", 49, "+49", "ahead"), Bar("2 丙乡", -12, "-12", "behind")]),
              Panel("丙", [Bar("1 丁乡", -3, "-3", "behind")])]
    fig = chart.figure("排名", panels, note=NOTE)
    limits = {ax.get_xlim() for ax in fig.axes}
    assert len(limits) == 1
    lo, hi = limits.pop()
    assert lo < -12 and hi > 49
    assert chart.shared_limits(panels) == (lo, hi)


def test_labels_are_legible_at_phone_width() -> None:
    # Shown 360 px wide, the smallest type (the foot note) is at least 9 px.
    assert chart.phone_px(min(chart.LABEL_PT, chart.NOTE_PT)) >= 9
    png = chart.render("浑源县 周通报 6月10日", PANELS, note=NOTE)
    with Image.open(io.BytesIO(png)) as img:
        width = img.size[0]
    assert chart.LABEL_PT * chart.DPI / 72 * chart.PHONE_PX / width == chart.phone_px(chart.LABEL_PT)
