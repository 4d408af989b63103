"""撞单: detection on every path, the first-registered rule, rulings (every related row moved and
counted once), the statistics before and after, the mail to both heads, and what leaks nowhere."""

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from crm.claims import services as claim_services
from crm.claims.models import Attachment, Claim
from crm.clock import today
from crm.companies import services as company_services
from crm.companies.models import Company, Dispute
from crm.extensions import db
from crm.leads import services as lead_services
from crm.leads.models import Blocker, Contact, Lead
from crm.stats.queries import district_stats
from crm.visits import services as visit_services
from crm.visits.models import Visit
from tests import factories
from tests.claims.conftest import jpeg


def _dispute_of(lead) -> Dispute:
    return db.session.scalar(sa.select(Dispute).where(
        sa.or_(Dispute.first_lead_id == lead.id, Dispute.second_lead_id == lead.id)))


def _stats(user, unit):
    """The unit's figures (claimed basis): snapshot, entries, new leads, visits."""
    stats = district_stats(user, today().year, today(), basis="claimed")
    [row] = [u for u in stats.units if u.township_id == unit.id]
    return Figures(row.snapshot, row.entered, row.actuals["new_leads"], row.actuals["visits"])


@dataclass
class Figures:
    snapshot: dict
    entered: dict
    new_leads: int
    visits: int


def _new_zhongchong(cw, **kw):
    """税郭镇 registers 烟台中宠, already 孟庄镇's (lead_a, created 10 days ago)."""
    return factories.lead(cw.off_b1, cw.b, name="宠物食品出口基地", company="（山东）烟台中宠食品有限公司",
                          **kw)


def test_service_path_disputes_and_names_the_first_unit_and_date(app, cw):
    lead = _new_zhongchong(cw)
    db.session.commit()
    assert lead.ownership == "disputed"
    assert lead.dispute_notice.township_name == "孟庄镇"
    assert lead.dispute_notice.registered_on == cw.lead_a.created_on
    text = lead.dispute_notice.text()
    assert "孟庄镇" in text and cw.lead_a.created_on.isoformat() in text
    assert cw.lead_a.name not in text
    dispute = _dispute_of(lead)
    assert (dispute.first_lead_id, dispute.second_lead_id, dispute.status) == (
        cw.lead_a.id, lead.id, "open")
    # one company for both spellings; each lead keeps its own text
    assert lead.company_id == cw.lead_a.company_id
    assert lead.company == "（山东）烟台中宠食品有限公司"
    assert cw.lead_a.ownership == "sole"


def test_same_unit_lost_and_unrelated_leads_are_not_disputed(app, cw):
    same_unit = factories.lead(cw.off_a1, cw.a, name="二期", company="烟台中宠食品股份有限公司")
    assert same_unit.ownership == "sole"
    other = factories.lead(cw.off_b1, cw.b, name="华鲁", company="山东华鲁恒昌化工有限公司")
    assert other.ownership == "sole"
    lost = factories.lead(cw.off_b1, cw.b, name="x", company="华鲁恒升化工有限公司")
    db.session.flush()
    lead_services.move_stage(cw.head_b, lost, "lost", lost_reason="relocated")
    again = factories.lead(cw.off_a1, cw.a, name="y", company="华鲁恒升化工股份有限公司")
    assert again.ownership == "sole"  # the other unit's lead is lost: not live


def test_credit_code_matches_whatever_the_names(app, cw):
    code = "91370600MA3C2U8B4X"
    assert lead_services.credit_code_valid(code) or True
    from crm.leads.validation import credit_code_valid
    code = next(c for c in (_code(i) for i in range(40)) if credit_code_valid(c))
    first = factories.lead(cw.off_a1, cw.a, name="p1", company="甲乙丙丁科技有限公司", credit_code=code)
    second = factories.lead(cw.off_b1, cw.b, name="p2", company="完全不同的名字有限公司",
                            credit_code=code)
    assert first.ownership == "sole" and second.ownership == "disputed"
    assert db.session.scalar(sa.select(sa.func.count(Company.id)).where(
        Company.credit_code == code)) == 1


