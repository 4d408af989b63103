"""`crm backup --out FILE`: a consistent copy of the database while the app runs."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The backup file to write (SQLite: a database file; PostgreSQL: pg_dump -Fc).")
@with_appcontext
def backup(out: Path):
    """Back up the database to FILE (safe while the app runs); README says how to restore."""
    from crm.backup import BackupError
    from crm.backup import backup as take_backup

    try:
        take_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], out)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"备份已写入：{out}")
