"""Exports (.xlsx of leads and visits) and backups (`crm backup`, the admin's download)."""

import datetime as dt
import io
import os
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.clock import today
from crm.exports.xlsx import LEAD_HEADERS, LEAD_IMPORT_HEADERS, VISIT_HEADERS
from crm.extensions import db
from crm.industries.lookup import find as find_industry
from crm.leads.models import Lead
from crm.visits.models import Visit
from tests import factories
from tests.conftest import wait_for
from tests.console import run_crm
from tests.querycount import count_queries

CRM = str(Path(sys.executable).with_name("crm"))
IMPORT_HEADERS = (
    "项目名称", "投资方", "统一社会信用代码", "来源地", "产业", "产业链", "招商方式",
    "计划投资(万元)", "所属镇街", "负责人", "帮包领导", "阶段", "终止原因", "终止日期", "录入日期",
    "计划签约", "计划开工", "计划投产", "用地(亩)", "预计年产值(万元)", "预计年税收(万元)",
    "就业人数", "联系人", "联系电话", "下次跟进", "纳统日期", "重点级别", "备注",
)


def sheet_rows(response):
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows())
    headers = [c.value for c in rows[0]]
    return headers, [dict(zip(headers, row, strict=False)) for row in rows[1:]]


def values(row):
    return {k: c.value for k, c in row.items()}


def test_lead_export_headers_values_and_types(client, auth, world):
    lead = db.session.get(Lead, world.lead_a.id)
    lead.investment_wan = Decimal("123456.7")
    lead.funds_arrived_wan = Decimal("1000.5")
    lead.planned_sign_date = dt.date(2026, 9, 30)
    lead.stats_included_on = dt.date(2026, 1, 15)
    lead.contact_name, lead.contact_phone = "张三", "0632-1234567"
    lead.credit_code = "91370400MA3C0XXXX1"
    lead.origin, lead.chain, lead.source = "烟台", "宠物食品", "referral"
    lead.industry_ref, lead.industry_text = find_industry("健康食品"), "健康食品"
    db.session.commit()

    auth.login("admin")
    headers, rows = sheet_rows(client.get("/exports/leads.xlsx"))
    assert tuple(headers[:len(IMPORT_HEADERS)]) == IMPORT_HEADERS == LEAD_IMPORT_HEADERS
    assert tuple(headers) == LEAD_HEADERS
    assert {"计划投资(亿元)", "到位资金(万元)", "颜色", "纳统日期"} <= set(headers)
    assert len(rows) == 3
    row = next(r for r in rows if r["项目名称"].value == "宠物食品生产基地")
    v = values(row)
    assert v["投资方"] == "烟台中宠食品股份有限公司"
    assert v["统一社会信用代码"] == "91370400MA3C0XXXX1"
    assert (v["来源地"], v["产业"], v["产业链"]) == ("烟台", "健康食品", "宠物食品")
    assert v["招商方式"] == "以商招商"
    assert v["所属镇街"] == "孟庄镇"
    assert v["负责人"] == "a-1"
    assert v["阶段"] == "接触"
    assert v["联系人"] == "张三" and v["联系电话"] == "0632-1234567"
    assert v["颜色"] in ("红", "黄", "蓝")
    # amounts are numbers: 万元 exact, 亿元 as well
    assert isinstance(v["计划投资(万元)"], int | float)
    assert Decimal(str(v["计划投资(万元)"])) == Decimal("123456.7")
    assert isinstance(v["计划投资(亿元)"], int | float)
    assert Decimal(str(v["计划投资(亿元)"])) == Decimal("12.34567")
    assert row["计划投资(亿元)"].number_format == "#,##0.00"
    assert Decimal(str(v["到位资金(万元)"])) == Decimal("1000.5")
    # dates are date cells
    for name in ("录入日期", "计划签约", "纳统日期"):
        assert row[name].is_date, name
    assert v["录入日期"].date() == today() - dt.timedelta(days=10)
    assert v["计划签约"].date() == dt.date(2026, 9, 30)
    assert v["纳统日期"].date() == dt.date(2026, 1, 15)
    assert v["计划开工"] is None


