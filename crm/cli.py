"""The `crm` command line: serve, db, seed-demo, users, reminders, backups and the rest."""

import sys

import click
import sqlalchemy as sa
from flask.cli import FlaskGroup, with_appcontext

from crm.auth.models import ROLES
from crm.errors import DomainError
from crm.extensions import db


def _create_app():
    from crm import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def cli():
    """招商 CRM command line."""


def main(argv=None) -> None:
    """The console script: every error is one line on stderr and a non-zero exit."""
    from crm.db_events import write_intent

    write_intent.set(True)  # commands write: on SQLite their transactions begin IMMEDIATE
    try:
        cli.main(args=argv, prog_name="crm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("错误：已取消", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"错误：{exc.format_message()}", err=True)
        sys.exit(exc.exit_code)


def fail(message) -> None:
    raise click.ClickException(str(message))


def _register_groups() -> None:
    from crm.bulletin.cli import export
    from crm.channels.cli import channels
    from crm.exports.cli import backup, restore_attachments
    from crm.imports.cli import import_
    from crm.reminders.cli import reminders, scheduler
    from crm.supervision.cli import bulletins, supervision

    cli.add_command(backup)
    cli.add_command(channels)
    cli.add_command(restore_attachments)
    cli.add_command(export)
    cli.add_command(import_)
    cli.add_command(reminders)
    cli.add_command(scheduler)
    cli.add_command(supervision)
    cli.add_command(bulletins)


_register_groups()


@cli.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Load the demo district if absent (idempotent); print the logins."""
    from crm.clock import today
    from crm.seed import seed_demo

    try:
        result = seed_demo(today())
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    click.echo("演示数据已载入" if result["created"] else "演示数据已存在，未重复载入")
    print_logins(result)


def print_logins(result) -> None:
    click.echo(f"演示账号（密码均为 {result['password']}）：")
    for username, role, unit in result["logins"]:
        click.echo(f"  {username:<20} {role:<16} {unit}")


@cli.group()
def townships():
    """Manage units (towns, subdistricts, the zone, bureaus)."""


@townships.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice(["town", "subdistrict", "zone", "bureau"]),
              default="town", show_default=True)
@with_appcontext
def townships_create(name, kind):
    """Add a unit; print its id."""
    from crm.townships.models import Township

    name = name.strip()
    if not name or len(name) > 64:
        fail("单位名称不能为空，且不超过64个字符")
    if db.session.scalar(sa.select(Township.id).where(Township.name == name)):
        fail(f"单位已存在：{name}")
    township = Township(name=name, kind=kind)
    db.session.add(township)
    db.session.commit()
    click.echo(township.id)


@cli.group()
def users():
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--email", required=True)
@click.option("--township", "township_name", default=None, help="Unit name (officers, heads).")
@click.option("--password", default=None, help="Prompted for when not given.")
@click.option("--name", "display_name", default=None, help="Display name.")
@with_appcontext
def users_create(username, role, email, township_name, password, display_name):
    """Add a user; print its id. Audited as /admin/users audits it, by no one (the system)."""
    from crm.admin.services import add_user
    from crm.townships.models import Township

    township = None
    if township_name:
        township = db.session.scalar(sa.select(Township).where(Township.name == township_name))
        if township is None:
            fail(f"单位不存在：{township_name}")
    if password is None:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("密码", hide_input=True, confirmation_prompt=True)
    try:
        # Without --name the display name is the username (cut to fit, or a placeholder when the
        # username is blank: the username's own check then names the real problem).
        name = display_name or (username or "").strip()[:64] or "-"
        user = add_user(None, username=username, role=role, email=email, password=password,
                        township=township, display_name=name)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    click.echo(user.id)


@cli.group()
def tokens():
    """Manage API tokens."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="cli", help="A label for the token.")
@click.option("--expires-days", default=365, show_default=True, type=click.IntRange(1, 3650),
              help="Days until the token expires.")
@with_appcontext
def tokens_create(username, name, expires_days):
    """Print a new API token for USERNAME, and nothing else."""
    from crm.account.services import create_token
    from crm.auth.services import find_by_username

    user = find_by_username(username)
    if user is None:
        fail(f"用户不存在：{username}")
    if not user.active:
        fail(f"用户已停用：{username}")
    try:
        _token, raw = create_token(None, user, name, expires_days)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    click.echo(raw)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def tokens_revoke(token_id):
    """Revoke the API token with this id (shown on /admin/tokens)."""
    from crm.account.services import revoke_token
    from crm.auth.models import ApiToken

    token = db.session.get(ApiToken, token_id)
    if token is None:
        fail(f"令牌不存在：{token_id}")
    if revoke_token(None, token):
        db.session.commit()
        click.echo(f"已吊销令牌 {token_id}（{token.user.username}）")
    else:
        click.echo(f"令牌 {token_id} 此前已吊销")


def served_base_url(app, host: str, port: int) -> str:
    """The links in mail: CRM_BASE_URL when it is set (environment or instance/config.py), else
    this server's own address, so `make run PORT=8000` links to port 8000."""
    import os
    from pathlib import Path

    from crm.config import read_instance_file

    if "CRM_BASE_URL" in os.environ or "CRM_BASE_URL" in read_instance_file(Path(app.instance_path)):
        return app.config["CRM_BASE_URL"]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a comparison)
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


@cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@with_appcontext
def serve(host, port):
    """Run the web app (development server, no reloader) as `make run` does."""
    from flask import current_app

    from crm.logs import dev_request_handler
    from crm.seed import DEMO_PASSWORD

    click.echo(f"招商 CRM: http://{host}:{port}/")
    click.echo(f"演示账号: admin, viewer, mengzhuang-head, mengzhuang-1, ... 密码 {DEMO_PASSWORD}")
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()
    app.config["CRM_BASE_URL"] = served_base_url(app, host, port)
    if app.config["CRM_SCHEDULER"] == "on":
        from crm.reminders.cli import build_scheduler

        build_scheduler(app, blocking=False).start()  # once: this server runs without a reloader
        click.echo("提醒调度已启动（CRM_SCHEDULER=on）")
    # The access log as gunicorn's: paths without query strings, secret links redacted.
    run_simple(host, port, app, use_reloader=False, threaded=True,
               request_handler=dev_request_handler())
