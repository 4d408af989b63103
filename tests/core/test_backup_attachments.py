"""`crm backup` takes the evidence files with the database; a restore into a fresh instance reads
them back by their keys. S3: the bucket is backed up by its own tools unless the copy is asked for."""

import shutil
import sqlite3

import pytest

from crm.backup import BackupError, backup_attachments, copy_files
from crm.exports.cli import backup, restore_attachments
from crm.storage import LocalStorage, get_storage, sha256_hex, storage_from_url
from tests.conftest import make_app

FILES = [b"%PDF-1.7 contract\n%%EOF\n", "现场照片".encode() * 1000, bytes(range(256))]


def test_backup_and_restore_into_a_fresh_instance(app, db_kind, tmp_path):
    storage = get_storage()
    keys = [storage.put(data) for data in FILES]
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    out = out_dir / ("crm.sqlite3" if db_kind == "sqlite" else "crm.dump")
    runner = app.test_cli_runner()
    result = runner.invoke(backup, ["--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "备份已写入" in result.output and "新增 3 个文件" in result.output
    folder = out_dir / f"{out.name}.attachments"
    assert sorted(p.name for p in folder.glob("??/*")) == sorted(keys)
    # the database file is what it always was
    head = out.read_bytes()[:16]
    assert head.startswith(b"SQLite format 3" if db_kind == "sqlite" else b"PGDMP")

    # again: nothing new to copy; a new file is added to the same folder
    storage.put(b"uploaded after the first backup")
    again = runner.invoke(backup, ["--out", str(out)])
    assert again.exit_code == 0 and "新增 1 个文件" in again.output

    # restore as the README says: the database file and the attachments folder into instance/
    fresh = tmp_path / "fresh"
    instance = fresh / "instance"
    instance.mkdir(parents=True)
    shutil.copytree(folder, instance / "attachments")
    if db_kind == "sqlite":
        shutil.copyfile(out, instance / "crm.sqlite3")
        restored_url = f"sqlite:///{instance / 'crm.sqlite3'}"
        with sqlite3.connect(instance / "crm.sqlite3") as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    else:  # pg_restore itself is tested in tests/exports; here the files
        restored_url = f"sqlite:///{instance / 'crm.sqlite3'}"
    restored = make_app(fresh, restored_url)
    with restored.app_context():
        files = get_storage()
        assert files.root == instance / "attachments"
        for key, data in zip(keys, FILES, strict=True):
            assert files.get(key) == data


def test_restore_attachments_command_into_a_fresh_instance(app, tmp_path):
    storage = get_storage()
    keys = [storage.put(data) for data in FILES]
    out = tmp_path / "crm-backup.db"
    assert app.test_cli_runner().invoke(backup, ["--out", str(out)]).exit_code == 0
    fresh = make_app(tmp_path / "fresh", f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    folder = str(tmp_path / "crm-backup.db.attachments")
    with fresh.app_context():  # (the command runs in the current app: the fixture pushed another)
        result = fresh.test_cli_runner().invoke(restore_attachments, [folder])
        assert result.exit_code == 0, result.output
        assert "已恢复 3 个附件文件" in result.output
        assert get_storage().root == tmp_path / "fresh" / "instance" / "attachments"
        assert [get_storage().get(k) for k in keys] == FILES
        rerun = fresh.test_cli_runner().invoke(restore_attachments, [folder])
    assert "已恢复 0 个附件文件" in rerun.output


def test_a_shared_attachments_folder_and_no_attachments(app, tmp_path):
    get_storage().put(b"one")
    shared = tmp_path / "all-attachments"
    runner = app.test_cli_runner()
    first = runner.invoke(backup, ["--out", str(tmp_path / "a.db"), "--attachments-dir", str(shared)])
    second = runner.invoke(backup, ["--out", str(tmp_path / "b.db"), "--attachments-dir", str(shared)])
    assert "新增 1 个文件" in first.output and "新增 0 个文件" in second.output
    assert list(LocalStorage(shared).keys()) == [sha256_hex(b"one")]
    skipped = runner.invoke(backup, ["--out", str(tmp_path / "c.db"), "--no-attachments"])
    assert skipped.exit_code == 0 and not (tmp_path / "c.db.attachments").exists()


def test_a_damaged_file_fails_the_backup_loudly(tmp_path):
    source = LocalStorage(tmp_path / "src")
    key = source.put(b"real")
    (tmp_path / "src" / key[:2] / key).write_bytes(b"fake")
    with pytest.raises(BackupError, match="读取失败"):
        backup_attachments(source, tmp_path / "out")
    with pytest.raises(BackupError, match="输出目录不存在"):
        backup_attachments(source, tmp_path / "no" / "out")


def test_s3_backup_is_left_to_the_bucket_unless_asked(app, tmp_path, s3_server, s3_bucket):
    s3 = storage_from_url(f"s3://{s3_bucket}/crm", tmp_path, **s3_server)
    app.extensions["crm_storage"] = s3  # as CRM_STORAGE_URL=s3://… would build it
    keys = [s3.put(data) for data in FILES]
    runner = app.test_cli_runner()
    plain = runner.invoke(backup, ["--out", str(tmp_path / "crm.db")])
    assert plain.exit_code == 0 and "docs/deploy.md" in plain.output
    assert not (tmp_path / "crm.db.attachments").exists()
    copied = runner.invoke(backup, ["--out", str(tmp_path / "crm.db"), "--attachments"])
    assert copied.exit_code == 0 and "新增 3 个文件" in copied.output
    # restore into a fresh bucket prefix, read back by key
    target = storage_from_url(f"s3://{s3_bucket}/restored", tmp_path, **s3_server)
    assert copy_files(LocalStorage(tmp_path / "crm.db.attachments"), target) == 3
    assert [target.get(k) for k in keys] == FILES
