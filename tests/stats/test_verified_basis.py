"""Statistics on the verified basis against numbers computed by hand.

With the setting CRM_VERIFICATION on (the product's default), a signed, started, producing, 纳统
or capital arrival counts only through a verified claim, from the day it was verified, at its
effective date; a lead in signed/started/producing stands in the snapshot at its furthest
verified milestone (else negotiation). ``basis=claimed`` gives every claim, as entered.

The world of this module, unit A (孟庄镇), year 2025, as of 2025-06-30. Claims are verified
"on" a day by setting what a review that day sets (status, ``verified_on``); the review itself
is exercised at the end (the cache after a review).

Leads (created at contact; 万元 of planned investment) and their claims (✓ = verified on):

- L1 01-10, 20 000, planned start 05-01 (never started): neg 02-01, signed 03-01 ✓03-05;
  funds 5 000 on 04-01 ✓04-05; funds 2 000 on 06-20 ✓07-01 (after the as-of date).
- L2 02-01, 150 000, planned start 03-15, 纳统 05-01: started 04-01 (skips neg and signed);
  signed ✓04-02, started pending, 纳统 ✓05-10.
- L3 01-20, 30 000, planned start 04-15, 纳统 06-01: neg 02-10, signed 03-01 ✓03-02,
  started 05-01 ✓06-15; 纳统 pending; funds 3 000 on 05-01 pending.
- L4 01-05, 50 000: signed 02-01 ✓02-10, back to negotiation 04-01 (the claim is withdrawn).
- L5 03-01, 5 000: producing 06-01 (skips); signed ✓06-10, started pending, producing ✓06-10.
- L6 02-15, 8 000: signed 05-20 ✓07-02 (after the as-of date).
"""

import datetime as dt
import io
import re
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa
from PIL import Image

from crm.auth.services import issue_token
from crm.claims import services as claim_services
from crm.claims.models import Claim
from crm.clock import today
from crm.extensions import db
from crm.leads import services
from crm.stats.models import StatsCache
from crm.stats.queries import district_stats, lead_ids_behind
from crm.targets.models import Target
from tests import factories

AS_OF = dt.date(2025, 6, 30)


def d(month, day, year=2025):
    return dt.date(year, month, day)


@pytest.fixture
def app_config(tmp_path):
    return {"CRM_VERIFICATION": "on", "CRM_STORAGE_URL": f"file://{tmp_path / 'files'}"}


def verify(lead, kind, on, index=0):
    """What a review on ``on`` makes of the lead's ``index``-th live claim of ``kind``."""
    claim = [c for c in lead.claims if c.kind == kind and c.status == "pending"][index]
    claim.status, claim.verified_on = "verified", on
    db.session.flush()
    return claim


@pytest.fixture
def year(world):
    w, admin = world, world.admin

    def lead(name, created, inv, **kw):
        return factories.lead(admin, w.a, name=name, company=name, created_on=created,
                              investment_wan=inv, **kw)

    def move(lead_, to, on, **kw):
        services.move_stage(admin, lead_, to, on=on, **kw)

    l1 = lead("L1", d(1, 10), 20000, planned_start_date=d(5, 1))
    move(l1, "negotiation", d(2, 1))
    move(l1, "signed", d(3, 1))
    verify(l1, "signed", d(3, 5))
    services.add_funds(admin, l1, d(4, 1), Decimal(5000))
    verify(l1, "funds", d(4, 5))
    services.add_funds(admin, l1, d(6, 20), Decimal(2000))
    verify(l1, "funds", d(7, 1))

    l2 = lead("L2", d(2, 1), 150000, planned_start_date=d(3, 15), stats_included_on=d(5, 1))
    move(l2, "started", d(4, 1))
    verify(l2, "signed", d(4, 2))
    verify(l2, "stats_included", d(5, 10))

    l3 = lead("L3", d(1, 20), 30000, planned_start_date=d(4, 15))
    move(l3, "negotiation", d(2, 10))
    move(l3, "signed", d(3, 1))
    verify(l3, "signed", d(3, 2))
    move(l3, "started", d(5, 1))
    verify(l3, "started", d(6, 15))
    services.update_lead(admin, l3, {"stats_included_on": d(6, 1)}, l3.version)
    services.add_funds(admin, l3, d(5, 1), Decimal(3000))

    l4 = lead("L4", d(1, 5), 50000)
    move(l4, "signed", d(2, 1))
    verify(l4, "signed", d(2, 10))
    move(l4, "negotiation", d(4, 1), reason="协议需重谈")

    l5 = lead("L5", d(3, 1), 5000)
    move(l5, "producing", d(6, 1))
    verify(l5, "signed", d(6, 10))
    verify(l5, "producing", d(6, 10))

    l6 = lead("L6", d(2, 15), 8000)
    move(l6, "signed", d(5, 20))
    verify(l6, "signed", d(7, 2))

    db.session.add(Target(township_id=w.a.id, year=2025, metric="signed_100m", value=10))
    db.session.commit()
    w.leads = {x.name: x for x in (l1, l2, l3, l4, l5, l6)}
    return w


