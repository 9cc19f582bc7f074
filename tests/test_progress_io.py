"""Targets from CSV/XLSX files and the progress workbook, on SQLite and PostgreSQL, and
the `villagebot import targets` / `export progress` commands."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import select

from bot.models.core import AuditEntry
from bot.models.progress import Target
from bot.progress.files import ImportFailed, import_targets, progress_rows, read_table
from tests.conftest import texts
from tests.helpers import ADMIN, ROOMS, appoint, build_tree

VILLAGE = ROOMS["village"][0]


async def tree(chat) -> None:
    """The tree of tests.helpers, plus 东坪村 under 吴城乡 and a second 东坪村 elsewhere."""
    await build_tree(chat)
    await chat.say("#绑定 村 东坪村 上级 吴城乡", sender=ADMIN, room="r_v2")
    await chat.say("#绑定 乡 千佛岭乡 上级 浑源县", sender=ADMIN, room="r_t2")
    await chat.say("#绑定 村 东坪村 上级 千佛岭乡", sender=ADMIN, room="r_v3")


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def targets(app) -> list[tuple[str, str, int, date, date]]:
    from bot.models.core import OrgUnit

    def q(s):
        rows = s.exec(select(Target, OrgUnit.name).join(OrgUnit, OrgUnit.id == Target.unit_id)
                      .order_by(Target.id)).all()
        return [(n, t.task, t.amount, t.start, t.deadline) for t, n in rows]

    return app.db.run_sync(q)


def run_import(app, path: Path):
    rows = read_table(path)
    return app.db.run_sync(lambda s: import_targets(s, app.config, rows, app.clock.now()))


async def test_import_csv_with_parent_and_chinese_headers(chat, app, tmp_path) -> None:
    await tree(chat)
    path = write_csv(tmp_path / "t.csv", [
        "单位,上级,任务,目标,开始,截止",
        "皇叔洼村,,危房改造,50,,2019-06-30",
        "東坪村,吴城乡,易地搬遷,20,2019-06-01,7月31日",
        "",
        "东坪村,千佛岭乡,危改,12,,6月底",
    ], encoding="gb18030")
    result = run_import(app, path)
    assert (result.created, result.replaced) == (3, 0)
    assert targets(app) == [
        ("皇叔洼村", "危房改造", 50, date(2019, 6, 3), date(2019, 6, 30)),
        ("东坪村", "易地搬迁", 20, date(2019, 6, 1), date(2019, 7, 31)),
        ("东坪村", "危房改造", 12, date(2019, 6, 3), date(2019, 6, 30)),
    ]
    # Importing again replaces (and audits each row).
    result = run_import(app, write_csv(tmp_path / "t2.csv", [
        "unit,task,amount,start,deadline", "皇叔洼村,危房改造,60,,2019-06-30"]))
    assert (result.created, result.replaced) == (0, 1)
    assert targets(app)[0][2] == 60
    audits = app.db.run_sync(
        lambda s: s.exec(select(AuditEntry).where(AuditEntry.action == "target")).all()
    )
    assert len(audits) == 4 and all(a.actor_id == "cli:import" for a in audits)
    # The chat sees the imported target.
    await appoint(chat, "village", "wxid_liuwei", "刘伟", "干部")
    sent = await chat.say("#进度 危房改造 30", sender="wxid_liuwei", room=VILLAGE)
    assert texts(sent) == [
        "已记录 皇叔洼村 危房改造 30/60 处（50%），序时进度 0%，超前 50 个百分点"
    ]


async def test_import_with_any_bad_row_changes_nothing(chat, app, tmp_path) -> None:
    await tree(chat)
    path = write_csv(tmp_path / "bad.csv", [
        "unit,parent,task,amount,start,deadline",
        "皇叔洼村,,危房改造,50,,2019-06-30",
        "东坪村,,易地搬迁,20,,2019-07-31",
        "东坪村,吴城乡,修路,20,,2019-07-31",
        "皇叔洼村,,易地搬迁,0,,2019-07-31",
        "皇叔洼村,,光伏,五,,2019-07-31",
        "皇叔洼村,,产业,5,,6月31日",
        "皇叔洼村,,产业扶贫,5,2019-08-01,2019-07-31",
        "西册田村,,产业,5,,2019-07-31",
        "皇叔洼村,,危改,5,,2019-07-31",
        "皇叔洼村,,贫困村提升,很多,,2019-07-31",
    ])
    with pytest.raises(ImportFailed) as e:
        run_import(app, path)
    assert e.value.errors == [
        "第3行：有2个“东坪村”（吴城乡的东坪村、千佛岭乡的东坪村），请在“上级”列写明上级",
        "第4行：没有“修路”这项任务（任务有：危房改造、易地搬迁、产业扶贫、贫困村提升、光伏扶贫）",
        "第5行：目标数要大于 0",
        "第7行：看不懂截止日期“6月31日”",
        "第8行：截止日期（7月31日）要晚于开始日期（8月1日）",
        "第9行：找不到单位“西册田村”",
        "第10行：与第2行重复（皇叔洼村 危房改造）",
        "第11行：目标数“很多”不是整数",
    ]
    assert targets(app) == []


def test_read_table_xlsx_and_header_errors(tmp_path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["单位", "任务", "目标数", "开始日期", "截止日期"])
    ws.append(["皇叔洼村", "危房改造", 50, None, date(2019, 6, 30)])
    ws.append([None, None, None, None, None])
    ws.append(["东坪村", "光伏", 3.0, "2019-06-01", "2019-12-31"])
    wb.save(tmp_path / "t.xlsx")
    rows = read_table(tmp_path / "t.xlsx")
    assert [n for n, _ in rows] == [2, 4]
    assert rows[0][1]["deadline"].date() == date(2019, 6, 30)
    with pytest.raises(ImportFailed, match="第1行（表头）缺少列：目标、截止（表头例如"):
        read_table(write_csv(tmp_path / "h.csv", ["unit,task", "皇叔洼村,危房改造"]))
    with pytest.raises(ImportFailed, match="不支持的文件类型"):
        read_table(write_csv(tmp_path / "h.txt", ["x"]))


def test_read_table_an_office_sheet(tmp_path) -> None:
    """A county office's sheet: a merged title, a 填报单位 line, 序号, the header words
    it uses (村名, 任务类别, 目标任务数（处）, 完成时限), a 合计 row and a footnote."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["浑源县2019年危房改造目标任务分解表"])
    ws.merge_cells("A1:F1")
    ws.append(["填报单位：吴城乡人民政府", None, None, None, "填报日期：2019年6月10日"])
    ws.append(["序号", "村名", "任务类别", "目标任务数（处）", "开始时间", "完成时限"])
    ws.append([1, "皇叔洼村", "危房改造", 50.0, None, date(2019, 6, 30)])
    ws.append([2, "东坪村", "危房改造", 30, None, "2019.7.31"])
    ws.append([None, "合计", None, 80, None, None])
    ws.append(["注：完成时限以县指挥部文件为准"])
    wb.save(tmp_path / "office.xlsx")
    rows = read_table(tmp_path / "office.xlsx")
    assert [(n, r["unit"], r["task"], r["amount"]) for n, r in rows] == [
        (4, "皇叔洼村", "危房改造", 50), (5, "东坪村", "危房改造", 30)]
    # Two columns for one meaning: the more specific word's, wherever it stands.
    path = write_csv(tmp_path / "two.csv", [
        "村庄,行政村,项目类别,项目名称,目标任务数,完成时限",
        "下庄,皇叔洼村,住房保障,危房改造,50,2019-06-30"])
    [(_, row)] = read_table(path)
    assert (row["unit"], row["task"]) == ("皇叔洼村", "危房改造")


