"""The broken flow of issue 19 first: an officer moving their own lead back a stage is never
sent to a bare 403 page; the form comes back with the reason and what was typed. Then: only the
moves the user may make are offered (move page, lead page, board), per role."""

import re

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead, StageChange


def in_negotiation(world):
    services.move_stage(world.off_a1, world.lead_a, "negotiation")
    db.session.commit()
    return world.lead_a


def options(html: str, select_id: str) -> list[str]:
    """The option values of the select ``select_id`` (disabled ones left out)."""
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="(\w+)"(?![^>]*disabled)', block)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request):
    return request.param


def test_officer_move_back_is_refused_with_the_form_and_reason_kept(client, login, world):
    lead = in_negotiation(world)
    login("a-1")
    response = client.post(f"/leads/{lead.id}/move", data={
        "to": "contact", "on": "", "reason": "投资方暂停洽谈，需重新接触", "version": lead.version})
    html = response.get_data(as_text=True)
    assert response.status_code == 422  # not 403: the form again, with why
    assert "退回上一阶段须由镇街负责人或区招商局操作" in html
    assert 'role="alert"' in html
    # what was typed is kept, in the 申请退回 form, ready to send to the head
    assert "投资方暂停洽谈，需重新接触" in html
    assert f'action="/leads/{lead.id}/move-back-request"' in html
    asked = re.search(r'<select[^>]*id="mbr-to"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert re.search(r'<option (selected value="contact"|value="contact" selected)', asked)
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage == "negotiation"
    assert db.session.scalar(sa.select(sa.func.count(StageChange.id)).where(
        StageChange.lead_id == lead.id, StageChange.to_stage == "contact",
        StageChange.implied.is_(False))) == 1  # only its creation


def test_a_dragged_card_moved_back_returns_to_the_form_not_403(client, login, world):
    lead = in_negotiation(world)
    login("a-1")
    response = client.post(f"/leads/{lead.id}/move", data={
        "to": "contact", "on": "", "reason": "拖回接触", "version": lead.version,
        "back": "/board"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "拖回接触" in html and 'name="back" value="/board"' in html


def test_user_who_may_not_move_gets_the_page_with_the_reason_not_a_bare_403(client, login, world):
    lead = in_negotiation(world)
    login("a-2")  # same unit, not assigned: may see, may not move
    response = client.post(f"/leads/{lead.id}/move", data={
        "to": "signed", "reason": "我写的原因", "version": lead.version})
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "您无权变更该项目的阶段" in html and "我写的原因" in html
    assert lead.name in html  # the lead's own page frame, not the error page


def test_allowed_moves_per_role(app, world):
    lead = in_negotiation(world)

    def targets(user):
        return [(m.to_stage, m.kind) for m in services.allowed_moves(user, lead)]

    forward = [("signed", "forward"), ("started", "forward"), ("producing", "forward"),
               ("lost", "lose")]
    assert targets(world.off_a1) == forward
    assert targets(world.head_a) == [("contact", "back"), *forward]
    assert targets(world.admin) == [("contact", "back"), *forward]
    assert targets(world.viewer) == []
    assert targets(world.off_a2) == []  # not assigned
    assert targets(world.head_b) == []  # another unit
    services.move_stage(world.head_a, lead, "lost", lost_reason="relocated")
    assert targets(world.off_a1) == []  # a lost lead: only heads and admins reopen
    assert [t for t, kind in targets(world.head_a) if kind == "reopen"] == [
        "contact", "negotiation", "signed", "started", "producing"]


@pytest.mark.parametrize("username,expected", [
    ("a-1", ["signed", "started", "producing", "lost"]),
    ("a-head", ["contact", "signed", "started", "producing", "lost"]),
    ("admin", ["contact", "signed", "started", "producing", "lost"]),
])
def test_move_page_and_lead_page_offer_only_allowed_moves(client, login, world, username,
                                                          expected):
    lead = in_negotiation(world)
    login(username)
    move_page = client.get(f"/leads/{lead.id}/move").get_data(as_text=True)
    assert options(move_page, "to") == expected
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert options(show, "move-to") == expected
    assert ('申请退回' in show) == (username == "a-1")


def test_viewer_sees_no_move_box(client, login, world):
    lead = in_negotiation(world)
    login("viewer")
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'id="move"' not in show and f"/leads/{lead.id}/move" not in show
    response = client.get(f"/leads/{lead.id}/move")
    assert response.status_code == 403 and "您无权变更该项目的阶段" in response.get_data(as_text=True)


def test_lost_lead_shows_no_stage_change_to_an_officer(client, login, world):
    lead = world.lead_a
    services.move_stage(world.head_a, lead, "lost", lost_reason="relocated")
    db.session.commit()
    login("a-1")
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "变更阶段" not in show and f"/leads/{lead.id}/move" not in show
    page = client.get(f"/leads/{lead.id}/move").get_data(as_text=True)
    assert "重新启动须由镇街负责人或区招商局操作" in page and "确认变更" not in page
    login("a-head")
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "变更阶段" in show and "（重新启动）" in show


def test_move_box_has_a_visible_marker_and_the_stepper_shows_dates(client, login, world):
    lead = in_negotiation(world)
    login("a-1")
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert '<summary><span class="summary-marker" aria-hidden="true"></span>' in show
    stepper = re.search(r'<ol class="stepper[^"]*"(.*?)</ol>', show, re.S).group(1)
    assert "<svg" not in stepper and "<a " not in stepper
    states = re.findall(r'class="step step-(\w+)"', stepper)
    assert states == ["done", "current", "todo", "todo", "todo"]
    assert 'aria-current="step"' in stepper and "当前阶段" in stepper and "已到达" in stepper
    changes = {c.to_stage: c.effective_on for c in lead.stage_changes}
    for code in ("contact", "negotiation"):
        assert f'datetime="{changes[code].isoformat()}"' in stepper


def test_stepper_marks_a_lost_lead_distinctly(client, login, world):
    lead = in_negotiation(world)
    services.move_stage(world.head_a, lead, "lost", lost_reason="relocated")
    db.session.commit()
    login("a-1")
    show = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    stepper = re.search(r'<ol class="stepper stepper-lost"(.*?)</ol>', show, re.S).group(1)
    assert re.findall(r'class="step step-(\w+)"', stepper) == [
        "done", "done", "todo", "todo", "todo", "lost"]
    assert "已终止" in stepper


def test_board_drag_hint_and_card_moves_follow_the_role(client, login, world):
    lead = in_negotiation(world)
    login("viewer")
    board = client.get("/board").get_data(as_text=True)
    assert "board-hint" not in board and 'draggable="true"' not in board
    assert "移动到" not in board
    login("a-1")
    board = client.get("/board").get_data(as_text=True)
    assert "board-hint" in board
    card = re.search(rf'<li class="board-card[^"]*"[^>]*data-lead-id="{lead.id}"[^>]*>', board,
                     re.S).group(0)
    assert 'data-targets="signed started producing lost"' in card
    login("a-head")
    board = client.get("/board").get_data(as_text=True)
    card = re.search(rf'<li class="board-card[^"]*"[^>]*data-lead-id="{lead.id}"[^>]*>', board,
                     re.S).group(0)
    assert 'data-targets="contact signed started producing lost"' in card


def test_board_has_a_column_picker_that_works_without_js(client, login, world):
    login("a-1")
    board = client.get("/board").get_data(as_text=True)
    nav = re.search(r'<nav class="board-picker"(.*?)</nav>', board, re.S).group(1)
    for code in ("contact", "negotiation", "signed", "started", "producing", "lost"):
        assert f'href="#col-{code}"' in nav
        assert f'id="col-{code}"' in board


def test_officer_board_and_work_query_counts_do_not_grow(client, login, world):
    from tests.leads.test_pages import grow
    from tests.querycount import count_queries

    login("a-1")

    def measure():
        counts = {}
        for path in ("/board", "/my", f"/leads/{world.lead_a.id}"):
            with count_queries() as c:
                assert client.get(path).status_code == 200
            counts[path] = c["n"]
        return counts

    grow(world, 3)
    small = measure()
    grow(world, 20)
    assert measure() == small
