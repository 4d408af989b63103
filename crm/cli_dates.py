"""The ``--as-of YYYY-MM-DD`` option of the commands that act as on a date."""

import click

from crm import inputs


def _as_of(ctx, param, value):
    if value is None or not str(value).strip():
        return None
    try:
        return inputs.to_date(str(value).strip())
    except inputs.Invalid:
        raise click.ClickException(f"日期格式不正确：{value}（应为 YYYY-MM-DD）") from None


def as_of_option(help: str, *, required: bool = False):
    """``--as-of`` as a date (years 2000–2100), None when not given; a bad date is a one-line
    error and exit 1. The command takes today (Asia/Shanghai) for None."""
    return click.option("--as-of", "as_of", required=required, default=None,
                        metavar="YYYY-MM-DD", callback=_as_of, help=help)
