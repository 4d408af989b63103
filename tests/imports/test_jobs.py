"""A confirmed import runs as a background job; its page and JSON show the progress."""

import time

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.extensions import db
from crm.imports import jobs
from crm.leads.models import Lead
from tests.imports.test_import import build_xlsx, lead_count, make_rows, post_file


@pytest.fixture
def app_config():
    return {"CRM_IMPORT_BACKGROUND": True}


def wait_for(client, job_url, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(job_url + "/progress.json").get_json()
        if state["state"] != "running":
            return state
        time.sleep(0.2)
    raise AssertionError("the import job did not finish")


def test_confirm_starts_a_job_that_imports_in_the_background(app, client, auth, world,
                                                             tmp_path):
    path = build_xlsx(tmp_path / "后台.xlsx", make_rows(32))
    auth.login("admin")
    before = lead_count()
    page = post_file(client, path).get_data(as_text=True)
    token = page.split('name="token" value="')[1].split('"')[0]
    response = client.post("/imports/leads/confirm", data={"token": token})
    assert response.status_code == 302
    job_url = response.headers["Location"]
    assert "/imports/jobs/" in job_url
    state = wait_for(client, job_url)
    assert state == {"state": "done", "total": 32, "done": 32, "created": 32, "message": ""}
    assert lead_count() == before + 32
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "lead.import", AuditEntry.remote_addr == "127.0.0.1")) == 32
    page = client.get(job_url).get_data(as_text=True)
    assert "已从“后台.xlsx”导入 32 个项目" in page
    assert 'http-equiv="refresh"' not in page  # done: no more refreshing
    # the token is spent: the upload is gone
    assert client.post("/imports/leads/confirm", data={"token": token}).status_code == 302
    assert lead_count() == before + 32
    # another importer does not see the job
    auth.logout()
    auth.login("a-1")
    assert client.get(job_url).status_code == 404
    assert client.get(job_url + "/progress.json").status_code == 404


def test_a_running_job_page_refreshes_and_shows_a_bar(app, client, auth, world):
    auth.login("a-1")
    with app.test_request_context():
        job_id = f"{world.off_a1.id}-running"
        jobs._write(jobs.folder() / f"{job_id}.json", {
            "id": job_id, "user_id": world.off_a1.id, "filename": "台账.xlsx",
            "state": "running", "total": 5000, "done": 2000, "created": 0, "message": ""})
    page = client.get(f"/imports/jobs/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'max="5000" value="2000"' in page and "<progress" in page
    assert "2000 / 5000" in page
    assert client.get(f"/imports/jobs/{job_id}/progress.json").get_json()["done"] == 2000
    assert client.get("/imports/jobs/nope/progress.json").status_code == 404
    assert client.get("/imports/jobs/..%2Fx").status_code == 404


def test_a_job_that_fails_imports_nothing(app, client, auth, world, tmp_path):
    """A job the writing refuses (here: no rows) ends failed with the reason; nothing lands
    and the upload is kept."""
    path = build_xlsx(tmp_path / "失败.xlsx", make_rows(4))
    auth.login("admin")
    before = lead_count()
    with app.test_request_context():
        job_id = jobs.start(world.admin.id, [], "失败.xlsx", tmp_path / "gone.xlsx", "",
                            background=False)
    state = client.get(f"/imports/jobs/{job_id}/progress.json").get_json()
    assert state["state"] == "failed" and "没有可导入的数据行" in state["message"]
    assert lead_count() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == before
    assert path.exists()


def test_a_second_confirmation_of_a_running_upload_starts_nothing(app, client, auth, world,
                                                                  tmp_path):
    """A double click: the upload's job is running already; the second post goes to it."""
    path = build_xlsx(tmp_path / "双击.xlsx", make_rows(4))
    auth.login("admin")
    before = lead_count()
    page = post_file(client, path).get_data(as_text=True)
    token = page.split('name="token" value="')[1].split('"')[0]
    with app.test_request_context():
        from crm.imports import uploads

        stored = uploads.pending(world.admin.id)[-1]
        job_id = jobs.job_id_for(stored)
        jobs._write(jobs.folder() / f"{job_id}.json", {
            "id": job_id, "user_id": world.admin.id, "filename": "双击.xlsx",
            "state": "running", "total": 4, "done": 0, "created": 0, "message": ""})
    response = client.post("/imports/leads/confirm", data={"token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/imports/jobs/{job_id}")
    assert lead_count() == before
