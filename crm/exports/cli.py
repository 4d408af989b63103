"""`crm backup --out FILE`: a consistent copy of the database (and the evidence files) while the
app runs; `crm restore-attachments DIR` puts a backup's evidence files back."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The backup file to write (SQLite: a database file; PostgreSQL: pg_dump -Fc).")
@click.option("--attachments/--no-attachments", "attachments", default=None,
              help="Copy the evidence files too (default: yes for local files, no for S3, whose "
                   "bucket is backed up by the store's own tools).")
@click.option("--attachments-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the evidence files go (default FILE.attachments); a folder shared by "
                   "nightly backups only receives new files.")
@with_appcontext
def backup(out: Path, attachments: bool | None, attachments_dir: Path | None):
    """Back up the database to FILE (safe while the app runs); README says how to restore."""
    from crm.backup import BackupError, attachments_dir_for, backup_attachments
    from crm.backup import backup as take_backup
    from crm.storage import LocalStorage, get_storage

    storage = get_storage()
    if attachments is None:
        attachments = isinstance(storage, LocalStorage)
    try:
        take_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], out)
        click.echo(f"备份已写入：{out}")
        if attachments:
            # After the database: every file the copied database names is already stored.
            folder = attachments_dir or attachments_dir_for(out)
            copied = backup_attachments(storage, folder)
            click.echo(f"附件已备份到：{folder}（新增 {copied} 个文件）")
        else:
            click.echo("附件保存在对象存储中，未包含在此备份中：请按 docs/deploy.md 备份存储桶")
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("restore-attachments")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
def restore_attachments(folder: Path):
    """Copy the evidence files of a backup FOLDER (FILE.attachments) into the configured storage
    (local or S3); files already there are kept. Safe to run again."""
    from crm.backup import BackupError, copy_files
    from crm.storage import LocalStorage, get_storage

    try:
        copied = copy_files(LocalStorage(folder), get_storage())
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已恢复 {copied} 个附件文件")
