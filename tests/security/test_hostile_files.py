"""Hostile spreadsheets are refused while being read, quickly, naming the limit; nothing written,
the upload deleted; no database transaction is open while a file is read; stale and surplus
uploads are deleted.

The files are built here, shape by shape (a row of millions of cells, millions of rows, a huge
shared-strings table, deep nesting, a DTD...), not copied from one attack: each shape must meet
the limit that belongs to it. benchmarks/hostile_xlsx.py measures time and memory on a server.
"""

import io
import os
import time
import zipfile

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.imports import uploads
from crm.imports.cli import import_
from crm.imports.reader import read_table
from crm.leads.models import Lead
from crm.reminders import scheduler
from crm.townships.models import Township

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/></Types>')
WORKBOOK = (f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
    '</Relationships>')
SHEET_HEAD = f'<worksheet xmlns="{MAIN}"><sheetData>'.encode()
SHEET_TAIL = b"</sheetData></worksheet>"


def repeated(piece: bytes, times: int, head: bytes = b"", tail: bytes = b""):
    """``head``, ``piece`` ``times`` times and ``tail``, in chunks (never all in memory)."""
    yield head
    block = 50_000
    for start in range(0, times, block):
        yield piece * min(block, times - start)
    yield tail


def write_xlsx(path, sheet, strings=None):
    """A minimal workbook whose sheet (and shared strings) are the given byte chunks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        for name, chunks in (("xl/worksheets/sheet1.xml", sheet),
                             ("xl/sharedStrings.xml", strings)):
            if chunks is None:
                continue
            with archive.open(name, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
    return path


def sheet_rows(row: bytes, times: int, before: bytes = b""):
    return repeated(row, times, SHEET_HEAD + before, SHEET_TAIL)


def wide_row(cells: int, cell: bytes = b"<c><v>1</v></c>"):
    """One row of ``cells`` cells (3 million of them zip to about 160 KB)."""
    return repeated(cell, cells, SHEET_HEAD + b"<row>", b"</row>" + SHEET_TAIL)


def strings_table(piece: bytes, times: int):
    return repeated(piece, times, f'<sst xmlns="{MAIN}">'.encode(), b"</sst>")


HEADER_ROW = ('<row><c t="inlineStr"><is><t>项目名称</t></is></c>'
              '<c t="inlineStr"><is><t>投资方</t></is></c></row>').encode()

#: name → (sheet, shared strings, words the refusal must contain)
HOSTILE = {
    "a row of millions of values": (lambda: wide_row(3_000_000), None, "最多 100 列"),
    "a row of millions of empty cells": (
        lambda: wide_row(3_000_000, b'<c s="0"/>'), None, "列数过多"),
    "a value far to the right": (
        lambda: wide_row(1, b'<c r="ZZ1" t="inlineStr"><is><t>x</t></is></c>'), None,
        "最多 100 列"),
    "millions of rows": (
        lambda: sheet_rows(b'<row><c t="inlineStr"><is><t>x</t></is></c></row>', 2_000_000),
        None, "最多导入 5000 行"),
    "millions of empty rows": (lambda: sheet_rows(b"<row/>", 3_000_000), None,
                               "最多 200000 个单元格"),
    "many rows of empty cells": (lambda: sheet_rows(b"<row>" + b"<c/>" * 90 + b"</row>", 100_000),
                                 None, "最多 200000 个单元格"),
    "millions of foreign elements": (
        lambda: repeated(b"<x/>", 5_000_000, SHEET_HEAD + b"<row>", b"</row>" + SHEET_TAIL),
        None, "结构过于复杂"),
    "deep nesting": (
        lambda: repeated(b"<x>", 1_000_000, SHEET_HEAD + b"<row><c>", b""), None, "嵌套过深"),
    "an entity expansion (DTD)": (
        lambda: iter([b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
                      + b"".join(b'<!ENTITY %s "%s">' % (b"a" * (i + 2), (b"&" + b"a" * (i + 1)
                                                                        + b";") * 10)
                                 for i in range(8))
                      + b"]>" + SHEET_HEAD + b"<row><c t=\"inlineStr\"><is><t>&aaaaaaaaa;"
                      + b"</t></is></c></row>" + SHEET_TAIL]), None, "DTD"),
    "a huge shared-strings table": (
        lambda: sheet_rows(b'<row><c t="s"><v>0</v></c></row>', 1),
        lambda: strings_table(b"<si><t>" + b"x" * 1000 + b"</t></si>", 20_000), "16 MB"),
    "millions of shared strings": (
        lambda: sheet_rows(b'<row><c t="s"><v>0</v></c></row>', 1),
        lambda: strings_table(b"<si/>", 2_000_000), "200000 条"),
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    files = {}
    for name, (sheet, strings, message) in HOSTILE.items():
        path = folder / f"{len(files)}.xlsx"
        write_xlsx(path, sheet(), strings() if strings else None)
        assert path.stat().st_size < 5 * 1024 * 1024, name  # under the upload limit
        files[name] = (path, message)
    return files


def lead_count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Lead))


def post_file(client, path, name="台账.xlsx"):
    return client.post("/imports/leads", data={"file": (io.BytesIO(path.read_bytes()), name)},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("shape", list(HOSTILE))
def test_reader_refuses_within_the_budget(app, hostile_files, shape):
    from crm.imports.reader import ImportRefused

    path, message = hostile_files[shape]
    started = time.monotonic()
    with pytest.raises(ImportRefused) as refused:
        read_table(path)
    assert message in str(refused.value.message)
    assert time.monotonic() - started < 10  # a safety net: the figures are in the benchmark


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_page_refuses_every_shape_and_keeps_nothing(app, client, auth, world, hostile_files):
    auth.login("a-1")
    before = lead_count()
    for shape, (path, message) in hostile_files.items():
        started = time.monotonic()
        response = post_file(client, path)
        assert time.monotonic() - started < 10, shape
        assert response.status_code == 400, shape
        assert message in response.get_data(as_text=True), shape
    assert lead_count() == before
    assert not list(uploads.folder().iterdir())


def test_command_line_refuses_with_the_limit(app, runner, world, hostile_files):
    path, message = hostile_files["a row of millions of values"]
    result = runner.invoke(import_, ["leads", str(path)])
    assert result.exit_code != 0 and message in result.output
    db.session.rollback()


def test_time_limit_is_a_backstop(app, hostile_files):
    app.config["CRM_IMPORT_MAX_SECONDS"] = 0
    app.config["CRM_IMPORT_MAX_CELLS"] = 10_000_000
    from crm.imports.reader import ImportRefused

    with pytest.raises(ImportRefused, match="读取超时：超过 0 秒"):
        read_table(hostile_files["millions of empty rows"][0])


def test_a_sheet_that_declares_a_huge_size_is_read_by_its_content(app, tmp_path):
    """The <dimension> a file claims costs nothing: only cells that are there are read."""
    path = write_xlsx(tmp_path / "dim.xlsx", iter([
        f'<worksheet xmlns="{MAIN}"><dimension ref="A1:XFD1048576"/><sheetData>'.encode()
        + HEADER_ROW + b'<row r="7"><c r="A7" t="inlineStr"><is><t>p</t></is></c>'
        + b'<c r="B7" t="inlineStr"><is><t>c</t></is></c></row>' + SHEET_TAIL]))
    table = read_table(path)
    assert [(n, v) for n, v in table.rows] == [(7, ("p", "c"))]


# ---------------------------------------------------------------- no transaction while reading


def test_no_transaction_is_open_while_the_file_is_read(app, client, auth, world, tmp_path,
                                                       monkeypatch):
    """Another writer commits at once while the file is being read (on SQLite a POST holds the
    write lock from its first query until its transaction ends)."""
    from crm.imports import views

    seen = []
    real_read = views.read_table
    unit_id = world.a.id
    db.session.rollback()  # the test's own session holds nothing either

    def read_while_another_writes(path, filename):
        seen.append(db.session().in_transaction())
        with db.engine.connect() as other:
            if other.dialect.name == "sqlite":  # fail at once if locked (before BEGIN)
                other.connection.driver_connection.execute("PRAGMA busy_timeout=0")
            other.execute(sa.update(Township).where(Township.id == unit_id)
                          .values(name=Township.name))
            other.commit()
        seen.append("written")
        return real_read(path, filename)

    monkeypatch.setattr(views, "read_table", read_while_another_writes)
    path = tmp_path / "ok.csv"
    path.write_text("项目名称,投资方\n甲项目,甲企业有限公司\n", encoding="utf-8")
    auth.login("a-1")
    response = post_file(client, path, "ok.csv")
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_data(as_text=True).split('name="token" value="')[1].split('"')[0]
    response = client.post("/imports/leads/confirm", data={"token": token})
    assert response.status_code == 302
    assert seen == [False, "written", False, "written"]


# ---------------------------------------------------------------- retention and the cap


def test_stale_uploads_are_deleted_by_the_job(app, world):
    with app.test_request_context():
        old = uploads.store(world.off_a1.id, b"old", ".csv")
        new = uploads.store(world.off_a1.id, b"new", ".csv")
        day_ago = time.time() - 24 * 3600 - 60
        os.utime(old, (day_ago, day_ago))
    scheduler.uploads_prune_job(app)
    assert not old.exists() and new.exists()
    assert "uploads-prune" in {job_id for job_id, *_ in scheduler.JOBS}


def test_prune_uploads_command(app, runner, world):
    with app.test_request_context():
        old = uploads.store(world.off_a1.id, b"old", ".csv")
    os.utime(old, (time.time() - 30 * 3600,) * 2)
    result = runner.invoke(import_, ["prune-uploads"])
    assert result.exit_code == 0 and "已删除 1 个" in result.output
    assert not old.exists()


def test_pending_uploads_per_user_are_capped(app, client, auth, world, tmp_path):
    """A sixth preview drops the user's oldest upload (its token says so), not anyone else's."""
    with app.test_request_context():
        someone_else = uploads.store(world.off_a2.id, b"theirs", ".csv")
    auth.login("a-1")
    tokens = []
    for i in range(7):
        path = tmp_path / f"{i}.csv"
        path.write_text(f"项目名称,投资方\n项目{i},企业{i}有限公司\n", encoding="utf-8")
        page = post_file(client, path, f"{i}.csv").get_data(as_text=True)
        tokens.append(page.split('name="token" value="')[1].split('"')[0])
        with app.test_request_context():
            assert len(uploads.pending(world.off_a1.id)) == min(i + 1, 5)
    assert someone_else.exists()
    response = client.post("/imports/leads/confirm", data={"token": tokens[0]},
                           follow_redirects=True)
    assert "上传的文件已失效" in response.get_data(as_text=True)
    before = lead_count()
    assert client.post("/imports/leads/confirm", data={"token": tokens[-1]}).status_code == 302
    assert lead_count() == before + 1
