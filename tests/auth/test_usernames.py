"""Usernames compare NFKC-normalised and case-folded at sign-in and in the throttle; e-mail
addresses are one address (crm/auth/names.py, the one place every way in uses)."""

import pytest
import sqlalchemy as sa

from crm.auth import names
from crm.auth.models import LoginAttempt
from crm.errors import DomainError
from crm.extensions import db
from tests import factories

RIGHT = factories.PASSWORD


def attempt(client, username, password, address="192.0.2.30"):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.parametrize("typed", ["admin", "Admin", "ADMIN", " admin ", "ａｄｍｉｎ"])
def test_sign_in_finds_the_account_however_its_name_is_typed(app, world, typed):
    assert attempt(app.test_client(), typed, RIGHT).status_code == 302


def test_look_alike_spellings_share_one_throttle(app, world):
    c = app.test_client()
    spellings = ["Admin", "admin\u200b", "\u202eadmin", "ＡＤＭＩＮ", "admin\u00ad"]
    for i in range(10):
        attempt(c, spellings[i % len(spellings)], f"wrong-{i}", address=f"192.0.2.{40 + i}")
    assert attempt(c, "admin", RIGHT, address="192.0.2.99").status_code == 429
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(LoginAttempt.username))) == {"admin"}


def test_keys_and_checks():
    assert names.username_key(" Ａdmin\u200b ") == "admin"
    assert names.username_key("Straße") == names.username_key("STRASSE")
    assert names.check_username(" ｃ－１ ") == "c-1"
    for bad in ["admin\u200b", "\u202eevil", "a\u0000b", "has space", "", "x" * 65, "tab\tname"]:
        with pytest.raises(DomainError):
            names.check_username(bad)


@pytest.mark.parametrize("address", [
    "a@x.com,victim@evil.example", "a@x.com victim@evil.example", "a@x.com;b@y.cn",
    "张三 <a@x.com>", "<a@x.com>", "a@x.com\u200b", "a\u202e@x.com", "a@@x.com", "@x.com", "a@",
    "a@x.com\nBcc: b@y.cn", "not-an-email", "\"a,b\"@x.com",
])
def test_an_email_is_exactly_one_address(address):
    with pytest.raises(DomainError):
        names.normalise_email(address)


def test_a_good_address_is_normalised():
    assert names.normalise_email(" Li.Si@Example.GOV.cn ") == "Li.Si@example.gov.cn"
    assert names.normalise_email("ops@mail.district.local") == "ops@mail.district.local"
    assert names.normalise_email("a-1@example.test") == "a-1@example.test"
