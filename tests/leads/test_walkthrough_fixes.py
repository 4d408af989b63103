"""Findings of the walkthrough (issue 19) on the lead pages: the new-lead form's unit and
officers, a past 下次跟进, amounts written as 1.5亿, search, the timeline, the duplicate
warning."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.clock import today
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead
from tests import factories
from tests.leads.test_pages import VALID_CODE, lead_form
from tests.querycount import count_queries


def _lead(name):
    return db.session.scalar(sa.select(Lead).where(Lead.name == name))


# --- 1. the admin's new-lead form: choose the unit, officers of that unit ------------------------

def test_the_admins_unit_select_starts_empty_and_offers_each_units_officers(client, auth, world):
    auth.login("admin")
    text = client.get("/leads/new").get_data(as_text=True)
    select = re.search(r'<select[^>]*name="township_id".*?</select>', text, re.S).group(0)
    assert re.search(r'<select[^>]*><option value="0">请选择单位</option>', select), select
    assert "selected" not in select
    assert "data-unit-officers" in select and "a-1" in select and "b-1" in select
    # no unit chosen yet: no unit's officers in the officer select
    officer = re.search(r'<select[^>]*name="primary_officer_id".*?</select>', text, re.S).group(0)
    assert "a-1" not in officer and "b-1" not in officer


def test_the_admin_must_choose_a_unit(client, auth, world):
    auth.login("admin")
    response = client.post("/leads/new", data=lead_form(township_id="0"))
    assert response.status_code == 200
    assert "请选择单位" in response.get_data(as_text=True)
    assert _lead("医用电动转移车") is None


def test_an_officer_of_another_unit_is_explained_and_the_form_shows_the_units_officers(
        client, auth, world):
    auth.login("admin")
    response = client.post("/leads/new", data=lead_form(
        township_id=str(world.b.id), primary_officer_id=str(world.off_a1.id)))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "所选负责人不是税郭镇的在岗人员" in text
    officer = re.search(r'<select[^>]*name="primary_officer_id".*?</select>', text, re.S).group(0)
    assert "b-1" in officer and "a-1" not in officer
    assert _lead("医用电动转移车") is None
    # the right unit's officer: created
    response = client.post("/leads/new", data=lead_form(
        township_id=str(world.b.id), primary_officer_id=str(world.off_b1.id)))
    assert response.status_code == 302
    assert _lead("医用电动转移车").primary_officer_id == world.off_b1.id


def test_an_officer_still_creates_in_his_own_unit_without_choosing(client, auth, world):
    auth.login("a-1")
    text = client.get("/leads/new").get_data(as_text=True)
    assert "请选择单位" not in text and "data-unit-officers" not in text
    assert client.post("/leads/new", data=lead_form()).status_code == 302
    assert _lead("医用电动转移车").township_id == world.a.id


# --- 2. a past 下次跟进: refused on the lead form as on the visit form -------------------------------

def test_a_past_next_follow_up_is_refused_on_the_lead_form_as_on_the_visit_form(
        client, auth, world):
    from crm.leads.validation import FOLLOW_UP_PAST

    auth.login("a-1")
    yesterday = (today() - dt.timedelta(days=1)).isoformat()
    response = client.post("/leads/new", data=lead_form(next_follow_up=yesterday))
    assert response.status_code == 200
    assert str(FOLLOW_UP_PAST) in response.get_data(as_text=True)
    assert _lead("医用电动转移车") is None
    response = client.post(f"/leads/{world.lead_a.id}/visits", data={
        "visited_on": today().isoformat(), "kind": "meeting", "summary": "洽谈",
        "next_follow_up": yesterday})
    assert str(FOLLOW_UP_PAST) in response.get_data(as_text=True)
    assert db.session.get(Lead, world.lead_a.id).next_follow_up is None
    # today is fine
    response = client.post("/leads/new", data=lead_form(next_follow_up=today().isoformat()))
    assert response.status_code == 302


def test_an_overdue_follow_up_on_file_may_be_kept_when_editing(client, auth, world):
    lead = world.lead_a
    lead.next_follow_up = today() - dt.timedelta(days=3)
    db.session.commit()
    auth.login("a-1")
    data = {"name": lead.name, "company": lead.company, "investment_wan": "20000",
            "source": lead.source, "version": str(lead.version),
            "next_follow_up": lead.next_follow_up.isoformat(), "contact_name": "王经理"}
    assert client.post(f"/leads/{lead.id}/edit", data=data).status_code == 302
    data.update(version=str(db.session.get(Lead, lead.id).version),
                next_follow_up=(today() - dt.timedelta(days=1)).isoformat())
    response = client.post(f"/leads/{lead.id}/edit", data=data)
    assert response.status_code == 200
    assert "下次跟进日期不能早于今天" in response.get_data(as_text=True)


# --- 3. one amount parser: the form, the import and the API --------------------------------------

@pytest.mark.parametrize("typed", ["1.5亿", "15000万", "1.5 亿元", "15,000", "１．５亿"])
def test_the_lead_form_takes_amounts_as_the_import_does(client, auth, world, typed):
    from crm.imports.mapping import parse_amount

    assert parse_amount(typed) == Decimal(15000)
    auth.login("a-1")
    response = client.post("/leads/new", data=lead_form(investment_wan=typed))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _lead("医用电动转移车").investment_wan == Decimal(15000)


def test_a_bad_amount_is_one_chinese_sentence(client, auth, world):
    auth.login("a-1")
    text = client.post("/leads/new", data=lead_form(investment_wan="一亿五")).get_data(
        as_text=True)
    errors = re.search(r'<ul class="errors" id="investment_wan-errors">(.*?)</ul>', text,
                       re.S).group(1)
    messages = re.findall(r"<li>(.*?)</li>", errors)
    assert len(messages) == 1 and messages[0].count("。") == 0, messages
    assert "1.5亿" in messages[0] and "须为数字" in messages[0]
    unit_error = client.post("/leads/new", data=lead_form(investment_wan="15000元"))
    assert "金额单位须为万元或亿元" in unit_error.get_data(as_text=True)


def test_the_api_takes_an_amount_written_as_text_the_same_way(client, world):
    from crm.auth.services import issue_token

    token = issue_token(world.off_a1)
    db.session.commit()
    response = client.post("/api/v1/leads", headers={"Authorization": f"Bearer {token}"},
                           json={"name": "接口项目", "company": "接口公司", "investment_wan": "1.5亿"})
    assert response.status_code == 201, response.get_json()
    assert _lead("接口项目").investment_wan == Decimal(15000)
    response = client.post("/api/v1/leads", headers={"Authorization": f"Bearer {token}"},
                           json={"name": "接口项目2", "company": "接口公司2",
                                 "investment_wan": "很多"})
    assert response.status_code == 422
    assert "1.5亿" in str(response.get_json()["error"]["fields"]["investment_wan"])


# --- 7. search: the credit code and the officer's name ------------------------------------------

def test_search_finds_a_credit_code_and_an_officers_name_in_constant_queries(
        client, auth, world):
    world.lead_b.credit_code = VALID_CODE
    world.off_a2.display_name = "宋晓娜"
    db.session.commit()
    auth.login("admin")

    def names(q):
        text = client.get("/leads/", query_string={"q": q}).get_data(as_text=True)
        return {n for n in ("宠物食品生产基地", "智能机器人", "专用车制造") if n in text}

    assert names(VALID_CODE[:10]) == {"专用车制造"}
    assert names(VALID_CODE.lower()) == {"专用车制造"}
    assert names("晓娜") == {"智能机器人"}
    with count_queries() as few:
        client.get("/leads/?q=晓娜")
    for i in range(6):
        factories.lead(world.off_a1, world.a, name=f"又一个{i}", company=f"某公司{i}")
    db.session.commit()
    with count_queries() as more:
        client.get("/leads/?q=a-1")
    assert more["n"] == few["n"]


# --- 9. the timeline: a capital arrival at its arrival date --------------------------------------

def test_a_capital_arrival_is_placed_at_its_arrival_date(client, auth, world):
    lead = world.lead_a
    arrived = today() - dt.timedelta(days=40)
    services.add_funds(world.off_a1, lead, arrived, Decimal(500))
    db.session.commit()
    auth.login("a-1")
    text = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    item = re.search(r'<li class="tl-item tl-funds">.*?</li>', text, re.S).group(0)
    assert f'datetime="{arrived.isoformat()}"' in item
    assert "登记于" in item  # the entry's own day, as a secondary note


# --- 10. the duplicate warning once ---------------------------------------------------------------

def test_the_duplicate_warning_shows_once(client, auth, world):
    auth.login("a-1")
    response = client.post("/leads/new", data=lead_form(company=world.lead_a.company))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert text.count("本单位已有相同投资方") == 1


# --- 8. 我的工作's 按人员: a 未分配 row, so the rows add up --------------------------------------------

def test_the_heads_per_officer_table_has_an_unassigned_row(client, auth, world):
    past = today() - dt.timedelta(days=2)
    world.lead_a.next_follow_up = past  # a-1's
    for i in range(3):  # no officer
        factories.lead(world.head_a, world.a, name=f"无人项目{i}", company=f"无人公司{i}",
                       next_follow_up=past if i < 2 else today())
    db.session.commit()
    auth.login("a-head")
    text = client.get("/my").get_data(as_text=True)
    table = re.search(r"<h2>按人员</h2>.*?</table>", text, re.S).group(0)
    row = re.search(r'<tr class="row-unassigned">(.*?)</tr>', table, re.S).group(1)
    assert re.findall(r"<td>(.*?)</td>", row) == ["未分配", "3", "2", "1"]
    overdue = sum(int(re.sub(r"<[^>]+>", "", cells[2])) for cells in (
        re.findall(r"<td>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S))
        if cells)
    assert overdue == 3  # the 逾期跟进 section's count