def unit(world, basis, as_of=AS_OF):
    return district_stats(world.admin, 2025, as_of, township_ids=[world.a.id],
                          basis=basis).unit(world.a.id)


def test_the_claims_as_made(year):
    l4 = year.leads["L4"]
    assert [(c.kind, c.status) for c in l4.claims] == [("signed", "withdrawn")]
    l2 = year.leads["L2"]
    assert sorted((c.kind, c.status) for c in l2.claims) == [
        ("signed", "verified"), ("started", "pending"), ("stats_included", "verified")]


def test_claimed_basis_counts_every_claim_as_before(year):
    u = unit(year, "claimed")
    assert u.entered == {"contact": 6, "negotiation": 6, "signed": 6, "started": 3,
                         "producing": 1}
    assert u.snapshot == {"contact": 0, "negotiation": 1, "signed": 2, "started": 2,
                          "producing": 1, "lost": 0}
    assert u.actuals["signed_100m"] == 4  # L1 L2 L3 L4
    assert u.start_rate == Fraction(2, 3)  # planned L1 L2 L3; started L2 L3
    assert u.stats_inclusion_rate == Fraction(2, 3)  # started L2 L3 L5; 纳统 L2 L3
    assert u.funds_arrival_rate == Fraction(10000, 263000)
    assert u.actuals["funds_arrived_wan"] == Decimal(10000)
    assert u.pending == {"signed": 0, "started": 0, "producing": 0, "stats_included": 0,
                         "funds_wan": Decimal(0)}
    assert [t.actual for t in u.targets] == [Decimal(4)]


def test_verified_basis_counts_verified_claims_only(year):
    u = unit(year, "verified")
    # signed: L1 L2 L3 L5 (L4's claim was withdrawn, L6's verified only on 07-02)
    assert u.entered == {"contact": 6, "negotiation": 6, "signed": 4, "started": 1,
                         "producing": 1}
    # L2 (started, only its signing verified) stands at signed; L6 (signing not yet verified)
    # at negotiation; L5 at producing (verified) though its start is pending
    assert u.snapshot == {"contact": 0, "negotiation": 2, "signed": 2, "started": 1,
                          "producing": 1, "lost": 0}
    assert u.reached["signed"] == 4 and u.reached["started"] == 2
    assert u.actuals["signed_100m"] == 3  # L1 L2 L3
    assert [(t.metric, t.actual) for t in u.targets] == [("signed_100m", Decimal(3))]
    assert u.actuals["producing"] == 1
    assert u.start_rate == Fraction(1, 3)  # of L1 L2 L3 planned, only L3's start is verified
    assert u.stats_inclusion_rate == Fraction(0, 1)  # started L3: its 纳统 is pending
    # signed L1 L2 L3 L5 = 205 000; arrived and verified by the as-of date: L1's 5 000
    assert u.funds_arrival_rate == Fraction(5000, 205000)
    assert u.actuals["funds_arrived_wan"] == Decimal(5000)
    assert u.pending == {"signed": 0, "started": 2, "producing": 0, "stats_included": 1,
                         "funds_wan": Decimal(3000)}


def test_a_claim_counts_from_the_day_it_is_verified(year):
    before = unit(year, "verified", d(6, 9))  # L5's claims verified on 06-10
    assert before.entered["producing"] == 0 and before.snapshot["producing"] == 0
    assert before.snapshot["negotiation"] == 3  # L5 too
    later = unit(year, "verified", d(7, 31))
    assert later.entered["signed"] == 5  # L6, verified 07-02, at its date 05-20
    assert later.actuals["funds_arrived_wan"] == Decimal(7000)  # L1's 2 000 verified 07-01
    assert later.snapshot["negotiation"] == 1


def test_a_withdrawn_claim_no_longer_counts(year):
    # L4's signing was verified on 02-10 and withdrawn by the move back on 04-01: it does not
    # count even for a day it was in force.
    u = unit(year, "verified", d(3, 31))
    l4 = year.leads["L4"].id
    ids = set(db.session.scalars(lead_ids_behind(year.admin, "entered_signed", year.a.id,
                                                 2025, d(3, 31), "verified")))
    assert l4 not in ids
    assert u.entered["signed"] == len(ids) == 2  # L1 L3
    claimed = set(db.session.scalars(lead_ids_behind(year.admin, "entered_signed", year.a.id,
                                                     2025, d(3, 31), "claimed")))
    assert l4 in claimed


