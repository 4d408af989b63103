"""`crm supervision run [--as-of D]` and `crm bulletins publish --as-of D`."""

import click
from flask.cli import with_appcontext

from crm.extensions import db


def _day(text: str | None):
    from crm.bulletin.report import parse_as_of
    from crm.clock import today

    try:
        return parse_as_of(text, today())
    except ValueError:
        raise click.ClickException(f"日期格式不正确：{text}（应为 YYYY-MM-DD）") from None


@click.group()
def supervision():
    """Supervision orders (督办)."""


@supervision.command("run")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD",
              help="Run as on that date (default: today, Asia/Shanghai).")
@with_appcontext
def run_command(as_of: str | None):
    """Issue yellow orders for red projects and escalate overdue orders (exactly once a day)."""
    from crm.supervision.services import run_and_commit

    day = _day(as_of)
    result = run_and_commit(day)
    click.echo(f"督办 {day.isoformat()}：{result.summary()}")


@click.group()
def bulletins():
    """Published bulletins (通报 第N期)."""


@bulletins.command("publish")
@click.option("--as-of", "as_of", required=True, metavar="YYYY-MM-DD",
              help="The as-of date of the bulletin to publish.")
@with_appcontext
def publish_command(as_of: str):
    """Publish the bulletin of that date as the next issue of its year; prints the issue."""
    from crm.bulletin.cli import first_district_admin
    from crm.bulletin.issues import publish
    from crm.errors import DomainError

    day = _day(as_of)
    try:
        issue = publish(first_district_admin(), day)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    click.echo(f"已发布 {issue.year}年第{issue.number}期（截至 {issue.as_of.isoformat()}，"
               f"id {issue.id}）")
