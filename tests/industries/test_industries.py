"""The managed industry list: names and aliases on every path (form, API, import), the admin
pages (keep the list, sort 待归类 in bulk), statistics by 产业链, and stage moves credited to
the lead's primary officer at the time of the move. On SQLite and PostgreSQL."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.auth.services import issue_token
from crm.clock import today
from crm.extensions import db
from crm.imports.reader import read_table
from crm.imports.service import import_rows, preview
from crm.industries import services as industry_services
from crm.industries.lookup import find, key
from crm.industries.models import Industry
from crm.leads import services
from crm.leads.models import Lead, StageChange
from crm.stats.breakdowns import breakdowns
from tests import factories


@pytest.fixture
def api(client, world):
    tokens = {u.username: issue_token(u) for u in (world.admin, world.viewer, world.off_a1,
                                                    world.head_a)}
    db.session.commit()

    def call(method, path, user="a-1", **kw):
        return client.open(f"/api/v1{path}", method=method,
                           headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)
    return call


def _industry(name) -> Industry:
    return db.session.scalar(sa.select(Industry).where(Industry.name == name))


def _unsorted(lead: Lead, text: str) -> Lead:
    """A lead as migration 0012 leaves free text that matched nothing."""
    lead.industry_ref, lead.industry_id, lead.industry_text = None, None, text
    db.session.flush()
    return lead


def test_key_ignores_width_case_and_spaces():
    assert key("新能源／光伏") == key("新能源/光伏") == key(" 新能源 / 光伏 ")
    assert key("ＡＩ芯片") == key("ai芯片") == key("AI芯片")


def test_api_lists_the_active_industries_to_any_signed_in_user(api, world):
    listed = api("GET", "/industries", user="viewer").get_json()
    robots = next(i for i in listed if i["name"] == "智能装备/机器人")
    assert set(robots) == {"id", "name", "chain", "aliases"}
    assert robots["chain"] == "高端装备" and "智能机器人" in robots["aliases"]
    assert [i["name"] for i in listed][:2] == ["智能装备/机器人", "精密制造"]  # the list's order
    industry_services.update_industry(world.admin, _industry("纺织服装"), name="纺织服装",
                                      chain="纺织服装", aliases="纺织", sort_order=1,
                                      active=False)
    db.session.commit()
    assert "纺织服装" not in {i["name"] for i in api("GET", "/industries").get_json()}


def test_api_takes_a_name_or_an_alias_and_refuses_anything_else(api, world):
    industry_services.create_industry(world.admin, "AI芯片", "集成电路", "人工智能芯片")
    db.session.commit()

    def create(industry):
        return api("POST", "/leads", json={"name": f"项目{industry}", "company": f"{industry}公司",
                                           "investment_wan": 100, "industry": industry})

    for typed, managed in (("智能机器人", "智能装备/机器人"), ("新能源／光伏", "新能源"),
                           ("ai芯片", "AI芯片"), ("人工智能芯片", "AI芯片"), ("生物医药", "生物医药")):
        created = create(typed)
        assert created.status_code == 201, created.get_json()
        assert created.get_json()["industry"] == managed
        lead = db.session.get(Lead, created.get_json()["id"])
        assert lead.industry_text == typed  # what was sent, to the character
    refused = create("某种奇怪行业")
    assert refused.status_code == 422
    message = refused.get_json()["error"]["fields"]["industry"][0]
    assert "某种奇怪行业" in message and "产业目录" in message
    assert "孟庄镇" not in refused.get_data(as_text=True)
    lead = world.lead_a
    patched = api("PATCH", f"/leads/{lead.id}", json={"industry": "宠物主粮",
                                                     "version": lead.version})
    assert patched.status_code == 200 and patched.get_json()["industry"] == "宠物食品"
    again = api("PATCH", f"/leads/{lead.id}", json={"industry": "奇怪",
                                                   "version": patched.get_json()["version"]})
    assert again.status_code == 422 and "industry" in again.get_json()["error"]["fields"]


def test_a_deactivated_industry_is_refused_for_new_leads_but_kept_on_its_own(api, world):
    lead = factories.lead(world.off_a1, world.a, industry="纺织")
    textile = _industry("纺织服装")
    assert lead.industry == "纺织服装"
    industry_services.update_industry(world.admin, textile, name="纺织服装", chain="纺织服装",
                                      aliases="纺织", sort_order=5, active=False)
    db.session.commit()
    refused = api("POST", "/leads", json={"name": "新纺织", "company": "新纺织公司",
                                          "investment_wan": 1, "industry": "纺织服装"})
    assert refused.status_code == 422
    kept = api("PATCH", f"/leads/{lead.id}", json={"industry": "纺织服装", "name": "改名",
                                                   "version": lead.version})
    assert kept.status_code == 200 and kept.get_json()["industry"] == "纺织服装"


def test_the_lead_form_offers_active_industries_grouped_by_chain(client, auth, world):
    auth.login("a-1")
    page = client.get("/leads/new").get_data(as_text=True)
    select = page[page.index('name="industry"'):page.index("</select>", page.index('name="industry"'))]
    assert '<optgroup label="高端装备">' in select
    assert re.search(r'<optgroup label="高端装备">\s*<option value="智能装备/机器人">', select)
    assert "待归类" not in select
    response = client.post("/leads/new", data={
        "name": "表单项目", "company": "表单公司", "investment_wan": "100", "source": "other",
        "stage": "contact", "created_on": today().isoformat(), "industry": "精密制造"})
    assert response.status_code == 302
    lead = db.session.scalar(sa.select(Lead).where(Lead.name == "表单项目"))
    assert lead.industry == "精密制造" and lead.chain_name == "高端装备"
    refused = client.post("/leads/new", data={
        "name": "表单项目2", "company": "表单公司2", "investment_wan": "100", "source": "other",
        "stage": "contact", "created_on": today().isoformat(), "industry": "某种奇怪行业"})
    assert refused.status_code == 200
    assert db.session.scalar(sa.select(Lead).where(Lead.name == "表单项目2")) is None


def test_editing_an_unsorted_lead_keeps_its_text_until_sorted(client, auth, world):
    lead = _unsorted(world.lead_a, "某种奇怪行业")
    db.session.commit()
    auth.login("a-1")
    page = client.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="待归类">待归类（原填：某种奇怪行业）</option>', page) \
        or re.search(r'<option value="待归类" selected>待归类（原填：某种奇怪行业）', page), page
    shown = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "待归类" in shown and "原填：某种奇怪行业" in shown
    data = {"name": "改了名字", "company": lead.company, "investment_wan": "100",
            "source": "other", "industry": "待归类", "version": str(lead.version)}
    assert client.post(f"/leads/{lead.id}/edit", data=data).status_code == 302
    lead = db.session.get(Lead, lead.id)
    assert (lead.name, lead.industry_id, lead.industry_text) == ("改了名字", None, "某种奇怪行业")
    data.update(industry="新材料", version=str(lead.version))
    assert client.post(f"/leads/{lead.id}/edit", data=data).status_code == 302
    lead = db.session.get(Lead, lead.id)
    assert lead.industry == "新材料"
    trail = db.session.scalars(sa.select(AuditEntry.changes).where(
        AuditEntry.lead_id == lead.id, AuditEntry.action == "lead.edit")
        .order_by(AuditEntry.id)).all()
    assert [c.get("industry") for c in trail] == [None, ["某种奇怪行业", "新材料"]]


CSV = ("项目名称,投资方,计划投资(万元),所属镇街,产业\n"
       "导入一,导入一公司,100,孟庄镇,智能机器人\n"
       "导入二,导入二公司,100,孟庄镇,ＸＹＺ行业\n"
       "导入三,导入三公司,100,孟庄镇,新能源／光伏\n"
       "导入四,导入四公司,100,孟庄镇,\n")


def test_import_maps_names_and_aliases_and_refuses_the_rest(world, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(CSV, encoding="utf-8")
    results = preview(world.admin, read_table(path))
    errors = {r.row_number: r.errors for r in results if r.errors}
    assert list(errors) == [results[1].row_number]
    (column, message), = errors[results[1].row_number]
    assert column == "产业" and "ＸＹＺ行业" in message and "产业目录" in message
    good = [r for r in results if not r.errors]
    leads = import_rows(world.admin, good, "leads.csv")
    assert [(lead.industry, lead.industry_text) for lead in leads] == [
        ("智能装备/机器人", "智能机器人"), ("新能源", "新能源／光伏"), ("", "")]


def test_admin_keeps_the_list(client, auth, world):
    auth.login("admin")
    added = client.post("/admin/industries/", data={
        "name": "集成电路", "chain": "电子信息", "aliases": "芯片, 半导体、ＩＣ\n集成电路设计",
        "sort_order": "", "active": "y"})
    assert added.status_code == 302
    chips = _industry("集成电路")
    assert (chips.chain, chips.alias_list) == ("电子信息", ["芯片", "半导体", "ＩＣ", "集成电路设计"])
    assert find("ic") is not None and find("ic").id == chips.id
    clash = client.post("/admin/industries/", data={
        "name": "另一个", "chain": "", "aliases": "智能机器人", "active": "y"})
    assert clash.status_code == 200 and "智能装备/机器人" in clash.get_data(as_text=True)
    assert _industry("另一个") is None
    listing = client.get("/admin/industries/").get_data(as_text=True)
    assert "集成电路" in listing and "半导体" in listing
    edited = client.post(f"/admin/industries/{chips.id}/edit", data={
        "name": "集成电路", "chain": "电子信息", "aliases": "芯片", "sort_order": "7"})
    assert edited.status_code == 302  # "active" left unticked: deactivated
    chips = db.session.get(Industry, chips.id)
    assert (chips.active, chips.alias_list, chips.sort_order) == (False, ["芯片"], 7)
    auth.logout()
    auth.login("a-1")
    assert "集成电路" not in client.get("/leads/new").get_data(as_text=True)
    assert client.get("/admin/industries/").status_code == 403


def test_admin_sorts_unsorted_leads_in_bulk(client, auth, world):
    one = _unsorted(factories.lead(world.off_a1, world.a, name="甲"), "某种奇怪行业")
    two = _unsorted(factories.lead(world.off_b1, world.b, name="乙"), "某种奇怪行业")
    other = _unsorted(factories.lead(world.off_a1, world.a, name="丙"), "另一种")
    db.session.commit()
    versions = {one.id: one.version, two.id: two.version}
    auth.login("admin")
    page = client.get("/admin/industries/unsorted").get_data(as_text=True)
    assert re.search(r'data-text="某种奇怪行业">\s*<th scope="row">某种奇怪行业</th>\s*'
                     r'<td class="num"><a [^>]*>2</a>', page)
    assert "另一种" in page
    target = _industry("高端化工")
    assert client.post("/admin/industries/unsorted", data={
        "text": "某种奇怪行业", "industry_id": str(target.id)}).status_code == 302
    for lead_id in (one.id, two.id):
        lead = db.session.get(Lead, lead_id)
        assert (lead.industry, lead.industry_text) == ("高端化工", "某种奇怪行业")
        assert lead.version == versions[lead_id] + 1
    assert db.session.get(Lead, other.id).industry == "待归类"
    page = client.get("/admin/industries/unsorted").get_data(as_text=True)
    assert "某种奇怪行业" not in page and "另一种" in page
    # the lead list finds the unsorted by 待归类 and by their text
    listed = client.get("/leads/?industry=待归类").get_data(as_text=True)
    assert "丙" in listed and "甲" not in listed


def d(month, day, year=2025):
    return dt.date(year, month, day)


def test_statistics_by_chain_and_industry(client, auth, world):
    w = world

    def lead(name, industry, investment, signed_on=None):
        created = factories.lead(w.admin, w.a, name=name, company=f"{name}公司", created_on=d(2, 1),
                                 investment_wan=investment, industry=industry,
                                 primary_officer_id=w.off_a1.id)
        if signed_on:
            services.move_stage(w.admin, created, "signed", on=signed_on)
        return created

    lead("机器人一", "智能机器人", 1000, d(3, 1))
    lead("机器人二", "智能装备/机器人", 2000)
    lead("精密一", "精密加工", 500, d(4, 1))
    lead("光伏一", "新能源/光伏", 3000, d(5, 1))
    _unsorted(lead("奇怪一", "", 700, d(5, 2)), "某种奇怪行业")
    lead("未填一", "", 100)
    db.session.commit()
    parts = breakdowns(w.head_a, w.a.id, 2025, d(12, 31))
    assert parts.by_industry == [
        factories.chain_row("高端装备", 3, 2, Decimal(1500), [
            factories.industry_row("高端装备", "智能装备/机器人", 2, 1, Decimal(1000)),
            factories.industry_row("高端装备", "精密制造", 1, 1, Decimal(500))]),
        factories.chain_row("新能源", 1, 1, Decimal(3000), [
            factories.industry_row("新能源", "新能源", 1, 1, Decimal(3000))]),
        factories.chain_row("", 2, 1, Decimal(700), [
            factories.industry_row("", "待归类", 1, 1, Decimal(700)),
            factories.industry_row("", "", 1, 0, Decimal(0))]),
    ]
    auth.login("a-head")
    page = client.get(f"/stats/unit/{w.a.id}?year=2025&as_of=2025-12-31").get_data(as_text=True)
    assert 'data-chain="高端装备"' in page and 'data-industry="精密制造"' in page
    drill = re.search(r'data-industry="智能装备/机器人">.*?<a href="([^"]+)"', page, re.S).group(1)
    listed = client.get(drill.replace("&amp;", "&")).get_data(as_text=True)
    assert "机器人一" in listed and "机器人二" in listed and "精密一" not in listed
    auth.logout()
    auth.login("viewer")
    overview = client.get("/stats/?year=2025&as_of=2025-12-31&industry=智能装备/机器人")
    assert overview.status_code == 200


def test_moves_are_credited_to_the_primary_officer_at_the_time(world):
    """Hand-computed: created by the head with a-1 as primary on 03-01 (a creation at contact is
    no move); the head moves it to negotiation on 03-10 (a-1's); the head reassigns it to a-2;
    the admin moves it to signed on 04-01 (a-2's, negotiation→signed) and to started on 05-01
    (a-2's). Another lead, a-1's all along, is moved by the admin on 04-15 (a-1's)."""
    w = world
    lead = factories.lead(w.head_a, w.a, name="改派项目", company="改派公司", created_on=d(3, 1),
                          primary_officer_id=w.off_a1.id)
    services.move_stage(w.head_a, lead, "negotiation", on=d(3, 10))
    services.assign(w.head_a, lead, w.off_a2.id, [])
    services.move_stage(w.admin, lead, "signed", on=d(4, 1))
    services.move_stage(w.admin, lead, "started", on=d(5, 1))
    steady = factories.lead(w.head_a, w.a, name="稳定项目", company="稳定公司", created_on=d(3, 1),
                            primary_officer_id=w.off_a1.id)
    services.move_stage(w.admin, steady, "negotiation", on=d(4, 15))
    db.session.commit()
    credited = db.session.execute(
        sa.select(StageChange.to_stage, StageChange.user_id, StageChange.credited_officer_id)
        .where(StageChange.lead_id == lead.id).order_by(StageChange.id)).all()
    assert credited == [("contact", w.head_a.id, w.off_a1.id),
                        ("negotiation", w.head_a.id, w.off_a1.id),
                        ("signed", w.admin.id, w.off_a2.id),
                        ("started", w.admin.id, w.off_a2.id)]
    officers = {r.user_id: r for r in breakdowns(w.head_a, w.a.id, 2025, d(12, 31)).by_officer}
    assert officers[w.off_a1.id].moves == 2
    assert officers[w.off_a2.id].moves == 2
    assert officers[w.head_a.id].moves == 0
    assert w.admin.id not in officers


def test_the_demo_admins_moves_are_credited_to_the_units_officers(app, tmp_path, db_kind):
    if db_kind != "sqlite":
        pytest.skip("the demo district once is enough")
    from crm.auth.models import User
    from crm.seed import seed_demo
    from crm.townships.models import Township

    app.config["CRM_STORAGE_URL"] = f"file://{tmp_path / 'files'}"
    app.extensions.pop("crm_storage", None)
    seed_demo(today())
    db.session.commit()
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    unit = db.session.scalar(sa.select(Township).where(Township.name == "孟庄镇"))
    rows = breakdowns(admin, unit.id, today().year, today()).by_officer
    assert admin.id not in {r.user_id for r in rows}  # it clicked every move, credited none
    assert all(r.member for r in rows if r.user_id is not None)
    assert sum(r.moves for r in rows if r.user_id is not None) > 0, rows
    # every move of the year is credited to someone of the unit (or to nobody: no primary)
    start = dt.date(today().year, 1, 1)
    total = db.session.scalar(
        sa.select(sa.func.count(StageChange.id)).join(Lead, Lead.id == StageChange.lead_id)
        .where(Lead.township_id == unit.id, StageChange.implied.is_(False),
               StageChange.from_stage.is_not(None), StageChange.effective_on.between(start, today())))
    assert sum(r.moves for r in rows) == total
    # the demo's industries map to the managed list: no 待归类 in the demo
    assert db.session.scalar(sa.select(sa.func.count(Lead.id)).where(Lead.industry_id.is_(None),
                                                                     Lead.industry_text != "")) == 0
