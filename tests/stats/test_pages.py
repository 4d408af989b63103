"""The statistics pages: who sees them, breakdowns against hand-computed numbers, the SVG charts,
and a query count that does not grow with the data.

Unit A (孟庄镇), year 2025, as of 2025-06-30, leads made through the services:

| lead | created       | industry / source   | 万元    | primary | moves (by; credited to the primary)   |
|------|---------------|---------------------|---------|---------|---------------------------------------|
| P1   | 01-10 contact | 健康食品 / referral | 20 000  | a-1     | neg 02-01 (a-1), signed 03-01 (head)  |
| P2   | 02-01 contact | 健康食品 / fair     | 150 000 | a-2     | started 04-01 (head; neg, signed implied) |
| P3   | 01-05 neg     | 精密制造 / referral | 5 000   | a-1     | lost 03-10 (head)                     |
| P4   | 2024-11-01    | 精密制造 / capital  | 10 000  | a-1     | signed 2025-01-15 (a-1; neg implied)  |
| P5   | 01-02 contact | — / other           | 0       | —       | none; never visited: yellow on 06-30  |

Visits: a-1 on P1 02-01 and 06-30, a-2 on P2 05-01, a-1 on P4 2024-12-01 (another year).
"""

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from crm.extensions import db
from crm.leads import services
from crm.stats.breakdowns import (
    OfficerRow,
    breakdowns,
    weekly_moves,
)
from crm.targets.models import Target
from crm.visits.services import log_visit
from tests import factories
from tests.querycount import count_queries

AS_OF = "2025-06-30"
SCRIPT = "<script>alert(1)</script>"


def d(month, day, year=2025):
    return dt.date(year, month, day)


@pytest.fixture
def scenario(world):
    w = world

    def lead(name, created, inv, officer, stage="contact", **kw):
        return factories.lead(w.admin, w.a, name=name, company=f"{name}公司", created_on=created,
                              investment_wan=inv, stage=stage, primary_officer_id=officer, **kw)

    w.p1 = lead("P1", d(1, 10), 20000, w.off_a1.id, industry="健康食品", source="referral")
    services.move_stage(w.off_a1, w.p1, "negotiation", on=d(2, 1))
    services.move_stage(w.head_a, w.p1, "signed", on=d(3, 1))
    w.p2 = lead("P2", d(2, 1), 150000, w.off_a2.id, industry="健康食品", source="fair")
    services.move_stage(w.head_a, w.p2, "started", on=d(4, 1))
    w.p3 = lead("P3", d(1, 5), 5000, w.off_a1.id, stage="negotiation", industry="精密制造",
                source="referral")
    services.move_stage(w.head_a, w.p3, "lost", on=d(3, 10), lost_reason="terms_failed")
    w.p4 = lead("P4", d(11, 1, 2024), 10000, w.off_a1.id, industry="精密制造", source="capital")
    services.move_stage(w.off_a1, w.p4, "signed", on=d(1, 15))
    w.p5 = lead(SCRIPT, d(1, 2), 0, None, source="other")
    for officer, lead_, on in ((w.off_a1, w.p1, d(2, 1)), (w.off_a1, w.p1, d(6, 30)),
                               (w.off_a2, w.p2, d(5, 1)), (w.off_a1, w.p4, d(12, 1, 2024))):
        log_visit(officer, lead_, {"kind": "visit", "summary": "走访", "visited_on": on})
    db.session.add(Target(township_id=w.a.id, year=2025, metric="signed_100m", value=7))
    db.session.add(Target(township_id=w.b.id, year=2025, metric="new_leads", value=4))
    db.session.commit()
    return w


def links(html: str) -> list[tuple[dict, str]]:
    """(query arguments, text) of every plain link on a page."""
    found = []
    for href, text in re.findall(r'<a href="([^"]+)">([^<]*)</a>', html):
        args = {k: v[0] for k, v in parse_qs(urlsplit(href.replace("&amp;", "&")).query).items()}
        found.append((args, text.strip()))
    return found