def test_lead_export_round_trips_the_import_columns(client, auth, world):
    """What the importer reads back from the first columns equals each lead's fields."""
    from crm.leads.models import SOURCE_LABELS
    from crm.leads.pipeline import STAGE_LABELS

    auth.login("admin")
    _headers, rows = sheet_rows(client.get("/exports/leads.xlsx"))
    by_name = {r["项目名称"].value: values(r) for r in rows}
    leads = db.session.scalars(sa.select(Lead)).all()
    assert set(by_name) == {lead.name for lead in leads}
    source_codes = {str(v): k for k, v in SOURCE_LABELS.items()}
    stage_codes = {str(v): k for k, v in STAGE_LABELS.items()}
    for lead in leads:
        v = by_name[lead.name]
        assert v["投资方"] == lead.company
        assert Decimal(str(v["计划投资(万元)"])) == lead.investment_wan
        assert source_codes[v["招商方式"]] == lead.source
        assert stage_codes[v["阶段"]] == lead.stage
        assert v["所属镇街"] == lead.township.name
        assert v["录入日期"].date() == lead.created_on
        assert v["负责人"] == (lead.primary_officer.display_name if lead.primary_officer else None)


def test_lead_export_respects_visibility_and_filters(client, auth, world):
    auth.login("a-1")  # an officer of 孟庄镇 sees only its leads
    _h, rows = sheet_rows(client.get("/exports/leads.xlsx"))
    assert {r["项目名称"].value for r in rows} == {"宠物食品生产基地", "智能机器人"}
    # asking for another unit's leads gives nothing, not them
    _h, rows = sheet_rows(client.get(f"/exports/leads.xlsx?township_id={world.b.id}"))
    assert rows == []
    _h, rows = sheet_rows(client.get("/exports/leads.xlsx?q=机器人"))
    assert [r["项目名称"].value for r in rows] == ["智能机器人"]
    auth.logout()

    auth.login("viewer")
    _h, rows = sheet_rows(client.get(f"/exports/leads.xlsx?township_id={world.b.id}"))
    assert [r["项目名称"].value for r in rows] == ["专用车制造"]
    _h, rows = sheet_rows(client.get("/exports/leads.xlsx?stage=signed"))
    assert rows == []


def test_lead_export_needs_login(client, world):
    response = client.get("/exports/leads.xlsx")
    assert response.status_code in (302, 401)


def test_lead_export_neutralises_formulas(client, auth, world):
    lead = db.session.get(Lead, world.lead_a.id)
    lead.name = "=HYPERLINK(\"http://evil\")"
    lead.company = "+cmd|' /C calc'!A0"
    lead.contact_name = "@SUM(1)"
    lead.contact_phone = "-1+2"
    db.session.commit()
    auth.login("admin")
    _h, rows = sheet_rows(client.get("/exports/leads.xlsx?q=HYPERLINK"))
    assert len(rows) == 1
    v = values(rows[0])
    assert v["项目名称"] == "'=HYPERLINK(\"http://evil\")"
    assert v["投资方"] == "'+cmd|' /C calc'!A0"
    assert v["联系人"] == "'@SUM(1)"
    assert v["联系电话"] == "'-1+2"
    assert all(c.data_type != "f" for c in rows[0].values())


def test_lead_export_streams_in_a_fixed_number_of_queries(client, auth, world, app):
    def export_queries():
        auth.login("admin")
        with count_queries() as c:
            response = client.get("/exports/leads.xlsx")
        assert response.status_code == 200
        auth.logout()
        return c["n"]

    few = export_queries()
    for i in range(30):
        factories.lead(world.off_b1, world.b, name=f"批量项目{i}", company=f"批量公司{i}",
                       primary_officer_id=world.off_b1.id)
    db.session.commit()
    assert export_queries() == few


def test_lead_export_link_on_the_list(client, auth, world):
    auth.login("admin")
    page = client.get("/leads/?stage=contact&q=x").get_data(as_text=True)
    assert "/exports/leads.xlsx?" in page
    assert "stage=contact" in page


