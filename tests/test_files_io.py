"""The shared table reader and writer (`bot.tabular`): header rows below titles,
Chinese headers and numerals, .xls; exports fit to print, CSV with a BOM; and the file
commands' --as-of and database handling."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from bot.tabular import ExportFailed, ImportFailed, Sheet, cell_int, text_width, write_book
from tests.test_progress_io import run_import, targets, tree, write_csv

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


def test_counts_in_chinese_numerals_and_measure_words() -> None:
    assert [cell_int(v) for v in ("三座", "五十", "50户", "十二", 12.0, 7, " 8 ")] == [
        3, 50, 50, 12, 12, 7, 8]
    assert [cell_int(v) for v in ("很多", 2.5, None, "", True)] == [None] * 5


def test_header_below_title_rows_with_synonyms(tmp_path: Path) -> None:
    from bot.progress.files import read_table

    path = write_csv(tmp_path / "t.csv", [
        "2019年危房改造任务表,,,",
        "填报单位：浑源县,,,",
        "村名,项目,计划数（户）,完成时限",
        "皇叔洼村,危房改造,三座,2019-09-30",
        ",,,",
        "东坪村,光伏,5,2019-12-31",
    ])
    rows = read_table(path)
    assert [n for n, _ in rows] == [4, 6]  # row numbers as the file counts them
    assert rows[0][1] == {"unit": "皇叔洼村", "task": "危房改造", "amount": "三座",
                          "deadline": "2019-09-30"}


def test_sum_rows_of_an_office_sheet_are_skipped(tmp_path: Path) -> None:
    """合计/小计 rows (in the 序号 column or a name column) are sums, not units: skipped,
    while every real row keeps its number as the file counts it."""
    from bot.progress.files import read_table

    path = write_csv(tmp_path / "t.csv", [
        "序号,乡镇,村名,任务名称,目标任务数,完成时限",
        "1,吴城乡,皇叔洼村,危房改造,50户,2019-09-30",
        "2,吴城乡,东坪村,危房改造,30,2019-09-30",
        ",吴城乡 小计,,危房改造,80,",
        "合计,,,,80,",
        "3,官儿乡,合计庄村,危房改造,9,2019-09-30",
    ])
    rows = read_table(path)
    assert [(n, r["unit"]) for n, r in rows] == [(2, "皇叔洼村"), (3, "东坪村"), (6, "合计庄村")]


@pytest.mark.parametrize("header", ["目标任务数", "任务目标", "计划任务数（户）", "年度目标"])
def test_the_usual_names_of_a_target_column(tmp_path: Path, header: str) -> None:
    from bot.progress.files import read_table

    path = write_csv(tmp_path / "t.csv", ["吴城乡目标任务表,,,", f"村名,任务名称,{header},完成时限",
                                          "皇叔洼村,危房改造,六十,7月31日"])
    assert read_table(path) == [(3, {"unit": "皇叔洼村", "task": "危房改造", "amount": "六十",
                                     "deadline": "7月31日"})]


def test_refusals_speak_chinese(tmp_path: Path) -> None:
    from bot.points.files import read_table as households

    with pytest.raises(ImportFailed) as e:
        households(write_csv(tmp_path / "h.csv", ["户主姓名,电话", "张三,13800000000"]))
    assert e.value.errors == ["第1行（表头）缺少列：村（表头例如：村、户名）"]
    assert not any("a" <= c.lower() <= "z" for c in str(e.value))
    with pytest.raises(ImportFailed, match="不支持的文件类型“.txt”：请用 .xlsx、.xls 或 .csv"):
        households(write_csv(tmp_path / "h.txt", ["x"]))


async def test_import_xls_with_title_rows(chat, app) -> None:
    pytest.importorskip("xlrd")
    await tree(chat)
    # Made once by LibreOffice from an .xlsx: a title row, a note row, then the header
    # 序号, 村名, 项目名称, 任务数, 完成时限; a date cell and a date written as text.
    result = run_import(app, FIXTURES / "targets_title_row.xls")
    assert (result.created, result.replaced) == (2, 0)
    assert targets(app) == [
        ("皇叔洼村", "危房改造", 3, date(2019, 6, 3), date(2019, 9, 30)),
        ("皇叔洼村", "光伏扶贫", 50, date(2019, 6, 3), date(2019, 12, 31)),
    ]


def test_workbook_is_fit_to_print(tmp_path: Path) -> None:
    sheet = Sheet("进度", "各单位任务进度表", ("单位", "完成率%", "截止", "note"),
                  [("皇叔洼村村民委员会", 84, date(2019, 6, 30), "x"), ("东坪村", 5, None, "y")],
                  {"完成率%": '0"%"'})
    assert write_book(tmp_path / "p.xlsx", "截至 2019-06-30", [sheet]) == [2]
    ws = openpyxl.load_workbook(tmp_path / "p.xlsx").active
    assert ws is not None
    assert (ws["A1"].value, ws["A2"].value, ws["A3"].value) == ("各单位任务进度表", "截至 2019-06-30", "单位")
    assert ws.freeze_panes == "A4" and ws.auto_filter.ref == "A3:D5"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws["B4"].number_format == '0"%"' and ws["C4"].number_format == "yyyy-mm-dd"
    # CJK characters count double: 9 of them take 18 columns (with a margin, 23).
    assert ws.column_dimensions["A"].width == 23 and ws.column_dimensions["D"].width == 7
    assert text_width("皇叔洼村") == 8 and text_width(datetime(2019, 6, 3, 9)) == 16


def test_csv_has_a_bom_and_the_same_rows(tmp_path: Path) -> None:
    sheets = [Sheet("a", "标题一", ("单位", "日期"), [("皇叔洼村", date(2019, 6, 30))]),
              Sheet("b", "标题二", ("村",), [])]
    assert write_book(tmp_path / "out.csv", "截至 2019-06-30", sheets) == [1, 0]
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw[3:].decode("utf-8").splitlines() == [
        "标题一", "截至 2019-06-30", "单位,日期", "皇叔洼村,2019-06-30", "", "标题二",
        "截至 2019-06-30", "村",
    ]
    with pytest.raises(ExportFailed, match="请用 .xlsx 或 .csv"):
        write_book(tmp_path / "out.xls", "", sheets)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd, env=env)


def test_cli_as_of_and_no_silent_database(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "t.csv", ["单位,任务,目标,截止", "浑源县,危房改造,五十,6月30日"])
    # No --db and no --config: the default database must exist, not be made up empty.
    p = _cli("import", "targets", str(good), cwd=tmp_path)
    assert p.returncode == 2 and "没有找到默认数据库" in p.stderr and "--db" in p.stderr
    assert not list(tmp_path.glob("*.db"))
    db = f"sqlite:///{tmp_path / 's.db'}"
    setup = tmp_path / "setup.jsonl"
    setup.write_text(
        '{"at": "2019-06-03T09:00:00+08:00", "room": "r1", "from": "a", "text": "#绑定 市 大同市", "id": "1"}\n'
        '{"at": "2019-06-03T09:01:00+08:00", "room": "r2", "from": "a", "text": "#绑定 县 浑源县 上级 大同市", "id": "2"}\n',
        encoding="utf-8",
    )
    assert _cli("replay", str(setup), "--db", db, "--admin", "a").returncode == 0
    # "6月30日" is read against --as-of (2019), not today's clock.
    p = _cli("import", "targets", str(good), "--db", db, "--as-of", "2019-06-03")
    assert p.returncode == 0 and "新设 1" in p.stdout and f"数据库：{db}" in p.stderr, p.stderr
    out = tmp_path / "progress.csv"
    p = _cli("export", "progress", str(out), "--db", db, "--as-of", "2019-06-16")
    assert p.returncode == 0 and p.stdout.strip() == f"已导出 2 行进度（截至 2019-06-16）→ {out}"
    lines = out.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[1] == "截至 2019-06-16" and lines[3] == "大同市,市,,危房改造,0,50,处,0,48,-48,2019-06-03,2019-06-30,,0/1"
    p = _cli("export", "progress", str(tmp_path / "p.pdf"), "--db", db)
    assert p.returncode == 2 and "不支持导出为“.pdf”" in p.stderr


def test_console_names_its_database(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "bot", "console"], input="", capture_output=True,
                       text=True, timeout=120, check=False, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    assert "数据库：" in p.stderr and "（默认；可用 --db 指定）" in p.stderr


def test_migrate_names_its_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VILLAGEBOT_")}
    env["PYTHONPATH"] = str(ROOT)

    def migrate(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "migrate", *args], capture_output=True,
                              text=True, timeout=120, check=False, cwd=tmp_path,
                              env={**env, **extra})

    p = migrate()
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == "数据库：sqlite:///villagebot.db（默认；可用 --db 或 --config 指定）"
    assert p.stdout.strip() == "数据库结构已是最新" and (tmp_path / "villagebot.db").exists()
    p = migrate(VILLAGEBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'env.db'}")
    assert p.stderr.strip() == f"数据库：sqlite:///{tmp_path / 'env.db'}（来自 VILLAGEBOT_DATABASE_URL）"
    p = migrate("--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert p.stderr.strip() == f"数据库：sqlite:///{tmp_path / 'x.db'}"


async def test_a_past_deadline_is_shown_with_its_year(chat, app, tmp_path: Path) -> None:
    await tree(chat)
    path = write_csv(tmp_path / "t.csv", ["单位,任务,目标,截止", "皇叔洼村,危房改造,5,2018-09-30"])
    with pytest.raises(ImportFailed) as e:
        run_import(app, path)
    assert e.value.errors == [
        "第2行：截止日期 2018-09-30 早于 2019-06-03（导入往年的数据请加 --as-of 日期）"]