def _code(i: int) -> str:
    """A valid 统一社会信用代码 (check character computed)."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    body = f"91370400MA3C{i:05d}"
    total = sum(chars.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + chars[(31 - total % 31) % 31]


def test_first_registered_is_earliest_created_on_then_lowest_id(app, cw):
    day = today() - dt.timedelta(days=3)
    x = factories.lead(cw.off_a1, cw.a, name="x", company="泉为科技有限公司", created_on=day)
    y = factories.lead(cw.off_b1, cw.b, name="y", company="泉为科技股份有限公司", created_on=day)
    assert y.ownership == "disputed" and _dispute_of(y).first_lead_id == x.id  # a tie: lowest id
    # back-dated before the lead on file: the new lead is the first registered
    z = factories.lead(cw.off_b1, cw.b, name="z", company="沃辉新材料有限公司")
    w = factories.lead(cw.off_a1, cw.a, name="w", company="沃辉新材料科技有限公司" and "沃辉新材料",
                       created_on=today() - dt.timedelta(days=30))
    dispute = _dispute_of(w)
    assert w.ownership == "disputed" and dispute.first_lead_id == w.id
    assert dispute.second_lead_id == z.id
    assert w.dispute_notice.township_name == "孟庄镇"  # the first to register: its own unit


def test_edit_that_changes_the_company_disputes(app, cw):
    lead_services.update_lead(cw.off_b1, cw.lead_b, {"company": "中宠食品"}, cw.lead_b.version)
    assert cw.lead_b.ownership == "disputed"
    assert cw.lead_b.dispute_notice.township_name == "孟庄镇"
    # an edit of another field opens nothing more
    lead_services.update_lead(cw.off_b1, cw.lead_b, {"notes": "x"}, cw.lead_b.version)
    assert db.session.scalar(sa.select(sa.func.count(Dispute.id))) == 1


def test_form_path_flashes_the_notice(app, cw, client, auth):
    auth.login("b-1")
    response = client.post("/leads/new", data={
        "name": "宠物食品出口基地", "company": "烟台中宠食品", "investment_wan": "5000",
        "township_id": str(cw.b.id), "stage": "contact", "source": "other",
        "created_on": today().isoformat(), "primary_officer_id": str(cw.off_b1.id)},
        follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "疑似撞单" in page and "孟庄镇" in page and cw.lead_a.created_on.isoformat() in page
    assert cw.lead_a.name not in page  # nothing else of that lead


def test_api_path_answers_ownership_and_the_notice_only(app, cw, api):
    answer = api("POST", "/leads", user="b-1", json={
        "name": "宠物食品出口基地", "company": "烟台中宠食品股份有限公司", "investment_wan": 5000})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["ownership"] == "disputed" and body["merged_into_id"] is None
    assert body["company_id"] == cw.lead_a.company_id
    assert body["first_registered"] == {"township_name": "孟庄镇",
                                        "registered_on": cw.lead_a.created_on.isoformat()}
    assert cw.lead_a.name not in answer.get_data(as_text=True)
    again = api("GET", f"/leads/{body['id']}", user="b-1").get_json()
    assert again["first_registered"]["township_name"] == "孟庄镇"
    assert api("GET", f"/leads/{cw.lead_a.id}", user="a-1").get_json()["ownership"] == "sole"


def _rich_second(cw):
    """税郭镇's disputed 烟台中宠 lead with a visit, a contact, a blocker, a file and a claim."""
    lead = _new_zhongchong(cw, stage="signed")
    visit_services.log_visit(cw.off_b1, lead, {"visited_on": today(), "kind": "visit",
                                               "summary": "乙单位走访"})
    lead_services.add_contact(cw.off_b1, lead, "王经理", "总经理", "13800000000")
    lead_services.add_blocker(cw.off_b1, lead, "land", "用地指标")
    claim_services.upload_attachment(cw.off_b1, lead, jpeg(), "合同.jpg", "contract")
    db.session.commit()
    return lead


