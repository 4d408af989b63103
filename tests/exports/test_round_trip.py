"""The lead export is the import template filled in: export → import into a database without
leads → export again gives the same workbook, 终止 leads and every template column included;
downloads carry a real ASCII file name."""

import datetime as dt
import io
from decimal import Decimal

import sqlalchemy as sa
from openpyxl import load_workbook

from crm.clock import today
from crm.exports.xlsx import LEAD_HEADERS, LEAD_IMPORT_HEADERS
from crm.extensions import db
from crm.imports.mapping import TEMPLATE_COLUMNS
from crm.imports.reader import read_table
from crm.imports.service import import_rows, preview
from crm.leads import services as lead_services
from crm.leads.models import Lead
from tests import factories


def full_leads(world):
    """Leads using every column the template has: amounts, land, jobs, notes, a lost one."""
    a, b = world.a, world.b
    factories.lead(world.off_a1, a, name="新能源电池项目", company="山东新能源科技有限公司",
                   investment_wan=Decimal("12345.6789"), credit_code=None, origin="济南",
                   industry="新能源", chain="储能", source="capital", sponsor="王副区长",
                   stage="negotiation", created_on=today() - dt.timedelta(days=40),
                   planned_sign_date=today() + dt.timedelta(days=30),
                   land_mu=Decimal("85.5"), expected_output_wan=Decimal("60000"),
                   expected_tax_wan=Decimal("3200.25"), jobs=320, contact_name="李经理",
                   contact_phone="13800000000", next_follow_up=today() + dt.timedelta(days=3),
                   notes="需协调用电指标；\n土地手续办理中")
    lost = factories.lead(world.head_b, b, name="冷链物流园", company="临沂冷链物流有限公司",
                          investment_wan=Decimal("8000"),
                          created_on=today() - dt.timedelta(days=60), notes="投资方资金链紧张")
    lead_services.move_stage(world.head_b, lost, "lost", on=today() - dt.timedelta(days=5),
                             lost_reason="investor_withdrew")
    db.session.commit()


def cell_rows(data: bytes) -> list[tuple]:
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


def test_export_import_export_is_identical(client, auth, world, tmp_path):
    full_leads(world)
    auth.login("admin")
    first = client.get("/exports/leads.xlsx?sort=name")
    assert first.status_code == 200
    rows = cell_rows(first.data)
    assert rows[0] == LEAD_HEADERS
    assert LEAD_IMPORT_HEADERS == tuple(h for _f, h in TEMPLATE_COLUMNS)  # one list of columns
    by_name = {r[0]: dict(zip(LEAD_HEADERS, r, strict=True)) for r in rows[1:]}
    new = by_name["新能源电池项目"]
    assert (new["帮包领导"], new["用地(亩)"], new["就业人数"]) == ("王副区长", 85.5, 320)
    assert (new["预计年产值(万元)"], new["预计年税收(万元)"]) == (60000, 3200.25)
    assert new["备注"] == "需协调用电指标；\n土地手续办理中"
    lost = by_name["冷链物流园"]
    assert (lost["阶段"], lost["终止原因"]) == ("终止", "投资方放弃")
    assert lost["终止日期"].date() == today() - dt.timedelta(days=5)

    path = tmp_path / "export.xlsx"
    path.write_bytes(first.data)
    for lead in db.session.scalars(sa.select(Lead)).all():
        db.session.delete(lead)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 0

    admin = db.session.get(type(world.admin), world.admin.id)
    results = preview(admin, read_table(path, "export.xlsx"))
    assert [r.error_lines() for r in results if r.errors] == []
    import_rows(admin, results, "export.xlsx")
    db.session.commit()
    again = client.get("/exports/leads.xlsx?sort=name")
    assert cell_rows(again.data) == rows
    lost = db.session.scalar(sa.select(Lead).where(Lead.name == "冷链物流园"))
    assert (lost.stage, lost.lost_reason) == ("lost", "investor_withdrew")


def test_a_lost_row_needs_its_reason(client, auth, world, tmp_path):
    path = tmp_path / "lost.csv"
    path.write_text("项目名称,投资方,阶段,终止原因,终止日期\n"
                    "甲项目,甲公司,终止,,\n"
                    "乙项目,乙公司,洽谈,选址他处,\n"
                    f"丙项目,丙公司,终止,选址他处,{(today() + dt.timedelta(days=1)).isoformat()}\n",
                    encoding="utf-8")
    results = preview(world.off_a1, read_table(path))
    assert [r.error_lines() for r in results] == [
        ["第2行：终止原因：终止的项目须填写终止原因"],
        ["第3行：终止原因：仅终止的项目填写此项"],
        ["第4行：终止日期：终止日期不能晚于今天"],
    ]


def test_download_names_have_an_ascii_fallback(client, auth, world):
    auth.login("a-1")
    d = today().isoformat()
    for url, ascii_name, name in (
            ("/exports/leads.xlsx", f"leads-{d}.xlsx", "%E9%A1%B9%E7%9B%AE"),  # 项目
            ("/exports/visits.xlsx", f"visits-{d}.xlsx", "%E8%B5%B0%E8%AE%BF"),  # 走访
            ("/imports/template.xlsx", "lead-import-template.xlsx", "%E9%A1%B9%E7%9B%AE"),
            (f"/bulletin.xlsx?as_of={d}", f"bulletin-{d}.xlsx", "%E7%BA%A2")):  # 红
        if url.startswith("/bulletin"):
            auth.logout()
            auth.login("admin")
        response = client.get(url)
        assert response.status_code == 200, url
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith(f'attachment; filename="{ascii_name}"; '
                                      f"filename*=UTF-8''{name}"), disposition
