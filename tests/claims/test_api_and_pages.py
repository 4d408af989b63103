"""The claims API of the contract, its errors, and the pages (queue, claim, lead page, 我的工作)."""

import sqlalchemy as sa

from crm.claims.models import Claim
from crm.extensions import db
from tests.claims.conftest import PDF, jpeg
from tests.querycount import count_queries


def move(api, lead_id, to, user="a-1"):
    lead = api("GET", f"/leads/{lead_id}", user=user).get_json()
    return api("POST", f"/leads/{lead_id}/transitions", user=user,
               json={"to": to, "version": lead["version"]})


def test_upload_download_and_the_claim_lifecycle(api, cw):
    lead_id = cw.lead_a.id
    assert move(api, lead_id, "started").status_code == 200
    lead = api("GET", f"/leads/{lead_id}").get_json()
    kinds = {c["kind"]: c for c in lead["claims"]}
    assert set(kinds) == {"signed", "started"} and kinds["started"]["status"] == "pending"
    started = kinds["started"]["id"]

    photo = api.upload(lead_id, jpeg(), "现场.jpg")
    assert photo.status_code == 201, photo.get_json()
    body = photo.get_json()
    assert set(body) >= {"id", "lead_id", "kind", "filename", "content_type", "size", "sha256",
                         "uploaded_by", "uploaded_at", "reused_on"}
    assert body["content_type"] == "image/jpeg" and body["reused_on"] == []
    assert body["uploaded_by"] == cw.off_a1.id

    got = api("GET", f"/attachments/{body['id']}", user="viewer")
    assert got.status_code == 200 and got.data == jpeg()
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert api("GET", f"/attachments/{body['id']}", user="b-1").status_code == 404

    ev = api("POST", f"/claims/{started}/evidence", json={"attachment_id": body["id"]})
    assert ev.status_code == 200 and [e["id"] for e in ev.get_json()["evidence"]] == [body["id"]]

    # 403: others and one's own claim; 422: return without an opinion
    assert api("POST", f"/claims/{started}/review", user="viewer",
               json={"decision": "verify"}).status_code == 403
    assert api("POST", f"/claims/{started}/review", user="a-head",
               json={"decision": "verify"}).status_code == 403
    assert api("POST", f"/claims/{started}/review", user="b-head",
               json={"decision": "verify"}).status_code == 404
    assert api("POST", f"/claims/{started}/review", user="reviewer",
               json={"decision": "return"}).status_code == 422
    ret = api("POST", f"/claims/{started}/review", user="reviewer",
              json={"decision": "return", "opinion": "照片看不出开工"})
    assert ret.status_code == 200 and ret.get_json()["status"] == "returned"
    assert ret.get_json()["reviews"][0]["opinion"] == "照片看不出开工"
    assert api("POST", f"/claims/{started}/review", user="reviewer",
               json={"decision": "verify"}).status_code == 409

    permit = api.upload(lead_id, PDF, "施工许可证.pdf", kind="permit").get_json()
    api("POST", f"/claims/{started}/evidence", json={"attachment_id": permit["id"]})
    res = api("POST", f"/claims/{started}/resubmit")  # no body at all
    assert res.status_code == 200 and res.get_json()["status"] == "pending"
    assert api("POST", f"/claims/{started}/resubmit").status_code == 409
    ok = api("POST", f"/claims/{started}/review", user="reviewer", json={"decision": "verify"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "verified"

    # signed: no contract yet
    signed = kinds["signed"]["id"]
    assert api("POST", f"/claims/{signed}/review", user="admin",
               json={"decision": "verify"}).status_code == 422


def test_own_claim_is_403_for_an_admin(api, cw):
    move(api, cw.lead_a.id, "signed", user="admin")
    claim = db.session.scalar(sa.select(Claim).where(Claim.lead_id == cw.lead_a.id))
    assert api("POST", f"/claims/{claim.id}/review", user="admin",
               json={"decision": "return", "opinion": "x"}).status_code == 403


def test_list_filters_and_sight(api, cw):
    move(api, cw.lead_a.id, "signed")
    move(api, cw.lead_b.id, "started", user="b-1")
    mine = api("GET", "/claims").get_json()
    assert mine["total"] == 1 and mine["items"][0]["lead_id"] == cw.lead_a.id
    everything = api("GET", "/claims?status=pending", user="reviewer").get_json()
    assert everything["total"] == 3 and everything["per_page"] == 50
    assert api("GET", f"/claims?township_id={cw.b.id}&kind=started",
               user="viewer").get_json()["total"] == 1
    assert api("GET", "/claims?status=bogus").status_code == 422


def test_upload_errors(api, cw):
    assert api.upload(cw.lead_a.id, b"<svg/>", "x.png").status_code == 422
    assert api.upload(cw.lead_a.id, jpeg(), kind="bogus").status_code == 422
    assert api.upload(cw.lead_b.id, jpeg()).status_code == 404
    assert api.upload(cw.lead_a.id, jpeg(), user="viewer").status_code == 403
    assert api.upload(cw.lead_a.id, jpeg(), user="reviewer").status_code == 403
    reused = api.upload(cw.lead_b.id, jpeg(), user="b-1").get_json()
    again = api.upload(cw.lead_a.id, jpeg()).get_json()
    assert again["reused_on"] == [{"lead_id": cw.lead_b.id, "township_name": "税郭镇"}]
    assert reused["sha256"] == again["sha256"]


def test_pages(client, auth, api, cw):
    move(api, cw.lead_a.id, "signed")
    claim = db.session.scalar(sa.select(Claim).where(Claim.lead_id == cw.lead_a.id))
    auth.login("a-1")
    page = client.get(f"/leads/{cw.lead_a.id}").get_data(as_text=True)
    assert 'capture="environment"' in page and 'accept="image/*,application/pdf"' in page
    assert "待核验" in page
    import io

    up = client.post(f"/leads/{cw.lead_a.id}/attachments", data={
        "file": (io.BytesIO(PDF), "合同.pdf"), "kind": "contract", "claim_id": str(claim.id)},
        content_type="multipart/form-data")
    assert up.status_code == 302
    db.session.refresh(claim)
    assert len(claim.evidence) == 1
    auth.logout()
    auth.login("reviewer")
    queue = client.get("/claims/").get_data(as_text=True)
    assert cw.lead_a.name in queue
    shown = client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "<iframe" in shown and "通过" in shown
    preview = client.get(f"/claims/files/{claim.evidence[0].id}/view")
    assert "sandbox" in preview.headers["Content-Security-Policy"]
    assert client.post(f"/claims/{claim.id}/review",
                       data={"decision": "return", "opinion": "请补盖章页"}).status_code == 302
    auth.logout()
    auth.login("a-1")
    mywork = client.get("/my").get_data(as_text=True)
    assert "请补盖章页" in mywork


def test_queue_query_count_does_not_grow(client, auth, api, cw):
    from tests import factories

    auth.login("reviewer")

    def queue_queries():
        client.get("/claims/")
        with count_queries() as c:
            assert client.get("/claims/").status_code == 200
        return c["n"]

    for i in range(2):
        factories.lead(cw.off_a1, cw.a, name=f"q{i}", company=f"q{i}", stage="signed")
    db.session.commit()
    few = queue_queries()
    for i in range(12):
        lead = factories.lead(cw.off_b1, cw.b, name=f"m{i}", company=f"m{i}", stage="producing")
        from crm.claims import services

        services.add_evidence(cw.off_b1, lead.claims[0], services.upload_attachment(
            cw.off_b1, lead, jpeg((i, i, i)), "p.jpg", "contract"))
    db.session.commit()
    assert queue_queries() == few
