"""The cache of each unit's yearly numbers (crm/stats/cache.py): read while the unit is unchanged,
never read once one of its leads, stage changes, visits, capital entries or targets is written,
always equal to what computing afresh gives, and kept only for as-of dates near today."""

import contextlib
import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.leads import services
from crm.leads.models import Lead
from crm.stats import cache, versions
from crm.stats.models import StatsCache, StatsVersion
from crm.stats.queries import district_stats
from crm.stats.results import yellow_margin
from crm.targets.models import Target
from crm.targets.services import set_targets
from crm.visits.services import log_visit
from tests import factories
from tests.querycount import count_queries

AS_OF = dt.date(2025, 6, 30)


def d(month, day):
    return dt.date(2025, month, day)


@pytest.fixture(autouse=True)
def _business_day(cache_today):
    """The cache stores rows for as-of dates near today: the tests' today is AS_OF."""
    cache_today(AS_OF)


@pytest.fixture
def two_units(world):
    w = world
    w.la = factories.lead(w.admin, w.a, name="A1", company="A1", created_on=d(1, 10),
                          investment_wan=20000, planned_start_date=d(5, 1))
    services.move_stage(w.admin, w.la, "signed", on=d(3, 1))
    w.lb = factories.lead(w.admin, w.b, name="B1", company="B1", created_on=d(2, 1),
                          investment_wan=5000)
    db.session.add_all([Target(township_id=w.a.id, year=2025, metric="signed_100m", value=4),
                        Target(township_id=w.b.id, year=2025, metric="visits", value=10)])
    db.session.commit()
    return w


def fresh(user, **kw):
    """The numbers computed afresh (the cache emptied first, and not refilled)."""
    cache.clear()
    db.session.commit()
    return district_stats(user, 2025, AS_OF, industry="", **kw)  # "" filters nothing, skips the cache


def cached_rows():
    return {row.township_id: row for row in db.session.scalars(sa.select(StatsCache))}


def version(unit) -> int:
    return db.session.scalar(sa.select(StatsVersion.version)
                             .where(StatsVersion.township_id == unit.id)) or 0


def test_the_second_call_reads_the_cache_and_gives_the_same_numbers(two_units):
    w = two_units
    computed = district_stats(w.admin, 2025, AS_OF)
    db.session.commit()
    assert set(cached_rows()) == {w.a.id, w.b.id}
    assert w.admin.role == "district_admin"  # (loaded before counting)
    with count_queries() as c:
        again = district_stats(w.admin, 2025, AS_OF)
    assert c["n"] == 3  # units, versions, cached rows: no aggregate is run
    assert again == computed
    assert again.unit(w.a.id).entered["signed"] == 1
    assert again.unit(w.a.id).targets[0].actual == 1
    assert again.unit(w.a.id).targets[0].color == "red"  # 1/4 < 181/365 − 0.10
    assert again.unit(w.a.id).start_rate == 0  # planned 05-01, not started
    assert again == fresh(w.admin)


def test_a_row_is_read_only_at_its_units_current_version(two_units):
    w = two_units
    district_stats(w.admin, 2025, AS_OF)
    db.session.commit()
    row = cached_rows()[w.a.id]
    forged = json.loads(row.payload)
    forged["snapshot"]["contact"] = 999  # a marker only the cache could give
    row.payload = json.dumps(forged)
    db.session.commit()
    assert district_stats(w.admin, 2025, AS_OF).unit(w.a.id).snapshot["contact"] == 999
    log_visit(w.admin, w.la, {"kind": "call", "summary": "电话", "visited_on": d(6, 1)})
    db.session.commit()
    stats = district_stats(w.admin, 2025, AS_OF)
    assert stats.unit(w.a.id).snapshot["contact"] == 0
    assert stats.unit(w.a.id).actuals["visits"] == 1


def write_visit(w):
    log_visit(w.admin, w.la, {"kind": "visit", "summary": "走访", "visited_on": d(6, 2)})


def write_move(w):
    services.move_stage(w.admin, w.la, "started", on=d(6, 1))


def write_funds(w):
    services.add_funds(w.admin, w.la, d(6, 1), Decimal(3000))


def write_edit(w):
    services.update_lead(w.admin, w.la, {"investment_wan": Decimal(200000)}, w.la.version)


def write_new_lead(w):
    factories.lead(w.admin, w.a, name="A2", company="A2", created_on=d(6, 1), investment_wan=1)


def write_delete(w):
    db.session.delete(w.la)


def write_target(w):
    set_targets(w.admin, w.a.id, 2025, {"signed_100m": Decimal(1)})


def write_lead_moved(w):
    w.la.township_id = w.b.id  # (not a product feature: the cache must still follow it)


