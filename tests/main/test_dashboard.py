"""The home page's dashboards against a hand-built world, on SQLite and PostgreSQL.

Today is frozen at Monday 2026-06-15 (Asia/Shanghai); time progress 166/365 = 45.5%. Besides the
small world's three leads created today (A: 宠物食品生产基地 on 06-05, 智能机器人; B: 专用车制造, all
contact, 20 000 万元), made through the services:

| lead | unit | created          | 万元    | moves                                          |
|------|------|------------------|---------|------------------------------------------------|
| A1   | A    | 01-10 contact    | 150 000 | negotiation 02-01, signed 03-01, started 06-10 |
| A2   | A    | 02-01 contact    | 20 000  | signed 06-05 (negotiation implied)             |
| A3   | A    | 03-01 negotiation| 5 000   | none; sign planned 04-01: red; follow-up 06-01 passed |
| A4   | A    | 2025-11-01       | 30 000  | lost 06-03                                     |
| B1   | B    | 01-05 contact    | 100 000 | signed 04-01, producing 06-02 (the rest implied) |

Visits (A2, by a-2): 06-05 and 06-12. Targets 2026: A signed_100m 4, visits 10; B signed_100m 2.

Unit A: entered contact 5 (world's two, A1, A2, A3), negotiation 3, signed 2, started 1,
producing 0; in progress now 5 (2 contact, A3, A2, A1); signed investment 170 000; red 1 (A3);
overdue follow-ups 1 (A3). signed_100m 2/4 = 50% (blue), visits 2/10 = 20% (red): mean 35%.
Unit B: signed 1, started 1, producing 1; in progress 1; signed_100m 1/2 = 50%: mean 50%.
Ranking: B 1st, A 2nd. Last 30 days (05-17 … 06-15): visits 06-05, 06-12 (A); moves (not
implied, not a creation) 06-02 (B), 06-03, 06-05, 06-10 (A).
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine

from crm.auth.models import User
from crm.extensions import db
from crm.leads import services
from crm.stats.activity import month_activity
from crm.targets.models import Target
from crm.visits.services import log_visit
from tests import factories
from tests.querycount import count_queries

#: 12:00 in Shanghai on Monday 2026-06-15.
NOW = dt.datetime(2026, 6, 15, 4, 0, tzinfo=dt.UTC)


def d(month, day, year=2026):
    return dt.date(year, month, day)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def scenario(frozen, world):
    w = world

    def lead(unit, name, created, inv, officer, **kw):
        return factories.lead(w.admin, unit, name=name, company=f"{name}公司", created_on=created,
                              investment_wan=inv, primary_officer_id=officer.id, **kw)

    w.a1 = lead(w.a, "A1", d(1, 10), 150000, w.off_a1)
    services.move_stage(w.off_a1, w.a1, "negotiation", on=d(2, 1))
    services.move_stage(w.head_a, w.a1, "signed", on=d(3, 1))
    services.move_stage(w.head_a, w.a1, "started", on=d(6, 10))
    w.a2 = lead(w.a, "A2", d(2, 1), 20000, w.off_a2)
    services.move_stage(w.head_a, w.a2, "signed", on=d(6, 5))
    w.a3 = lead(w.a, "A3", d(3, 1), 5000, w.off_a1, stage="negotiation",
                planned_sign_date=d(4, 1))
    w.a3.next_follow_up = d(6, 1)  # set then, passed since
    w.a4 = lead(w.a, "A4", d(11, 1, 2025), 30000, w.off_a1)
    services.move_stage(w.head_a, w.a4, "lost", on=d(6, 3), lost_reason="terms_failed")
    w.b1 = lead(w.b, "B1", d(1, 5), 100000, w.off_b1)
    services.move_stage(w.head_b, w.b1, "signed", on=d(4, 1))
    services.move_stage(w.head_b, w.b1, "producing", on=d(6, 2))
    for on in (d(6, 5), d(6, 12)):
        log_visit(w.off_a2, w.a2, {"kind": "visit", "summary": "走访", "visited_on": on})
    for unit, metric, value in ((w.a, "signed_100m", 4), (w.a, "visits", 10),
                                (w.b, "signed_100m", 2)):
        db.session.add(Target(township_id=unit.id, year=2026, metric=metric, value=value))
    db.session.commit()
    return w


def home(client, auth, username) -> str:
    auth.login(username)
    response = client.get("/")
    auth.logout()
    assert response.status_code == 200
    return response.get_data(as_text=True)


def kpis(html: str) -> dict:
    """{key: figure} of the KPI cards."""
    return dict(re.findall(r'data-kpi="(\w+)">\s*<span class="kpi-label">[^<]*</span>'
                           r'<span class="kpi-num">([^<]*)</span>', html))


def rows(html: str, attr: str) -> dict:
    """{value of ``attr``: [cell texts]} of the table rows marked with it."""
    found = {}
    for key, body in re.findall(rf'<tr {attr}="(\w+)">(.*?)</tr>', html, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body, re.S)
        found[key] = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in cells]
    return found


def test_district_dashboard_figures(client, auth, scenario):
    for username in ("admin", "viewer"):
        html = home(client, auth, username)
        assert kpis(html) == {"active": "6", "signed": "3", "started": "2", "producing": "1",
                              "investment": "270,000", "overdue": "1", "red": "1"}
        funnel = rows(html, "data-stage")
        assert [funnel[s][1:] for s in ("contact", "negotiation", "signed", "started",
                                        "producing")] == [
            ["7", "3"], ["4", "1"], ["3", "1"], ["2", "1"], ["1", "1"]]
        targets = rows(html, "data-metric")
        assert targets["signed_100m"][:5] == ["新签约亿元以上项目", "2", "6", "3", "50.0%"]
        assert targets["visits"][:5] == ["走访次数", "1", "10", "2", "20.0%"]
        top = re.search(r'<ol class="dash-top-list">(.*?)</ol>', html, re.S).group(1)
        assert re.findall(r'<li value="(\d)"><a [^>]*>([^<]+)</a>', top) == [("1", "税郭镇"),
                                                                           ("2", "孟庄镇")]
        assert "共 2 个单位参与排名" in html
        assert "2026-05-17 至 2026-06-15：走访 2 次，阶段变动 4 次。" in html
        # every chart an image with a title, no link inside it
        charts = re.findall(r'<svg [^>]*role="img"[^>]*>(.*?)</svg>', html, re.S)
        assert len(charts) == 4
        assert all("<a " not in chart and "<title" in chart for chart in charts)


def test_head_dashboard_shows_only_the_unit(client, auth, scenario):
    html = home(client, auth, "a-head")
    assert kpis(html) == {"active": "5", "signed": "2", "started": "1", "producing": "0",
                          "investment": "170,000", "overdue": "1", "red": "1"}
    funnel = rows(html, "data-stage")
    assert {s: funnel[s][1:] for s in funnel} == {
        "contact": ["5", "2"], "negotiation": ["3", "1"], "signed": ["2", "1"],
        "started": ["1", "1"], "producing": ["0", "0"]}
    targets = rows(html, "data-metric")
    assert targets["signed_100m"][:4] == ["新签约亿元以上项目", "4", "2", "50.0%"]
    assert "蓝" in targets["signed_100m"][4]
    assert targets["visits"][:4] == ["走访次数", "10", "2", "20.0%"]
    assert "红" in targets["visits"][4]
    assert "第 2 名" in html and "共 2 个单位参与排名" in html
    assert "各项目标平均完成率 35.0%" in html
    assert "2026-05-17 至 2026-06-15：走访 2 次，阶段变动 3 次。" in html
    # nothing of the other unit: its name, its lead, its figures
    assert "税郭镇" not in html and ">B1<" not in html and "专用车制造" not in html
    # the cards open the lead list behind them
    assert re.search(r'href="/leads/\?township_id=\d+&amp;metric=entered_signed&amp;year=2026'
                     r'&amp;as_of=2026-06-15" data-kpi="signed"', html)

    html = home(client, auth, "b-head")
    assert kpis(html)["producing"] == "1" and "第 1 名" in html
    assert "孟庄镇" not in html and ">A1<" not in html


def test_officer_and_unranked_head(client, auth, scenario):
    html = home(client, auth, "a-1")
    assert "dash-kpis" not in html and "chart chart-" not in html  # an officer's home as before
    assert "逾期跟进" in html and "我的项目" in html
    db.session.query(Target).filter_by(township_id=scenario.a.id).delete()
    db.session.commit()
    html = home(client, auth, "a-head")
    assert "未参与排名" in html and "2026 年尚未设定目标。" in html


def test_month_activity_by_day(app, scenario):
    w = scenario
    admin = db.session.get(User, w.admin.id)
    month = month_activity(admin, None, d(6, 15))
    assert (month.first, len(month.days)) == (d(5, 17), 30)
    busy = {day.on: (day.visits, day.moves) for day in month.days if day.visits or day.moves}
    assert busy == {d(6, 2): (0, 1), d(6, 3): (0, 1), d(6, 5): (1, 1), d(6, 10): (0, 1),
                    d(6, 12): (1, 0)}
    head_b = db.session.get(User, w.head_b.id)
    assert month_activity(head_b, w.b.id, d(6, 15)).total("moves") == 1
    # a head asking for another unit gets nothing of it
    assert month_activity(head_b, w.a.id, d(6, 15)).total("moves") == 0


def grow(w, start, n):
    """n more leads in A and B, moved, visited, with capital."""
    for i in range(start, start + n):
        unit, officer = (w.a, w.off_a1) if i % 2 else (w.b, w.off_b1)
        lead = factories.lead(w.admin, unit, name=f"G{i}", company=f"G{i}公司",
                              created_on=d(2, 1), primary_officer_id=officer.id,
                              planned_sign_date=d(3, 1))
        services.move_stage(w.admin, lead, ["negotiation", "signed", "producing"][i % 3],
                            on=d(6, 1 + i % 10))
        log_visit(officer, lead, {"kind": "call", "summary": "x", "visited_on": d(6, 1 + i % 14)})
        services.add_funds(w.admin, lead, d(6, 1), Decimal(10))
    db.session.commit()


def test_home_query_count_does_not_grow_with_data(client, auth, scenario):
    w = scenario
    users = ("admin", "viewer", "a-head", "a-1")

    def measure():
        counts = []
        for username in users:
            auth.login(username)
            with count_queries() as c:
                assert client.get("/").status_code == 200
            counts.append(c["n"])
            auth.logout()
        return counts

    grow(w, 0, 4)
    small = measure()
    grow(w, 4, 30)
    assert measure() == small
