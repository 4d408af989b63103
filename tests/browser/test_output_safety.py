"""In Chromium, user text with script payloads fires nothing (tests/security/test_output_safety.py)."""

import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from crm.leads.models import Lead
from tests.browser.conftest import sign_in
from tests.security.test_output_safety import poison


def test_no_dialog_in_chromium(live, desktop):
    with live.app.app_context():
        world = type("World", (), {})()
        world.lead_a = db.session.get(Lead, live.ids["lead_a"])
        users = {u.username: u for u in db.session.scalars(sa.select(User))}
        world.head_a, world.off_a1 = users["a-head"], users["a-1"]
        poison(world)
        db.session.remove()
    dialogs = []
    desktop.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(desktop, live, "a-head")
    for path in (f"/leads/{live.ids['lead_a']}", "/board", "/my", "/leads/"):
        desktop.goto(f"{live.url}{path}")
        desktop.wait_for_load_state("networkidle")
        assert desktop.locator("img[src=x]").count() == 0, path
    assert dialogs == []