def test_the_drill_down_matches_each_basis(year):
    names = {x.id: x.name for x in year.leads.values()}

    def behind(metric, basis):
        return sorted(names[i] for i in db.session.scalars(
            lead_ids_behind(year.admin, metric, year.a.id, 2025, AS_OF, basis)))

    assert behind("entered_signed", "verified") == ["L1", "L2", "L3", "L5"]
    assert behind("entered_signed", "claimed") == ["L1", "L2", "L3", "L4", "L5", "L6"]
    assert behind("signed_100m", "verified") == ["L1", "L2", "L3"]
    assert behind("snapshot_negotiation", "verified") == ["L4", "L6"]
    assert behind("snapshot_signed", "verified") == ["L1", "L2"]
    assert behind("snapshot_started", "claimed") == ["L2", "L3"]
    assert behind("snapshot_started", "verified") == ["L3"]


def test_the_api_basis_and_pending(year, client):
    token = issue_token(year.admin)
    db.session.commit()

    def get(**query):
        return client.get("/api/v1/stats/townships", query_string={
            "year": 2025, "as_of": AS_OF.isoformat(), **query},
            headers={"Authorization": f"Bearer {token}"})

    default = get()
    assert default.status_code == 200
    a = next(t for t in default.get_json()["townships"] if t["township_id"] == year.a.id)
    assert a["entered"]["signed"] == 4 and a["snapshot"]["signed"] == 2
    assert a["pending"] == {"signed": 0, "started": 2, "producing": 0, "stats_included": 1,
                            "funds_wan": 3000}
    assert a["targets"][0]["actual"] == 3
    claimed = get(basis="claimed").get_json()
    a = next(t for t in claimed["townships"] if t["township_id"] == year.a.id)
    assert a["entered"]["signed"] == 6 and a["targets"][0]["actual"] == 4
    assert a["pending"]["started"] == 0
    assert get(basis="verified").get_json() == default.get_json()
    assert get(basis="nonsense").status_code == 422


def test_the_setting_off_gives_the_claimed_basis(year, app, client):
    token = issue_token(year.admin)
    db.session.commit()
    app.config["CRM_VERIFICATION"] = "off"
    body = client.get("/api/v1/stats/townships?year=2025&as_of=2025-06-30",
                      headers={"Authorization": f"Bearer {token}"}).get_json()
    a = next(t for t in body["townships"] if t["township_id"] == year.a.id)
    assert a["entered"]["signed"] == 6


# -- the cache after a review ------------------------------------------------------------------

def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 80, 40)).save(out, "JPEG")
    return out.getvalue()


