"""Server-rendered SVG charts: the funnel, attainment against time progress, weekly stage moves.

Plain strings, every text and attribute value passed through ``markupsafe.escape``; returned as
``Markup`` for the templates. No scripts and no ``style=`` (the CSP forbids inline styles): only
presentation attributes. A ``viewBox`` lets them scale to the width of a phone.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from flask_babel import gettext as _
from markupsafe import Markup, escape

FONT = '"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif'
TARGET_COLOURS = {"blue": "#2563eb", "yellow": "#d97706", "red": "#dc2626"}
NO_COLOUR = "#94a3b8"
STAGE_COLOURS = {
    "contact": "#64748b", "negotiation": "#7c3aed", "signed": "#0d9488",
    "started": "#ea580c", "producing": "#16a34a", "lost": "#9ca3af",
}
#: The width of every chart in user units; a phone shows it at about 0.85 scale (app.css sets
#: its text larger there). The pages draw each chart a second time at WIDE for a wide screen
#: (class ``chart-wide``; the stylesheet shows one of the two), so its text keeps its size.
WIDTH = 400
WIDE = 900
TEXT, MUTED, GRID, TRACK = "#1f2933", "#5c6776", "#e2e8f0", "#eef2f7"


@dataclass
class Bar:
    """One row of a bar chart: its label, value, colour, the text shown beside it, a link."""

    label: str
    value: float
    colour: str
    text: str
    href: str | None = None


def _esc(value) -> str:
    """Escaped text. ``str`` first: a lazy translation string claims to be HTML already."""
    return escape(str(value))


def _num(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _attrs(**attrs) -> str:
    """SVG attributes from keywords (``font_size`` → ``font-size``), values escaped."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = _num(value)
        parts.append(f'{name.rstrip("_").replace("_", "-")}="{_esc(value)}"')
    return " ".join(parts)


def _text(x, y, content, **attrs) -> str:
    attrs.setdefault("fill", TEXT)
    return f"<text {_attrs(x=float(x), y=float(y), **attrs)}>{_esc(content)}</text>"


def _rect(x, y, width, height, fill, tip=None, **attrs) -> str:
    body = f"<title>{_esc(tip)}</title>" if tip else ""
    attrs = _attrs(x=float(x), y=float(y), width=float(max(width, 0)), height=float(height),
                   fill=fill, **attrs)
    return f"<rect {attrs}>{body}</rect>"


def _link(href: str | None, content: str) -> str:
    return f'<a href="{_esc(href)}">{content}</a>' if href else content


def _svg(chart_id: str, title: str, width: int, height: int, body: list[str],
         kind: str) -> Markup:
    title_id = f"{chart_id}-title"
    # An image may not hold links (its children are presentational): a chart whose bars drill
    # down is a group of links named by its title.
    role = "group" if any("<a " in part for part in body) else "img"
    size = " chart-wide" if width > WIDTH else ""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" '
            f'{_attrs(class_=f"chart chart-{kind}{size}", id=chart_id, viewBox=f"0 0 {width} {height}")}'
            f' role="{role}" {_attrs(aria_labelledby=title_id)}'
            f" font-family='{FONT}' font-size=\"13\">"
            f'<title id="{_esc(title_id)}">{_esc(title)}</title>')
    # Safe: every text and attribute value above went through _esc().
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704


