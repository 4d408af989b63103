"""Migration 0009 on a database with data: milestones become verified history, nothing is lost."""

import uuid

import pytest
import sqlalchemy as sa

from tests.core.test_migrations import crm

ROWS = [
    "INSERT INTO townships (id, name, kind, created_at) VALUES (1, '孟庄镇', 'town', '2026-01-01')",
    "INSERT INTO users (id, username, display_name, email, role, township_id, active, "
    "password_hash, locale, session_nonce, created_at, reminder_daily, reminder_weekly) VALUES "
    "(1, 'a-1', 'a-1', 'a@x.cn', 'officer', 1, TRUE, 'x', 'zh_CN', 'n', '2026-01-01', TRUE, TRUE)",
    "INSERT INTO api_tokens (id, user_id, token_hash, name, created_at) "
    "VALUES (1, 1, 'h', 't', '2026-01-01')",
    "INSERT INTO leads (id, name, company, company_key, origin, industry, chain, source, "
    "investment_wan, funds_arrived_wan, stage, stage_changed_on, created_on, township_id, "
    "primary_officer_id, sponsor, contact_name, contact_phone, stats_included_on, notes, version, "
    "created_at, updated_at) VALUES (1, 'p', 'c', 'c', '', '', '', 'other', 100000000, 1255000, "
    "'signed', '2026-05-01', '2026-02-01', 1, 1, '', '', '', '2026-04-20', '', 3, '2026-02-01', "
    "'2026-05-01')",
    # contact → started (signed implied) on 03-10, back to signed on 05-01
    "INSERT INTO stage_changes (lead_id, from_stage, to_stage, effective_on, implied, user_id, "
    "reason, created_at) VALUES (1, NULL, 'contact', '2026-02-01', FALSE, 1, '', '2026-02-01'),"
    "(1, 'contact', 'negotiation', '2026-03-10', TRUE, 1, '', '2026-03-10'),"
    "(1, 'negotiation', 'signed', '2026-03-10', TRUE, 1, '', '2026-03-10'),"
    "(1, 'signed', 'started', '2026-03-10', FALSE, 1, '', '2026-03-10'),"
    "(1, 'started', 'signed', '2026-05-01', FALSE, 1, '退回', '2026-05-01')",
    "INSERT INTO fund_entries (id, lead_id, arrived_on, amount_wan, user_id, created_at) VALUES "
    "(1, 1, '2026-03-15', 1000000, 1, '2026-03-15'), (2, 1, '2026-04-01', 255000, 1, '2026-04-01')",
]


def migrate_with_data(url, tmp_path):
    assert crm(url, "db", "upgrade", "0006", tmp_path=tmp_path).returncode == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql in ROWS:
            conn.execute(sa.text(sql))
    up = crm(url, "db", "upgrade", tmp_path=tmp_path)
    assert up.returncode == 0, up.stderr
    with engine.connect() as conn:
        claims = conn.execute(sa.text(
            "SELECT kind, effective_on, amount_wan, fund_entry_id, status, submitted_by_id "
            "FROM claims ORDER BY kind, effective_on")).all()
        reviews = conn.execute(sa.text(
            "SELECT decision, opinion, by_id FROM claim_reviews")).all()
        tokens = conn.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar()
        conn.execute(sa.text("UPDATE users SET role = 'reviewer', township_id = NULL"))
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("UPDATE users SET role = 'bogus'"))
    engine.dispose()
    assert [(k, str(d), a, f, s, b) for k, d, a, f, s, b in claims] == [
        ("funds", "2026-03-15", 1000000, 1, "verified", None),
        ("funds", "2026-04-01", 255000, 2, "verified", None),
        ("signed", "2026-03-10", None, None, "verified", None),   # its first entry only
        ("started", "2026-03-10", None, None, "verified", None),
        ("stats_included", "2026-04-20", None, None, "verified", None),
    ]
    assert reviews == [("verify", "历史数据", None)] * 5
    assert tokens == 1  # nothing cascaded away by the constraint change
    down = crm(url, "db", "downgrade", "0006", tmp_path=tmp_path)
    assert down.returncode == 0, down.stderr


def test_sqlite_history_claims(tmp_path):
    migrate_with_data(f"sqlite:///{tmp_path / 'h.sqlite3'}", tmp_path)


def test_postgresql_history_claims(pg_server_url, tmp_path):
    name = f"crm_h15_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(pg_server_url).set(database=name).render_as_string(False)
    try:
        migrate_with_data(url, tmp_path)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