def _visit(lead, user, on, summary="走访洽谈"):
    v = Visit(lead_id=lead.id, township_id=lead.township_id, user_id=user.id, visited_on=on,
              kind="visit", summary=summary, next_step="", participants="",
              next_follow_up=on + dt.timedelta(days=7))
    db.session.add(v)
    return v


def test_visit_export(client, auth, world):
    d = today()
    _visit(world.lead_a, world.off_a1, d - dt.timedelta(days=5), "=1+1 看现场")
    _visit(world.lead_a2, world.off_a2, d - dt.timedelta(days=1))
    _visit(world.lead_b, world.off_b1, d - dt.timedelta(days=2))
    db.session.commit()

    auth.login("admin")
    headers, rows = sheet_rows(client.get("/exports/visits.xlsx"))
    assert tuple(headers) == VISIT_HEADERS
    assert len(rows) == 3
    first = rows[0]
    assert first["走访日期"].is_date and first["下次跟进"].is_date
    assert first["走访日期"].value.date() == d - dt.timedelta(days=5)
    assert first["走访内容"].value == "'=1+1 看现场"
    assert first["所属镇街"].value == "孟庄镇" and first["方式"].value == "上门走访"
    assert first["走访人"].value == "a-1"
    _h, rows = sheet_rows(client.get(f"/exports/visits.xlsx?township_id={world.b.id}"))
    assert [r["项目名称"].value for r in rows] == ["专用车制造"]
    frm = (d - dt.timedelta(days=2)).isoformat()
    _h, rows = sheet_rows(client.get(f"/exports/visits.xlsx?from={frm}&to={d.isoformat()}"))
    assert [r["项目名称"].value for r in rows] == ["专用车制造", "智能机器人"]
    assert client.get("/exports/visits.xlsx?from=yesterday").status_code == 400
    auth.logout()

    auth.login("b-1")  # another unit's visits are not theirs to export
    _h, rows = sheet_rows(client.get(f"/exports/visits.xlsx?township_id={world.a.id}"))
    assert rows == []
    _h, rows = sheet_rows(client.get("/exports/visits.xlsx"))
    assert [r["项目名称"].value for r in rows] == ["专用车制造"]


# Backups.


def test_admin_backup_download(client, auth, world, db_kind, tmp_path):
    auth.login("a-head")
    assert client.get("/admin/backup").status_code == 403
    auth.logout()
    auth.login("viewer")
    assert client.get("/admin/backup").status_code == 403
    auth.logout()
    auth.login("admin")
    response = client.get("/admin/backup")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.data
    assert len(data) > 1000
    if db_kind == "sqlite":
        assert data.startswith(b"SQLite format 3\x00")
        copy = tmp_path / "downloaded.sqlite3"
        copy.write_bytes(data)
        con = sqlite3.connect(copy)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM leads").fetchone()[0] == 3
        con.close()
    else:
        assert data.startswith(b"PGDMP")


def test_backup_errors_are_clear(tmp_path):
    from crm.backup import BackupError, backup

    with pytest.raises(BackupError, match="不存在"):
        backup(f"sqlite:///{tmp_path / 'missing.sqlite3'}", tmp_path / "out.sqlite3")
    with pytest.raises(BackupError, match="输出目录不存在"):
        backup(f"sqlite:///{tmp_path / 'missing.sqlite3'}", tmp_path / "no" / "out.sqlite3")
    with pytest.raises(BackupError, match="pg_dump"):
        backup("postgresql+psycopg://nobody:secret@127.0.0.1:1/nothing", tmp_path / "x.dump")
    assert not (tmp_path / "x.dump").exists()


def test_libpq_url_drops_driver_and_password():
    from crm.backup import libpq_url

    url, env = libpq_url(sa.engine.make_url("postgresql+psycopg://crm:p%40ss@db:5432/crm"))
    assert url == "postgresql://crm@db:5432/crm"
    assert env == {"PGPASSWORD": "p@ss"}


