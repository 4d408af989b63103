"""The bulk import writes exactly what the per-row import writes (SQLite and PostgreSQL)."""

import datetime as dt

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.claims.models import Claim
from crm.clock import today
from crm.companies.models import Company, Dispute
from crm.errors import DomainError
from crm.extensions import db
from crm.imports.bulk import bulk_import_rows
from crm.imports.reader import read_table
from crm.imports.service import import_rows, preview
from crm.leads.models import Lead, StageChange
from crm.stats import versions
from crm.stats.models import StatsVersion
from tests import factories

CODE = "91350100M000100Y43"
HEADER = ("项目名称,投资方,统一社会信用代码,所属镇街,负责人,阶段,终止原因,终止日期,录入日期,"
          "纳统日期,产业,计划投资(万元),备注")


def _day(days_ago: int) -> str:
    return (today() - dt.timedelta(days=days_ago)).isoformat()


def rows() -> list[str]:
    """Every path: disputes with existing leads and with the file's earlier rows (either one
    first), a company found by name, by credit code, one learning its code, 终止 rows (one
    disputed before it is lost), milestones and 纳统 claims, an officer and an industry."""
    return [
        f"撞单项目1,烟台中宠食品有限公司,,税郭镇,b-1,签约,,,{_day(0)},,新材料,1.5亿,甲",
        f"投产项目,恒远精密制造有限公司,,孟庄镇,a-1,投产,,,{_day(40)},{_day(5)},,8000,",
        f"终止项目,新锐材料有限公司,,孟庄镇,,终止,选址他处,{_day(3)},{_day(30)},,,,",
        f"同投资方项目,新锐材料股份有限公司,,税郭镇,,洽谈,,,{_day(2)},,,,",
        f"更早的同投资方,（山东）新锐材料集团,,张范街道,,接触,,,{_day(20)},,,,",
        f"学到信用代码,鑫润泽专用车有限公司,{CODE},孟庄镇,a-2,开工,,,{_day(1)},,,,",
        f"同一信用代码,润泽汽车零部件有限公司,{CODE},张范街道,,接触,,,{_day(0)},,,,",
        f"终止前撞单,三维汉界有限公司,,税郭镇,,终止,其他,,{_day(0)},,,,",
        "普通项目,东方红科技有限公司,,税郭镇,b-1,接触,,,,,,,",
        f"普通项目2,西方绿科技有限公司,,张范街道,,签约,,,{_day(7)},{_day(7)},,,",
        "编号项目,众联测试企业1有限公司,,孟庄镇,,接触,,,,,,,",
        "编号项目同名,众联测试企业1股份有限公司,,税郭镇,,接触,,,,,,,",
        "编号不同,众联测试企业10有限公司,,张范街道,,接触,,,,,,,",
    ]


def write_csv(path, lines):
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _new_rows(model, floor: int, columns_out=("created_at", "updated_at", "submitted_at")):
    table = model.__table__
    out = []
    for row in db.session.execute(sa.select(table).where(table.c.id > floor)
                                  .order_by(table.c.id)).mappings():
        out.append({k: v for k, v in row.items() if k not in columns_out})
    return out


MODELS = (Lead, StageChange, Company, Dispute, Claim, AuditEntry)


def _floors() -> dict:
    return {m: db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(m.id), 0)))
            for m in MODELS}


def snapshot(floors: dict) -> dict:
    """What an import added, its new rows' ids renumbered from their table's floor (PostgreSQL's
    sequences do not roll back), references to them renumbered alike."""
    new = {m: _new_rows(m, floors[m]) for m in MODELS}
    renumber = {m: {row["id"]: f"{m.__name__}#{i}" for i, row in enumerate(new[m])}
                for m in MODELS}
    refs = {"lead_id": Lead, "first_lead_id": Lead, "second_lead_id": Lead,
            "company_id": Company}

    def fix(value, model):
        return renumber[model].get(value, value)

    out = {}
    for m in MODELS:
        rows_out = []
        for row in new[m]:
            row = dict(row)
            row["id"] = fix(row["id"], m)
            for col, target in refs.items():
                if col in row:
                    row[col] = fix(row[col], target)
            if m is AuditEntry:
                target = {"lead": Lead, "dispute": Dispute, "claim": Claim}.get(row["object_type"])
                if target is not None:
                    row["object_id"] = fix(row["object_id"], target)
                changes = dict(row["changes"])
                if "rival_lead_id" in changes:
                    old, rival = changes["rival_lead_id"]
                    changes["rival_lead_id"] = [old, fix(rival, Lead)]
                row["changes"] = changes
            rows_out.append(row)
        out[m.__name__] = rows_out
    db.session.flush()
    versions.bump_versions(db.session)
    out["versions"] = dict(db.session.execute(
        sa.select(StatsVersion.township_id, StatsVersion.version)).all())
    # changed existing companies (a credit code learned)
    out["companies"] = db.session.execute(
        sa.select(Company.id, Company.credit_code, Company.origin)
        .where(Company.id <= floors[Company]).order_by(Company.id)).all()
    return out