def test_keep_first_merges_every_related_row_and_counts_once(app, cw, smtp):
    a_before = _stats(cw.admin, cw.a)
    b_before = _stats(cw.admin, cw.b)
    second = _rich_second(cw)
    # disputed: counted nowhere yet
    assert _stats(cw.admin, cw.b).new_leads == b_before.new_leads
    assert _stats(cw.admin, cw.b).entered["signed"] == b_before.entered["signed"]
    dispute = _dispute_of(second)
    company_services.rule(cw.reviewer, dispute, "keep_first", "同一项目，孟庄镇先报")
    db.session.commit()
    from crm.companies import mail
    mail.send_now(dispute)

    kept = db.session.get(Lead, cw.lead_a.id)
    merged = db.session.get(Lead, second.id)
    assert (merged.ownership, merged.merged_into_id, kept.ownership) == ("merged", kept.id, "sole")
    assert dispute.status == "ruled" and dispute.decision == "keep_first"
    assert dispute.ruled_by_id == cw.reviewer.id and dispute.ruled_at is not None
    visits = db.session.scalars(sa.select(Visit).where(Visit.summary == "乙单位走访")).all()
    assert [(v.lead_id, v.township_id) for v in visits] == [(kept.id, cw.a.id)]
    assert [c.lead_id for c in db.session.scalars(
        sa.select(Contact).where(Contact.name == "王经理"))] == [kept.id]
    assert [b.lead_id for b in db.session.scalars(
        sa.select(Blocker).where(Blocker.description == "用地指标"))] == [kept.id]
    assert [a.lead_id for a in db.session.scalars(
        sa.select(Attachment).where(Attachment.filename == "合同.jpg"))] == [kept.id]
    assert {c.status for c in db.session.scalars(
        sa.select(Claim).where(Claim.lead_id == merged.id))} == {"withdrawn"}
    # figures: 孟庄镇 gains the visit only; 税郭镇 counts nothing of it
    a_after, b_after = _stats(cw.admin, cw.a), _stats(cw.admin, cw.b)
    assert a_after.new_leads == a_before.new_leads
    assert a_after.entered == a_before.entered and a_after.snapshot == a_before.snapshot
    assert a_after.visits == a_before.visits + 1
    assert b_after == b_before
    # the merged lead is in no list, yet opens, read-only, linked to the kept one
    listed = lead_services.db.session.scalars(
        __import__("crm.auth.permissions", fromlist=["x"]).visible_leads(cw.admin)).all()
    assert merged.id not in {lead.id for lead in listed}
    from crm.auth.permissions import can
    assert not can(cw.head_b, "lead.edit", merged) and can(cw.head_b, "lead.view", merged)
    # mail: both heads, once
    assert sorted(m["To"] for m in smtp.inbox.messages) == ["a-head@example.test",
                                                             "b-head@example.test"]
    mail.send_now(dispute)
    assert len(smtp.inbox.messages) == 2
    [to_b] = smtp.inbox.to("b-head@example.test")
    body = to_b.get_body(("plain",)).get_content()
    assert "孟庄镇" in body and second.name in body and cw.lead_a.name not in body


def test_keep_second_and_separate(app, cw):
    second = _rich_second(cw)
    dispute = _dispute_of(second)
    company_services.rule(cw.reviewer, dispute, "keep_second")
    db.session.commit()
    first = db.session.get(Lead, cw.lead_a.id)
    assert (first.ownership, first.merged_into_id) == ("merged", second.id)
    assert db.session.get(Lead, second.id).ownership == "sole"

    other = factories.lead(cw.off_a1, cw.a, name="鑫润泽二期", company="鑫润泽专用车有限公司")
    assert other.ownership == "disputed"
    b_before = _stats(cw.admin, cw.a)
    dispute = _dispute_of(other)
    company_services.rule(cw.admin, dispute, "separate", "不同项目")
    db.session.commit()
    assert (other.ownership, cw.lead_b.ownership) == ("sole", "sole")
    assert _stats(cw.admin, cw.a).new_leads == b_before.new_leads + 1  # counted once ruled


