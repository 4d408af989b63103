"""Supervision orders: issue, answer, close through the API and the pages; numbering without
gaps under concurrent issuers; the Word document."""

import io
import re

import sqlalchemy as sa
from docx import Document
from flask.testing import FlaskClient

from crm.clock import today
from crm.extensions import db
from crm.supervision import services
from crm.supervision.models import SupervisionOrder
from crm.supervision.services import DUE_WORKDAYS, add_workdays
from tests.conftest import seen_on_pages
from tests.supervision.conftest import in_threads, red_lead


def test_issue_answer_close_through_the_api(api, sw):
    lead = sw.lead_a
    r = api("POST", f"/leads/{lead.id}/supervision", json={"level": "red", "reason": "开工滞后"})
    assert r.status_code == 201, r.json
    order = r.json
    year = today().year
    assert (order["year"], order["number"], order["level"], order["status"]) == (year, 1, "red", "open")
    assert order["number_text"] == f"〔{year}〕第1号"
    assert order["due_on"] == add_workdays(today(), DUE_WORKDAYS).isoformat()
    # only admins issue; another unit's lead is 404
    assert api("POST", f"/leads/{lead.id}/supervision", user="a-head",
               json={"level": "red", "reason": "x"}).status_code == 403
    assert api("POST", f"/leads/{lead.id}/supervision", user="b-head",
               json={"level": "red", "reason": "x"}).status_code == 404
    assert api("POST", f"/leads/{lead.id}/supervision",
               json={"level": "orange", "reason": "x"}).status_code == 422
    assert api("POST", f"/leads/{lead.id}/supervision",
               json={"level": "red", "reason": "x", "due_on": "2000-01-01"}).status_code == 422
    # the list, scoped
    assert [o["id"] for o in api("GET", "/supervision?status=open", user="a-1").json] == [order["id"]]
    assert api("GET", "/supervision", user="b-1").json == []
    assert [o["id"] for o in api("GET", "/supervision?level=red", user="viewer").json] == [order["id"]]
    assert api("GET", "/supervision?level=yellow", user="viewer").json == []
    # the unit answers: the lead's officer or its head; not another officer, not a viewer
    path = f"/supervision/{order['id']}/answers"
    assert api("POST", path, user="b-1", json={"text": "x"}).status_code == 404
    assert api("POST", path, user="viewer", json={"text": "x"}).status_code == 403
    assert api("POST", path, user="a-2", json={"text": "x"}).status_code == 403
    assert api("POST", path, user="a-1", json={"text": "  "}).status_code == 422
    from tests.claims.conftest import PDF

    file_b = api("POST", f"/leads/{sw.lead_b.id}/attachments", user="b-1",
                 data={"file": (io.BytesIO(PDF), "b.pdf"), "kind": "other"},
                 content_type="multipart/form-data").json["id"]
    assert api("POST", path, user="a-1",
               json={"text": "x", "attachment_ids": [file_b]}).status_code == 422
    file_a = api("POST", f"/leads/{lead.id}/attachments", user="a-1",
                 data={"file": (io.BytesIO(PDF), "a.pdf"), "kind": "other"},
                 content_type="multipart/form-data").json["id"]
    r = api("POST", path, user="a-1", json={"text": "已协调用地，下周开工",
                                            "attachment_ids": [file_a]})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "answered"
    assert r.json["answers"][0]["text"] == "已协调用地，下周开工"
    assert r.json["answers"][0]["attachment_ids"] == [file_a]
    # closing: admins, with a note
    close = f"/supervision/{order['id']}/close"
    assert api("POST", close, user="a-head", json={"note": "好"}).status_code == 403
    assert api("POST", close, json={"note": ""}).status_code == 422
    r = api("POST", close, json={"note": "已开工，办结"})
    assert r.status_code == 200
    assert (r.json["status"], r.json["closed_note"]) == ("closed", "已开工，办结")
    assert api("POST", close, json={"note": "again"}).status_code == 409
    assert api("POST", path, user="a-1", json={"text": "x"}).status_code == 409


