"""Reading the tables people keep: CSV (UTF-8, or GBK as Excel writes it in China) or
XLSX (the first sheet), with a header row naming the columns. Shared by the imports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.text import simplify

Row = tuple[int, dict[str, Any]]  # (row number in the file, column → cell value)


class ImportFailed(Exception):
    """The file cannot be imported; `errors` are the lines to show, row numbers first."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def cell_text(v: Any) -> str:
    """A cell as text: None is empty, 12.0 (as Excel stores numbers) is 12."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def read_table(
    path: Path, columns: Mapping[str, Sequence[str]], required: Sequence[str]
) -> list[Row]:
    """The data rows of a CSV or XLSX file, keyed by column; blank rows are skipped.

    `columns` maps each key to the headers that name it (the second one is shown when a
    required column is missing)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            return _rows(wb.worksheets[0].iter_rows(values_only=True), columns, required)
        finally:
            wb.close()
    if suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
        return _rows(csv.reader(io.StringIO(text)), columns, required)
    raise ImportFailed([f"不支持的文件类型“{path.suffix}”：请用 .csv 或 .xlsx"])


def _rows(table: Iterable[Iterable[Any]], columns: Mapping[str, Sequence[str]],
          required: Sequence[str]) -> list[Row]:  # fmt: skip
    it = iter(table)
    header = next(it, None)
    if header is None:
        raise ImportFailed(["文件是空的"])

    def key(h: Any) -> str | None:
        name = simplify(str(h or "")).lower().replace(" ", "")
        return next((k for k, names in columns.items() if name in names), None)

    keys = [key(h) for h in header]
    missing = [k for k in required if k not in keys]
    if missing:
        raise ImportFailed(
            ["第1行（表头）缺少列：" + "、".join(f"{k}（{columns[k][1]}）" for k in missing)]
        )
    out: list[Row] = []
    for n, cells in enumerate(it, start=2):
        row = {k: v for k, v in zip(keys, cells, strict=False) if k is not None}
        if any(cell_text(v) for v in row.values()):
            out.append((n, row))
    return out
