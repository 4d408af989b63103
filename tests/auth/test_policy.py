"""Who sees and changes what: the policy module and its use on pages and by id."""

import pytest
import sqlalchemy as sa

from crm.auth.permissions import can, editable_leads, visible_leads
from crm.extensions import db
from crm.leads.models import Lead


def ids(stmt):
    return set(db.session.scalars(stmt.with_only_columns(Lead.id)))


def test_visible_leads_by_role(world):
    w = world
    assert ids(visible_leads(w.off_a1)) == {w.lead_a.id, w.lead_a2.id}
    assert ids(visible_leads(w.head_b)) == {w.lead_b.id}
    assert ids(visible_leads(w.admin)) == {w.lead_a.id, w.lead_a2.id, w.lead_b.id}
    assert ids(visible_leads(w.viewer)) == {w.lead_a.id, w.lead_a2.id, w.lead_b.id}


def test_edit_rights_by_role(world):
    w = world
    assert can(w.off_a1, "lead.edit", w.lead_a)  # primary officer
    assert not can(w.off_a1, "lead.edit", w.lead_a2)  # same unit, not assigned
    assert can(w.head_a, "lead.edit", w.lead_a2)
    assert not can(w.head_a, "lead.edit", w.lead_b)
    assert can(w.admin, "lead.edit", w.lead_b)
    assert not can(w.viewer, "lead.edit", w.lead_a)
    assert ids(editable_leads(w.off_a1)) == {w.lead_a.id}
    assert ids(editable_leads(w.viewer)) == set()


def test_move_back_and_assign_only_heads_and_admins(world):
    w = world
    for action in ("lead.move_back", "lead.reopen", "lead.assign"):
        assert not can(w.off_a1, action, w.lead_a)
        assert can(w.head_a, action, w.lead_a)
        assert not can(w.head_b, action, w.lead_a)
        assert can(w.admin, action, w.lead_a)
        assert not can(w.viewer, action, w.lead_a)


def test_inactive_user_can_do_nothing(world):
    world.head_a.active = False
    assert not can(world.head_a, "lead.edit", world.lead_a)


def test_unknown_action_is_an_error(world):
    with pytest.raises(KeyError):
        can(world.admin, "lead.destroy", world.lead_a)


@pytest.mark.parametrize("path", ["/leads/{id}", "/leads/{id}/edit", "/leads/{id}/move",
                                  "/leads/{id}/visits"])
def test_officer_cannot_read_another_units_lead(client, auth, world, path):
    auth.login("a-1")
    response = client.get(path.format(id=world.lead_b.id))
    assert response.status_code == 404
    assert "专用车制造" not in response.get_data(as_text=True)


def test_officer_cannot_change_another_units_lead(client, auth, world):
    auth.login("a-1")
    lead_id = world.lead_b.id
    posts = {
        f"/leads/{lead_id}/edit": {"name": "改", "company": "改", "investment_wan": "1",
                                   "version": "1", "source": "other"},
        f"/leads/{lead_id}/move": {"to": "negotiation", "version": "1"},
        f"/leads/{lead_id}/visits": {"kind": "visit", "summary": "x"},
        f"/leads/{lead_id}/funds": {"arrived_on": "2026-01-01", "amount_wan": "5"},
        f"/leads/{lead_id}/blockers": {"kind": "land", "description": "x"},
    }
    for path, data in posts.items():
        assert client.post(path, data=data).status_code == 404, path
    db.session.expire_all()
    lead = db.session.get(Lead, lead_id)
    assert (lead.name, lead.stage, lead.version) == ("专用车制造", "contact", 1)


def test_lead_list_shows_only_own_unit(client, auth, world):
    auth.login("a-1")
    text = client.get("/leads/").get_data(as_text=True)
    assert "宠物食品生产基地" in text
    assert "专用车制造" not in text
    # a filter on another unit's id yields nothing, not that unit's leads
    text = client.get(f"/leads/?township_id={world.b.id}").get_data(as_text=True)
    assert "专用车制造" not in text


def test_officer_may_not_edit_unassigned_lead_of_own_unit(client, auth, world):
    auth.login("a-1")
    assert client.get(f"/leads/{world.lead_a2.id}").status_code == 200
    assert client.get(f"/leads/{world.lead_a2.id}/edit").status_code == 403


def test_viewer_cannot_change_anything(client, auth, world):
    auth.login("viewer")
    lead_id = world.lead_a.id
    assert client.get(f"/leads/{lead_id}").status_code == 200
    for path, data in {
        f"/leads/{lead_id}/edit": {"name": "改", "company": "改", "investment_wan": "1",
                                   "version": "1"},
        f"/leads/{lead_id}/move": {"to": "negotiation", "version": "1"},
        f"/leads/{lead_id}/visits": {"kind": "visit", "summary": "x"},
        f"/leads/{lead_id}/funds": {"arrived_on": "2026-01-01", "amount_wan": "5"},
        f"/leads/{lead_id}/blockers": {"kind": "land", "description": "x"},
        f"/leads/{lead_id}/assign": {"primary_officer_id": "0"},
        "/leads/new": {"name": "x", "company": "y", "investment_wan": "1"},
    }.items():
        assert client.post(path, data=data).status_code == 403, path
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 3
    assert db.session.get(Lead, lead_id).version == 1
