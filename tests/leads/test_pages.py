"""Lead pages: the form's validation, duplicates, conflicts, visits, board, my work."""

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.clock import today
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead, StageChange
from crm.visits.models import Visit
from tests import factories
from tests.querycount import count_queries

VALID_CODE = "91350100M000100Y43"  # check character verified by GB 32100-2015


def lead_form(**overrides):
    data = {"name": "医用电动转移车", "company": "某某医疗器械有限公司", "source": "referral",
            "investment_wan": "12000", "stage": "contact", "created_on": today().isoformat(),
            "primary_officer_id": "0"}
    data.update(overrides)
    return data


def test_credit_code_check_character():
    from crm.leads.validation import company_key, credit_code_valid

    assert credit_code_valid(VALID_CODE)
    assert credit_code_valid("９１３５０１００Ｍ０００１００Ｙ４３")  # full-width input
    assert not credit_code_valid("91350100M000100Y44")
    assert not credit_code_valid("91350100M000100Y4")
    assert company_key("烟台中宠食品股份有限公司") == company_key(" 烟台中宠食品 有限公司")
    assert company_key("ＡＢＣ科技（深圳）有限公司") == company_key("abc科技(深圳)")


def test_create_lead_from_the_form(client, auth, world):
    auth.login("a-1")
    response = client.post("/leads/new", data=lead_form(credit_code=VALID_CODE))
    assert response.status_code == 302
    lead = db.session.scalar(sa.select(Lead).where(Lead.name == "医用电动转移车"))
    assert (lead.township_id, lead.primary_officer_id, lead.credit_code) == (
        world.a.id, world.off_a1.id, VALID_CODE)


@pytest.mark.parametrize("field,value,message", [
    ("name", "", "请填写项目名称"),
    ("investment_wan", "-5", "须为不小于0的数字"),
    ("investment_wan", "abc", ""),
    ("credit_code", "91350100M000100Y44", "统一社会信用代码无效"),
    ("contact_phone", "12345", "电话号码格式不正确"),
    ("created_on", "2999-01-01", "录入日期不能晚于今天"),
    ("planned_start_date", "2026-01-01", "计划日期须按签约、开工、投产的顺序"),
])
def test_bad_input_is_explained_and_kept(client, auth, world, field, value, message):
    auth.login("a-1")
    extra = {"planned_sign_date": "2026-06-01"} if field == "planned_start_date" else {}
    response = client.post("/leads/new", data=lead_form(**{field: value}, **extra))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in text
    assert "某某医疗器械有限公司" in text  # the input is kept
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 3


def test_duplicate_company_is_warned_then_confirmed(client, auth, world):
    auth.login("a-1")
    data = lead_form(company="烟台中宠食品 有限公司")
    first = client.post("/leads/new", data=data)
    assert first.status_code == 200
    assert "宠物食品生产基地" in first.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 3
    confirmed = client.post("/leads/new", data={**data, "confirm_duplicate": "1"})
    assert confirmed.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 4


def test_edit_conflict_shows_what_changed_and_keeps_the_other_edit(client, auth, world):
    lead = world.lead_a
    services.update_lead(world.head_a, lead, {"company": "中宠股份"}, version=1)
    db.session.commit()
    auth.login("a-1")
    response = client.post(f"/leads/{lead.id}/edit", data=lead_form(
        name="我的修改", company="烟台中宠食品股份有限公司", version="1"))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "已被他人修改" in text and "中宠股份" in text
    db.session.expire_all()
    fresh = db.session.get(Lead, lead.id)
    assert (fresh.name, fresh.company, fresh.version) == ("宠物食品生产基地", "中宠股份", 2)


def test_log_visit_sets_follow_up_and_shows_in_timeline(client, auth, world):
    auth.login("a-1")
    follow = (today() + dt.timedelta(days=5)).isoformat()
    response = client.post(f"/leads/{world.lead_a.id}/visits", data={
        "visited_on": today().isoformat(), "kind": "meeting", "summary": "洽谈用地需求",
        "next_step": "报送用地方案", "next_follow_up": follow})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Lead, world.lead_a.id).next_follow_up.isoformat() == follow
    page = client.get(f"/leads/{world.lead_a.id}").get_data(as_text=True)
    assert "洽谈用地需求" in page and "报送用地方案" in page