@pytest.mark.parametrize("write", [write_visit, write_move, write_funds, write_edit,
                                   write_new_lead, write_delete, write_target])
def test_each_kind_of_write_makes_its_unit_recomputed(two_units, write):
    w = two_units
    district_stats(w.admin, 2025, AS_OF)
    db.session.commit()
    before = version(w.a), version(w.b)
    write(w)
    db.session.commit()
    assert version(w.a) > before[0] and version(w.b) == before[1]
    after = district_stats(w.admin, 2025, AS_OF)
    db.session.commit()
    assert after == fresh(w.admin)


def test_a_lead_moved_to_another_unit_changes_both(two_units):
    w = two_units
    first = district_stats(w.admin, 2025, AS_OF)
    db.session.commit()
    before = version(w.a), version(w.b)
    write_lead_moved(w)
    db.session.commit()
    assert (version(w.a), version(w.b)) == (before[0] + 1, before[1] + 1)
    after = district_stats(w.admin, 2025, AS_OF)
    assert after.unit(w.a.id).entered["signed"] == 0 and after.unit(w.b.id).entered["signed"] == 1
    assert after != first


def test_numbers_stored_while_a_write_committed_are_never_read(two_units):
    """The race: versions are read, a write commits, then the (older) numbers are stored."""
    w = two_units
    current = versions.current([w.a.id, w.b.id])
    stale = district_stats(w.admin, 2025, AS_OF, industry="")
    write_move(w)  # commits between the read and the store
    db.session.commit()
    margin = yellow_margin()
    cache.store(stale.units, 2025, AS_OF, current, margin)
    db.session.commit()
    now = versions.current([w.a.id, w.b.id])
    assert set(cache.load(now, 2025, AS_OF, margin)) == {w.b.id}  # unit A's row is stale
    assert district_stats(w.admin, 2025, AS_OF).unit(w.a.id).snapshot["started"] == 1


def test_another_as_of_date_or_year_or_margin_is_another_row(app, two_units, cache_today):
    w = two_units
    cache_today(d(3, 3))  # both dates in the kept window
    district_stats(w.admin, 2025, d(3, 3))
    earlier = district_stats(w.admin, 2025, d(2, 28))
    db.session.commit()
    assert earlier.unit(w.a.id).entered["signed"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StatsCache)) == 4
    cache_today(AS_OF)
    district_stats(w.admin, 2025, AS_OF)  # stored with the margin 0.10
    db.session.commit()
    app.config["CRM_TARGET_YELLOW_MARGIN"] = 0.5
    colour = district_stats(w.admin, 2025, AS_OF).unit(w.a.id).targets[0].color
    assert colour == "yellow"  # 1/4 ≥ 181/365 − 0.5: recomputed with the new margin


def test_a_heads_numbers_come_from_the_same_rows(two_units):
    w = two_units
    head = district_stats(w.head_a, 2025, AS_OF)
    db.session.commit()
    assert [u.township_id for u in head.units] == [w.a.id]
    assert set(cached_rows()) == {w.a.id}
    admin = district_stats(w.admin, 2025, AS_OF)
    assert admin.unit(w.a.id) == head.unit(w.a.id)


def test_the_industry_filter_is_never_cached(two_units):
    w = two_units
    district_stats(w.admin, 2025, AS_OF, industry="新材料")
    db.session.commit()
    assert cached_rows() == {}


def test_read_requests_store_and_a_later_write_request_is_not_locked_out(client, auth, two_units):
    """A GET stores in a transaction of its own; a POST right after still writes (SQLite's
    write lock is free again) and makes the unit's row stale."""
    w = two_units
    auth.login("admin")
    assert client.get("/stats/?year=2025&as_of=2025-06-30").status_code == 200
    assert set(cached_rows()) == {w.a.id, w.b.id}
    db.session.rollback()
    stale = version(w.a)
    r = client.post(f"/leads/{w.la.id}/visits",
                    data={"visited_on": "2025-06-01", "kind": "call", "summary": "电话回访"})
    assert r.status_code == 302
    db.session.rollback()
    assert version(w.a) == stale + 1
    text = client.get("/stats/?year=2025&as_of=2025-06-30").get_data(as_text=True)
    assert "孟庄镇" in text
    assert district_stats(w.admin, 2025, AS_OF).unit(w.a.id).actuals["visits"] == 1


def test_a_deleted_unit_takes_its_rows_along(two_units):
    w = two_units
    district_stats(w.admin, 2025, AS_OF)
    db.session.commit()
    db.session.execute(sa.delete(Lead).where(Lead.township_id == w.b.id))
    db.session.execute(sa.delete(Target).where(Target.township_id == w.b.id))
    db.session.execute(sa.text("DELETE FROM users WHERE township_id = :t"), {"t": w.b.id})
    db.session.delete(w.b)
    db.session.commit()
    assert set(cached_rows()) == {w.a.id}


