"""Importing leads from .xlsx and .csv: preview every row, then all or nothing."""

import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.clock import today
from crm.extensions import db
from crm.imports import mapping
from crm.imports.cli import import_
from crm.imports.reader import ImportRefused, read_table
from crm.imports.service import import_rows, preview
from crm.leads.models import Lead, StageChange
from crm.leads.pipeline import ORDERED_STAGES
from crm.stats.queries import district_stats
from tests import factories

STAGES_ZH = ["接触", "洽谈", "签约", "开工", "投产"]
AMOUNTS = [("1.5亿", Decimal(15000)), ("15000万", Decimal(15000)), (20000, Decimal(20000)),
           ("15,000", Decimal(15000)), ("1.2亿元", Decimal(12000)), ("8000", Decimal(8000)),
           (3500.5, Decimal("3500.5"))]
UNITS = ["孟庄镇", "税郭镇"]
OFFICERS = {"孟庄镇": ["a-1", "a-2", ""], "税郭镇": ["b-1", ""]}
HEADERS = ["序号", "项目名称", "投资方", "计划投资（万元）", "所属镇街", "负责人", "阶段",
           "招商方式", "计划日期", None, None, "备注"]
SUB = [None] * 8 + ["签约", "开工", "投产", None]


def make_rows(n=32):
    """n good rows: (values, expected) where expected is (unit, stage, investment)."""
    rows = []
    for i in range(n):
        unit = UNITS[i % 2]
        officers = OFFICERS[unit]
        amount, wan = AMOUNTS[i % len(AMOUNTS)]
        stage = STAGES_ZH[i % 5]
        sign = dt.datetime(2026, 3 + i % 6, 1 + i % 20) if i % 3 == 0 else (
            f"2026/{3 + i % 6}/{1 + i % 20}" if i % 3 == 1 else f"2026年{3 + i % 6}月{1 + i % 20}日")
        rows.append(([
            i + 1, f"导入测试项目{i + 1}", f"导入测试企业{i + 1}有限公司", amount, unit,
            officers[i % len(officers)], stage, "以商招商" if i % 4 else "产业链招商",
            sign, "2027-01-15", dt.date(2027, 12, 1), f"备注{i}",
        ], (unit, ORDERED_STAGES[i % 5], wan)))
    return rows


