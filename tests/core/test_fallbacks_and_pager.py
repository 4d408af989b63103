"""A bad date, month or year in a page's link falls back to the default with a warning, the
same way on every page; a page number past the last page goes to the last page."""

import pytest

from crm.clock import today
from crm.extensions import db
from tests import factories

BAD_DATES = ["abc", "2025-02-30", "1999-01-01"]


@pytest.mark.parametrize("path,user", [
    ("/bulletin?as_of={}", "viewer"),
    ("/stats/?as_of={}", "viewer"),
])
def test_a_bad_date_falls_back_to_today_with_a_warning(client, auth, world, path, user):
    auth.login(user)
    for bad in BAD_DATES:
        response = client.get(path.format(bad))
        assert response.status_code == 200, (path, bad)
        text = response.get_data(as_text=True)
        assert f"截至日期“{bad}”无效，已按{today().isoformat()}显示" in text, (path, bad)


@pytest.mark.parametrize("path", ["/stats/?year={}", "/targets/?year={}",
                                  "/leads/?township_id=1&metric=signed_100m&year={}"])
def test_a_bad_year_falls_back_with_the_same_warning(client, auth, world, path):
    auth.login("admin")
    for bad in ("1999", "abc", "20261"):
        response = client.get(path.format(bad))
        assert response.status_code == 200, (path, bad)
        assert f"年份“{bad}”无效" in response.get_data(as_text=True), (path, bad)


def test_a_bad_month_falls_back_to_this_month(client, auth, world):
    auth.login("admin")
    this = today().strftime("%Y-%m")
    for bad in ("2026-13", "abc", "1999-01"):
        response = client.get(f"/reports/monthly?month={bad}")
        assert response.status_code == 200, bad
        assert f"月份“{bad}”无效，已按{this}显示" in response.get_data(as_text=True)
    # a file is named after its month: a download still refuses a bad one
    assert client.get("/reports/monthly.xlsx?month=2026-13").status_code == 400


def test_a_page_past_the_last_goes_to_the_last_page(client, auth, world):
    for i in range(50):
        factories.lead(world.off_a1, world.a, name=f"翻页项目{i:02d}", company=f"翻页公司{i:02d}")
    db.session.commit()
    auth.login("admin")
    response = client.get("/leads/?page=99&stage=contact")
    assert response.status_code == 302
    assert "page=2" in response.location and "stage=contact" in response.location
    text = client.get(response.location).get_data(as_text=True)
    assert "没有符合条件的项目" not in text
    assert "翻页项目" in text or "宠物食品生产基地" in text
    # an empty list: page 1
    response = client.get("/leads/?page=5&q=没有这样的项目")
    assert response.status_code == 302 and "page=1" in response.location
    # the same rule on the other lists
    for path in ("/admin/users?page=99", "/reminders/?page=99", "/claims/?page=99"):
        response = client.get(path)
        assert response.status_code == 302 and "page=1" in response.location, path
