"""A consistent copy of the database while the app runs (`crm backup`, the admin's download).

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the whole database in one
step under a read transaction, so writers in other processes (WAL mode) never leave it half
applied; the copy is checked with ``PRAGMA integrity_check`` and switched to a plain rollback
journal, so it is one self-contained file. PostgreSQL: ``pg_dump -Fc`` (one snapshot), restored
with ``pg_restore``. Either way the file appears only when complete (written beside it, renamed).

Evidence files (``crm.storage``) go into a folder beside it, ``FILE.attachments/`` (or one given),
laid out as the local store is (``ab/abcdef…``), copied after the database, so every file the
copied database names is there. Files are content-addressed and never change, so a folder shared
by nightly backups only receives the new ones. An S3 bucket is backed up by the store's own tools
(docs/deploy.md) unless the copy is asked for.
"""

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa


class BackupError(Exception):
    """A backup that could not be taken; the message says why (one line, Chinese)."""


def backup(url: str, out_path) -> Path:
    """Write a consistent backup of the database at ``url`` to ``out_path``; return the path."""
    out = Path(out_path)
    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001
        raise BackupError("数据库地址无法解析") from None
    backend = parsed.get_backend_name()
    if out.exists() and out.is_dir():
        raise BackupError(f"输出路径是目录：{out}")
    if not out.parent.is_dir():
        raise BackupError(f"输出目录不存在：{out.parent}")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        if backend == "sqlite":
            _sqlite(parsed, tmp)
        elif backend == "postgresql":
            _postgresql(parsed, tmp)
        else:
            raise BackupError(f"不支持的数据库类型：{backend}")
        os.replace(tmp, out)
    except OSError as exc:
        raise BackupError(f"无法写入备份文件 {out}：{exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return out


def attachments_dir_for(out_path) -> Path:
    """Where ``crm backup --out FILE`` puts the evidence files by default: ``FILE.attachments``."""
    out = Path(out_path)
    return out.with_name(out.name + ".attachments")


def copy_files(source, target) -> int:
    """Copy every file of storage ``source`` missing from storage ``target`` (either backend);
    return how many were copied. Each copy is checked against its key and written atomically,
    so an interrupted run leaves complete files only and the next run goes on from there."""
    copied = 0
    for key in source.keys():
        if target.exists(key):
            continue
        try:
            data = source.get(key)
        except FileNotFoundError:
            continue  # deleted while we listed
        except OSError as exc:
            raise BackupError(f"附件 {key} 读取失败：{exc}") from None
        try:
            target.put(data)
        except OSError as exc:
            raise BackupError(f"附件 {key} 写入失败：{exc}") from None
        copied += 1
    return copied


def backup_attachments(storage, dest_dir) -> int:
    """Copy the evidence files of ``storage`` into ``dest_dir`` (the local store's layout)."""
    from crm.storage import LocalStorage

    dest = Path(dest_dir)
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"附件备份路径不是目录：{dest}")
    if not dest.parent.is_dir():
        raise BackupError(f"输出目录不存在：{dest.parent}")
    try:
        dest.mkdir(exist_ok=True)
    except OSError as exc:
        raise BackupError(f"无法创建附件备份目录 {dest}：{exc.strerror or exc}") from None
    return copy_files(storage, LocalStorage(dest))


def _sqlite(parsed, tmp: Path) -> None:
    source = parsed.database
    if not source or source == ":memory:" or source.startswith("file:"):
        raise BackupError("只能备份 SQLite 数据库文件")
    if not Path(source).is_file():
        raise BackupError(f"数据库文件不存在：{source}")
    with contextlib.suppress(OSError):
        tmp.unlink()
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        src.backup(dst)  # pages=-1: all at once, one consistent snapshot
        dst.execute("PRAGMA journal_mode = DELETE")
        result = dst.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise BackupError(f"备份完整性检查失败：{result[0][0]}")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite 备份失败：{exc}") from None
    finally:
        dst.close()
        src.close()


def pg_dump_binary() -> str:
    """``pg_dump`` on PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which("pg_dump")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                        else 0)
    if candidates:
        return str(candidates[-1])
    raise BackupError("找不到 pg_dump（请安装 PostgreSQL 客户端工具）")


def libpq_url(parsed) -> tuple[str, dict]:
    """(libpq URL without the password, extra environment): ``postgresql+psycopg`` → ``postgresql``."""
    env = {}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    url = sa.engine.URL.create(
        "postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
        database=parsed.database, query=parsed.query,
    )
    return url.render_as_string(hide_password=False), env


def _postgresql(parsed, tmp: Path) -> None:
    url, extra = libpq_url(parsed)
    command = [pg_dump_binary(), "-Fc", "--no-owner", "-f", str(tmp), "-d", url]
    try:
        result = subprocess.run(command, env={**os.environ, **extra}, capture_output=True,
                                text=True)
    except OSError as exc:
        raise BackupError(f"无法运行 pg_dump：{exc}") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"退出码 {result.returncode}"
        raise BackupError(f"pg_dump 失败：{detail}")
