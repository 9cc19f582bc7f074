"""Reading the tables people keep and writing the ones they print. Shared by the
imports and the exports of every area.

Reading: CSV (UTF-8, or GBK as Excel writes it in China), XLSX or XLS (the first
sheet). The header row is the row among the first ten that names the most known
columns, so a title row or two above it ("2019年危房改造任务表") is fine; headers are
matched after simplifying, dropping spaces and a trailing note in brackets
("目标（户）" is 目标). Refusals speak Chinese only.

Writing (`write_book`): XLSX with, on every sheet, a title row, a "截至 …" row, the
header (frozen, with an autofilter), column widths that fit the content (a CJK
character counts double), number formats and a landscape A4 page fitted to one page
wide; or, for a `.csv` path, UTF-8 CSV with a BOM (so Excel opens it as UTF-8), the
sheets one after another.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any

from bot.text import parse_int, simplify

Row = tuple[int, dict[str, Any]]  # (row number in the file, column → cell value)

HEADER_SCAN = 10  # rows searched for the header


class ImportFailed(Exception):
    """The file cannot be imported; `errors` are the lines to show, row numbers first."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class ExportFailed(Exception):
    """The export cannot be written (an unknown file type); the message is Chinese."""


def cell_text(v: Any) -> str:
    """A cell as text: None is empty, 12.0 (as Excel stores numbers) is 12."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


_COUNT = re.compile(r"^([+＋]?[0-9０-９零〇一二两三四五六七八九十百千万]+)\s*[^\d\s]{0,3}$")


def cell_int(v: Any) -> int | None:
    """A count cell: 12, 12.0, '12', '十二', '三座', '50户' → the int; otherwise None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else None
    text = cell_text(v)
    m = _COUNT.match(text)
    return parse_int(m.group(1)) if m else parse_int(text)


def _header_name(h: Any) -> str:
    name = simplify(cell_text(h)).lower().replace(" ", "").replace("*", "")
    return re.sub(r"[（(][^）)]*[）)]$", "", name)


Required = Sequence[str | tuple[str, ...]]  # a tuple: any one of these columns


