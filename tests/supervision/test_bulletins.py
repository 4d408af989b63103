"""Published bulletins: numbering, 409 for a published date, frozen content, rank change, the
Word and Excel files; the monthly report."""

import datetime as dt
import io
import re
from decimal import Decimal

from docx import Document
from openpyxl import load_workbook

from crm.clock import today
from crm.extensions import db
from crm.leads.models import Lead
from crm.targets import services as target_services
from tests import factories
from tests.supervision.conftest import red_lead


def _targets(w, a, b):
    year = today().year
    target_services.set_targets(w.admin, w.a.id, year, {"new_leads": Decimal(a)})
    target_services.set_targets(w.admin, w.b.id, year, {"new_leads": Decimal(b)})
    db.session.commit()


def test_publish_freeze_and_rank_change(api, sw, client, auth):
    _targets(sw, 10, 1)
    red = red_lead(sw, name="济创PFC气凝硅")
    other = red_lead(sw, name="中建材石英玻璃", overdue_days=40)
    yesterday = today() - dt.timedelta(days=1)
    r = api("POST", "/bulletins", json={"as_of": yesterday.isoformat()})
    assert r.status_code == 201, r.json
    first = r.json
    assert (first["year"], first["number"], first["as_of"]) == (yesterday.year, 1, yesterday.isoformat())
    assert set(first) >= {"id", "year", "number", "as_of", "published_at"}
    assert api("POST", "/bulletins", json={"as_of": yesterday.isoformat()}).status_code == 409
    assert api("POST", "/bulletins", user="a-head", json={"as_of": yesterday.isoformat()}).status_code == 403
    assert api("POST", "/bulletins", json={"as_of": "2999-01-01"}).status_code == 422
    one = api("GET", f"/bulletins/{first['id']}").json
    units = {u["name"]: u for u in one["townships"]}
    assert (units["孟庄镇"]["rank"], units["税郭镇"]["rank"]) == (1, 2)
    assert {u["rank_change"] for u in one["townships"]} == {"新"}
    assert {i["name"] for i in one["red"]} == {"济创PFC气凝硅", "中建材石英玻璃"}
    assert all(i["reasons"] for i in one["red"])
    # an order is issued, then the second issue: 税郭镇 climbs
    assert api("POST", f"/leads/{red.id}/supervision",
               json={"level": "red", "reason": "签约逾期"}).status_code == 201
    r = api("POST", "/bulletins", json={"as_of": today().isoformat()})
    assert r.status_code == 201 and r.json["number"] == 2
    two = api("GET", f"/bulletins/{r.json['id']}").json
    units = {u["name"]: u for u in two["townships"]}
    assert (units["税郭镇"]["rank"], units["税郭镇"]["rank_change"]) == (1, "↑1")
    assert (units["孟庄镇"]["rank"], units["孟庄镇"]["rank_change"]) == (2, "↓1")
    assert [o["lead_name"] for o in two["orders"]] == ["济创PFC气凝硅"]
    assert [i["id"] for i in api("GET", "/bulletins").json] == [two["id"], first["id"]]
    assert api("GET", "/bulletins", user="a-head").status_code == 403
    assert api("GET", f"/bulletins/{two['id']}", user="b-1").status_code == 403
    assert api("GET", "/bulletins/99999").status_code == 404
    before = api("GET", f"/bulletins/{two['id']}").json
    # edits, a move to another unit and a deletion change nothing published
    lead = db.session.get(Lead, red.id)
    lead.name, lead.planned_sign_date = "改名后的项目", today()
    lead.township_id = sw.b.id
    db.session.delete(db.session.get(Lead, other.id))
    target_services.set_targets(sw.admin, sw.a.id, today().year, {"new_leads": Decimal(1)})
    db.session.commit()
    assert api("GET", f"/bulletins/{two['id']}").json == before
    # the files show the frozen issue
    auth.login("admin")
    page = client.get(f"/bulletins/{two['id']}").get_data(as_text=True)
    assert "济创PFC气凝硅" in page and "改名后的项目" not in page and "↑1" in page
    r = client.get(f"/bulletins/{two['id']}.docx")
    assert r.status_code == 200
    document = Document(io.BytesIO(r.data))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "市中区招商引资项目红黄蓝通报" in text and f"{today().year}年第2期" in text
    ranking, red_table, yellow_table, orders = document.tables
    assert [c.text for c in ranking.rows[0].cells][:4] == ["排名", "升降", "单位", "平均完成率"]
    assert [row.cells[2].text for row in ranking.rows[1:]] == ["税郭镇", "孟庄镇"]
    assert [row.cells[1].text for row in ranking.rows[1:]] == ["↑1", "↓1"]
    assert {row.cells[1].text for row in red_table.rows[1:]} == {"济创PFC气凝硅", "中建材石英玻璃"}
    assert 'w:fill="FFC7CE"' in red_table.rows[1].cells[0]._tc.xml
    assert orders.rows[1].cells[3].text == "济创PFC气凝硅"
    assert abs(document.sections[0].page_height.mm - 210) < 1  # A4, landscape
    r = client.get(f"/bulletins/{two['id']}.xlsx")
    workbook = load_workbook(io.BytesIO(r.data))
    assert workbook.sheetnames == ["单位排名", "红色项目", "黄色项目", "督办单"]
    assert workbook["单位排名"]["C3"].value == "税郭镇"