def text(response) -> str:
    """A page's text as read: tags dropped, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split()).replace(
        " )", ")").replace("( ", "(")


def entered_started(client, world) -> str:
    """The unit page's 开工 entered this year, as shown."""
    html = client.get(f"/stats/unit/{world.a.id}").get_data(as_text=True)
    cell = re.search(r'data-entered="started">(.*?)</td>', html, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", cell).split())


def test_the_cache_after_a_review(world, client, auth):
    """Today: one start verified, one pending; the unit page shows ``1 (+1 待核验)`` from a
    cached row; a reviewer's 通过 (through the API) bumps the unit's version, and the page
    shows 2."""
    admin, day = world.admin, today()
    reviewer = factories.user("reviewer", "reviewer")
    first = factories.lead(admin, world.a, name="已核验", company="甲")
    services.move_stage(admin, first, "started", on=day)
    for claim in first.claims:
        claim.status, claim.verified_on = "verified", day
    second = factories.lead(world.off_a1, world.a, name="待核验", company="乙")
    services.move_stage(world.off_a1, second, "started", on=day)
    photo = claim_services.upload_attachment(world.off_a1, second, jpeg(), "工地.jpg",
                                             "site_photo")
    started = next(c for c in second.claims if c.kind == "started")
    signed = next(c for c in second.claims if c.kind == "signed")
    signed.status, signed.verified_on = "verified", day  # only the start is pending
    claim_services.add_evidence(world.off_a1, started, photo)
    token = issue_token(reviewer)
    db.session.commit()

    auth.login("admin")
    page = text(client.get(f"/stats/unit/{world.a.id}"))
    assert entered_started(client, world) == "1 (+1 待核验)"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatsCache).where(
        StatsCache.township_id == world.a.id)) == 1
    again = text(client.get(f"/stats/unit/{world.a.id}"))
    assert "1 (+1 待核验)" in again  # from the cached row

    answer = client.post(f"/api/v1/claims/{started.id}/review",
                         json={"decision": "verify", "opinion": ""},
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_json()
    assert db.session.get(Claim, started.id).verified_on == day

    page = text(client.get(f"/stats/unit/{world.a.id}"))
    assert "待核验)" not in page
    assert entered_started(client, world) == "2"
    u = district_stats(admin, day.year, day, township_ids=[world.a.id]).unit(world.a.id)
    assert u.entered["started"] == 2 and u.pending["started"] == 0


# -- what is still pending, beside the numbers, on every reader ---------------------------------

def test_pages_bulletin_and_mail_show_what_is_pending(year, client, auth):
    from openpyxl import load_workbook

    from crm.reminders.content import weekly_digests
    from crm.reminders.mail import render

    db.session.add_all([
        Target(township_id=year.a.id, year=2025, metric="producing", value=2),
        Target(township_id=year.a.id, year=2025, metric="funds_arrived_wan", value=10000)])
    db.session.commit()
    auth.login("admin")
    query = {"year": 2025, "as_of": AS_OF.isoformat()}
    overview = text(client.get("/stats/", query_string=query))
    assert "5,000 (+3,000 待核验)" in overview  # capital: L3's 3 000 pending
    assert "4 (+0" not in overview
    unit_page = text(client.get(f"/stats/unit/{year.a.id}", query_string=query))
    assert "开工率 33.3% (+2 待核验)" in unit_page
    assert "纳统率 0.0% (+1 待核验)" in unit_page

    bulletin = text(client.get("/bulletin", query_string={"as_of": AS_OF.isoformat()}))
    assert "开工 +2、纳统 +1、到位资金 +3,000万元" in bulletin
    assert "5,000/10,000 (50.0%) (+3,000 待核验)" in bulletin
    sheet = load_workbook(io.BytesIO(client.get(
        "/bulletin.xlsx", query_string={"as_of": AS_OF.isoformat()}).data)).active
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert "开工 +2、纳统 +1、到位资金 +3,000万元" in values

    digests = {d.user.username: d for d in weekly_digests(AS_OF)}
    head = render(digests["a-head"]).get_body(("plain",)).get_content()
    assert "待核验（未计入上述数字）：开工 +2、纳统 +1、到位资金 +3,000万元" in head
    admin = render(digests["admin"]).get_body(("plain",)).get_content()
    assert "待核验：开工 +2" in admin


def test_a_fixed_number_of_queries_on_the_verified_basis(year):
    from tests.querycount import count_queries

    def queries():
        db.session.commit()
        assert year.a.name and year.admin.role  # loaded in a transaction of its own
        with count_queries() as c:
            unit(year, "verified")
        return c["n"]

    first = queries()
    for i in range(6):
        lead = factories.lead(year.admin, year.a, name=f"G{i}", company=f"G{i}",
                              created_on=d(2, 1))
        services.move_stage(year.admin, lead, ["signed", "started", "producing"][i % 3],
                            on=d(3, 1))
        if i % 2:
            verify(lead, "signed", d(3, 2))
        services.add_funds(year.admin, lead, d(4, 1), Decimal(100))
    db.session.commit()
    assert queries() == first


def test_the_unit_breakdowns_count_signings_on_the_basis(year):
    from crm.stats.breakdowns import breakdowns

    def signed(basis):
        parts = breakdowns(year.admin, year.a.id, 2025, AS_OF, basis)
        return sum(r.signed for r in parts.by_industry), sum(r.signed for r in parts.by_source)

    assert signed("verified") == (4, 4)
    assert signed("claimed") == (6, 6)


@pytest.mark.parametrize("basis", ["claimed", "verified"])
def test_every_visible_unit_named_gives_the_same_numbers_without_the_list(year, monkeypatch,
                                                                          basis):
    """The API names every unit it shows: past ``versions.IN_LIST`` of them the statements run
    without the list of ids (every unit the user sees), and the numbers are the same."""
    from crm.stats import cache, versions
    from crm.stats.queries import visible_units

    ids = [t.id for t in visible_units(year.admin)]
    assert len(ids) >= 2

    def computed():
        cache.clear()
        db.session.commit()
        seen = []

        def on_execute(_conn, _cursor, statement, *_args):
            seen.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            units = district_stats(year.admin, 2025, AS_OF, township_ids=ids, basis=basis).units
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", on_execute)
        return units, any("leads.township_id IN" in s for s in seen)

    listed, with_list = computed()
    monkeypatch.setattr(versions, "IN_LIST", 0)
    unlisted, still_with_list = computed()
    assert with_list and not still_with_list
    assert unlisted == listed
    a = next(u for u in unlisted if u.township_id == year.a.id)
    assert a == unit(year, basis)
