"""Migration 0012 on a database made by the previous release (0010): free-text industries are
mapped by name or alias, the rest left 待归类, every text kept; stage moves credited to the
primary officer of the time, from the audit trail of assignments."""

import json
import uuid

import sqlalchemy as sa

from tests.core.test_migrations import crm

#: lead id → industry text as users typed it before the managed list
TEXTS = {1: "智能机器人", 2: "智能装备/机器人", 3: "新能源/光伏", 4: "某种奇怪行业", 5: "新能源",
         6: "", 7: " 智能装备制造 ", 8: "ＮＥＷ某某行业", 9: "新材料", 10: "某种奇怪行业",
         11: "新能源／光伏"}  # a full-width slash


LEAD = (
    "INSERT INTO leads (id, name, company, company_key, origin, industry, chain, source, "
    "investment_wan, funds_arrived_wan, stage, stage_changed_on, created_on, township_id, "
    "primary_officer_id, sponsor, contact_name, contact_phone, notes, version, created_at, "
    "updated_at) VALUES (:id, :name, :name, :name, '', :text, '', 'other', 0, 0, 'negotiation', "
    "'2026-03-01', '2026-02-01', 1, :primary, '', '', '', '', 1, '2026-02-01 08:00:00', "
    "'2026-03-01 08:00:00')")
USER = (
    "INSERT INTO users (id, username, display_name, email, role, township_id, active, "
    "password_hash, locale, session_nonce, created_at, reminder_daily, reminder_weekly) VALUES "
    "(:id, :name, :name, :email, :role, 1, TRUE, 'x', 'zh_CN', 'n', '2026-01-01 00:00:00', "
    "TRUE, TRUE)")


def _lead_sql(lead_id, text, primary):
    return LEAD, {"id": lead_id, "name": f"p{lead_id}", "text": text, "primary": primary}


def _user_sql(user_id, name, role):
    return USER, {"id": user_id, "name": name, "email": f"{name}@x.cn", "role": role}


def _rows():
    rows = ["INSERT INTO townships (id, name, kind, created_at) "
            "VALUES (1, '孟庄镇', 'town', '2026-01-01 00:00:00')",
            _user_sql(1, "a-1", "officer"), _user_sql(2, "a-2", "officer"),
            _user_sql(3, "a-head", "township_head")]
    rows += [_lead_sql(i, text, 2 if i == 1 else (1 if i != 6 else None))
             for i, text in TEXTS.items()]
    # lead 1: created by the head with a-1 as primary (02-01), moved by the head on 02-10,
    # reassigned a-1 → a-2 on 02-20, moved again by the head on 03-01. Today's primary: a-2.
    rows.append(
        "INSERT INTO stage_changes (id, lead_id, from_stage, to_stage, effective_on, implied, "
        "user_id, reason, created_at) VALUES "
        "(1, 1, NULL, 'contact', '2026-02-01', FALSE, 3, '', '2026-02-01 08:00:00'),"
        "(2, 1, 'contact', 'negotiation', '2026-02-10', FALSE, 3, '', '2026-02-10 08:00:00'),"
        "(3, 1, 'negotiation', 'signed', '2026-03-01', FALSE, 3, '', '2026-03-01 08:00:00'),"
        # lead 6 has no primary officer: nobody is credited
        "(4, 6, NULL, 'contact', '2026-02-01', FALSE, 3, '', '2026-02-01 08:00:00'),"
        # lead 2: never reassigned: its current primary (a-1)
        "(5, 2, 'contact', 'negotiation', '2026-02-05', FALSE, 3, '', '2026-02-05 08:00:00')")
    changes = json.dumps({"primary_officer_id": [1, 2]})
    helpers = json.dumps({"helper_ids": [[], [3]]})  # not a change of primary officer
    rows.append((
        "INSERT INTO audit_log (id, created_at, user_id, action, object_type, object_id, lead_id, "
        "changes, remote_addr) VALUES "
        "(1, '2026-02-20 08:00:00', 3, 'lead.assign', 'lead', 1, 1, :primary, ''),"
        "(2, '2026-02-25 08:00:00', 3, 'lead.assign', 'lead', 1, 1, :helpers, '')",
        {"primary": changes, "helpers": helpers}))
    return rows


def migrate_with_data(url, tmp_path):
    assert crm(url, "db", "upgrade", "0010", tmp_path=tmp_path).returncode == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for row in _rows():
            sql, params = row if isinstance(row, tuple) else (row, {})
            conn.execute(sa.text(sql), params)
    up = crm(url, "db", "upgrade", "0012", tmp_path=tmp_path)
    assert up.returncode == 0, up.stderr
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("SELECT name, id FROM industries")).all())
        leads = {i: (text, industry_id) for i, text, industry_id in conn.execute(sa.text(
            "SELECT id, industry, industry_id FROM leads ORDER BY id"))}
        credit = dict(conn.execute(sa.text(
            "SELECT id, credited_officer_id FROM stage_changes")).all())
        chains = dict(conn.execute(sa.text("SELECT name, chain FROM industries")).all())
    engine.dispose()
    assert {"智能装备/机器人", "新能源", "新材料", "高端化工", "生物医药", "健康食品"} <= set(names)
    assert chains["精密制造"] == chains["智能装备/机器人"] == "高端装备"
    robots, energy = names["智能装备/机器人"], names["新能源"]
    expected = {1: robots, 2: robots, 3: energy, 4: None, 5: energy, 6: None, 7: robots,
                8: None, 9: names["新材料"], 10: None, 11: energy}
    assert {i: industry_id for i, (_t, industry_id) in leads.items()} == expected
    # not a character of what users typed is lost
    assert {i: text for i, (text, _id) in leads.items()} == TEXTS
    # lead 1: a-1 was primary until 02-20, a-2 after; lead 6 has nobody; lead 2 its own (a-1)
    assert credit == {1: 1, 2: 1, 3: 2, 4: None, 5: 1}
    down = crm(url, "db", "downgrade", "0010", tmp_path=tmp_path)
    assert down.returncode == 0, down.stderr
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert "industries" not in sa.inspect(conn).get_table_names()
        assert dict(conn.execute(sa.text("SELECT id, industry FROM leads")).all()) == TEXTS
        assert conn.execute(sa.text("SELECT count(*) FROM stage_changes")).scalar() == 5
    engine.dispose()


def test_sqlite_maps_industries_and_credits_moves(tmp_path):
    migrate_with_data(f"sqlite:///{tmp_path / 'i.sqlite3'}", tmp_path)


def test_postgresql_maps_industries_and_credits_moves(pg_server_url, tmp_path):
    name = f"crm_h16i_{uuid.uuid4().hex[:8]}"
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