def test_publish_page_and_command(client, auth, sw, runner):
    from crm.supervision.cli import bulletins

    auth.login("admin")
    day = (today() - dt.timedelta(days=3)).isoformat()
    r = client.post("/bulletins/", data={"as_of": day})
    assert r.status_code == 302
    assert client.post("/bulletins/", data={"as_of": day}).status_code == 422
    result = runner.invoke(bulletins, ["publish", "--as-of", today().isoformat()])
    assert result.exit_code == 0, result.output
    assert f"{today().year}年第2期" in result.output
    result = runner.invoke(bulletins, ["publish", "--as-of", today().isoformat()])
    assert result.exit_code != 0


def test_monthly_report(client, auth, sw):
    factories.lead(sw.off_a1, sw.a, name="签约待开工项目", company="甲公司", stage="signed",
                   created_on=today() - dt.timedelta(days=40))
    db.session.commit()
    auth.login("admin")
    month = today().strftime("%Y-%m")
    page = client.get(f"/reports/monthly?month={month}").get_data(as_text=True)
    assert "签约待开工项目" in page
    response = client.get("/reports/monthly?month=2026-13")  # this month, with a warning
    assert response.status_code == 200 and "月份“2026-13”无效" in response.get_data(as_text=True)
    assert client.get("/reports/monthly.docx?month=2026-13").status_code == 400
    r = client.get(f"/reports/monthly.docx?month={month}")
    document = Document(io.BytesIO(r.data))
    assert len(document.tables) == 4
    assert document.tables[1].rows[1].cells[1].text == "签约待开工项目"
    assert document.tables[0].rows[-1].cells[0].text == "全区合计"
    r = client.get(f"/reports/monthly.xlsx?month={month}")
    assert r.status_code == 200 and load_workbook(io.BytesIO(r.data))
    auth.logout()
    auth.login("b-head")
    assert "签约待开工项目" not in client.get(f"/reports/monthly?month={month}").get_data(as_text=True)
    auth.logout()
    auth.login("a-1")
    assert client.get("/reports/monthly").status_code == 403


def test_the_big_screen_shows_the_latest_issue(api, sw, client, auth):
    _targets(sw, 10, 1)
    yesterday = (today() - dt.timedelta(days=1)).isoformat()
    assert api("POST", "/bulletins", json={"as_of": yesterday}).status_code == 201
    factories.lead(sw.off_b1, sw.b, name="新项目", company="新公司")
    db.session.commit()
    assert api("POST", "/bulletins", json={"as_of": today().isoformat()}).status_code == 201
    auth.login("viewer")
    page = client.get("/screen").get_data(as_text=True)
    assert f"{today().year}年第2期" in page and "↑1" in page and "↓1" in page


