"""The dashboards' own SVG charts: the month's activity day by day, and bars sized for a wall.

Built from ``crm.stats.charts``' pieces (escaped text and attributes, ``role="img"`` with a
title, no links, no ``style=``). Each takes its size and font size, so the big screen draws them
in the shape of its panels with text readable from across a room, and the home page at the
width of a phone; a ``Palette`` gives the colours for a light page or the dark screen.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from markupsafe import Markup

from crm.stats.activity import MonthActivity
from crm.stats.charts import GRID, MUTED, TEXT, TRACK, Bar, _attrs, _rect, _svg, _text

#: The series' colours: visits blue, stage moves teal (as the stats pages' stage colours).
SERIES_COLOURS = {"visits": "#2563eb", "moves": "#0d9488"}
SCREEN_SERIES_COLOURS = {"visits": "#5b9dff", "moves": "#2dd4bf"}


@dataclass(frozen=True)
class Palette:
    text: str = TEXT
    muted: str = MUTED
    grid: str = GRID
    track: str = TRACK


LIGHT = Palette()
#: On the big screen's dark panels (#0f1e33): light text, dim lines.
DARK = Palette(text="#eef3fa", muted="#b6c5da", grid="#2a4266", track="#1a2c47")


def series_labels() -> dict:
    return {"visits": _("走访"), "moves": _("阶段变动")}


def month_chart(chart_id: str, title: str, month: MonthActivity, *, width: int = 400,
                height: int = 210, font: int = 12, palette: Palette = LIGHT,
                colours: dict | None = None) -> Markup:
    """Two columns a day (visits, stage moves) for each day of the period; a legend with the
    totals on top, day numbers below (every few days, the month's number on its first day and
    on the first day shown)."""
    colours = colours or SERIES_COLOURS
    labels = series_labels()
    left, right, top, bottom = font * 2, 4, font * 2 + 8, font + 10
    plot_h = height - top - bottom
    days = month.days
    slot = (width - left - right) / max(len(days), 1)
    col_w = max(slot * 0.38, 1)
    peak = month.peak
    step = max(1, -(-peak // 4))
    ceiling = step * 4 if peak else 4
    body = []
    x = float(left)
    for series in ("visits", "moves"):  # the legend: a swatch and "走访 12"
        text = f"{labels[series]} {month.total(series)}"
        body += [_rect(x, 6, font * 0.8, font * 0.8, colours[series], rx=2),
                 _text(x + font, 6 + font * 0.8, text, font_size=str(font), fill=palette.text)]
        x += font * (len(text) * 0.75 + 3)
    for tick in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * tick / ceiling
        body += [f"<line {_attrs(x1=float(left), y1=y, x2=float(width - right), y2=y)}"
                 f' stroke="{palette.grid}"/>',
                 _text(left - 4, y + font * 0.35, str(tick), text_anchor="end",
                       font_size=str(font), fill=palette.muted)]
    if not peak:
        body.append(_text(width / 2, top + plot_h / 2, _("近30天暂无走访和阶段变动"),
                          text_anchor="middle", fill=palette.muted, font_size=str(font)))
    label_every = 7 if len(days) * font > width - left else 1
    for i, day in enumerate(days):
        x0 = left + slot * i + (slot - 2 * col_w) / 2
        for k, series in enumerate(("visits", "moves")):
            n = getattr(day, series)
            if not n:
                continue
            h = plot_h * n / ceiling
            body.append(_rect(x0 + k * col_w, top + plot_h - h, col_w, h, colours[series],
                              tip=_("%(d)s日：%(s)s %(n)s", d=day.on.day, s=labels[series], n=n)))
        last = i == len(days) - 1
        if (len(days) - 1 - i) % label_every == 0:  # counted back from the as-of date
            text = f"{day.on.month}/{day.on.day}" if day.on.day <= label_every or last \
                else str(day.on.day)
            body.append(_text(left + slot * i + slot / 2, height - 4, text,
                              text_anchor="end" if last else "middle", font_size=str(font),
                              fill=palette.text))
    return _svg(chart_id, title, width, height, body, "month")


def bars_chart(chart_id: str, title: str, bars: Sequence[Bar], *, width: int = 400,
               font: int = 13, label_w: int | None = None, palette: Palette = LIGHT) -> Markup:
    """Horizontal bars (the funnel, a ranking's attainment) at a given size and font size; the
    bars' ``href`` is ignored (no links inside a chart)."""
    row_h, bar_h, pad = round(font * 1.9), round(font * 1.35), 4
    label_w = label_w or font * 4
    area = width - label_w - font * 4
    top_value = max((b.value for b in bars), default=0) or 1
    body = []
    for i, bar in enumerate(bars):
        y = pad + i * row_h
        length = area * bar.value / top_value
        body += [
            _text(label_w - 8, y + bar_h / 2 + font * 0.35, bar.label, text_anchor="end",
                  font_size=str(font), fill=palette.text),
            _rect(label_w, y, area, bar_h, palette.track, rx=3),
            _rect(label_w, y, length, bar_h, bar.colour, tip=f"{bar.label} {bar.text}", rx=3),
            _text(label_w + length + 6, y + bar_h / 2 + font * 0.35, bar.text,
                  font_size=str(font), font_weight="700", fill=palette.text),
        ]
    height = pad * 2 + row_h * max(len(bars), 1)
    return _svg(chart_id, title, width, int(height), body, "bars")

