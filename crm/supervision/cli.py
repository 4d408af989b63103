"""`crm supervision run [--as-of D]` and `crm bulletins publish --as-of D`."""

import click
from flask.cli import with_appcontext

from crm.cli_dates import as_of_option
from crm.extensions import db


@click.group()
def supervision():
    """Supervision orders (督办)."""


@supervision.command("run")
@as_of_option("Run as on that date (default: today, Asia/Shanghai).")
@with_appcontext
def run_command(as_of):
    """Issue yellow orders for red projects and escalate overdue orders (exactly once a day)."""
    from crm.clock import today
    from crm.supervision.services import run_and_commit

    day = as_of or today()
    result = run_and_commit(day)
    click.echo(f"督办 {day.isoformat()}：{result.summary()}")


@click.group()
def bulletins():
    """Published bulletins (通报 第N期)."""


@bulletins.command("publish")
@as_of_option("The as-of date of the bulletin to publish.", required=True)
@with_appcontext
def publish_command(as_of):
    """Publish the bulletin of that date as the next issue of its year; prints the issue."""
    from crm.bulletin.cli import first_district_admin
    from crm.bulletin.issues import publish
    from crm.errors import DomainError

    try:
        issue = publish(first_district_admin(), as_of)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    click.echo(f"已发布 {issue.year}年第{issue.number}期（截至 {issue.as_of.isoformat()}，"
               f"id {issue.id}）")
