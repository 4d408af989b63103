"""The big screen (亮屏公示): every red project listed, the funnel and the last 30 days drawn, and
a revoked or unknown link answered by a plain page of its own (no navigation)."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from crm.bulletin import views
from crm.bulletin.models import ScreenLink
from crm.clock import today
from crm.extensions import db
from tests import factories


@pytest.fixture
def reds(world):
    """12 red projects (planned signing long past), 6 in each unit, one visit each today."""
    w = world
    names = []
    for i in range(12):
        unit = w.a if i % 2 else w.b
        name = f"红色项目{i + 1:02d}"
        factories.lead(w.admin, unit, name=name, company=f"{name}公司", stage="negotiation",
                       created_on=today() - dt.timedelta(days=120),
                       planned_sign_date=today() - dt.timedelta(days=40 + i))
        names.append(name)
    db.session.commit()
    return names


def screen_link(client, auth) -> tuple[str, ScreenLink]:
    auth.login("admin")
    response = client.post("/screen/links", data={"name": "大厅"})
    auth.logout()
    token = re.search(r"/screen/(scr_[\w-]+)", response.get_data(as_text=True)).group(1)
    return token, db.session.scalar(sa.select(ScreenLink))


def test_every_red_project_is_on_the_screen(client, auth, reds):
    token, _link = screen_link(client, auth)
    response = client.get(f"/screen/{token}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    red_list = re.search(r'<ol class="red-list"[^>]*>(.*?)</ol>', html, re.S).group(1)
    assert sorted(re.findall(r'<span class="red-name">([^<]+)</span>', red_list)) == reds
    assert len(re.findall(r"<li data-red=", red_list)) == 12
    assert "共 12 个" in html
    assert f'data-page-size="{views.SCREEN_RED_PAGE}"' in html  # screen.js pages them
    assert "另有" not in html  # none left out
    # the funnel and the last 30 days: images with a title and a text equivalent, no links
    charts = re.findall(r'<svg [^>]*role="img"[^>]*>(.*?)</svg>', html, re.S)
    assert len(charts) == 2 and all("<a " not in c and "<title" in c for c in charts)
    assert "本年项目漏斗" in html and "近30天动态" in html
    assert len(re.findall(r"<li>(?:接触|洽谈|签约|开工|投产) \d+</li>", html)) == 5  # its text
    # the ranking scrolls inside its own box on a narrow window
    assert '<div class="screen-scroller" tabindex="0" role="region"' in html


def test_revoked_and_unknown_links_get_a_plain_page(client, auth, world):
    token, link = screen_link(client, auth)
    assert client.get(f"/screen/{token}").status_code == 200
    auth.login("admin")
    client.post(f"/screen/links/{link.id}/revoke", data={"confirmed": "1"})
    auth.logout()

    gone = client.get(f"/screen/{token}")
    assert gone.status_code == 410
    html = gone.get_data(as_text=True)
    assert "此屏幕链接已停用" in html and "请联系区商务和投资促进局" in html
    assert "<nav" not in html and "<a " not in html and "topbar" not in html
    assert "/static/css/screen.css" in html and "/static/css/app.css" not in html
    assert gone.headers["Cache-Control"] == "no-store"

    for path in ("/screen/scr_unknown", "/screen/" + "x" * 500):
        unknown = client.get(path)
        assert unknown.status_code == 404
        html = unknown.get_data(as_text=True)
        assert "屏幕链接无效" in html and "<nav" not in html and "<a " not in html