def test_api_disputes_list_ruling_and_409(app, cw, api):
    second = _new_zhongchong(cw)
    db.session.commit()
    assert api("GET", "/disputes", user="a-1").status_code == 403
    assert api("GET", "/disputes", user="a-head").status_code == 403
    listed = api("GET", "/disputes?status=open", user="reviewer")
    assert listed.status_code == 200
    [item] = listed.get_json()
    assert item["lead_ids"] == [cw.lead_a.id, second.id]
    assert item["first_lead_id"] == cw.lead_a.id and item["status"] == "open"
    assert api("POST", f"/disputes/{item['id']}/ruling", user="a-head",
               json={"decision": "keep_first"}).status_code == 403
    assert api("POST", f"/disputes/{item['id']}/ruling", user="reviewer",
               json={"decision": "bogus"}).status_code == 422
    ruled = api("POST", f"/disputes/{item['id']}/ruling", user="reviewer",
                json={"decision": "keep_first", "note": "先报"})
    assert ruled.status_code == 200, ruled.get_json()
    assert ruled.get_json()["decision"] == "keep_first"
    assert ruled.get_json()["ruled_by"] == cw.reviewer.id
    assert api("POST", f"/disputes/{item['id']}/ruling", user="reviewer",
               json={"decision": "separate"}).status_code == 409
    assert api("GET", "/disputes?status=open", user="reviewer").get_json() == []
    # the merged lead: in no list
    ids = [x["id"] for x in api("GET", "/leads?per_page=200", user="b-1").get_json()["items"]]
    assert second.id not in ids
    assert api("GET", f"/leads/{second.id}", user="b-1").get_json()["ownership"] == "merged"


def test_company_search_and_page_leak_nothing(app, cw, api, client, auth):
    _new_zhongchong(cw)
    db.session.commit()
    found = api("GET", "/companies?q=中宠", user="b-1").get_json()
    assert found["total"] == 1
    [company] = found["items"]
    assert company["lead_count"] == 1  # b-1 sees its own only
    assert api("GET", "/companies?q=烟台中宠食品股份有限公司", user="admin").get_json()[
        "items"][0]["lead_count"] == 2
    auth.login("b-1")
    page = client.get(f"/companies/{company['id']}").get_data(as_text=True)
    assert "宠物食品出口基地" in page and cw.lead_a.name not in page
    assert "另有 1 个项目在其他单位" in page
    assert client.get("/disputes/").status_code == 403
    suggest = client.get("/companies/suggest?q=中宠").get_json()
    assert [i["id"] for i in suggest["items"]] == [company["id"]]


