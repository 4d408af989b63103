"""`crm import leads FILE [--dry-run]`: check every row, then import all or nothing."""

from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from crm.errors import DomainError
from crm.extensions import db

#: The most rows ``--max-rows`` allows: the command line may read larger files than an upload
#: (it runs on the server, for an operator), when asked to.
CLI_MAX_ROWS = 100_000


def _raise_limits(max_rows: int) -> None:
    """This command's reading limits: ``max_rows`` rows and what a file of that many rows in
    the template's columns needs (never below the configured ones)."""
    from flask import current_app

    from crm.imports import reader

    config = current_app.config

    def at_least(name, value, default):
        config[name] = max(config.get(name) or default, value)

    at_least("CRM_IMPORT_MAX_ROWS", max_rows, reader.MAX_ROWS)
    at_least("CRM_IMPORT_MAX_BYTES", max_rows * 2048, reader.MAX_BYTES)
    at_least("CRM_IMPORT_MAX_CELLS", max_rows * reader.MAX_COLUMNS // 2, reader.MAX_CELLS)
    at_least("CRM_IMPORT_MAX_SHARED_STRINGS", max_rows * 2048, reader.MAX_SHARED_STRINGS)
    at_least("CRM_IMPORT_MAX_SECONDS", max_rows / 100, reader.MAX_SECONDS)


@click.group("import")
def import_():
    """Import data from spreadsheets (.xlsx, .csv)."""


@import_.command("leads")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only check the file; write nothing.")
@click.option("--max-rows", type=click.IntRange(1, CLI_MAX_ROWS),
              help="Read a file of up to this many rows (at most 100000), with the size, cell "
                   "and time limits such a file needs; without it the upload's limits apply.")
@with_appcontext
def import_leads(file: Path, dry_run: bool, max_rows: int | None):
    """Import leads from FILE (.xlsx or .csv, UTF-8 or GBK) as the first district admin."""
    from crm.auth.models import DISTRICT_ADMIN, User
    from crm.imports.bulk import bulk_import_rows
    from crm.imports.reader import ImportRefused, read_table
    from crm.imports.service import preview

    if not file.exists():
        raise click.ClickException(f"文件不存在：{file}")
    user = db.session.scalar(
        sa.select(User).where(User.role == DISTRICT_ADMIN, User.active).order_by(User.id)
    )
    if user is None:
        raise click.ClickException("没有在岗的区招商局管理员账号，无法导入")
    if max_rows:
        _raise_limits(max_rows)
    try:
        table = read_table(file)
    except ImportRefused as exc:
        raise click.ClickException(str(exc.message)) from None
    for number, why in table.skipped:
        click.echo(f"第{number}行：{why}")
    results = preview(user, table, release=True)
    table = None
    bad = [r for r in results if r.errors]
    for result in bad:
        for line in result.error_lines():
            click.echo(line)
    if bad:
        db.session.rollback()
        raise click.ClickException(
            f"共{len(results)}行，其中{len(bad)}行有错误，未导入任何项目")
    for result in results:
        if result.dispute:
            click.echo(f"第{result.row_number}行：{result.dispute}")
    if dry_run:
        db.session.rollback()
        click.echo(f"检查通过：共{len(results)}行可导入（试运行，未写入）")
        return
    try:
        with click.progressbar(length=len(results), label="正在导入") as bar:
            count = bulk_import_rows(user, results, file.name, progress=bar.update,
                                     release=True)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    except Exception:
        db.session.rollback()
        raise
    click.echo(f"已导入 {count} 个项目（文件 {file.name}）")


@import_.command("prune-uploads")
@with_appcontext
def prune_uploads():
    """Delete import uploads older than CRM_UPLOAD_RETENTION_HOURS (never confirmed)."""
    from crm.imports import uploads

    click.echo(f"已删除 {uploads.prune()} 个过期的导入文件")