def test_who_sees_which_page(client, auth, world):
    a, b = world.a.id, world.b.id
    auth.login("a-head")
    assert client.get(f"/stats/unit/{a}").status_code == 200
    assert client.get(f"/stats/unit/{b}").status_code == 404
    r = client.get("/stats/?year=2025&as_of=2025-06-30")
    assert r.status_code == 302
    assert r.headers["Location"].startswith(f"/stats/unit/{a}?")
    assert "as_of=2025-06-30" in r.headers["Location"]
    auth.logout()
    auth.login("viewer")
    page = client.get("/stats/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "孟庄镇" in text and "税郭镇" in text and "时序进度" in text
    assert client.get(f"/stats/unit/{b}").status_code == 200
    assert client.get("/stats/unit/9999").status_code == 404
    auth.logout()
    auth.login("a-1")
    assert client.get("/stats/").status_code == 403
    assert client.get(f"/stats/unit/{a}").status_code == 404
    auth.logout()
    assert client.get("/stats/").status_code == 302  # to the sign-in page


def test_breakdowns_against_hand_computed_numbers(scenario):
    w = scenario
    parts = breakdowns(w.head_a, w.a.id, 2025, d(6, 30))
    # by 产业链 (in the list's order), each with its industries; leads without one last
    assert parts.by_industry == [
        factories.chain_row("高端装备", 1, 1, Decimal(10000),
                 [factories.industry_row("高端装备", "精密制造", 1, 1, Decimal(10000))]),
        factories.chain_row("健康食品", 2, 2, Decimal(170000),
                 [factories.industry_row("健康食品", "健康食品", 2, 2, Decimal(170000))]),
        factories.chain_row("", 1, 0, Decimal(0), [factories.industry_row("", "", 1, 0, Decimal(0))]),
    ]
    assert parts.by_source == [
        factories.group_row("referral", 2, 1, Decimal(20000)),
        factories.group_row("fair", 1, 1, Decimal(150000)),
        factories.group_row("other", 1, 0, Decimal(0)),
        factories.group_row("capital", 0, 1, Decimal(10000)),
    ]
    officers = {r.user_id: r for r in parts.by_officer}
    # Moves are credited to the lead's primary officer at the time, whoever clicked: a-1 gets
    # P1's two, P3's negotiation (the admin created it there) and its loss, P4's signing; a-2
    # gets P2's start. The head, who clicked three of them, and the admin get none.
    assert officers[w.off_a1.id] == OfficerRow(w.off_a1.id, "a-1", True, leads=3, visits=2, moves=5)
    assert officers[w.off_a2.id] == OfficerRow(w.off_a2.id, "a-2", True, leads=1, visits=1, moves=1)
    assert officers[w.head_a.id] == OfficerRow(w.head_a.id, "a-head", True, leads=0, visits=0, moves=0)
    assert officers[None].leads == 1 and parts.by_officer[-1].user_id is None
    assert w.admin.id not in officers
    # The head of B sees none of A's numbers, even when asking for A.
    other = breakdowns(w.head_b, w.a.id, 2025, d(6, 30))
    assert other.by_industry == [] and other.by_source == []
    assert {r.user_id for r in other.by_officer} == set()


def test_weekly_moves_are_bucketed_by_iso_week(scenario):
    w = scenario
    weeks = weekly_moves(w.admin, w.a.id, 2025, d(4, 6))  # a Sunday
    assert [wk.monday for wk in weeks][::11] == [d(1, 13), d(3, 31)]
    nonzero = {i: {s: n for s, n in wk.counts.items() if n} for i, wk in enumerate(weeks)
               if wk.total}
    assert nonzero == {0: {"signed": 1}, 2: {"contact": 1, "negotiation": 1}, 6: {"signed": 1},
                       8: {"lost": 1}, 11: {"started": 1}}
    assert sum(wk.total for wk in weekly_moves(w.head_b, w.a.id, 2025, d(4, 6))) == 0


def test_unit_page_numbers_link_to_the_leads_behind_them(client, auth, scenario):
    w = scenario
    auth.login("a-head")
    html = client.get(f"/stats/unit/{w.a.id}?year=2025&as_of={AS_OF}").get_data(as_text=True)
    found = links(html)

    def text_of(**args):
        hits = [t for a, t in found if all(a.get(k) == str(v) for k, v in args.items())]
        assert hits, args
        return hits[0]

    base = {"township_id": w.a.id, "year": 2025, "as_of": AS_OF}
    assert text_of(**base, metric="new_leads", industry="健康食品") == "2"
    assert text_of(**base, metric="signed_investment_wan", industry="健康食品") == "17.00"
    assert text_of(**base, metric="entered_signed", source="capital") == "1"
    assert text_of(**base, metric="signed_100m") == "3"
    assert text_of(township_id=w.a.id, officer_id=w.off_a1.id) == "3"
    assert text_of(**base, metric="snapshot_lost") == "1"
    # the drill-down really lists those leads
    listed = client.get(f"/leads/?township_id={w.a.id}&industry=健康食品&metric=new_leads"
                        f"&year=2025&as_of={AS_OF}").get_data(as_text=True)
    assert ">P1<" in listed and ">P2<" in listed and ">P3<" not in listed
    # targets, rates, time progress, red/yellow projects with their reasons
    assert "时序进度 49.6%" in html and "42.9%" in html
    assert "录入后 179 天未走访" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html


def test_charts_are_svg_with_escaped_names(client, auth, scenario):
    w = scenario
    evil = factories.township("<script>x</script>镇")
    db.session.add(Target(township_id=evil.id, year=2025, metric="new_leads", value=1))
    db.session.commit()
    auth.login("admin")
    html = client.get(f"/stats/?year=2025&as_of={AS_OF}").get_data(as_text=True)
    svg = re.search(r"<svg xmlns.*?</svg>", html, re.S).group(0)  # a chart, not an icon
    assert 'viewBox="0 0 400' in svg and "<title" in svg and "style=" not in svg
    assert "&lt;script&gt;x&lt;/script&gt;镇" in svg
    assert "<script>x" not in html
    unit = client.get(f"/stats/unit/{w.a.id}?year=2025&as_of={AS_OF}").get_data(as_text=True)
    # funnel, targets and weekly moves, each twice (a phone's and a wide screen's; one shows)
    assert unit.count("<svg xmlns") == 6 and unit.count("chart-wide") == 3 and "style=" not in unit
    assert 'fill="#d97706"' in unit  # signed_100m: 3 of 7 at 49.6% is yellow


def test_chart_text_is_escaped_even_from_lazy_strings(app):
    from fractions import Fraction

    from flask_babel import lazy_gettext

    from crm.stats.charts import Bar, attainment_chart, funnel_chart, percent

    label = lazy_gettext("<b>名</b>")
    svg = str(funnel_chart("f", "漏斗 & <i>", [Bar(label, 3, "#000", "3", '/x?a=1&b="2"')]))
    assert "<b>" not in svg and "&lt;b&gt;名&lt;/b&gt;" in svg
    assert "漏斗 &amp; &lt;i&gt;" in svg and 'href="/x?a=1&amp;b=&#34;2&#34;"' in svg
    svg = str(attainment_chart("t", "t", [Bar("x", 0.5, "#dc2626", "50%")], Fraction(1, 2)))
    assert "时序进度 50.0%" in svg and 'role="img"' in svg and 'aria-labelledby="t-title"' in svg
    assert (percent(None), percent(Fraction(181, 365))) == ("—", "49.6%")


def test_bad_query_arguments_fall_back_with_a_message(client, auth, world):
    auth.login("viewer")
    text = client.get("/stats/?as_of=2025-02-30&year=abc").get_data(as_text=True)
    assert "截至日期“2025-02-30”无效" in text and "年份“abc”无效" in text
    text = client.get(f"/stats/unit/{world.a.id}?as_of=nonsense").get_data(as_text=True)
    assert "截至日期“nonsense”无效" in text


def test_industry_filter_on_the_overview(client, auth, scenario):
    auth.login("viewer")
    html = client.get(f"/stats/?year=2025&as_of={AS_OF}&industry=精密制造").get_data(as_text=True)
    hits = [t for a, t in links(html) if a.get("metric") == "entered_signed"]
    assert hits == ["1"] and "产业：精密制造" in html


def grow(w, start, n):
    """n more leads in A and B: red ones (sign date long past), signed and producing ones."""
    for i in range(start, start + n):
        unit, officer = (w.a, w.off_a1 if i % 2 else w.off_a2) if i % 4 else (w.b, w.off_b1)
        lead = factories.lead(w.admin, unit, name=f"G{i}", company=f"G{i}", created_on=d(2, 1),
                              industry=["新材料", "纺织服装", "健康食品"][i % 3],
                              source=["fair", "agent"][i % 2], primary_officer_id=officer.id,
                              planned_sign_date=d(3, 1))
        services.move_stage(w.admin, lead, ["negotiation", "signed", "producing"][i % 3],
                            on=d(3, 1 + i % 20))
        log_visit(officer, lead, {"kind": "call", "summary": "x", "visited_on": d(4, 1)})
        services.add_funds(w.admin, lead, d(5, 1), Decimal(10))
    db.session.commit()


def test_query_counts_do_not_grow_with_data(client, auth, scenario):
    w = scenario
    pages = [("a-head", f"/stats/unit/{w.a.id}?year=2025&as_of={AS_OF}"),
             ("admin", f"/stats/unit/{w.a.id}?year=2025&as_of={AS_OF}"),
             ("admin", f"/stats/?year=2025&as_of={AS_OF}"),
             ("viewer", f"/stats/?year=2025&as_of={AS_OF}&industry=健康食品")]

    def measure():
        counts = []
        for username, path in pages:
            auth.login(username)
            with count_queries() as c:
                assert client.get(path).status_code == 200
            counts.append(c["n"])
            auth.logout()
        return counts

    grow(w, 0, 4)
    small = measure()
    grow(w, 4, 40)
    assert measure() == small