def test_an_issue_freezes_rate_targets_with_and_without_key_projects(api, sw):
    """A unit with key projects has a rate (a fraction, kept to 4 places); one without has none
    (null): publishing never fails on either."""
    year = today().year
    target_services.set_targets(sw.admin, sw.a.id, year, {"start_rate": Decimal("0.9")})
    target_services.set_targets(sw.admin, sw.b.id, year, {"start_rate": Decimal("0.9")})
    key = db.session.get(Lead, sw.lead_a.id)
    key.key_level, key.planned_start_date = "city", today() - dt.timedelta(days=1)
    db.session.commit()
    r = api("POST", "/bulletins", json={"as_of": today().isoformat()})
    assert r.status_code == 201, r.json
    units = {u["name"]: u for u in api("GET", f"/bulletins/{r.json['id']}").json["townships"]}
    rates = {name: [t for t in u["targets"] if t["metric"] == "start_rate"][0]["actual"]
             for name, u in units.items()}
    assert rates[sw.b.name] is None
    assert rates[sw.a.name] == "0"  # its key project has not started


def test_documents_download_with_a_real_ascii_name(client, auth, sw):
    """curl -OJ and old gateways save a real name; browsers get the Chinese one."""
    from crm.bulletin import issues
    from crm.supervision.services import issue_order

    issue = issues.publish(sw.admin, today())
    order = issue_order(sw.admin, red_lead(sw, name="鲁南超算中心"), "yellow", "开工滞后")
    db.session.commit()
    auth.login("admin")
    month = today().strftime("%Y-%m")
    wanted = {
        f"/bulletins/{issue.id}.docx": f'filename="bulletin-{issue.year}-{issue.number}.docx"',
        f"/bulletins/{issue.id}.xlsx": f'filename="bulletin-{issue.year}-{issue.number}.xlsx"',
        f"/supervision/{order.id}.docx":
            f'filename="supervision-order-{order.year}-{order.number}.docx"',
        f"/reports/monthly.docx?month={month}": f'filename="monthly-report-{month}.docx"',
        f"/reports/monthly.xlsx?month={month}": f'filename="monthly-report-{month}.xlsx"',
    }
    for path, name in wanted.items():
        response = client.get(path)
        assert response.status_code == 200, path
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment; " + name) and "filename*=UTF-8''" in disposition


def test_the_issue_page_lists_each_list_a_page_at_a_time(api, sw, client, auth, monkeypatch):
    """A province's issue lists tens of thousands of projects: each list has its own pages."""
    from crm.bulletin import issue_views

    monkeypatch.setattr(issue_views, "PER_PAGE", 2)
    for n in range(5):
        red_lead(sw, name=f"逾期项目{n}", overdue_days=40 + n)
    issue = api("POST", "/bulletins", json={"as_of": today().isoformat()}).json
    reds = [i["name"] for i in api("GET", f"/bulletins/{issue['id']}").json["red"]]
    assert len(reds) == 5
    auth.login("admin")
    shown = []
    for page in (1, 2, 3):
        html = client.get(f"/bulletins/{issue['id']}?red_page={page}").get_data(as_text=True)
        red_part = html[html.index('id="red"'):html.index('id="yellow"')]
        shown.append([name for name in reds if name in red_part])
        assert "红色项目（5 个）" in red_part and f"第 {page} / 3 页" in red_part
    assert shown == [reds[0:2], reds[2:4], reds[4:5]]
    # past the last page: the last; the other lists keep their own page
    html = client.get(f"/bulletins/{issue['id']}?red_page=99&townships_page=x").get_data(
        as_text=True)
    assert reds[4] in html and reds[0] not in html
    assert re.search(rf'href="/bulletins/{issue["id"]}\?[^"]*red_page=2[^"]*#red"', html)
