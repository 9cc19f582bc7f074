"""Rebuild `VillageSans-Regular.otf`, the chart font: a subset of Noto Sans CJK SC
Regular (SIL Open Font License 1.1) holding ASCII, the GB 2312 symbols and its 6,763
hanzi (1.5 MB instead of 16 MB). Renamed, as a modified version should be; the
copyright and the full licence text travel in the font's name table (IDs 0 and 13)
as well as in OFL.txt beside it.

    python -m bot.fonts.build SOURCE.ttc|otf  [--index N]

SOURCE is Noto Sans CJK (Debian's fonts-noto-cjk ships the collection; the Simplified
Chinese face is number 2 in it, found by name when --index is left out).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "VillageSans-Regular.otf"
FAMILY = "Village Sans SC"
PS_NAME = "VillageSansSC-Regular"
SOURCE_FAMILY = "Noto Sans CJK SC"
EXTRA = "·—–‐−％（）：，、。；！？“”‘’…【】《》〈〉〔〕℃°×÷±≤≥→←↑↓●○■□▲△▼★☆√"


def charset() -> set[str]:
    chars: set[str] = {chr(c) for c in range(0x20, 0x7F)} | set(EXTRA)
    for hi in range(0xA1, 0xF8):  # rows A1–A9 symbols, B0–F7 hanzi
        for lo in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes([hi, lo]).decode("gb2312"))
    return chars


def build(source: Path, index: int | None) -> Path:
    from fontTools import subset
    from fontTools.ttLib import TTCollection, TTFont

    if index is None:
        index = 0
        if source.suffix.lower() == ".ttc":
            names = [f["name"].getDebugName(1) for f in TTCollection(str(source)).fonts]
            index = names.index(SOURCE_FAMILY)
    font = TTFont(str(source), fontNumber=index)
    opts = subset.Options()
    opts.name_IDs = [0, 8, 9, 10, 11, 12, 13, 14]
    opts.name_languages = [0x409]
    opts.hinting = False
    opts.layout_features = []
    opts.notdef_outline = True
    opts.drop_tables += ["VORG", "vhea", "vmtx", "BASE", "GSUB", "GPOS", "GDEF"]
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=sorted(ord(c) for c in charset()))
    sub.subset(font)
    name = font["name"]
    copyright_ = name.getDebugName(0) or ""
    licence = (HERE / "OFL.txt").read_text(encoding="utf-8")
    version = font["head"].fontRevision
    for nid, value in (
        (0, f"{copyright_} Subset and renamed (from {SOURCE_FAMILY}) for villagebot charts."),
        (1, FAMILY), (2, "Regular"), (3, f"{version:.3f};{PS_NAME}"), (4, FAMILY),
        (5, f"Version {version:.3f}"), (6, PS_NAME), (13, licence),
    ):
        name.setName(value, nid, 3, 1, 0x409)
    font["CFF "].cff.fontNames = [PS_NAME]
    font.save(str(OUT))
    return OUT


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path)
    p.add_argument("--index", type=int, default=None)
    a = p.parse_args()
    out = build(a.source, a.index)
    print(f"{out} ({out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