def test_bad_visit_is_refused(client, auth, world):
    auth.login("a-1")
    response = client.post(f"/leads/{world.lead_a.id}/visits", data={
        "visited_on": (today() + dt.timedelta(days=2)).isoformat(), "kind": "visit",
        "summary": "x"})
    assert response.status_code == 422
    assert "走访日期不能晚于今天" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 0


def test_visit_edit_same_day_leaves_a_trace(client, auth, world):
    auth.login("a-1")
    client.post(f"/leads/{world.lead_a.id}/visits", data={
        "visited_on": today().isoformat(), "kind": "call", "summary": "第一次说法"})
    visit = db.session.scalar(sa.select(Visit))
    r = client.post(f"/leads/{world.lead_a.id}/visits/{visit.id}/edit", data={
        "visited_on": today().isoformat(), "kind": "call", "summary": "更正后的说法"})
    assert r.status_code == 302
    page = client.get(f"/leads/{world.lead_a.id}").get_data(as_text=True)
    assert "更正后的说法" in page and "第一次说法" in page  # old value kept in the timeline
    auth.logout()
    auth.login("a-head")
    assert client.get(f"/leads/{world.lead_a.id}/visits/{visit.id}/edit").status_code == 403


def test_move_form_applies_rules(client, auth, world):
    auth.login("a-1")
    lid = world.lead_a.id
    r = client.post(f"/leads/{lid}/move", data={"to": "signed", "on": today().isoformat(),
                                                "version": "1"})
    assert r.status_code == 302
    r = client.post(f"/leads/{lid}/move", data={"to": "lost", "on": today().isoformat(),
                                                "version": "2"})
    assert r.status_code == 422 and "请选择终止原因" in r.get_data(as_text=True)
    r = client.post(f"/leads/{lid}/move", data={"to": "contact", "reason": "x",
                                                "on": today().isoformat(), "version": "2"})
    # a move back is the head's: the form again with why (issue 19: never a bare 403)
    assert r.status_code == 422 and "退回上一阶段须由镇街负责人或区招商局操作" in r.get_data(as_text=True)
    assert db.session.get(Lead, lid).stage == "signed"


def test_assignments_by_head_are_in_the_timeline(client, auth, world):
    auth.login("a-head")
    lid = world.lead_a.id
    r = client.post(f"/leads/{lid}/assign", data={
        "primary_officer_id": str(world.off_a2.id), "helper_ids": [str(world.off_a1.id)],
        "sponsor": "王副区长"})
    assert r.status_code == 302
    lead = db.session.get(Lead, lid)
    assert lead.officer_ids == [world.off_a2.id, world.off_a1.id]
    assert "王副区长" in client.get(f"/leads/{lid}").get_data(as_text=True)
    # another unit's officer cannot be assigned
    r = client.post(f"/leads/{lid}/assign", data={"primary_officer_id": str(world.off_b1.id)})
    assert "负责人须为本单位的在岗人员" in r.get_data(as_text=True)
    auth.logout()
    auth.login("a-1")
    assert client.get(f"/leads/{lid}/assign").status_code == 403


def test_funds_and_blockers_from_the_lead_page(client, auth, world):
    auth.login("a-1")
    lid = world.lead_a.id
    client.post(f"/leads/{lid}/funds", data={"arrived_on": today().isoformat(),
                                             "amount_wan": "500.5"})
    client.post(f"/leads/{lid}/blockers", data={"kind": "land", "description": "土地指标不足",
                                                "owner": "自然资源局"})
    lead = db.session.get(Lead, lid)
    db.session.refresh(lead)
    assert str(lead.funds_arrived_wan) == "500.5"
    blocker = lead.blockers[0]
    client.post(f"/leads/{lid}/blockers/{blocker.id}/resolve", data={"resolution": "已调剂"})
    db.session.refresh(blocker)
    assert blocker.resolved_on == today()
    page = client.get(f"/leads/{lid}").get_data(as_text=True)
    assert "土地指标不足" in page and "已调剂" in page


