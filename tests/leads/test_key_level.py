"""Key projects (重点项目: 区重点, 市重点, 省重点): the lead form, the list filter, the import and
export columns and the API field."""

import io

import openpyxl
import pytest
import sqlalchemy as sa

from crm.auth.services import issue_token
from crm.extensions import db
from crm.imports import mapping
from crm.imports.reader import read_table
from crm.imports.service import import_rows, preview
from crm.leads.models import Lead
from tests import factories


def level_of(name):
    return db.session.scalar(sa.select(Lead.key_level).where(Lead.name == name))


@pytest.mark.parametrize("text,code", [("省重点", "province"), ("市重点", "city"),
                                       ("区重点", "district"), ("市级", "city"), ("", None),
                                       ("否", "none"), ("非重点", "none"), ("city", "city")])
def test_parse_key_level(rules_app, text, code):
    assert mapping.parse_key_level(text) == code


def test_parse_key_level_refuses_the_unknown(rules_app):
    with pytest.raises(ValueError, match="重点级别"):
        mapping.parse_key_level("国家级")


def test_form_creates_and_edits_the_level(client, auth, world):
    auth.login("a-head")
    response = client.post("/leads/new", data={
        "name": "光伏组件项目", "company": "光伏组件公司", "investment_wan": "50000",
        "source": "other", "stage": "contact", "township_id": world.a.id, "key_level": "city",
        "primary_officer_id": "0", "created_on": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert level_of("光伏组件项目") == "city"
    lead = db.session.scalar(sa.select(Lead).where(Lead.name == "光伏组件项目"))
    page = client.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert 'name="key_level"' in page and "省重点" in page
    # the list: every key project, or one level
    assert "光伏组件项目" in client.get("/leads/?key_level=any").get_data(as_text=True)
    assert "光伏组件项目" in client.get("/leads/?key_level=city").get_data(as_text=True)
    text = client.get("/leads/?key_level=province").get_data(as_text=True)
    assert "光伏组件项目" not in text
    assert "宠物食品生产基地" not in client.get("/leads/?key_level=any").get_data(as_text=True)
    bad = client.post("/leads/new", data={
        "name": "坏级别", "company": "坏级别公司", "investment_wan": "1", "source": "other",
        "stage": "contact", "township_id": world.a.id, "key_level": "nation",
        "primary_officer_id": "0"})
    assert bad.status_code == 200 and level_of("坏级别") is None


def test_api_reads_writes_and_filters_the_level(client, world):
    token = issue_token(world.off_a1)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v1/leads", headers=headers, json={
        "name": "鲁南超算二期", "company": "枣庄鲁南数据科技有限公司", "investment_wan": 150000,
        "key_level": "province"})
    assert created.status_code == 201, created.get_json()
    lead = created.get_json()
    assert lead["key_level"] == "province"
    plain = client.get(f"/api/v1/leads/{world.lead_a.id}", headers=headers).get_json()
    assert plain["key_level"] == "none"
    patched = client.patch(f"/api/v1/leads/{lead['id']}", headers=headers,
                           json={"key_level": "district", "version": lead["version"]})
    assert patched.status_code == 200 and patched.get_json()["key_level"] == "district"
    bad = client.patch(f"/api/v1/leads/{lead['id']}", headers=headers,
                       json={"key_level": "nation", "version": patched.get_json()["version"]})
    assert bad.status_code == 422 and "key_level" in bad.get_json()["error"]["fields"]
    listed = client.get("/api/v1/leads?key_level=any", headers=headers).get_json()
    assert [i["id"] for i in listed["items"]] == [lead["id"]]
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["components"]["schemas"]["Lead"]["properties"]["key_level"] == {
        "allOf": [{"$ref": "#/components/schemas/KeyLevel"}]}
    assert doc["components"]["schemas"]["KeyLevel"]["enum"] == [
        "none", "district", "city", "province"]


def test_import_column_and_export_column(client, auth, world, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["项目名称", "投资方", "计划投资(万元)", "所属镇街", "重点级别"])
    sheet.append(["导入省重点", "导入省重点公司", 100, "孟庄镇", "省重点"])
    sheet.append(["导入市重点", "导入市重点公司", 100, "孟庄镇", "市重点"])
    sheet.append(["导入非重点", "导入非重点公司", 100, "孟庄镇", ""])
    path = tmp_path / "重点.xlsx"
    book.save(path)
    results = preview(world.admin, read_table(path))
    assert not [r.errors for r in results if r.errors]
    import_rows(world.admin, results, "重点.xlsx")
    db.session.commit()
    assert (level_of("导入省重点"), level_of("导入市重点"), level_of("导入非重点")) == (
        "province", "city", "none")
    book = openpyxl.Workbook()
    book.active.append(["项目名称", "投资方", "计划投资(万元)", "所属镇街", "重点项目"])
    book.active.append(["导入坏级别", "导入坏级别公司", 100, "孟庄镇", "国家级"])
    book.save(path)
    bad = [r for r in preview(world.admin, read_table(path)) if r.errors]
    assert len(bad) == 1 and "重点级别" in " ".join(m for r in bad for _c, m in r.errors)

    auth.login("admin")
    exported = openpyxl.load_workbook(io.BytesIO(client.get("/exports/leads.xlsx").data))
    rows = list(exported.active.iter_rows(values_only=True))
    column = rows[0].index("重点级别")
    levels = {row[0]: row[column] for row in rows[1:]}
    assert levels["导入省重点"] == "省重点" and levels["导入非重点"] is None
    assert "重点级别" in dict(mapping.TEMPLATE_COLUMNS).values()


def test_the_bulletin_lists_province_and_city_key_projects(client, auth, world):
    factories.lead(world.admin, world.a, name="省级光伏", company="省级光伏公司",
                   key_level="province")
    factories.lead(world.admin, world.b, name="区级纺织", company="区级纺织公司",
                   key_level="district")
    db.session.commit()
    auth.login("admin")
    text = client.get("/bulletin").get_data(as_text=True)
    section = text[text.index('id="key-projects"'):text.index('id="projects"')]
    assert "省级光伏" in section and "省重点" in section and "区级纺织" not in section
    book = openpyxl.load_workbook(io.BytesIO(client.get("/bulletin.xlsx").data))
    names = [row[3] for row in book["省市重点项目"].iter_rows(min_row=4, values_only=True)]
    assert names == ["省级光伏"]