@pytest.mark.parametrize("industry", [None, "新材料"])
def test_a_ranking_page_is_a_slice_of_the_full_ranking(two_units, industry):
    from crm.stats.queries import district_ranking

    w = two_units
    for n in range(5):  # seven units, some with targets, in three pages of three
        unit = factories.township(f"第{n}镇")
        factories.lead(w.admin, unit, name=f"T{n}", company=f"T{n}", created_on=d(1, 2 + n),
                       investment_wan=10 * n, industry="新材料" if n % 2 else "其他")
        if n % 3:
            db.session.add(Target(township_id=unit.id, year=2025, metric="new_leads", value=n))
    db.session.commit()
    full = district_stats(w.admin, 2025, AS_OF, industry=industry)
    for attempt in ("cold", "warm"):
        pages = [district_ranking(w.admin, 2025, AS_OF, p, 3, industry=industry)
                 for p in (1, 2, 3, 9)]
        db.session.commit()
        assert [p.page for p in pages] == [1, 2, 3, 3]  # past the end: the last page
        assert {(p.pages, p.total) for p in pages} == {(3, 7)}
        shown = [u for p in pages[:3] for u in p.units]
        assert shown == full.units, attempt  # the same units, numbers and ranks, in order
        assert [u.rank for u in shown] == [u.rank for u in full.units]
        assert all(p.totals == full.totals for p in pages)
        assert pages[0].metrics == ["new_leads", "signed_100m", "visits"]


def test_the_overview_shows_one_page_and_the_totals_of_all(client, auth, two_units):
    for n in range(52):
        factories.township(f"分页{n:02d}镇")
    db.session.commit()
    auth.login("admin")
    first = client.get("/stats/?year=2025&as_of=2025-06-30").get_data(as_text=True)
    second = client.get("/stats/?year=2025&as_of=2025-06-30&page=2").get_data(as_text=True)
    assert "共 54 个单位，第 1 / 2 页" in first and "第 2 / 2 页" in second
    assert first.count('class="num strong">') // 2 == 50  # rank and mean of 50 rows
    assert second.count('class="num strong">') // 2 == 4
    assert "孟庄镇" in first and "孟庄镇" not in second  # ranked first: it has targets
    assert 'rel="next"' in first and 'rel="prev"' in second

    def totals(html):
        return html.split('<tr class="totals">')[1].split("</tr>")[0]

    assert totals(first) == totals(second)  # every unit added up, on every page
    assert '<td class="num">1</td>' in totals(second)  # A1 signed, B1 in contact


def test_the_nightly_job_fills_the_cache_and_prunes_old_rows(app, two_units, cache_today):
    from crm.clock import today, utcnow
    from crm.reminders.scheduler import stats_warm_job

    w = two_units
    district_stats(w.admin, 2025, AS_OF)
    db.session.commit()
    cache_today(today())  # the job runs on the real clock
    db.session.execute(sa.update(StatsCache).values(computed_at=utcnow() - dt.timedelta(days=8)))
    db.session.commit()
    stats_warm_job(app)
    db.session.rollback()
    rows = db.session.execute(sa.select(StatsCache.township_id, StatsCache.year,
                                        StatsCache.as_of)).all()
    assert sorted(rows) == sorted((t, today().year, today()) for t in (w.a.id, w.b.id))
    assert w.admin.role == "district_admin"
    with count_queries() as c:
        district_stats(w.admin, today().year, today())
    assert c["n"] == 3  # ready: nothing computed


def test_a_failed_savepoint_keeps_the_transactions_pending_bumps(two_units):
    """A savepoint that rolls back (e.g. a cache row that could not be stored) must not make
    the writes before it forget their units."""
    w = two_units
    before = version(w.a)
    write_visit(w)
    db.session.flush()
    with pytest.raises(sa.exc.IntegrityError):
        with db.session.begin_nested():
            db.session.execute(sa.insert(StatsVersion).values(township_id=w.a.id, version=0))
    db.session.commit()
    assert version(w.a) > before


def test_only_as_of_dates_in_the_kept_window_are_stored(two_units, cache_today):
    """Today and the KEEP days before it are stored; any other as-of date (older, or in the
    future) is computed and answered the same, and leaves no row behind."""
    w = two_units
    cache_today(AS_OF)
    outside = [AS_OF - cache.KEEP - dt.timedelta(days=1), AS_OF + dt.timedelta(days=1),
               d(1, 31), dt.date(2024, 6, 30)]
    for as_of in outside:
        answered = district_stats(w.admin, as_of.year, as_of)
        db.session.commit()
        assert answered == district_stats(w.admin, as_of.year, as_of, industry="")
        assert cached_rows() == {}, as_of
    inside = [AS_OF, AS_OF - dt.timedelta(days=3), AS_OF - cache.KEEP]
    for as_of in inside:
        district_stats(w.admin, 2025, as_of)
        db.session.commit()
    stored = db.session.execute(sa.select(StatsCache.township_id, StatsCache.as_of)).all()
    assert sorted(stored) == sorted((t, on) for t in (w.a.id, w.b.id) for on in inside)


