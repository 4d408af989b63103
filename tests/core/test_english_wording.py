"""English wording (issue 19): amounts as an English reader says them, plurals by ngettext,
no Chinese "；" between English clauses."""

import datetime as dt
import re
from decimal import Decimal

from crm.clock import today
from crm.extensions import db
from crm.money import list_separator, yi_phrase


def test_amounts_in_words_keep_the_figure_shown_in_chinese():
    cases = [(35000, "3.50 亿元", "350 million yuan"),
             (150000, "15.00 亿元", "1.5 billion yuan"),
             (Decimal("12345.6789"), "1.23 亿元", "123 million yuan"),
             (1234567, "123.46 亿元", "12.346 billion yuan"),
             (Decimal("0.5"), "0.00 亿元", "5,000 yuan"),
             (0, "0.00 亿元", "0 yuan"), (None, "0.00 亿元", "0 yuan")]
    for wan, chinese, english in cases:
        assert (yi_phrase(wan), yi_phrase(wan, english=True)) == (chinese, english), wan
    assert (list_separator(), list_separator(english=True)) == ("；", "; ")


def test_the_lead_list_in_english_says_million_yuan_and_joins_with_a_semicolon(
        client, auth, world):
    lead = world.lead_a  # 20000 万元, idle and past its follow-up: two reasons
    lead.next_follow_up = today() - dt.timedelta(days=3)
    lead.created_on = today() - dt.timedelta(days=90)  # and no visit since
    db.session.commit()
    auth.login("a-head")
    text = client.get("/leads/?lang=en").get_data(as_text=True)
    summary = re.search(r'<p class="summary-line">(.*?)</p>', text, re.S).group(1)
    assert "400 million yuan" in summary and "100M" not in summary  # 2 leads of 2 亿元
    page = client.get("/bulletin?lang=en").get_data(as_text=True)
    cells = re.findall(r'class="cell-reasons"[^>]*>(.*?)</td>', page, re.S)
    joined = [c for c in cells if lead.name in page and "; " in c]
    assert joined and not any("；" in c for c in cells), cells
    chinese = client.get("/leads/?lang=zh_CN").get_data(as_text=True)
    assert "计划投资 4.00 亿元" in chinese


def test_counts_of_days_are_plural_messages():
    """Every message counting days is an ngettext message (English: 1 day, 2 days)."""
    from pathlib import Path

    from babel.messages.extract import extract_from_file

    root = Path(__file__).parents[2]
    found = []
    for path in ("crm/leads/colour.py", "crm/channels/messages.py"):
        for _line, message, _comments, _context in extract_from_file(
                "python", root / path, keywords={"_": None, "_l": None, "ngettext": (1, 2)}):
            found.append(message)
    day_counts = [m for m in found if re.search(r"%\(\w+\)s ?天", str(m))]
    assert day_counts and all(isinstance(m, tuple) for m in day_counts), day_counts


def test_money_in_words_on_the_board_the_home_and_the_lead_page(client, auth, world):
    """No "× 100M CNY" or "× 10k CNY", no "(s)": amounts as an English reader says them, counts
    by ngettext; the Chinese pages keep 亿元 and 万元."""
    from crm.money import wan_phrase

    assert [wan_phrase(v, english=True) for v in (Decimal("12.5"), 500, Decimal("0.0001"), 0)] \
        == ["125,000 yuan", "5 million yuan", "1 yuan", "0 yuan"]
    assert wan_phrase(Decimal("12.5")) == "12.5 万元"
    lead = world.lead_a  # 20000 万元, a-1's
    lead.funds_arrived_wan = Decimal("1234.5")
    db.session.commit()
    auth.login("a-1")
    pages = {url: client.get(url + "?lang=en").get_data(as_text=True)
             for url in ("/board", "/", f"/leads/{lead.id}")}
    for url, text in pages.items():
        assert "CNY" not in text and "(s)" not in text, url
    sums = re.findall(r'class="board-col-sum">([^<]*)<', pages["/board"])
    assert sums[0] == "2 projects · 400 million yuan", sums  # the unit's two leads in 接触
    assert sums[-1] == "0 projects · 0 yuan", sums  # 终止: empty
    assert "200 million yuan" in pages["/"]
    assert "12,345,000 yuan" in pages[f"/leads/{lead.id}"]  # the 1,234.5 万元 received
    chinese = client.get("/board?lang=zh_CN").get_data(as_text=True)
    assert "2 个 · 4.00 亿元" in chinese
