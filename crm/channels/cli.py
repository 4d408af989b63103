"""`crm channels add|list|test`: the group robots from the command line."""

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from crm.cli_dates import as_of_option
from crm.extensions import db


@click.group()
def channels():
    """WeCom and DingTalk group robots."""


def _township(value: str | None):
    from crm.townships.models import Township

    if not value:
        return None
    unit = db.session.scalar(sa.select(Township).where(Township.name == value.strip()))
    if unit is None and value.strip().isdigit():
        unit = db.session.get(Township, int(value))
    if unit is None:
        raise click.ClickException(f"没有这个单位：{value}")
    return unit


def _channel(name: str):
    from crm.channels.models import Channel

    channel = db.session.scalar(sa.select(Channel).where(Channel.name == name.strip()))
    if channel is None:
        raise click.ClickException(f"没有这个群机器人：{name}")
    return channel


@channels.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["wecom", "dingtalk"]),
              help="wecom (企业微信) or dingtalk (钉钉).")
@click.option("--url", required=True, help="The robot's webhook URL (https).")
@click.option("--secret", default="", help="DingTalk's 加签 secret (SEC…).")
@click.option("--keyword", default="", help="DingTalk's 自定义关键词.")
@click.option("--township", default=None, metavar="UNIT",
              help="The unit whose group it is (default: the district's channel).")
@with_appcontext
def add(name, kind, url, secret, keyword, township):
    """Add a channel; prints its id."""
    from crm.channels.services import add_channel
    from crm.errors import DomainError

    try:
        channel = add_channel(None, name=name, kind=kind, url=url, township=_township(township),
                              secret=secret, keyword=keyword)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        messages = [str(m) for ms in exc.fields.values() for m in ms] or [str(exc.message)]
        raise click.ClickException(messages[0]) from None
    click.echo(channel.id)


@channels.command("list")
@with_appcontext
def list_():
    """The channels, secrets shown by their last 4 characters only."""
    from crm.channels.models import Channel

    rows = db.session.scalars(sa.select(Channel).order_by(Channel.id)).all()
    if not rows:
        click.echo("没有群机器人")
        return
    click.echo("id\tname\tkind\tscope\tenabled\turl\tsecret\tkeyword")
    for c in rows:
        click.echo("\t".join(str(v) for v in (
            c.id, c.name, c.kind, c.township.name if c.township else "district",
            "yes" if c.enabled else "no", c.url_hint, c.signing_hint or "-", c.keyword or "-")))


@channels.command("test")
@click.argument("name")
@with_appcontext
def test(name):
    """Send one test message; exit 1 with the vendor's answer when it fails."""
    from crm.channels import vendors
    from crm.channels.services import send_test, test_target

    target = test_target(_channel(name))
    db.session.rollback()
    try:
        answer = send_test(target)
    except vendors.DeliveryError as exc:
        click.echo(f"发送失败：{exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"已发送：{answer.strip()}")


@channels.command("send")
@as_of_option("The workday whose follow-ups to send (default: today, Asia/Shanghai).")
@with_appcontext
def send(as_of):
    """Send each unit's follow-ups of that workday (once), then every message due; print counts."""

    from crm.channels import jobs
    from crm.clock import today

    day = as_of or today()
    result = jobs.daily(day)
    if result is None:
        click.echo(f"{day} 不是工作日，不发送每日跟进。")
    rest = jobs.deliver_pending()
    for error in (result.errors if result else []) + rest.errors:
        click.echo(f"failed: {error}", err=True)
    if result:
        click.echo(result.summary())
    click.echo(f"retries: {rest.summary()}")
    if (result and result.failed) or rest.failed:
        raise SystemExit(1)