def test_pages_issue_answer_with_evidence_and_word_document(client, auth, sw):
    from tests.claims.conftest import PDF

    lead = sw.lead_a
    auth.login("admin")
    r = client.post(f"/leads/{lead.id}/supervision", data={"level": "yellow", "reason": "跟进不力"})
    assert r.status_code == 302
    order = db.session.scalars(sa.select(SupervisionOrder)).one()
    assert client.get(f"/leads/{lead.id}").get_data(as_text=True).count(order.number_text) >= 1
    page = client.get("/supervision/?status=live").get_data(as_text=True)
    assert order.number_text in page and "孟庄镇" in page
    assert order.number_text in client.get("/bulletin").get_data(as_text=True)
    assert order.number_text in client.get(f"/stats/unit/{sw.a.id}").get_data(as_text=True)
    auth.logout()
    auth.login("a-1")
    r = client.post(f"/supervision/{order.id}/answer",
                    data={"text": "已约企业面谈", "file": (io.BytesIO(PDF), "进展.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    db.session.expire_all()
    order = db.session.get(SupervisionOrder, order.id)
    assert order.status == "answered"
    assert [f.filename for f in order.answers[0].files] == ["进展.pdf"]
    # a file that is not what it claims is refused, and nothing is kept
    r = client.post(f"/supervision/{order.id}/answer",
                    data={"text": "再答复", "file": (io.BytesIO(b"MZ\x90\x00"), "x.pdf")},
                    content_type="multipart/form-data")
    db.session.expire_all()
    assert len(db.session.get(SupervisionOrder, order.id).answers) == 1
    r = client.get(f"/supervision/{order.id}.docx")
    assert r.status_code == 200
    document = Document(io.BytesIO(r.data))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "督办单" in text and order.number_text.strip("〔") .split("〕")[0] in text
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    assert "宠物食品生产基地" in cells and "跟进不力" in cells and "已约企业面谈" in cells
    assert abs(document.sections[0].page_width.mm - 210) < 1
    auth.logout()
    auth.login("b-1")
    assert client.get(f"/supervision/{order.id}.docx").status_code == 404
    assert client.get(f"/supervision/{order.id}").status_code == 404


def test_numbers_have_no_gaps_under_eight_concurrent_issuers(app, sw):
    token = sw.tokens["admin"]
    lead_id = sw.lead_a.id

    def issue(i):
        client = FlaskClient(app, use_cookies=False)
        r = client.post(f"/api/v1/leads/{lead_id}/supervision",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"level": "yellow", "reason": f"并发{i}"})
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.json["number"]

    numbers = in_threads(app, 8, issue)
    assert sorted(numbers) == list(range(1, 9))
    db.session.rollback()
    stored = db.session.scalars(sa.select(SupervisionOrder.number).order_by(SupervisionOrder.number))
    assert list(stored) == list(range(1, 9))
    assert re.fullmatch(r"〔\d{4}〕第8号", db.session.scalars(
        sa.select(SupervisionOrder).where(SupervisionOrder.number == 8)).one().number_text)


def test_the_list_is_paged_newest_first(client, auth, sw, monkeypatch):
    from crm.supervision import views

    monkeypatch.setattr(views, "PER_PAGE", 2)
    for n in range(5):
        services.issue_order(sw.admin, red_lead(sw, name=f"督办项目{n}"), "yellow", f"原因{n}")
    db.session.commit()
    auth.login("admin")
    assert seen_on_pages(client, "/supervision/", 3, [f"督办项目{n}" for n in range(5)],
                         "督办单（5 件）") == [[3, 4], [1, 2], [0]]  # newest (highest number) first
    assert client.get("/supervision/?page=9").headers["Location"].endswith("page=3")
