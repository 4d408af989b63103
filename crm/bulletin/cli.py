"""`crm export bulletin --out FILE.xlsx [--as-of YYYY-MM-DD]`: the weekly 红黄蓝 bulletin as a file."""

import io
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from crm.cli_dates import as_of_option
from crm.extensions import db


@click.group()
def export():
    """Export reports."""


def first_district_admin():
    """The first active district admin (by id): the bulletin covers what the district sees."""
    from crm.auth.models import DISTRICT_ADMIN, User

    user = db.session.scalar(
        sa.select(User).where(User.role == DISTRICT_ADMIN, User.active).order_by(User.id)
    )
    if user is None:
        raise click.ClickException("没有区招商局管理员账号")
    return user


@export.command("bulletin")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .xlsx file to write.")
@as_of_option("The date of the bulletin (default: today, Asia/Shanghai).")
@with_appcontext
def export_bulletin(out: Path, as_of: str | None):
    """Write the weekly 红黄蓝 bulletin (unit ranking, project colours) to an .xlsx file."""
    from crm.bulletin.report import bulletin_data, write_bulletin_xlsx
    from crm.clock import today

    day = as_of or today()
    data = bulletin_data(first_district_admin(), day)
    # Built in memory first: a path that cannot be written leaves no half-written file.
    buffer = io.BytesIO()
    write_bulletin_xlsx(data, buffer)
    try:
        out.write_bytes(buffer.getvalue())
    except OSError as exc:
        raise click.ClickException(f"无法写入文件 {out}：{exc.strerror or exc}") from None
    counts = data.counts
    click.echo(f"已写出 {out}（截至 {day.isoformat()}：{len(data.units)} 个单位；"
               f"红 {counts['red']}、黄 {counts['yellow']}、蓝 {counts['blue']} 个项目）")