@pytest.mark.parametrize("chunk", [3, 1000])
def test_bulk_writes_what_the_row_by_row_import_writes(app, world, tmp_path, chunk):
    factories.township("张范街道")
    db.session.commit()
    table = read_table(write_csv(tmp_path / "导入.csv", rows()))
    admin = world.admin

    floors = _floors()
    results = preview(admin, table)
    assert [r.error_lines() for r in results] == [[]] * len(results)
    import_rows(admin, results, "导入.csv")
    expected = snapshot(floors)
    db.session.rollback()

    floors = _floors()
    # as the command line does it: each row's cells, then each written chunk, let go
    results = preview(admin, table, release=True)
    assert table.rows == []
    done = []
    assert bulk_import_rows(admin, results, "导入.csv", progress=done.append, chunk=chunk,
                            release=True) == 13
    assert results == [None] * 13
    got = snapshot(floors)
    assert sum(done) == 13

    for name in expected:
        assert got[name] == expected[name], name
    # the file exercised what it means to: disputes either way round, lost rows, claims
    assert len(got["Dispute"]) >= 5
    assert {row["to_stage"] for row in got["StageChange"]} >= {"lost", "producing"}
    assert {row["kind"] for row in got["Claim"]} >= {"signed", "stats_included", "producing"}
    assert any(code == CODE for _id, code, _o in got["companies"])
    db.session.commit()
    lost = db.session.scalar(sa.select(Lead).where(Lead.name == "终止前撞单"))
    assert lost.stage == "lost" and lost.ownership == "disputed" and lost.version == 2


def test_bulk_refuses_bad_rows_and_empty_files(app, world, tmp_path):
    table = read_table(write_csv(tmp_path / "bad.csv", ["坏行,某公司,,不存在的镇,,接触,,,,,,,"]))
    results = preview(world.admin, table)
    with pytest.raises(DomainError):
        bulk_import_rows(world.admin, results, "bad.csv")
    with pytest.raises(DomainError):
        bulk_import_rows(world.admin, [], "bad.csv")


def test_command_line_reads_a_larger_file_when_asked(app, runner, world, tmp_path):
    from crm.imports.cli import import_

    path = tmp_path / "大文件.csv"
    path.write_text("项目名称,投资方,所属镇街\n" + "".join(
        f"批量项目{i},批量{i}号企业有限公司,{'孟庄镇' if i % 2 else '税郭镇'}\n"
        for i in range(5100)), encoding="utf-8")
    before = db.session.scalar(sa.select(sa.func.count(Lead.id)))
    refused = runner.invoke(import_, ["leads", str(path)])
    assert refused.exit_code != 0 and "行数过多" in refused.output
    result = runner.invoke(import_, ["leads", str(path), "--max-rows", "6000"])
    assert result.exit_code == 0, result.output
    assert "已导入 5100 个项目" in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == before + 5100
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.action == "lead.import")) == 5100


def test_a_checked_rows_values_read_like_a_dict():
    from crm.imports.service import RowValues

    a = RowValues({"name": "甲", "company": "乙公司", "jobs": 3})
    b = RowValues({"name": "丙", "company": "丁公司", "jobs": 0})
    assert a == {"name": "甲", "company": "乙公司", "jobs": 3} and a != b
    assert a["company"] == "乙公司" and a.get("stage") is None and "jobs" in a
    assert list(b.items()) == [("name", "丙"), ("company", "丁公司"), ("jobs", 0)]
    assert a._positions is b._positions  # the same fields: their positions shared
    with pytest.raises(KeyError):
        a["stage"]