async def test_export_matches_the_chat(chat, app, tmp_path) -> None:
    await tree(chat)
    await appoint(chat, "city", "wxid_hq", "赵主任", "指挥部")
    await appoint(chat, "village", "wxid_liuwei", "刘伟", "干部")
    await chat.say("#目标 危房改造 50 截止 6月30日", sender="wxid_hq", room=VILLAGE)
    await chat.say("#目标 危房改造 40 截止 6月30日", sender="wxid_hq", room="r_v2")
    await chat.advance(app.clock.now().replace(day=22))
    sent = await chat.say("#进度 危房改造 42", sender="wxid_liuwei", room=VILLAGE)
    assert texts(sent) == [
        "已记录 皇叔洼村 危房改造 42/50 处（84%），序时进度 70%，超前 14 个百分点"
    ]
    rows = app.db.run_sync(lambda s: progress_rows(s, app.config, date(2019, 6, 22)))
    by_unit = {r[0]: r for r in rows}
    assert list(by_unit) == ["大同市", "浑源县", "吴城乡", "皇叔洼村", "东坪村"]
    assert by_unit["皇叔洼村"][3:10] == ("危房改造", 42, 50, "处", 84, 70, 14)
    assert by_unit["吴城乡"][3:10] == ("危房改造", 42, 90, "处", 47, 70, -23)
    assert by_unit["大同市"][13] == "1/2"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_cli_import_and_export(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    # The CLI judges dates against the real clock: a deadline about a year ahead.
    due = (date.today() + timedelta(days=400)).isoformat()
    setup = tmp_path / "setup.jsonl"
    setup.write_text(
        '{"at": "2019-06-03T09:00:00+08:00", "room": "r1", "from": "a", "text": "#绑定 市 大同市", "id": "1"}\n'
        '{"at": "2019-06-03T09:01:00+08:00", "room": "r2", "from": "a", "text": "#绑定 县 浑源县 上级 大同市", "id": "2"}\n',
        encoding="utf-8",
    )
    assert _cli("replay", str(setup), "--db", db, "--admin", "a").returncode == 0
    bad = write_csv(tmp_path / "bad.csv", ["unit,task,amount,deadline", f"浑源县,危房改造,50,{due}",
                                           f"浑源县,修路,5,{due}"])
    p = _cli("import", "targets", str(bad), "--db", db)
    assert (
        p.returncode == 1
        and "第3行：没有“修路”这项任务" in p.stderr
        and "没有导入任何目标" in p.stderr
    )
    good = write_csv(
        tmp_path / "good.csv", ["unit,task,amount,deadline", f"浑源,危房改造,50,{due}"]
    )
    p = _cli("import", "targets", str(good), "--db", db)
    assert p.returncode == 0 and "新设 1" in p.stdout, p.stderr
    out = tmp_path / "progress.xlsx"
    p = _cli("export", "progress", str(out), "--db", db, "--on", due)
    assert p.returncode == 0, p.stderr
    sheet = openpyxl.load_workbook(out).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0].startswith("各单位任务进度表") and rows[1][0] == f"截至 {due}"
    assert rows[2][:6] == ("单位", "级别", "上级", "任务", "完成", "目标")
    assert [r[:9] for r in rows[3:]] == [
        ("大同市", "市", None, "危房改造", 0, 50, "处", 0, 100),
        ("浑源县", "县", "大同市", "危房改造", 0, 50, "处", 0, 100),
    ]