def test_lead_list_filters_and_totals(client, auth, world):
    auth.login("admin")
    text = client.get("/leads/?q=宠物").get_data(as_text=True)
    assert "宠物食品生产基地" in text and "专用车制造" not in text
    text = client.get(f"/leads/?township_id={world.b.id}").get_data(as_text=True)
    assert "专用车制造" in text and "宠物食品生产基地" not in text
    text = client.get("/leads/").get_data(as_text=True)
    assert "6.00" in text  # 3 × 20000 万元 = 6.00 亿元


def test_board_and_my_work(client, auth, world):
    services.move_stage(world.off_a1, world.lead_a, "negotiation")
    world.lead_a.next_follow_up = today() - dt.timedelta(days=1)
    db.session.commit()
    auth.login("a-1")
    board = client.get("/board").get_data(as_text=True)
    assert "宠物食品生产基地" in board and "专用车制造" not in board
    my = client.get("/my").get_data(as_text=True)
    assert "宠物食品生产基地" in my
    auth.logout()
    auth.login("admin")
    assert "专用车制造" in client.get(f"/board?township_id={world.b.id}").get_data(as_text=True)


def grow(world, n):
    """n more leads in unit A, each with two helpers, visits, a blocker, funds and moves."""
    for i in range(n):
        lead = factories.lead(world.head_a, world.a, name=f"项目{i}", company=f"公司{i}",
                              primary_officer_id=world.off_a1.id,
                              helper_ids=[world.off_a2.id, world.head_a.id])
        services.move_stage(world.head_a, lead, ["negotiation", "signed", "started"][i % 3])
        from crm.visits.services import log_visit

        for k in range(3):
            log_visit(world.head_a, lead, {"kind": "call", "summary": f"第{k}次"})
        services.add_blocker(world.head_a, lead, "power", "用电")
        services.add_funds(world.head_a, lead, today(), 10)
    db.session.commit()


def test_query_counts_do_not_grow_with_data(client, auth, world):
    auth.login("a-head")
    pages = ["/leads/", "/board", "/my", "/", f"/leads/{world.lead_a.id}"]

    def measure():
        # every unit's statistics cold, as after a write to each: the home page's dashboard
        # computes them then (the same statements for 3 leads or 25 a unit)
        from crm.stats.models import StatsVersion

        db.session.execute(sa.update(StatsVersion).values(version=StatsVersion.version + 1))
        db.session.commit()
        counts = {}
        for path in pages:
            with count_queries() as c:
                assert client.get(path).status_code == 200
            counts[path] = c["n"]
        return counts

    grow(world, 3)
    small = measure()
    grow(world, 25)
    big = measure()
    assert small == big
    lead_id = db.session.scalar(sa.select(Lead.id).where(Lead.name == "项目0"))
    with count_queries() as c_small:
        client.get(f"/leads/{lead_id}")
    from crm.visits.services import log_visit

    lead = db.session.get(Lead, lead_id)
    for k in range(20):
        log_visit(world.head_a, lead, {"kind": "call", "summary": f"再{k}"})
        services.add_blocker(world.head_a, lead, "other", f"问题{k}")
    db.session.commit()
    with count_queries() as c_big:
        client.get(f"/leads/{lead_id}")
    assert c_small["n"] == c_big["n"]
    assert db.session.scalar(sa.select(sa.func.count(StageChange.id))) > 28


def test_contacts_are_added_and_validated(client, auth, world):
    auth.login("a-1")
    lid = world.lead_a.id
    assert client.post(f"/leads/{lid}/contacts", data={"name": "郝总", "title": "总经理",
                                                       "phone": "13800138000"}).status_code == 302
    client.post(f"/leads/{lid}/contacts", data={"name": "坏号码", "phone": "123"})
    page = client.get(f"/leads/{lid}").get_data(as_text=True)
    assert "郝总" in page and "13800138000" in page and "坏号码" not in page
    auth.logout()
    auth.login("a-2")  # same unit, not assigned
    assert client.post(f"/leads/{lid}/contacts", data={"name": "x"}).status_code == 403


def test_every_field_error_is_shown_at_once(client, auth, world):
    auth.login("a-1")
    text = client.post("/leads/new", data=lead_form(
        investment_wan="-3", credit_code="91350100M000100Y44", contact_phone="abc",
    )).get_data(as_text=True)
    for message in ("须为不小于0的数字", "统一社会信用代码无效", "电话号码格式不正确"):
        assert message in text