def _crm(url, *args, cwd):
    """``crm *args`` on ``url``, in this process (tests/console.py)."""
    return run_crm(*args, env={"CRM_DATABASE_URL": url, "CRM_SECRET_KEY": "x"}, cwd=cwd)


WRITER = """
import os, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=30)
con.execute("PRAGMA busy_timeout=30000")
print("ready", flush=True)
stop, end = sys.argv[2], time.monotonic() + 120
n = 0
while not os.path.exists(stop) and time.monotonic() < end:
    n += 1
    with con:  # one transaction: 20 audit rows and one unit
        for _ in range(20):
            con.execute("INSERT INTO audit_log (created_at, action, object_type, object_id, "
                        "changes, remote_addr) VALUES ('2026-01-01 00:00:00.000000', "
                        "'test.write', 'test', ?, '{}', '')", (n,))
        con.execute("INSERT INTO townships (name, kind, created_at) "
                    "VALUES (?, 'town', '2026-01-01 00:00:00.000000')", (f"写入{n}",))
print(n, flush=True)
"""


def _written(path) -> int:
    """The audit rows the writer has committed to the SQLite file at ``path``."""
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM audit_log WHERE action = 'test.write'").fetchone()[0]
    finally:
        con.close()


def _counts(con, tables):
    return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608
            for t in tables}


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_sqlite_backup_while_another_process_writes(tmp_path):
    src = tmp_path / "live.sqlite3"
    url = f"sqlite:///{src}"
    up = _crm(url, "db", "upgrade", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    seeded = _crm(url, "seed-demo", cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    writer_code = tmp_path / "writer.py"
    writer_code.write_text(WRITER)
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, str(writer_code), str(src), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        assert wait_for(lambda: _written(src) >= 200, timeout=60)  # ten transactions in
        out = tmp_path / "backup.sqlite3"
        result = _crm(url, "backup", "--out", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "备份已写入" in result.stdout
        in_backup = _written(out)
        assert wait_for(lambda: _written(src) > in_backup, timeout=60)  # it goes on after the backup
        still_writing = writer.poll() is None
    finally:
        stop.touch()
        rest, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert still_writing, "the backup must be taken while the writer runs"
    assert int(rest.strip()) > 0

    bak = sqlite3.connect(out)
    assert bak.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert bak.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not Path(str(out) + "-wal").exists()
    live = sqlite3.connect(src)
    tables = [r[0] for r in live.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    assert set(tables) == {r[0] for r in bak.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
    assert bak.execute("SELECT version_num FROM alembic_version").fetchall() == \
        live.execute("SELECT version_num FROM alembic_version").fetchall()
    before, after = _counts(bak, tables), _counts(live, tables)
    assert all(before[t] <= after[t] for t in tables)
    assert before["audit_log"] < after["audit_log"]  # taken in the middle
    assert before["leads"] == after["leads"] > 0
    # consistent: every writer transaction is wholly in or wholly out
    written = bak.execute("SELECT count(*) FROM audit_log WHERE action='test.write'").fetchone()[0]
    units = bak.execute("SELECT count(*) FROM townships WHERE name LIKE '写入%'").fetchone()[0]
    assert written == 20 * units > 0
    live.close()

    # restore into a fresh file with the sqlite3 backup API (what `.restore` does)
    restored = tmp_path / "restored.sqlite3"
    target = sqlite3.connect(restored)
    bak.backup(target)
    bak.close()
    assert target.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _counts(target, tables) == before
    target.close()
    # and the app runs on it
    check = _crm(f"sqlite:///{restored}", "db", "current", cwd=tmp_path)
    assert check.returncode == 0, check.stderr


def test_backup_command_errors_in_one_line(tmp_path):
    result = _crm(f"sqlite:///{tmp_path / 'nothing.sqlite3'}", "backup", "--out",
                  str(tmp_path / "b.sqlite3"), cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "数据库文件不存在" in lines[0]
    missing = _crm(f"sqlite:///{tmp_path / 'nothing.sqlite3'}", "backup", cwd=tmp_path)
    assert missing.returncode != 0 and "--out" in missing.stderr


def test_postgresql_backup_restores_into_an_empty_database(pg_server_url, tmp_path):
    admin = sa.create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    source, target = (f"crm_bak_{uuid.uuid4().hex[:8]}" for _ in range(2))
    base = sa.engine.make_url(pg_server_url)
    src_url = base.set(database=source).render_as_string(hide_password=False)
    dst_url = base.set(database=target).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{source}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{target}"'))
    try:
        assert _crm(src_url, "db", "upgrade", cwd=tmp_path).returncode == 0
        seeded = _crm(src_url, "seed-demo", cwd=tmp_path)
        assert seeded.returncode == 0, seeded.stderr
        out = tmp_path / "crm.dump"
        result = _crm(src_url, "backup", "--out", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert out.read_bytes().startswith(b"PGDMP")

        from crm.backup import libpq_url, pg_dump_binary

        pg_restore = str(Path(pg_dump_binary()).with_name("pg_restore"))
        libpq, extra = libpq_url(sa.engine.make_url(dst_url))
        restore = subprocess.run(
            [pg_restore, "--clean", "--if-exists", "--no-owner", "-d", libpq, str(out)],
            env={**os.environ, **extra}, capture_output=True, text=True, timeout=180)
        assert restore.returncode == 0, restore.stderr

        engines = [sa.create_engine(src_url), sa.create_engine(dst_url)]
        counts = []
        for engine in engines:
            with engine.connect() as conn:
                tables = sorted(sa.inspect(conn).get_table_names())
                counts.append({
                    t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar()  # noqa: S608
                    for t in tables})
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
                counts[-1]["_version"] = tuple(version)
            engine.dispose()
        assert counts[0] == counts[1]
        assert counts[1]["leads"] > 0
        # the restored database takes new rows (sequences restored too)
        check = _crm(dst_url, "townships", "create", "恢复测试镇", cwd=tmp_path)
        assert check.returncode == 0, check.stderr
    finally:
        with admin.connect() as conn:
            for name in (source, target):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


ROUND_TRIP_FIELDS = ("name", "company", "credit_code", "origin", "industry", "chain", "source",
                     "investment_wan", "township_id", "primary_officer_id", "stage", "created_on",
                     "planned_sign_date", "planned_start_date", "planned_production_date",
                     "next_follow_up", "contact_name", "contact_phone")


def test_lead_export_reimports_to_the_same_leads(client, auth, world, tmp_path):
    """Export, delete the leads, import the file with the importer: the same leads again."""
    service = pytest.importorskip("crm.imports.service")
    reader = pytest.importorskip("crm.imports.reader")
    lead = db.session.get(Lead, world.lead_a.id)
    lead.investment_wan = Decimal("12345.6789")
    lead.origin, lead.chain, lead.source = "烟台", "宠物食品", "capital"
    lead.industry_ref, lead.industry_text = find_industry("健康食品"), "健康食品"
    lead.contact_name, lead.contact_phone = "张三", "13800000000"
    lead.planned_sign_date = today() + dt.timedelta(days=30)
    lead.next_follow_up = today() + dt.timedelta(days=3)
    db.session.commit()

    def snapshot():
        return sorted(
            tuple(getattr(lead, f) for f in ROUND_TRIP_FIELDS)
            for lead in db.session.scalars(sa.select(Lead))
        )

    before = snapshot()
    auth.login("admin")
    response = client.get("/exports/leads.xlsx")
    assert response.status_code == 200
    path = tmp_path / "export.xlsx"
    path.write_bytes(response.data)
    for old in db.session.scalars(sa.select(Lead)).all():
        db.session.delete(old)
    db.session.commit()

    admin = db.session.get(type(world.admin), world.admin.id)
    table = reader.read_table(path, "export.xlsx")
    results = service.preview(admin, table)
    assert [r.error_lines() for r in results if r.errors] == []
    service.import_rows(admin, results, "export.xlsx")
    db.session.commit()
    assert snapshot() == before