def build_xlsx(path, rows, *, blank_after=10, formula=False):
    """A realistic sheet: a merged title row, a merged two-row header, a blank row."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2026年市中区重点招商项目台账"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    ws.append(HEADERS)
    ws.append(SUB)
    ws.merge_cells("I2:K2")
    for col in "ABCDEFGHL":
        ws.merge_cells(f"{col}2:{col}3")
    for i, (values, _expected) in enumerate(rows):
        ws.append(values)
        if i + 1 == blank_after:
            ws.append([])
            ws.append([None, "  ", None])
    if formula:
        ws["D6"] = "=1+1"
    wb.save(path)
    return path


def sheet_row(index, blank_after=10):
    """The sheet row number of data row ``index`` (0-based) in ``build_xlsx``."""
    return 4 + index + (2 if index >= blank_after else 0)


def gbk_csv(path, lines):
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    return path


def lead_count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Lead))


def entered(admin):
    stats = district_stats(admin, today().year, today())
    return {u.name: dict(u.entered) for u in stats.units}


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("raw, wan", [
    ("1.5亿", 15000), ("15000万", 15000), ("15,000", 15000), ("1.2亿元", 12000),
    ("15000万元", 15000), (" 3,500.5 ", Decimal("3500.5")), (20000, 20000), (1.5, Decimal("1.5")),
    ("０.５亿", 5000),
])
def test_parse_amount(raw, wan):
    assert mapping.parse_amount(raw) == Decimal(wan)


def test_parse_amount_header_unit_and_errors():
    assert mapping.parse_amount("2.5", "亿元") == Decimal(25000)
    assert mapping.parse_amount("") is None
    for bad in ("abc", "1.5千万", "-5", "15000元", "1亿5"):
        with pytest.raises(ValueError):
            mapping.parse_amount(bad)


@pytest.mark.parametrize("raw", ["2026-03-01", "2026/3/1", "2026年3月1日", "2026.3.1",
                                 dt.datetime(2026, 3, 1, 0, 0), dt.date(2026, 3, 1), 46082])
def test_parse_date(raw):
    assert mapping.parse_date(raw) == dt.date(2026, 3, 1)


def test_parse_date_errors_and_labels():
    for bad in ("2026-13-45", "明年三月", "2026-02-30", 12):
        with pytest.raises(ValueError):
            mapping.parse_date(bad)
    assert mapping.parse_stage("签约") == "signed"
    assert mapping.parse_stage("started") == "started"
    assert mapping.parse_stage("终止") == "lost"  # an exported lost lead re-imports
    with pytest.raises(ValueError):
        mapping.parse_stage("谈判中")
    assert mapping.parse_lost_reason("选址他处") == "relocated"
    with pytest.raises(ValueError):
        mapping.parse_lost_reason("不想干了")
    assert mapping.parse_source("资本招商") == "capital"
    assert mapping.header_field("计划投资（万元）") == ("investment_wan", "万元")
    assert mapping.header_field("*项目名称") == ("name", None)
    assert mapping.combined_header_field("计划日期", "开工")[0] == "planned_start_date"


def test_reader_finds_two_row_header_below_title(app, tmp_path):
    table = read_table(build_xlsx(tmp_path / "t.xlsx", make_rows(32)))
    fields = {c.header: c.field for c in table.columns}
    assert fields["计划日期/签约"] == "planned_sign_date"
    assert fields["计划日期/开工"] == "planned_start_date"
    assert fields["计划日期/投产"] == "planned_production_date"
    assert fields["阶段"] == "stage"
    assert table.unknown_headers == ["序号"]
    assert len(table.rows) == 32  # both blank rows skipped
    assert [n for n, _v in table.rows][:11] == [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16]


# ---------------------------------------------------------------- preview


def bad_rows_file(tmp_path, world):
    """32 good rows with seven bad ones of every kind; returns (path, bad sheet rows)."""
    rows = [values for values, _e in make_rows(32)]
    rows[2][4] = "火星镇"                      # unknown unit
    rows[5][5] = "张三"                        # unknown officer
    rows[8][3] = "很多"                        # bad amount
    rows[12][8] = "2026-13-45"                 # bad date
    rows[15][6] = "谈判中"                     # bad stage
    rows[20][2] = rows[19][2]                  # duplicate within the file (same unit? no)
    rows[20][4] = rows[19][4]
    rows[25][2] = "烟台中宠食品有限公司"        # duplicate of an existing lead of 孟庄镇
    rows[25][4] = "孟庄镇"
    rows[25][5] = ""
    path = build_xlsx(tmp_path / "bad.xlsx", [(r, None) for r in rows])
    return path, {sheet_row(i) for i in (2, 5, 8, 12, 15, 20, 25)}


def test_preview_lists_exactly_the_bad_rows(app, world, tmp_path):
    path, expected = bad_rows_file(tmp_path, world)
    before = lead_count()
    results = preview(world.admin, read_table(path))
    assert len(results) == 32
    bad = {r.row_number: r for r in results if r.errors}
    assert set(bad) == expected
    messages = {n: " ".join(f"{c}: {m}" for c, m in r.errors) for n, r in bad.items()}
    assert "未知的单位" in messages[sheet_row(2)]
    assert "负责人" in messages[sheet_row(5)] and "张三" in messages[sheet_row(5)]
    assert "计划投资" in messages[sheet_row(8)]
    assert "计划日期/签约" in messages[sheet_row(12)]
    assert "阶段" in messages[sheet_row(15)]
    assert f"第{sheet_row(19)}行重复" in messages[sheet_row(20)]
    assert "宠物食品生产基地" in messages[sheet_row(25)]
    assert lead_count() == before
    with pytest.raises(Exception, match="未导入"):
        import_rows(world.admin, results, "bad.xlsx")
    assert lead_count() == before


def test_head_may_import_only_into_own_unit(app, world, tmp_path):
    rows = make_rows(4)
    path = build_xlsx(tmp_path / "h.xlsx", rows)
    results = preview(world.head_a, read_table(path))
    bad = {r.row_number for r in results if r.errors}
    assert bad == {sheet_row(i) for i, (_v, e) in enumerate(rows) if e[0] == "税郭镇"}
    assert all("无权导入到该单位" in m for r in results for _c, m in r.errors)


# ---------------------------------------------------------------- the page


def post_file(client, path, name=None):
    with open(path, "rb") as fh:
        return client.post("/imports/leads", data={"file": (io.BytesIO(fh.read()),
                                                            name or path.name)},
                           content_type="multipart/form-data")


def test_page_preview_then_confirm_imports_all(app, client, auth, world, tmp_path):
    rows = make_rows(32)
    path = build_xlsx(tmp_path / "台账.xlsx", rows)
    auth.login("admin")
    before_count, before_stats = lead_count(), entered(world.admin)

    response = post_file(client, path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "确认导入" in page and "导入测试项目32" in page
    assert "第4行" not in page  # no error lines
    assert lead_count() == before_count  # nothing written by the preview

    token = page.split('name="token" value="')[1].split('"')[0]
    response = client.post("/imports/leads/confirm", data={"token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert lead_count() == before_count + 32

    leads = {lead.name: lead for lead in db.session.scalars(
        sa.select(Lead).where(Lead.name.like("导入测试项目%")))}
    for i, (_values, (unit, stage, wan)) in enumerate(rows):
        lead = leads[f"导入测试项目{i + 1}"]
        assert lead.township.name == unit
        assert lead.stage == stage
        assert lead.investment_wan == wan
        assert lead.planned_start_date == dt.date(2027, 1, 15)
        changes = db.session.scalars(sa.select(StageChange).where(
            StageChange.lead_id == lead.id).order_by(StageChange.id)).all()
        assert [c.to_stage for c in changes] == list(ORDERED_STAGES[: i % 5 + 1])
        assert all(c.effective_on == today() for c in changes)
    assert leads["导入测试项目1"].planned_sign_date == dt.date(2026, 3, 1)
    assert leads["导入测试项目2"].planned_sign_date == dt.date(2026, 4, 2)  # "2026/4/2"
    assert leads["导入测试项目3"].planned_sign_date == dt.date(2026, 5, 3)  # "2026年5月3日"
    assert leads["导入测试项目1"].primary_officer.username == "a-1"
    assert leads["导入测试项目5"].primary_officer.username == "a-2"
    assert leads["导入测试项目2"].primary_officer_id is None

    audits = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "lead.import")).all()
    assert len(audits) == 32
    assert all(a.changes["file"] == [None, "台账.xlsx"] for a in audits)

    after = entered(world.admin)
    for unit in UNITS:
        for k, stage in enumerate(ORDERED_STAGES):
            added = sum(1 for _v, (u, s, _w) in rows
                        if u == unit and ORDERED_STAGES.index(s) >= k)
            assert after[unit][stage] == before_stats[unit][stage] + added, (unit, stage)
    # the token is spent: the upload is gone
    again = client.post("/imports/leads/confirm", data={"token": token})
    assert again.status_code == 302
    assert lead_count() == before_count + 32


def test_page_with_a_bad_row_writes_nothing(app, client, auth, world, tmp_path):
    rows = [values for values, _e in make_rows(32)]
    rows[7][3] = "一个亿"
    path = build_xlsx(tmp_path / "one-bad.xlsx", [(r, None) for r in rows])
    auth.login("admin")
    before = lead_count()
    page = post_file(client, path).get_data(as_text=True)
    assert f"第{sheet_row(7)}行" in page
    assert page.count("<li>第") == 1
    assert "确认导入" not in page
    assert lead_count() == before


def test_confirm_checks_again_and_writes_nothing(app, client, auth, world, tmp_path):
    """A lead added between preview and confirmation turns a row into a duplicate: none land."""
    path = build_xlsx(tmp_path / "race.xlsx", make_rows(32))
    auth.login("admin")
    page = post_file(client, path).get_data(as_text=True)
    token = page.split('name="token" value="')[1].split('"')[0]
    factories.lead(world.admin, world.b, name="抢先录入", company="导入测试企业2有限公司")
    db.session.commit()
    before = lead_count()
    response = client.post("/imports/leads/confirm", data={"token": token})
    assert response.status_code == 422
    assert f"第{sheet_row(1)}行" in response.get_data(as_text=True)
    assert lead_count() == before
    # another user cannot use the token
    auth.logout()
    auth.login("a-head")
    assert client.post("/imports/leads/confirm", data={"token": token}).status_code == 403
    assert client.post("/imports/leads/confirm", data={"token": "forged"}).status_code == 400


def test_viewer_is_refused(app, client, auth, world):
    auth.login("viewer")
    assert client.get("/imports/leads").status_code == 403
    assert client.get("/imports/template.xlsx").status_code == 403


def test_template_download_has_chinese_headers(app, client, auth, world, tmp_path):
    auth.login("a-1")
    response = client.get("/imports/template.xlsx")
    assert response.status_code == 200
    path = tmp_path / "template.xlsx"
    path.write_bytes(response.data)
    ws = openpyxl.load_workbook(path).active
    headers = [c.value for c in ws[1]]
    assert headers[:2] == ["项目名称", "投资方"] and "计划投资(万元)" in headers
    assert client.get("/imports/leads").status_code == 200
    # the template itself reads back, and its sample row is no lead
    with pytest.raises(ImportRefused, match="示例行"):
        read_table(path)
    ws.append(["真实项目", "真实投资方"])
    ws.insert_rows(2)  # a row typed above the sample too
    ws["A2"], ws["B2"] = "另一个项目", "另一投资方"
    ws.parent.save(path)
    table = read_table(path)
    assert table.fields.keys() >= {"name", "company", "investment_wan", "township", "stage",
                                   "sponsor", "land_mu", "jobs", "notes", "lost_reason"}
    assert [values[0] for _n, values in table.rows] == ["另一个项目", "真实项目"]
    assert table.skipped == [(3, "模板的示例行，未导入")]
    results = preview(world.off_a1, table)
    assert [r.error_lines() for r in results] == [[], []]


def test_officer_imports_gbk_csv_into_own_unit(app, client, auth, world, tmp_path):
    path = gbk_csv(tmp_path / "gbk.csv", [
        "项目名称,投资方,计划投资(万元),所属镇街,负责人,阶段,计划签约",
        "宠物用品产业园,济南宠物用品有限公司,1.5亿,孟庄镇,a-1,洽谈,2026年6月30日",
        ",,,,,,",
        "机器人关节模组,青岛精工机器人有限公司,\"15,000\",孟庄镇,,签约,2026/5/1",
    ])
    auth.login("a-1")
    before = lead_count()
    page = post_file(client, path).get_data(as_text=True)
    assert "宠物用品产业园" in page and "确认导入" in page
    token = page.split('name="token" value="')[1].split('"')[0]
    assert client.post("/imports/leads/confirm", data={"token": token}).status_code == 302
    assert lead_count() == before + 2
    lead = db.session.scalar(sa.select(Lead).where(Lead.name == "机器人关节模组"))
    assert lead.investment_wan == Decimal(15000) and lead.stage == "signed"
    assert lead.primary_officer_id == world.off_a1.id


# ---------------------------------------------------------------- the command line


def test_cli_with_a_bad_row_writes_nothing(app, runner, world, tmp_path):
    rows = [values for values, _e in make_rows(32)]
    rows[30][6] = "谈判中"
    path = build_xlsx(tmp_path / "cli-bad.xlsx", [(r, None) for r in rows])
    before = lead_count()
    result = runner.invoke(import_, ["leads", str(path)])
    assert result.exit_code != 0
    assert f"第{sheet_row(30)}行：阶段：" in result.output
    assert result.output.count("第") >= 1 and "未导入任何项目" in result.output
    db.session.rollback()
    assert lead_count() == before


def test_cli_dry_run_then_import_with_progress(app, runner, world, tmp_path):
    rows = make_rows(32)
    path = build_xlsx(tmp_path / "cli.xlsx", rows)
    csv_path = gbk_csv(tmp_path / "more.csv", [
        "项目名称,投资方,计划投资（亿元）,所属镇街,阶段",
        "不锈钢制品出口,枣庄不锈钢制品有限公司,2.5,税郭镇,开工",
    ])
    before = lead_count()
    dry = runner.invoke(import_, ["leads", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "试运行" in dry.output
    db.session.rollback()
    assert lead_count() == before
    result = runner.invoke(import_, ["leads", str(path)])
    assert result.exit_code == 0, result.output
    assert "正在导入" in result.output and "已导入 32 个项目" in result.output
    result = runner.invoke(import_, ["leads", str(csv_path)])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    assert lead_count() == before + 33
    lead = db.session.scalar(sa.select(Lead).where(Lead.name == "不锈钢制品出口"))
    assert lead.investment_wan == Decimal(25000) and lead.stage == "started"
    # importing the same file again: every row is now a duplicate, nothing written
    again = runner.invoke(import_, ["leads", str(path)])
    assert again.exit_code != 0 and "重复" in again.output
    db.session.rollback()
    assert lead_count() == before + 33


# ---------------------------------------------------------------- refused files


def xlsm(path):
    build_xlsx(path.with_suffix(".tmp"), make_rows(3))
    with zipfile.ZipFile(path.with_suffix(".tmp")) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/vbaProject.bin", b"\x00" * 64)
    return path


def refused_files(tmp_path):
    png = tmp_path / "picture.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    macro = xlsm(tmp_path / "macro.xlsm")
    hidden_macro = tmp_path / "macro-renamed.xlsx"
    hidden_macro.write_bytes(macro.read_bytes())
    formula = build_xlsx(tmp_path / "formula.xlsx", make_rows(5), formula=True)
    huge = tmp_path / "huge.csv"
    huge.write_bytes(("项目名称,投资方\n" + "项目,企业有限公司\n" * 400_000).encode())
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    return {
        png: "不是有效的 Excel", macro: "宏", hidden_macro: "宏", formula: "公式",
        huge: "文件过大", pdf: ".xlsx 或 .csv",
    }


def test_refused_files_on_the_page(app, client, auth, world, tmp_path):
    auth.login("admin")
    before = lead_count()
    for path, message in refused_files(tmp_path).items():
        response = post_file(client, path)
        assert response.status_code == 400, path
        assert message in response.get_data(as_text=True), path
    assert lead_count() == before
    assert not list((tmp_path / "instance" / "uploads").glob("*"))


def test_refused_files_on_the_command_line(app, runner, world, tmp_path):
    before = lead_count()
    for path, message in refused_files(tmp_path).items():
        result = runner.invoke(import_, ["leads", str(path)])
        assert result.exit_code != 0, path
        assert message in result.output, (path, result.output)
    too_many = tmp_path / "rows.csv"
    too_many.write_text("项目名称,投资方\n" + "".join(
        f"项目{i},企业{i}有限公司\n" for i in range(5100)), encoding="utf-8")
    with pytest.raises(ImportRefused, match="行数过多"):
        read_table(too_many)
    db.session.rollback()
    assert lead_count() == before


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_console_script(tmp_path):
    """`crm import leads` (the console script's entry point, in this process): progress, count,
    and one-line errors."""
    from tests.console import run_crm

    env = {"CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", "CRM_SECRET_KEY": "x"}

    def run(*args):
        return run_crm(*args, env=env, cwd=tmp_path)

    assert run("db", "upgrade").returncode == 0
    assert "管理员" in run("import", "leads", str(xlsm(tmp_path / "m.xlsm"))).stderr
    for unit in UNITS:
        assert run("townships", "create", unit).returncode == 0
    assert run("users", "create", "boss", "--role", "district_admin", "--email",
               "boss@example.test", "--password", "long-enough-1").returncode == 0
    path = gbk_csv(tmp_path / "leads.csv", [
        "项目名称,投资方,计划投资(万元),所属镇街,阶段",
        *[f"项目{i},企业{i}有限公司,{i}亿,{UNITS[i % 2]},{STAGES_ZH[i % 5]}" for i in range(1, 41)],
    ])
    result = run("import", "leads", str(path))
    assert result.returncode == 0, result.stderr
    assert "正在导入" in result.stdout and "已导入 40 个项目" in result.stdout
    again = run("import", "leads", str(path))
    assert again.returncode != 0
    assert again.stdout.count("重复") == 40
    errors = [line for line in again.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "未导入任何项目" in errors[0], again.stderr
    refused = run("import", "leads", str(xlsm(tmp_path / "m.xlsm")))
    errors = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(errors) == 1 and "宏" in errors[0]
