"""In real Chromium: a 开工 claimed on a phone, returned, completed, verified; the unit page's
figure follows (statistics on the verified basis, CRM_VERIFICATION on)."""

import io
import threading

import pytest
import sqlalchemy as sa
from PIL import Image
from werkzeug.serving import make_server

from crm.claims.models import Claim
from crm.clock import today
from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead
from tests import factories
from tests.browser.conftest import sign_in
from tests.conftest import make_app

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def jpeg() -> bytes:
    image = Image.new("RGB", (64, 48), (90, 120, 60))
    exif = Image.Exif()
    exif[0x0132] = today().strftime("%Y:%m:%d 09:30:00")
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def verified_live(tmp_path):
    """The live app with verification on: in unit A one start already verified today, and
    lead A (officer a-1's) signed, its signing verified."""
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'live.sqlite3'}",
                   CRM_VERIFICATION="on", CRM_STORAGE_URL=f"file://{tmp_path / 'files'}")
    with app.app_context():
        db.create_all()
        world = factories.build_world()
        factories.user("reviewer", "reviewer")
        day = today()
        done = factories.lead(world.admin, world.a, name="已开工项目", company="甲公司")
        services.move_stage(world.admin, done, "started", on=day)
        services.move_stage(world.admin, world.lead_a, "signed", on=day)
        for claim in [*done.claims, *world.lead_a.claims]:
            claim.status, claim.verified_on = "verified", day
        db.session.commit()
        ids = {"lead_a": world.lead_a.id, "unit": world.a.id}
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.app, server.ids = app, ids
    yield server
    server.shutdown()
    thread.join(timeout=5)


def started_figure(page, live) -> str:
    page.goto(f"{live.url}/stats/unit/{live.ids['unit']}")
    return " ".join(page.locator("td[data-entered=started]").inner_text().split())


def started_claim(live) -> Claim:
    with live.app.app_context():
        return db.session.scalar(sa.select(Claim).where(
            Claim.lead_id == live.ids["lead_a"], Claim.kind == "started"))


def test_a_start_claimed_on_a_phone_returned_completed_and_verified(browser, verified_live):
    live = verified_live
    phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                is_mobile=True, locale="zh-CN")
    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    head_context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    try:
        officer, reviewer, head = phone.new_page(), desk.new_page(), head_context.new_page()
        for page in (officer, reviewer, head):
            page.set_default_timeout(15000)
        lead_url = f"{live.url}/leads/{live.ids['lead_a']}"

        # The officer, on the phone: 签约 → 开工, then a site photo for the 开工 claim.
        sign_in(officer, live, "a-1")
        officer.goto(f"{lead_url}/move")
        officer.select_option("select[name=to]", "started")
        officer.click("main form button[type=submit]")
        officer.wait_for_selector("text=阶段已变更")
        claim = started_claim(live)
        assert claim.status == "pending"
        officer.goto(f"{lead_url}#claims")
        officer.set_input_files("#evidence-file", files=[
            {"name": "工地.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}])
        officer.select_option("#evidence-kind", "site_photo")
        officer.select_option("#evidence-claim", str(claim.id))
        officer.locator("#claims form button[type=submit]").click()
        officer.wait_for_selector("text=材料已上传")

        sign_in(head, live, "a-head")
        assert started_figure(head, live) == "1 (+1 待核验)"

        # The reviewer returns it with an opinion.
        sign_in(reviewer, live, "reviewer")
        reviewer.goto(f"{live.url}/claims/")
        reviewer.locator(f"a[href$='/claims/{claim.id}']").first.click()
        reviewer.fill("#review-opinion", "照片看不出开工迹象，请补充施工许可证。")
        reviewer.click("button[name=decision][value=return]")
        reviewer.wait_for_selector("text=已退回")
        assert started_claim(live).status == "returned"

        # The officer reads the opinion on the lead page, adds a permit and resubmits.
        officer.goto(lead_url)
        assert "请补充施工许可证" in officer.locator("#claims").inner_text()
        officer.goto(f"{live.url}/claims/{claim.id}")
        officer.set_input_files("#resubmit-file", files=[
            {"name": "施工许可证.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        officer.select_option("#resubmit-kind", "permit")
        officer.click("text=重新提交核验")
        officer.wait_for_selector("text=已重新提交核验")
        assert started_claim(live).status == "pending"
        assert started_figure(head, live) == "1 (+1 待核验)"

        # The reviewer verifies; the unit page counts it.
        reviewer.goto(f"{live.url}/claims/{claim.id}")
        reviewer.click("button[name=decision][value=verify]")
        reviewer.wait_for_selector("text=已通过核验")
        verified = started_claim(live)
        assert (verified.status, verified.verified_on) == ("verified", today())
        assert started_figure(head, live) == "2"
        with live.app.app_context():
            assert db.session.get(Lead, live.ids["lead_a"]).stage == "started"
    finally:
        for context in (phone, desk, head_context):
            context.close()
