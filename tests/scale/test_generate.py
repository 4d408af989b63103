"""The benchmark generator builds consistent data on SQLite and PostgreSQL (tiny size)."""

import datetime as dt
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import generate  # noqa: E402

SIZE = 150


def check_consistency(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        leads = conn.execute(sa.text(
            "SELECT id, stage, stage_changed_on, lost_reason, created_on FROM leads")).all()
        assert len(leads) == SIZE
        changes = conn.execute(sa.text(
            "SELECT lead_id, to_stage, effective_on, lost_reason FROM stage_changes "
            "ORDER BY lead_id, effective_on, id")).all()
        visits = conn.execute(sa.text("SELECT COUNT(*) FROM visits")).scalar()
        # every lead has its company, as migration 0011 makes them for an installed district
        assert conn.execute(sa.text(
            "SELECT COUNT(*) FROM leads WHERE company_id IS NULL")).scalar() == 0
        assert conn.execute(sa.text("SELECT COUNT(*) FROM companies")).scalar() > 0
        bad_visits = conn.execute(sa.text(
            "SELECT COUNT(*) FROM visits v JOIN leads l ON l.id = v.lead_id "
            "WHERE v.visited_on < l.created_on OR v.township_id != l.township_id")).scalar()
    engine.dispose()
    history: dict[int, list] = {}
    for lead_id, stage, on, reason in changes:
        history.setdefault(lead_id, []).append((stage, _date(on), reason))
    today = generate.business_today()
    for lead_id, stage, changed_on, lost_reason, created_on in leads:
        rows = history[lead_id]
        assert rows[-1][0] == stage, f"lead {lead_id}: latest change is not its stage"
        dates = [on for _s, on, _r in rows]
        assert dates == sorted(dates)
        assert dates[0] == _date(created_on) and dates[-1] == _date(changed_on) <= today
        assert (stage == "lost") == (lost_reason is not None) == (rows[-1][2] is not None)
    assert 8 * SIZE <= visits <= 12 * SIZE
    assert bad_visits == 0


def _date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def check_stats(url: str, tmp_path) -> None:
    from crm import create_app
    from crm.auth.models import User
    from crm.auth.services import check_account_password, find_account
    from crm.extensions import db
    from crm.leads.models import Lead
    from crm.stats.queries import district_stats

    app = create_app({"IGNORE_INSTANCE_FILE": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                      "CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "x",
                      # The generator writes stage history, not claims (benchmarks/run.py adds
                      # those): its numbers are compared on the claimed basis.
                      "CRM_VERIFICATION": "off"})
    today = generate.business_today()
    with app.app_context():
        admin = db.session.scalar(sa.select(User).where(User.role == "district_admin"))
        # every generated user signs in by name with the generator's password
        assert check_account_password(find_account(admin.username.upper()),
                                      generate.PASSWORD) == "success"
        stats = district_stats(admin, today.year, today)
        assert len(stats.units) == SIZE // generate.LEADS_PER_UNIT
        assert sum(sum(u.snapshot.values()) for u in stats.units) == SIZE
        expected = dict(db.session.execute(sa.text(
            "SELECT to_stage, COUNT(*) FROM (SELECT lead_id, to_stage, MIN(effective_on) AS f "
            "FROM stage_changes WHERE to_stage != 'lost' GROUP BY lead_id, to_stage) x "
            "WHERE f >= :start GROUP BY to_stage"), {"start": dt.date(today.year, 1, 1)}).all())
        for stage, n in expected.items():
            assert stats.totals.entered[stage] == n
        new_leads = db.session.scalar(sa.select(sa.func.count(Lead.id)).where(
            Lead.created_on >= dt.date(today.year, 1, 1)))
        assert stats.totals.actuals["new_leads"] == new_leads
        db.session.remove()
        db.engine.dispose()


def test_generate_on_sqlite(tmp_path):
    path = tmp_path / "bench.sqlite3"
    result = generate.generate(SIZE, "sqlite", name=str(path), quiet=True)
    assert result["counts"]["leads"] == SIZE
    check_consistency(result["url"])
    check_stats(result["url"], tmp_path)
    again = generate.generate(SIZE, "sqlite", name=str(tmp_path / "again.sqlite3"), quiet=True)
    assert again["counts"] == result["counts"]  # the same seed, the same data


def test_generate_on_postgresql(pg_server_url, tmp_path):
    name = f"crm_gen_{uuid.uuid4().hex[:8]}"
    result = generate.generate(SIZE, "postgresql", url=pg_server_url, name=name, quiet=True)
    try:
        check_consistency(result["url"])
        check_stats(result["url"], tmp_path)
    finally:
        generate.drop_database(result["url"])
