"""Migration 0011 on a database made by the previous release: companies built from the leads'
investor texts, each lead linked, not a character of what users typed lost."""

import datetime as dt
import uuid

import sqlalchemy as sa

from crm.leads.validation import credit_code_valid
from tests.core.test_migrations import crm


def _code(i: int) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    body = f"91370400MA3C{i:05d}"
    total = sum(chars.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + chars[(31 - total % 31) % 31]


CODE = _code(7)
#: (id, unit, company as typed, credit code, origin, created_on)
LEADS = [
    (1, 1, "烟台中宠食品股份有限公司", None, "烟台", "2026-02-01"),
    (2, 2, "（山东）烟台中宠食品有限公司 ", None, "", "2026-03-01"),   # same investor, another unit
    (3, 1, "华鲁恒升化工股份有限公司", CODE, "德州", "2026-01-05"),
    (4, 2, "完全另一个名字", CODE, "", "2026-04-01"),                 # same code, another name
    (5, 2, "华鲁恒昌化工有限公司", None, "", "2026-04-02"),           # similar, not the same
    (6, 1, "天津大学", None, "天津", "2026-01-01"),
]


def _rows():
    rows = [
        "INSERT INTO townships (id, name, kind, created_at) VALUES "
        "(1, '孟庄镇', 'town', '2026-01-01'), (2, '税郭镇', 'town', '2026-01-01')",
        "INSERT INTO users (id, username, display_name, email, role, township_id, active, "
        "password_hash, locale, session_nonce, created_at, reminder_daily, reminder_weekly) VALUES "
        "(1, 'a-1', 'a-1', 'a@x.cn', 'officer', 1, TRUE, 'x', 'zh_CN', 'n', '2026-01-01', TRUE, TRUE)",
        "INSERT INTO api_tokens (id, user_id, token_hash, name, created_at) "
        "VALUES (1, 1, 'h', 't', '2026-01-01')",
    ]
    return rows


INSERT_LEAD = (
    "INSERT INTO leads (id, name, company, company_key, credit_code, origin, industry, chain, "
    "source, investment_wan, funds_arrived_wan, stage, stage_changed_on, created_on, township_id, "
    "primary_officer_id, sponsor, contact_name, contact_phone, notes, version, created_at, "
    "updated_at) VALUES (:id, :name, :company, 'k', :code, :origin, '', '', 'other', 1000, 0, "
    "'contact', :on, :on, :unit, 1, '', '', '', '', 1, :at, :at)")


def migrate_with_data(url, tmp_path):
    assert credit_code_valid(CODE)
    assert crm(url, "db", "upgrade", "0010", tmp_path=tmp_path).returncode == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql in _rows():
            conn.execute(sa.text(sql))
        for lead_id, unit, company, code, origin, created_on in LEADS:
            conn.execute(sa.text(INSERT_LEAD), {
                "id": lead_id, "name": f"项目{lead_id}", "company": company, "code": code,
                "origin": origin, "on": dt.date.fromisoformat(created_on),
                "at": dt.datetime.fromisoformat(created_on), "unit": unit})
    up = crm(url, "db", "upgrade", tmp_path=tmp_path)
    assert up.returncode == 0, up.stderr
    with engine.begin() as conn:
        leads = conn.execute(sa.text(
            "SELECT id, company, credit_code, company_id, ownership, merged_into_id "
            "FROM leads ORDER BY id")).all()
        companies = {row.id: row for row in conn.execute(sa.text(
            "SELECT id, name, name_key, credit_code, origin FROM companies"))}
        tokens = conn.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar()
        # a new company after the migrated ones gets a fresh id (PostgreSQL's sequence moved)
        conn.execute(sa.text("INSERT INTO companies (name, name_key, origin, created_at) "
                             "VALUES ('新', '新', '', '2026-05-01')"))
        conn.execute(sa.text("UPDATE leads SET ownership = 'disputed' WHERE id = 1"))
    engine.dispose()
    # not a character lost: each lead keeps its text
    assert [(r.id, r.company, r.credit_code) for r in leads] == [
        (i, company, code) for i, _u, company, code, _o, _d in LEADS]
    assert {r.ownership for r in leads} == {"sole"} and {r.merged_into_id for r in leads} == {None}
    company_of = {r.id: companies[r.company_id] for r in leads}
    assert company_of[1].id == company_of[2].id            # one investor, two spellings
    assert company_of[1].name == "烟台中宠食品股份有限公司"   # as the earliest lead typed it
    assert (company_of[1].name_key, company_of[1].origin) == ("中宠食品", "烟台")
    assert company_of[3].id == company_of[4].id and company_of[3].credit_code == CODE
    assert company_of[5].id not in (company_of[3].id, company_of[1].id)
    assert len(companies) == 4
    assert tokens == 1  # nothing cascaded away by the constraint change
    down = crm(url, "db", "downgrade", "0010", tmp_path=tmp_path)
    assert down.returncode == 0, down.stderr
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT id, company, credit_code FROM leads ORDER BY id")).all()
        assert conn.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar() == 1
    engine.dispose()
    assert [tuple(r) for r in after] == [(i, c, code) for i, _u, c, code, _o, _d in LEADS]


def test_sqlite_companies_built(tmp_path):
    migrate_with_data(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path)


def test_postgresql_companies_built(pg_server_url, tmp_path):
    name = f"crm_h16_{uuid.uuid4().hex[:8]}"
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
