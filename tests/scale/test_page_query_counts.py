"""No page runs more SQL statements when the data grows: every page of tests/pages.py, for every
role that opens it, is counted on the pages' world and again after that world has grown by more
of everything each page lists (leads with visits, contacts, blockers, capital, permits, claims,
orders and 退回 requests; 撞单 disputes and their companies; a published bulletin; users, tokens,
screen links and robots). A page that loads a row per item (an N+1) fails here."""

import datetime as dt
from decimal import Decimal

import pytest

from crm.auth.services import issue_token
from crm.bulletin import issues as bulletin_issues
from crm.bulletin.models import ScreenLink
from crm.channels import services as channel_services
from crm.clock import today
from crm.extensions import db
from crm.leads import services as lead_services
from crm.moveback import services as moveback_services
from crm.permits import services as permit_services
from crm.supervision import services as supervision_services
from crm.visits import services as visit_services
from tests import factories
from tests.conftest import make_app
from tests.pages import PAGES, ROLES, build_world, pages_for
from tests.querycount import count_queries

# ~750 requests (every page, every role, twice, each after a warm-up): `make test`, not the
# fast tier's 90 s
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pages_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("querycounts")
    app = make_app(tmp, f"sqlite:///{tmp / 'pages.sqlite3'}",
                   CRM_STORAGE_URL=f"file://{tmp / 'files'}")
    with app.app_context():
        db.create_all()
        app.ids = build_world()
        db.session.commit()
        db.session.remove()
    return app


def grow(tag: str, n: int) -> None:
    """``n`` more leads in each of the world's units, with everything a page lists on them, and
    the same again on the world's own lead; one more of each district-wide thing."""
    from crm.auth.models import User
    from crm.leads.models import Lead
    from crm.townships.models import Township

    def user(name):
        return db.session.query(User).filter_by(username=name).one()

    admin, head_a, off_a1 = user("admin"), user("a-head"), user("a-1")
    units = {t.name: t for t in db.session.query(Township)}
    day = today()
    for i in range(n):
        for unit_name, head, officer in (("孟庄镇", head_a, off_a1),
                                         ("税郭镇", user("b-head"), user("b-1"))):
            unit = units[unit_name]
            lead = factories.lead(head, unit, name=f"{tag}项目{i}", company=f"{tag}{i}科技有限公司",
                                  primary_officer_id=officer.id,
                                  created_on=day - dt.timedelta(days=90),
                                  planned_sign_date=day - dt.timedelta(days=30))
            lead_services.move_stage(head, lead, "signed", on=day - dt.timedelta(days=5))
            visit_services.log_visit(officer, lead, {"kind": "visit", "summary": f"{tag}走访{i}",
                                                     "visited_on": day - dt.timedelta(days=1)})
            lead_services.add_contact(officer, lead, f"联系人{i}", "经理", "13800000001")
            lead_services.add_blocker(officer, lead, "land", f"{tag}问题{i}")
            lead_services.add_funds(officer, lead, day, Decimal("100"))
            permit_services.add_permit(officer, lead, {
                "kind": "land", "due_on": day - dt.timedelta(days=20), "responsible_unit": "自然资源局"})
            supervision_services.issue_order(admin, lead, "yellow", f"{tag}请说明进度{i}")
            moveback_services.request_move_back(officer, lead, "negotiation", f"{tag}投资方改期{i}")
        # the same investor chased by the other unit: a 撞单 dispute and its company
        factories.lead(user("b-head"), units["税郭镇"], name=f"{tag}重复{i}",
                       company=f"{tag}{i}科技有限公司", primary_officer_id=user("b-1").id)
        # more on the world's own lead (the lead page, its timeline, its company)
        lead_a = db.session.get(Lead, db.session.query(Lead.id).filter_by(
            name="宠物食品生产基地").scalar())
        visit_services.log_visit(off_a1, lead_a, {"kind": "call", "summary": f"{tag}电话{i}",
                                                  "visited_on": day})
        lead_services.add_contact(off_a1, lead_a, f"{tag}联系人{i}", "", "")
        lead_services.add_funds(off_a1, lead_a, day, Decimal("10"))
        permit_services.add_permit(off_a1, lead_a, {"kind": "planning", "due_on": day})
        supervision_services.issue_order(admin, lead_a, "yellow", f"{tag}再次督办{i}")
        factories.user(f"{tag}-officer-{i}", "officer", units["孟庄镇"])
        issue_token(off_a1, f"{tag}令牌{i}")
        link, _ = ScreenLink.issue(admin, f"{tag}大屏{i}")
        db.session.add(link)
        channel_services.add_channel(admin, name=f"{tag}群{i}", kind="dingtalk",
                                     township=units["孟庄镇"],
                                     url=f"http://127.0.0.1:9/robot/send?access_token={tag}{i}")
    bulletin_issues.publish(admin, day - dt.timedelta(days=2 + n))
    db.session.commit()


def counts(app) -> dict[tuple[str, str], int]:
    """Statements of each page for each role, after one warm-up request (in-process caches)."""
    result = {}
    with app.app_context():
        engine = db.engine
    for role, username in ROLES.items():
        client = app.test_client()
        if username:
            assert client.post("/login", data={"username": username,
                                               "password": factories.PASSWORD}).status_code == 302
        for page in pages_for(role):
            path = page.path.format(**app.ids)
            assert client.get(path, follow_redirects=True).status_code == page.status, f"{role} {path}"
            with count_queries(engine) as c:
                assert client.get(path, follow_redirects=True).status_code == page.status, f"{role} {path}"
            result[role, page.path] = c["n"]
    return result


def test_no_page_runs_more_statements_when_the_data_grows(pages_app):
    def grown_by(tag, n):  # in its own app context: the requests push theirs (own session and g)
        with pages_app.app_context():
            grow(tag, n)
            db.session.remove()

    grown_by("甲", 2)
    small = counts(pages_app)
    grown_by("乙", 12)
    large = counts(pages_app)
    grown = {key: (small[key], large[key]) for key in small if large[key] != small[key]}
    assert not grown, "statements (before, after growing) per (role, page): " + repr(grown)
    assert len(small) == sum(len(page.roles) for page in PAGES)