def read_table(
    path: Path, columns: Mapping[str, Sequence[str]], required: Required
) -> list[Row]:
    """The data rows of a CSV, XLSX or XLS file, keyed by column; blank rows are skipped.

    `columns` maps each key to the headers that name it; the first Chinese one is shown
    when a required column is missing. A tuple in `required` asks for one of its
    columns (户名 or 户主)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            return _rows(wb.worksheets[0].iter_rows(values_only=True), columns, required)
        finally:
            wb.close()
    if suffix == ".xls":
        return _rows(_xls_rows(path), columns, required)
    if suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
        return _rows(csv.reader(io.StringIO(text)), columns, required)
    raise ImportFailed([f"不支持的文件类型“{path.suffix}”：请用 .xlsx、.xls 或 .csv"])


def _xls_rows(path: Path) -> list[list[Any]]:
    """The first sheet of an old-style .xls workbook (xlrd reads only .xls), dates as
    datetimes."""
    try:
        import xlrd
    except ImportError:  # pragma: no cover - a dependency, but say so plainly
        raise ImportFailed(["读取 .xls 需要安装 xlrd；也可以在 Excel 里另存为 .xlsx"]) from None
    try:
        book = xlrd.open_workbook(str(path))
    except xlrd.XLRDError as e:
        raise ImportFailed([f"读不了这个 .xls 文件（{e}）；可以在 Excel 里另存为 .xlsx"]) from None
    sheet = book.sheet_by_index(0)
    out: list[list[Any]] = []
    for r in range(sheet.nrows):
        row: list[Any] = []
        for c in sheet.row(r):
            if c.ctype == xlrd.XL_CELL_DATE:
                row.append(xlrd.xldate_as_datetime(c.value, book.datemode))
            elif c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                row.append(None)
            else:
                row.append(c.value)
        out.append(row)
    return out


def _chinese(names: Sequence[str]) -> str:
    return next((n for n in names if any(ord(ch) > 0x2E80 for ch in n)), names[0])


def _rows(table: Iterable[Iterable[Any]], columns: Mapping[str, Sequence[str]],
          required: Required) -> list[Row]:
    it = iter(table)
    top = [list(r) for r in islice(it, HEADER_SCAN)]
    if not any(cell_text(v) for r in top for v in r):
        raise ImportFailed(["文件是空的"])

    def key(h: Any) -> str | None:
        name = _header_name(h)
        return next((k for k, names in columns.items() if name in names), None) if name else None

    # The header: the row naming the most known columns (the first such, on a tie).
    scored = [(len({k for k in map(key, r) if k}), i) for i, r in enumerate(top)]
    best, at = max(scored, key=lambda s: (s[0], -s[1]))
    # Two columns with one meaning: the one named by the more specific word counts (the
    # earlier in its list: 项目名称 over 项目类别, 行政村 over 村庄), else the first.
    chosen: dict[str, tuple[int, int]] = {}  # key → (its word's place in its list, column)
    for i, h in enumerate(top[at]):
        if (k := key(h)) is not None:
            here = (columns[k].index(_header_name(h)), i)
            chosen[k] = min(chosen.get(k, here), here)
    keys: list[str | None] = [None] * len(top[at])
    for k, (_, i) in chosen.items():
        keys[i] = k
    needs = [(k,) if isinstance(k, str) else k for k in required]
    missing = [alts for alts in needs if not any(k in keys for k in alts)]
    if missing:
        example = "（表头例如：" + "、".join(_chinese(columns[alts[0]]) for alts in needs) + "）"
        if not best:
            raise ImportFailed([f"找不到表头：前{len(top)}行里没有认得的列名{example}"])
        raise ImportFailed([f"第{at + 1}行（表头）缺少列：" + "、".join(
            "或".join(_chinese(columns[k]) for k in alts) for alts in missing) + example])
    out: list[Row] = []
    for n, cells in enumerate(chain(top[at + 1:], it), start=at + 2):
        cells = list(cells)
        row = {k: v for k, v in zip(keys, cells, strict=False) if k is not None}
        if any(cell_text(v) for v in row.values()) and not _totals_row(cells):
            out.append((n, row))
    return out


# An office sheet's sum rows (合计, 吴城乡小计, 全县总计 …): the sum of the rows above,
# never a unit of its own (no place name ends so), so they are skipped wherever the word
# stands (序号 or a name column).
_TOTALS = re.compile(r"^.{0,16}?(合计|小计|总计)[:：]?$")


def _totals_row(cells: Sequence[Any]) -> bool:
    return any(_TOTALS.match(re.sub(r"\s+", "", simplify(cell_text(v)))) for v in cells)


# -- writing -----------------------------------------------------------------------

DATE = "yyyy-mm-dd"
TIME = "yyyy-mm-dd hh:mm"
PERCENT = '0"%"'  # the figures are already percentages (84 means 84%)
POINTS = '+0;-0;0'  # percentage points ahead (+) or behind (-)
SAMPLE = 2000  # rows measured for the column widths
MAX_WIDTH = 60


@dataclass
class Sheet:
    """One sheet to write: `formats` maps a header to its number format; dates and
    times get DATE and TIME unless told otherwise. `tail` rows go below the data,
    outside the filter (the ledger's chain heads)."""

    name: str
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    formats: Mapping[str, str] = field(default_factory=dict)
    tail: Sequence[Sequence[Any]] = ()


def text_width(v: Any) -> int:
    """How many columns a value takes on screen: CJK characters count double."""
    if v is None:
        return 0
    if isinstance(v, datetime):
        return 16
    if isinstance(v, date):
        return 10
    s = cell_text(v)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def write_book(path: Path, as_of: str, sheets: Sequence[Sheet]) -> list[int]:
    """Write the sheets to `path` (.xlsx, or .csv); the data rows written per sheet.
    `as_of` is shown under each title ("截至 2019-06-30")."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ExportFailed(f"不支持导出为“{path.suffix or path.name}”：请用 .xlsx 或 .csv 结尾的文件名")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        return _write_csv(path, as_of, sheets)
    return _write_xlsx(path, as_of, sheets)


def _csv_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    return "" if v is None else v


def _write_csv(path: Path, as_of: str, sheets: Sequence[Sheet]) -> list[int]:
    counts = []
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        for i, sh in enumerate(sheets):
            if i:
                w.writerow([])
            w.writerow([sh.title])
            w.writerow([as_of])
            w.writerow(sh.header)
            n = 0
            for r in sh.rows:
                w.writerow([_csv_value(v) for v in r])
                n += 1
            for r in sh.tail:
                w.writerow([_csv_value(v) for v in r])
            counts.append(n)
    return counts


def _cells(ws: Any, r: Sequence[Any], formats: Sequence[str | None]) -> list[Any]:
    """A row for a write-only sheet: values with a number format become cells."""
    from openpyxl.cell import WriteOnlyCell

    out: list[Any] = []
    for i, v in enumerate(r):
        fmt = formats[i] if i < len(formats) else None
        if fmt is None and isinstance(v, datetime):
            fmt = TIME
        elif fmt is None and isinstance(v, date):
            fmt = DATE
        if fmt is None or v is None or v == "":
            out.append(v)
        else:
            c = WriteOnlyCell(ws, value=v)
            c.number_format = fmt
            out.append(c)
    return out


def _write_xlsx(path: Path, as_of: str, sheets: Sequence[Sheet]) -> list[int]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    counts = []
    for sh in sheets:
        ws = wb.create_sheet(sh.name[:31])
        it = iter(sh.rows)
        sample = list(islice(it, SAMPLE))  # write-only: widths go before the first row
        ncols = len(sh.header)
        widths = [text_width(h) for h in sh.header]
        for r in sample:  # not the tail: a long hash may run over the empty cells beside
            for i, v in enumerate(r[:ncols]):
                widths[i] = max(widths[i], text_width(v))
        for i, w in enumerate(widths, start=1):
            # A little over one unit per half-width character: fonts differ (LibreOffice's
            # CJK fallback is wider than Calibri's digits).
            ws.column_dimensions[get_column_letter(i)].width = min(MAX_WIDTH, round(w * 1.15) + 2)
        ws.freeze_panes = "A4"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = "9"  # A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_options.gridLines = True
        ws.print_title_rows = "3:3"

        title = WriteOnlyCell(ws, value=sh.title)
        title.font = Font(bold=True, size=14)
        stamp = WriteOnlyCell(ws, value=as_of)
        stamp.font = Font(color="555555")
        ws.append([title])
        ws.append([stamp])
        fill = PatternFill("solid", fgColor="DDEBF7")
        edge = Border(bottom=Side(style="thin"))
        head = []
        for h in sh.header:
            c = WriteOnlyCell(ws, value=h)
            c.font, c.fill, c.border = Font(bold=True), fill, edge
            c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            head.append(c)
        ws.append(head)
        formats = [sh.formats.get(h) for h in sh.header]

        n = 0
        for r in chain(sample, it):
            ws.append(_cells(ws, r, formats))
            n += 1
        ws.auto_filter.ref = f"A3:{get_column_letter(max(1, ncols))}{3 + n}"
        for r in sh.tail:
            ws.append(_cells(ws, r, formats))
        counts.append(n)
    wb.save(path)
    return counts