def test_a_crawl_through_the_calendar_stores_nothing(client, auth, two_units, cache_today):
    """Issue 13: 50 requests of the stats API for 50 different dates stored 800 rows."""
    from crm.auth.services import issue_token

    w = two_units
    cache_today(AS_OF)
    token = issue_token(w.admin)
    db.session.commit()
    for n in range(50):
        as_of = d(1, 1) + dt.timedelta(days=n)
        r = client.get(f"/api/v1/stats/townships?year=2025&as_of={as_of}",
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    db.session.rollback()
    assert cached_rows() == {}
    r = client.get(f"/api/v1/stats/townships?year=2025&as_of={AS_OF}",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    db.session.rollback()
    assert set(cached_rows()) == {w.a.id, w.b.id}


def test_a_cold_computation_runs_as_many_statements_for_many_units_as_for_two(two_units):
    """Every unit's year in one pass per statement: no statement per unit (issue 21)."""
    w = two_units

    def cold() -> int:
        cache.clear()
        db.session.commit()
        db.session.expire_all()
        assert w.admin.role == "district_admin"  # (loaded before counting)
        with count_queries() as c:
            stats = district_stats(w.admin, 2025, AS_OF)
        db.session.commit()
        return len(stats.units), c["n"]

    units, few = cold()
    for i in range(12):
        unit = factories.township(f"新镇{i}")
        lead = factories.lead(w.admin, unit, name=f"N{i}", company=f"N{i}", created_on=d(2, 1))
        services.move_stage(w.admin, lead, "signed", on=d(3, 1))
        db.session.add(Target(township_id=unit.id, year=2025, metric="signed_100m", value=2))
    db.session.commit()
    more, many = cold()
    assert (units, more) == (2, 14)
    assert many == few


@contextlib.contextmanager
def statements():
    """The SQL statements a block runs, as text."""
    seen = []

    def on_execute(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", on_execute)


def ranking_sql(seen) -> list:
    """The statements that rank: the units' small columns read from the cache, or computed."""
    return [s for s in seen if "stats_cache.totals" in s or "stage_changes" in s]


def test_a_ranking_is_kept_until_a_unit_changes(two_units):
    from crm.stats.queries import district_ranking

    w = two_units
    for n in range(4):
        unit = factories.township(f"第{n}镇")
        db.session.add(Target(township_id=unit.id, year=2025, metric="new_leads", value=n + 1))
        factories.lead(w.admin, unit, name=f"R{n}", company=f"R{n}", created_on=d(1, 2 + n))
    db.session.commit()

    def pages():
        return [district_ranking(w.admin, 2025, AS_OF, p, 2) for p in (1, 2, 3)]

    def same_as_computed(ranking):
        full = district_stats(w.admin, 2025, AS_OF, industry="")  # computed afresh
        assert [u for p in ranking for u in p.units] == full.units
        assert [u.rank for p in ranking for u in p.units] == [u.rank for u in full.units]
        assert all(p.totals == full.totals for p in ranking)

    with statements() as seen:
        first = pages()
    db.session.commit()
    assert ranking_sql(seen)
    with statements() as seen:
        second = pages()
    db.session.commit()
    assert ranking_sql(seen) == []  # ranked from the kept ranking: no unit changed
    assert [[u for u in p.units] for p in second] == [[u for p in first for u in p.units][i:i + 2]
                                                      for i in (0, 2, 4)]
    assert [p.totals for p in second] == [p.totals for p in first]
    same_as_computed(second)

    # a visit in b, which has a visits target: b's mean changes
    log_visit(w.admin, w.lb, {"kind": "visit", "summary": "走访", "visited_on": d(6, 1)})
    db.session.commit()
    with statements() as seen:
        third = pages()
    db.session.commit()
    assert ranking_sql(seen)
    assert third[0].totals.actuals["visits"] == first[0].totals.actuals["visits"] + 1
    same_as_computed(third)
    with statements() as seen:
        pages()
    assert ranking_sql(seen) == []

    db.session.get(type(w.a), w.a.id).name = "改名镇"  # a name (the tie-break) changes it too
    db.session.commit()
    with statements() as seen:
        renamed = pages()
    assert ranking_sql(seen)
    same_as_computed(renamed)
