"""A unit without targets (issue 19): no rank number, and its own figures shown, on the
statistics page and the bulletin."""

import re

from crm.clock import today
from crm.extensions import db
from crm.targets.models import Target
from tests import factories


def _row(text, name):
    return re.search(rf"<tr>\s*<td[^>]*>((?:(?!</tr>).)*?)</td>\s*<th scope=\"row\">"
                     rf"(?:<a[^>]*>)?{name}(?:</a>)?</th>((?:(?!</tr>).)*)</tr>", text, re.S)


def _a_unit_without_targets(world) -> int:
    """西王庄镇 with 2 new leads and no target, beside the world's two units with one each."""
    year = today().year
    c = factories.township("西王庄镇")
    for i in range(2):
        factories.lead(world.admin, c, name=f"西王庄项目{i}", company=f"西王庄公司{i}")
    for unit in (world.a, world.b):
        db.session.add(Target(township_id=unit.id, year=year, metric="new_leads", value=10))
    db.session.commit()
    return year


def test_a_unit_without_targets_is_not_ranked_and_shows_its_actuals(client, auth, world):
    year = _a_unit_without_targets(world)
    auth.login("admin")
    for path in (f"/stats/?year={year}", "/bulletin"):
        text = client.get(path).get_data(as_text=True)
        ranked = [_row(text, name) for name in ("孟庄镇", "税郭镇")]
        assert all(r and re.sub(r"<[^>]+>", "", r.group(1)).strip().isdigit() for r in ranked)
        row = _row(text, "西王庄镇")
        assert row, path
        rank = re.sub(r"<[^>]+>", "", row.group(1)).strip()
        assert rank == "未设目标", (path, rank)  # no rank number
        cells = [re.sub(r"<[^>]+>", "", cell).strip()
                 for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(2), re.S)]
        assert "2" in cells, (path, cells)  # its 2 new leads, not "—"


def test_the_big_screen_ranks_only_units_with_targets_and_shows_the_others_figures(
        client, auth, world):
    _a_unit_without_targets(world)
    auth.login("admin")
    text = client.get("/screen").get_data(as_text=True)
    rows = {re.sub(r"<[^>]+>.*", "", unit, flags=re.S).strip(): (re.sub(r"<[^>]+>", "", rank),
                                                                  re.sub(r"<[^>]+>", "", chips))
            for rank, unit, chips in re.findall(
                r'<td class="rank[^"]*">(.*?)</td>\s*<th scope="row" class="unit">(.*?)</th>'
                r'(.*?)</tr>', text, re.S)}
    assert sorted(rows[name][0] for name in ("孟庄镇", "税郭镇")) == ["1", "2"]
    rank, figures = rows["西王庄镇"]
    assert rank.startswith("—") and "未设目标" in rank  # no number; said to screen readers
    assert re.search(r"\b2\b", figures), figures  # its 2 new leads