def percent(value: Fraction | float | None, places: int = 1) -> str:
    """49.6% (or — when there is nothing to divide by)."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{places}f}%"


def funnel_chart(chart_id: str, title: str, bars: Sequence[Bar], width: int = WIDTH) -> Markup:
    """Horizontal bars, one per stage, the widest for the largest count; each a drill-down."""
    label_w, row_h, bar_h, pad = 56, 32, 22, 6
    area = width - label_w - 56
    top = max((b.value for b in bars), default=0) or 1
    body = []
    for i, bar in enumerate(bars):
        y = pad + i * row_h
        length = area * bar.value / top
        row = [
            _text(label_w - 8, y + bar_h / 2 + 5, bar.label, text_anchor="end"),
            _rect(label_w, y, area, bar_h, TRACK, rx=4),
            _rect(label_w, y, length, bar_h, bar.colour, tip=f"{bar.label} {bar.text}", rx=4),
            _text(label_w + length + 6, y + bar_h / 2 + 5, bar.text, font_weight="600"),
        ]
        body.append(_link(bar.href, "".join(row)))
    return _svg(chart_id, title, width, pad * 2 + row_h * len(bars), body, "funnel")


def attainment_chart(chart_id: str, title: str, bars: Sequence[Bar],
                     progress: Fraction, width: int = WIDTH) -> Markup:
    """One bar per target (attainment; colour by target colour) against a dashed mark at the
    time progress across every bar. The scale runs to 100% or to the best attainment, at most
    200%."""
    left, right, row_h, bar_h, top = 4, 4, 44, 14, 30
    area = width - left - right
    scale = min(max([1.0, *(b.value for b in bars)]), 2.0)

    def x(value):
        return left + area * min(value, scale) / scale

    line_x = x(float(progress))
    mark = f' stroke="{TEXT}" stroke-width="2" stroke-dasharray="4 2"'
    # The caption sits beside a small triangle over the mark, on the side with more room.
    anchor, shift = ("end", 8) if line_x > width * 0.6 else ("start", -8)
    body = [
        _text(line_x - shift, 16, _("时序进度 %(p)s", p=percent(progress)), text_anchor=anchor,
              font_weight="600"),
        f"<path {_attrs(d=f'M{_num(line_x - 5)} 17 h10 l-5 7 z', fill=TEXT)}/>",
    ]
    for i, bar in enumerate(bars):
        y = top + i * row_h
        row = [
            _text(left, y + 12, bar.label),
            _text(width - right, y + 12, bar.text, text_anchor="end", font_weight="600"),
            _rect(left, y + 18, x(1) - left, bar_h, TRACK, stroke=GRID, rx=3),
            _rect(left, y + 18, x(bar.value) - left, bar_h, bar.colour,
                  tip=f"{bar.label} {bar.text}", rx=3),
            f"<line {_attrs(x1=line_x, y1=float(y + 14), x2=line_x, y2=float(y + 22 + bar_h))}"
            f"{mark}/>",
        ]
        body.append(_link(bar.href, "".join(row)))
    if not bars:
        body.append(_text(width / 2, top + 24, _("未设定目标"), text_anchor="middle", fill=MUTED))
    height = top + row_h * max(len(bars), 1)
    return _svg(chart_id, title, width, height, body, "attainment")


def weekly_chart(chart_id: str, title: str, weeks: Sequence, stages: Sequence[str],
                 stage_labels: dict, week_label: Callable | None = None,
                 width: int = WIDTH) -> Markup:
    """Stacked columns: one per week, one segment per stage entered, the week's total on top."""
    left, right, top, bottom = 24, 4, 44, 26
    height = 230
    plot_h = height - top - bottom
    slot = (width - left - right) / max(len(weeks), 1)
    col_w = slot * 0.64
    peak = max((w.total for w in weeks), default=0)
    step = max(1, -(-peak // 4))
    ceiling = step * 4 if peak else 4
    week_label = week_label or (lambda monday: monday.strftime("%m-%d"))
    body = []
    for k, stage in enumerate(stages):  # the legend, in two rows
        lx, ly = left + (k % 3) * 120, 10 + (k // 3) * 16
        body += [_rect(lx, ly, 10, 10, STAGE_COLOURS[stage], rx=2),
                 _text(lx + 14, ly + 9, stage_labels[stage], font_size="11")]
    for tick in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * tick / ceiling
        body += [f"<line {_attrs(x1=float(left), y1=y, x2=float(width - right), y2=y)}"
                 f' stroke="{GRID}"/>',
                 _text(left - 4, y + 4, str(tick), text_anchor="end", font_size="10", fill=MUTED)]
    if not peak:
        body.append(_text(width / 2, top + plot_h / 2, _("此期间无阶段变动"), text_anchor="middle",
                          fill=MUTED))
    for i, week in enumerate(weeks):
        x = left + slot * i + (slot - col_w) / 2
        y = top + plot_h
        label = week_label(week.monday)
        for stage in stages:
            n = week.counts.get(stage, 0)
            if not n:
                continue
            h = plot_h * n / ceiling
            y -= h
            body.append(_rect(x, y, col_w, h, STAGE_COLOURS[stage],
                              tip=_("%(week)s 起一周：%(stage)s %(n)s", week=label,
                                    stage=stage_labels[stage], n=n)))
        if week.total:
            body.append(_text(x + col_w / 2, y - 3, str(week.total), text_anchor="middle",
                              font_size="10", font_weight="600"))
        if i % 2 == (len(weeks) - 1) % 2:  # every other week, always the last
            body.append(_text(x + col_w / 2, height - 8, label, text_anchor="middle",
                              font_size="10", fill=MUTED))
    return _svg(chart_id, title, width, height, body, "weekly")