def test_import_preview_shows_each_dispute_and_confirm_creates_them_disputed(
        app, cw, client, auth):
    import io

    csv_text = ("项目名称,投资方,计划投资(万元),所属镇街\n"
                "宠物食品出口,（山东）烟台中宠食品有限公司,500,税郭镇\n"
                "无关项目,华鲁恒昌化工有限公司,100,税郭镇\n"
                "华鲁二期,华鲁恒昌化工股份有限公司,100,孟庄镇\n")
    auth.login("admin")
    response = client.post("/imports/leads", data={"file": (io.BytesIO(csv_text.encode()),
                                                            "台账.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count("疑似撞单") == 2  # row 2 (孟庄镇 holds it) and row 4 (row 3, 税郭镇)
    assert f"孟庄镇于{cw.lead_a.created_on.isoformat()}" in page
    assert f"税郭镇于{today().isoformat()}" in page
    token = page.split('name="token" value="')[1].split('"')[0]
    assert client.post("/imports/leads/confirm", data={"token": token}).status_code == 302
    got = dict(db.session.execute(sa.select(Lead.name, Lead.ownership).where(
        Lead.name.in_(["宠物食品出口", "无关项目", "华鲁二期"]))).all())
    assert got == {"宠物食品出口": "disputed", "无关项目": "sole", "华鲁二期": "disputed"}
    assert db.session.scalar(sa.select(sa.func.count(Dispute.id))) == 2


def test_ruling_bumps_both_units_statistics_versions_and_the_bulletin_lists_open_ones(app, cw):
    from crm.bulletin.report import bulletin_data
    from crm.stats import versions

    second = _new_zhongchong(cw)
    db.session.commit()
    data = bulletin_data(cw.admin, today())
    assert data.disputes == {cw.a.id: 1, cw.b.id: 1}
    assert second.id not in {item.lead.id for item in data.leads}  # disputed: in no list
    before = versions.current([cw.a.id, cw.b.id])
    db.session.commit()
    company_services.rule(cw.reviewer, _dispute_of(second), "separate")
    db.session.commit()
    after = versions.current([cw.a.id, cw.b.id])
    assert after[cw.a.id] > before[cw.a.id] and after[cw.b.id] > before[cw.b.id]
    data = bulletin_data(cw.admin, today())
    assert data.disputes == {} and second.id in {item.lead.id for item in data.leads}


def test_edit_paths_form_and_api_patch(app, cw, api, client, auth):
    lead = factories.lead(cw.off_b1, cw.b, name="乙项目", company="乙方独有公司")
    db.session.commit()
    patched = api("PATCH", f"/leads/{lead.id}", user="b-1",
                  json={"company": "烟台中宠食品股份有限公司", "version": lead.version})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["ownership"] == "disputed"
    assert patched.get_json()["first_registered"]["township_name"] == "孟庄镇"

    other = factories.lead(cw.off_b1, cw.b, name="乙项目二", company="乙方另一公司")
    db.session.commit()
    auth.login("b-1")
    page = client.post(f"/leads/{other.id}/edit", data={
        "name": "乙项目二", "company": "中宠食品", "investment_wan": "100", "source": "other",
        "version": str(other.version)}, follow_redirects=True).get_data(as_text=True)
    assert "疑似撞单" in page and "孟庄镇" in page and cw.lead_a.name not in page
    assert db.session.get(Lead, other.id).ownership == "disputed"


def test_merged_lead_is_in_no_export_board_or_search(app, cw, client, auth):
    import io

    import openpyxl

    second = _new_zhongchong(cw)
    db.session.commit()
    company_services.rule(cw.reviewer, _dispute_of(second), "keep_first")
    db.session.commit()
    auth.login("b-head")
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/exports/leads.xlsx").data))
    cells = {str(c.value) for ws in workbook.worksheets for row in ws.iter_rows() for c in row}
    assert second.name not in cells and cw.lead_b.name in cells
    assert second.name not in client.get("/board").get_data(as_text=True)
    assert second.name not in client.get("/leads/?q=宠物").get_data(as_text=True)
    page = client.get(f"/leads/{second.id}").get_data(as_text=True)  # kept for the record
    assert "已按撞单裁定并入另一项目" in page
    assert f"/leads/{cw.lead_a.id}" not in page and cw.lead_a.name not in page  # not theirs
    auth.logout()
    auth.login("admin")
    assert f"/leads/{cw.lead_a.id}" in client.get(f"/leads/{second.id}").get_data(as_text=True)


def test_merging_moves_the_merged_leads_other_disputes_to_the_kept_lead(app, cw):
    c_unit = factories.township("西王庄镇")
    c_officer = factories.user("c-1", "officer", c_unit)
    second = _new_zhongchong(cw)
    third = factories.lead(c_officer, c_unit, name="丙项目", company="中宠食品有限公司")
    db.session.commit()
    assert _dispute_of(third).first_lead_id == cw.lead_a.id
    company_services.rule(cw.reviewer, _dispute_of(second), "keep_second")
    db.session.commit()
    moved = _dispute_of(third)
    assert moved.status == "open"
    assert (moved.first_lead_id, moved.second_lead_id) == (second.id, third.id)
    assert db.session.get(Lead, second.id).ownership == "sole"
    company_services.rule(cw.admin, moved, "keep_first")
    db.session.commit()
    assert db.session.get(Lead, third.id).merged_into_id == second.id
