"""The installable app's files (manifest, icons, service worker, offline page) and the session
JSON way in of the offline visit queue (/leads/<id>/visits/sync)."""

import io
import uuid

import sqlalchemy as sa
from PIL import Image

from crm.clock import today
from crm.extensions import db
from crm.visits.models import Visit
from tests import factories


def test_manifest_is_served_with_its_type_and_icons(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    body = response.get_json(force=True)
    assert body["name"] == "招商 CRM" and body["display"] == "standalone"
    assert body["start_url"] == "/" and body["theme_color"].startswith("#")
    sizes = {}
    for icon in body["icons"]:
        got = client.get(icon["src"])
        assert got.status_code == 200 and got.mimetype == icon["type"], icon
        if icon["type"] == "image/png":
            sizes[icon["sizes"]] = Image.open(io.BytesIO(got.data)).size
    assert sizes == {"192x192": (192, 192), "512x512": (512, 512)}


def test_service_worker_is_served_at_the_root_uncached(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    text = response.get_data(as_text=True)
    assert text.startswith("const VERSION = ")
    assert '"/static/js/offline.js"' in text and '"/offline"' in text
    for url in ("/static/css/app.css", "/static/js/offline.js", "/offline"):
        assert client.get(url).status_code == 200, url


def test_offline_page_has_nobody_in_it(client, auth, world):
    auth.login("a-1")
    page = client.get("/offline").get_data(as_text=True)
    assert "当前没有网络" in page and "a-1" not in page and "data-user" not in page


def test_pages_link_the_manifest_and_say_whose_they_are(client, auth, world):
    assert client.get("/login").headers["X-CRM-User"] == "0"
    auth.login("a-1")
    response = client.get(f"/leads/{world.lead_a.id}")
    assert response.headers["X-CRM-User"] == str(world.off_a1.id)
    page = response.get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert f'data-user="{world.off_a1.id}"' in page and "js/offline.js" in page


def sync(client, lead_id, **body):
    body = {"visited_on": today().isoformat(), "kind": "call", "summary": "离线登记",
            "client_id": str(uuid.uuid4()), **body}
    return client.post(f"/leads/{lead_id}/visits/sync", json=body)


def count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count(Visit.id)))


def test_sync_logs_once_per_client_id(client, auth, world):
    auth.login("a-1")
    cid = str(uuid.uuid4())
    first = sync(client, world.lead_a.id, client_id=cid)
    assert first.status_code == 201 and first.get_json()["created"] is True
    again = sync(client, world.lead_a.id, client_id=cid)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert count() == 1


def test_sync_refusals_are_json(client, auth, world):
    assert sync(client, world.lead_a.id).status_code == 401  # signed out: JSON, no redirect
    auth.login("a-1")
    bad = sync(client, world.lead_a.id, summary="", visited_on="2999-01-01")
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["fields"]) >= {"summary", "visited_on"}
    assert sync(client, world.lead_a.id, client_id="nope").status_code == 422
    assert sync(client, world.lead_a.id, client_id="").status_code == 422
    assert sync(client, world.lead_b.id).get_json()["error"]["code"] == "not_found"
    assert sync(client, world.lead_a2.id).status_code == 403
    assert client.post(f"/leads/{world.lead_a.id}/visits/sync", data="x").status_code == 400
    odd = sync(client, world.lead_a.id, summary=5, kind=None, participants=["x"])
    assert odd.status_code == 422 and set(odd.get_json()["error"]["fields"]) == {"summary"}
    assert count() == 0


def test_sync_needs_the_csrf_header(world, app):
    """With CSRF on (as served): the session's token in X-CSRFToken, else 400."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"username": "a-1", "password": factories.PASSWORD,
                                "csrf_token": token})
    body = {"visited_on": today().isoformat(), "kind": "call", "summary": "带令牌",
            "client_id": str(uuid.uuid4())}
    url = f"/leads/{world.lead_a.id}/visits/sync"
    assert client.post(url, json=body).status_code == 400
    assert count() == 0
    page = client.get(f"/leads/{world.lead_a.id}").get_data(as_text=True)
    csrf = page.split('data-csrf="')[1].split('"')[0]
    assert client.post(url, json=body, headers={"X-CSRFToken": csrf}).status_code == 201
    assert count() == 1


def test_my_leads_lists_the_pages_of_the_users_own_leads(client, auth, world):
    assert client.get("/offline/my-leads").status_code == 302  # to the sign-in page
    auth.login("a-1")  # primary officer of lead_a only
    assert client.get("/offline/my-leads").get_json() == {"paths": [f"/leads/{world.lead_a.id}"]}
    auth.logout()
    auth.login("a-head")  # sees the unit's leads, works on none of them
    assert client.get("/offline/my-leads").get_json() == {"paths": []}


def test_an_outage_page_says_nobodys(client, auth, world, app):
    """A 5xx carries no X-CRM-User: the worker keeps the user's pages through an outage."""
    @app.route("/boom-for-test")
    def boom():
        raise RuntimeError("boom")

    auth.login("a-1")
    assert client.get("/offline").headers["X-CRM-User"] == str(world.off_a1.id)
    response = client.get("/boom-for-test")
    assert response.status_code == 500 and "X-CRM-User" not in response.headers
