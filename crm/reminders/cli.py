"""`crm reminders send daily|weekly [--as-of] [--dry-run]` and `crm scheduler`."""


import click
from flask import current_app
from flask.cli import with_appcontext

from crm.cli_dates import as_of_option


@click.group()
def reminders():
    """Send reminders."""


@reminders.command("send")
@click.argument("kind", type=click.Choice(["daily", "weekly", "review"]))
@as_of_option("As on this date (default: today, Asia/Shanghai).")
@click.option("--dry-run", is_flag=True, help="Print who would get what; change nothing.")
@with_appcontext
def send(kind, as_of, dry_run):
    """Send that reminder now, as on that date; print sent / skipped counts."""
    from crm.clock import today
    from crm.reminders import dispatch

    result = dispatch.run(kind, as_of or today(), dry_run=dry_run)
    if result.not_workday:
        click.echo(f"{as_of or today()} 不是工作日，不发送每日提醒。")
    if dry_run:
        for digest in result.planned:
            click.echo(f"would send {digest.kind} {digest.period} to {digest.user.username} "
                       f"<{digest.user.email}> ({digest.template})")
        click.echo(f"would send {len(result.planned)}")
        return
    for error in result.errors:
        click.echo(f"failed: {error}", err=True)
    click.echo(result.summary())
    if result.failed:
        raise SystemExit(1)


#: The exit code for a setting that cannot be used (as click's for bad usage).
BAD_SETTING = 2


def build_scheduler(app, *, blocking: bool):
    """The scheduler, or one line naming the bad setting and exit code 2 (nothing started)."""
    from crm.reminders.scheduler import SettingError, build

    try:
        return build(app, blocking=blocking)
    except SettingError as exc:
        error = click.ClickException(str(exc.message))
        error.exit_code = BAD_SETTING
        raise error from None


@click.command("scheduler")
@with_appcontext
def scheduler():
    """Run the reminder scheduler in the foreground (one process per deployment)."""
    sched = build_scheduler(current_app._get_current_object(), blocking=True)
    click.echo(f"scheduler started ({current_app.config['CRM_TIMEZONE']}); Ctrl-C stops it")
    for job in sched.get_jobs():
        click.echo(f"  {job.id}: {job.trigger}")
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
