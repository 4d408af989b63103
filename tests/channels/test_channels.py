"""Channels kept by admins: the URL allow-list (page, CLI), secrets never shown, the test button
and `crm channels test`, messages cut in UTF-8, DingTalk's signature, users' mobile numbers."""

import base64
import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from crm.channels import crypto, messages, services, vendors
from crm.channels.models import Channel, ChannelDispatch
from crm.errors import DomainError
from crm.extensions import db
from tests import factories
from tests.channels.conftest import SECRET
from tests.console import run_crm


@pytest.fixture
def db_kind():
    """Pages, commands and rules: SQLite (the delivery runs on both, in test_dispatch.py)."""
    return "sqlite"


WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING = "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789wxyz"


# --- the allow-list ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind, url", [
    ("wecom", "https://evil.example.com/cgi-bin/webhook/send?key=1"),
    ("wecom", "https://10.0.0.5/cgi-bin/webhook/send?key=1"),          # an intranet address
    ("wecom", "https://[::1]/cgi-bin/webhook/send?key=1"),
    ("wecom", "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1"),  # not https
    ("wecom", "https://qyapi.weixin.qq.com:8443/cgi-bin/webhook/send?key=1"),
    ("wecom", "https://qyapi.weixin.qq.com.evil.cn/cgi-bin/webhook/send?key=1"),
    ("wecom", "https://user:pw@qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1"),
    ("wecom", "https://qyapi.weixin.qq.com@10.0.0.5/cgi-bin/webhook/send?key=1"),
    ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"),       # no key
    ("wecom", DING),                                                     # the other vendor
    ("dingtalk", "https://oapi.dingtalk.com/other?access_token=1"),
    ("dingtalk", "file:///etc/passwd"),
    ("dingtalk", "gopher://oapi.dingtalk.com/robot/send?access_token=1"),
])
def test_webhooks_to_other_hosts_are_refused(app, kind, url):
    with pytest.raises(vendors.UrlRefused):
        vendors.check_url(kind, url)


def test_vendor_urls_and_allowed_loopback_pass(app):
    assert vendors.check_url("wecom", f"  {WECOM} ") == WECOM
    assert vendors.check_url("dingtalk", DING) == DING
    assert vendors.check_url("wecom", "http://127.0.0.1:8123/cgi-bin/webhook/send?key=k")
    app.config["CRM_WEBHOOK_ALLOWED_HOSTS"] = "qyapi.weixin.qq.com,oapi.dingtalk.com"
    with pytest.raises(vendors.UrlRefused):  # loopback only when the setting names it
        vendors.check_url("wecom", "http://127.0.0.1:8123/cgi-bin/webhook/send?key=k")


def test_the_default_setting_allows_only_the_two_vendors():
    from crm.config import DEFAULTS

    assert DEFAULTS["CRM_WEBHOOK_ALLOWED_HOSTS"] == "qyapi.weixin.qq.com,oapi.dingtalk.com"


# --- secrets --------------------------------------------------------------------------------------

def test_secrets_are_encrypted_and_shown_by_their_last_4_characters(app, world):
    channel = services.add_channel(world.admin, name="区群", kind="dingtalk", url=DING,
                                   township=None, secret=SECRET, keyword="招商")
    db.session.commit()
    raw = db.session.execute(sa.text("SELECT * FROM channels")).mappings().one()
    dumped = json.dumps(dict(raw), default=str)
    assert "abcdef0123456789wxyz" not in dumped and SECRET not in dumped
    assert SECRET[:-4] not in dumped and "0123456789" not in dumped
    assert channel.url_hint.endswith("access_token=…wxyz") and channel.signing_hint == "…89ab"
    assert crypto.unseal(channel.url_secret) == DING and crypto.unseal(channel.signing_secret) == SECRET
    app.config["SECRET_KEY"] = "another key"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.unseal(channel.url_secret)


def test_signature_as_dingtalk_computes_it():
    timestamp = 1577262236757
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest())
    url = vendors.signed_url(DING, SECRET, timestamp)
    query = parse_qs(urlsplit(url).query)
    assert query["timestamp"] == [str(timestamp)] and query["sign"] == [expected.decode()]
    assert url.startswith(DING + "&timestamp=")
    assert "%" in url.split("sign=")[1] or "+" not in url.split("sign=")[1]  # URL-encoded


# --- cutting to the vendor's limit ------------------------------------------------------------------

def test_a_2000_character_bulletin_summary_is_cut_on_a_character_boundary(app, world, robot):
    for n in range(90):  # red leads with long names: the summary passes 2,000 characters
        lead = factories.lead(world.off_a1, world.a, name=f"红色项目{n:02d}号高端装备制造产业园区建设工程",
                              company=f"公司{n}", stage="negotiation",
                              planned_sign_date=dt.date(2026, 1, 5))
        lead.created_on = dt.date(2026, 1, 1)
    db.session.commit()
    link = "https://crm.example.gov.cn/bulletins/9"
    title, summary = messages.bulletin_summary(dt.date(2026, 11, 24), link)
    assert len(summary) >= 2000 and len(summary.encode()) > 4096
    content = vendors.payload("wecom", title, summary, [], link)["markdown"]["content"]
    data = content.encode("utf-8")
    assert len(data) <= 4096
    assert data.decode("utf-8") == content and "\ufffd" not in content  # no broken character
    head = content[:content.index("\n\n……")]
    assert summary.startswith(head) and len(head) > 1000
    assert content.endswith(f"[查看全文]({link})")
    # And through the fake robot, which refuses more than 4,096 bytes or broken UTF-8.
    services.add_channel(None, name="区企业微信群", kind="wecom",
                                   url=robot.wecom_url("wecom-d"), township=None)
    db.session.commit()
    assert messages.bulletin_published({"id": 9, "as_of": dt.date(2026, 11, 24), "url": link}) == 1
    db.session.commit()
    from crm.channels import jobs

    assert jobs.deliver_pending().sent == 1
    assert robot.refused == [] and robot.received[0].text == content


@pytest.mark.parametrize("text", ["a" * 5000, "中" * 3000, "😀" * 1500, "中a" * 2000 + "😀" * 10])
def test_cut_never_breaks_a_character_and_keeps_the_limit(text):
    for limit in (2048, 4096):
        out = vendors.cut(text, limit, "https://x/1")
        assert len(out.encode()) <= limit and "\ufffd" not in out
        assert text.startswith(out[:out.index("\n\n……")])


# --- pages ------------------------------------------------------------------------------------------

def test_page_refuses_a_typed_webhook_to_another_host(app, world, client, auth):
    auth.login("admin")
    page = client.get("/admin/channels/new")
    assert page.status_code == 200 and "Webhook" in page.get_data(as_text=True)
    response = client.post("/admin/channels/new", data={
        "name": "内网", "kind": "wecom", "township_id": "0", "enabled": "y",
        "url": "https://192.168.1.10/cgi-bin/webhook/send?key=abc"})
    assert response.status_code == 200 and "不能是 IP 地址" in response.get_data(as_text=True)
    response = client.post("/admin/channels/new", data={
        "name": "外站", "kind": "wecom", "township_id": "0", "enabled": "y",
        "url": "https://hooks.example.com/cgi-bin/webhook/send?key=abc"})
    assert "只能发往 qyapi.weixin.qq.com" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Channel.id))) == 0


def test_admin_adds_tests_edits_and_sees_only_the_last_4(app, world, client, auth, robot):
    auth.login("admin")
    url = robot.dingtalk_url("page-token-wxyz")
    robot.secrets["page-token-wxyz"] = SECRET
    response = client.post("/admin/channels/new", data={
        "name": "孟庄镇钉钉群", "kind": "dingtalk", "township_id": str(world.a.id), "enabled": "y",
        "url": url, "secret": SECRET, "keyword": "招商"})
    assert response.status_code == 302
    listing = client.get("/admin/channels/").get_data(as_text=True)
    assert "…wxyz" in listing and "…89ab" in listing and "发送测试消息" in listing
    assert "page-token-wxyz" not in listing and SECRET[:-4] not in listing
    channel = db.session.scalar(sa.select(Channel))
    edit = client.get(f"/admin/channels/{channel.id}/edit").get_data(as_text=True)
    assert "page-token-wxyz" not in edit and SECRET[:-4] not in edit and "…wxyz" in edit

    response = client.post(f"/admin/channels/{channel.id}/test", follow_redirects=True)
    assert "测试消息已发送" in response.get_data(as_text=True)
    assert len(robot.received) == 1 and "测试消息" in robot.received[0].text
    assert "招商" in robot.received[0].text  # the keyword

    robot.mode = "error"
    response = client.post(f"/admin/channels/{channel.id}/test", follow_redirects=True)
    assert "errcode 93000: invalid webhook url" in response.get_data(as_text=True)

    # An edit that leaves the URL and secret empty keeps them.
    client.post(f"/admin/channels/{channel.id}/edit", data={
        "name": "孟庄镇钉钉群2", "township_id": str(world.a.id), "url": "", "secret": "",
        "keyword": "招商", "enabled": "y"})
    db.session.expire_all()
    channel = db.session.get(Channel, channel.id)
    assert channel.name == "孟庄镇钉钉群2" and crypto.unseal(channel.url_secret) == url
    assert crypto.unseal(channel.signing_secret) == SECRET


def test_messages_page_lists_failed_and_retries(app, cw, client, auth, robot):
    from crm.channels import jobs

    robot.mode = "error"
    messages.bulletin_published({"id": 1, "as_of": dt.date(2026, 11, 24)})
    db.session.commit()
    assert jobs.deliver_pending().failed == 1
    auth.login("admin")
    page = client.get("/admin/channels/messages?status=failed").get_data(as_text=True)
    assert "errcode 93000" in page and "全区钉钉群" in page
    row = db.session.scalar(sa.select(ChannelDispatch))
    response = client.post("/admin/channels/messages/retry", data={"dispatch_id": row.id},
                           follow_redirects=True)  # the robot still refuses
    assert "已发送 0 条，失败 1 条，等待限流 0 条。" in response.get_data(as_text=True)
    robot.mode = "ok"
    response = client.post("/admin/channels/messages/retry", data={"dispatch_id": row.id},
                           follow_redirects=True)
    assert "已发送 1 条" in response.get_data(as_text=True)
    assert len(robot.received) == 1
    db.session.expire_all()
    assert db.session.get(ChannelDispatch, row.id).status == "sent"


# --- the command line ---------------------------------------------------------------------------

def _crm(database_url, *args):
    env = {"CRM_DATABASE_URL": database_url, "CRM_SECRET_KEY": "test-secret",
           "CRM_WEBHOOK_ALLOWED_HOSTS": "qyapi.weixin.qq.com,oapi.dingtalk.com,127.0.0.1",
           "CRM_WEBHOOK_READ_TIMEOUT": "1"}
    return run_crm(*args, env=env)


def test_cli_add_list_test(app, world, database_url, robot):
    db.session.commit()
    refused = _crm(database_url, "channels", "add", "外站", "--kind", "wecom",
                   "--url", "https://10.1.2.3/cgi-bin/webhook/send?key=abcd")
    assert refused.returncode == 1 and "IP" in refused.stderr and refused.stdout == ""
    refused = _crm(database_url, "channels", "add", "外站", "--kind", "dingtalk",
                   "--url", "https://oapi.dingtalk.com.attacker.io/robot/send?access_token=x")
    assert refused.returncode == 1 and "oapi.dingtalk.com" in refused.stderr

    robot.secrets["cli-token-9z9z"] = SECRET
    added = _crm(database_url, "channels", "add", "孟庄镇群", "--kind", "dingtalk",
                 "--url", robot.dingtalk_url("cli-token-9z9z"), "--secret", SECRET,
                 "--keyword", "招商", "--township", "孟庄镇")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().isdigit()
    district = _crm(database_url, "channels", "add", "全区群", "--kind", "wecom",
                    "--url", robot.wecom_url("cli-wecom-key1"))
    assert district.returncode == 0, district.stderr
    duplicate = _crm(database_url, "channels", "add", "全区群", "--kind", "wecom",
                     "--url", robot.wecom_url("cli-wecom-key1"))
    assert duplicate.returncode == 1 and "同名" in duplicate.stderr

    listed = _crm(database_url, "channels", "list")
    assert listed.returncode == 0
    assert "孟庄镇群" in listed.stdout and "…9z9z" in listed.stdout and "…89ab" in listed.stdout
    assert "cli-token-9z9z" not in listed.stdout and SECRET[:-4] not in listed.stdout
    assert "全区群" in listed.stdout and "district" in listed.stdout and "…key1" in listed.stdout

    sent = _crm(database_url, "channels", "test", "孟庄镇群")
    assert sent.returncode == 0, sent.stderr
    assert len(robot.received) == 1 and robot.refused == []
    robot.mode = "error"
    failed = _crm(database_url, "channels", "test", "全区群")
    assert failed.returncode == 1 and "errcode 93000: invalid webhook url" in failed.stderr
    robot.mode = "hang"
    robot.hang_seconds = 2
    hung = _crm(database_url, "channels", "test", "全区群")
    assert hung.returncode == 1 and "timeout" in hung.stderr
    missing = _crm(database_url, "channels", "test", "没有")
    assert missing.returncode == 1 and "没有这个群机器人" in missing.stderr


# --- mobile numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, stored", [("13800000001", "13800000001"),
                                           ("+86 138-0000-0001", "13800000001"), ("", None)])
def test_mobile_is_cleaned(typed, stored):
    from crm.account.services import clean_mobile

    assert clean_mobile(typed) == stored


@pytest.mark.parametrize("typed", ["12800000001", "1380000000", "138000000011", "１３８００００００01",
                                   "abc", "010-12345678"])
def test_mobile_refused(typed):
    from crm.account.services import clean_mobile

    with pytest.raises(DomainError):
        clean_mobile(typed)


def test_users_set_their_mobile_in_preferences_and_admins_on_the_user(app, world, client, auth):
    auth.login("a-1")
    response = client.post("/reminders/preferences", data={"mobile": "12345", "reminder_daily": "y"})
    assert response.status_code == 200 and "11位中国大陆手机号码" in response.get_data(as_text=True)
    response = client.post("/reminders/preferences", data={"mobile": "13812345678",
                                                           "reminder_daily": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(world.off_a1), world.off_a1.id).mobile == "13812345678"
    auth.logout()
    auth.login("admin")
    response = client.post(f"/admin/users/{world.off_a2.id}/edit", data={
        "display_name": "a-2", "email": "a-2@example.test", "role": "officer",
        "township_id": str(world.a.id), "mobile": "15900000000"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(world.off_a2), world.off_a2.id).mobile == "15900000000"


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_demo_district_has_one_disabled_channel_per_vendor(app):
    from crm.clock import today
    from crm.seed import seed_demo

    seed_demo(today())
    db.session.commit()
    channels = db.session.scalars(sa.select(Channel).order_by(Channel.id)).all()
    assert sorted(c.kind for c in channels) == ["dingtalk", "wecom"]
    assert not any(c.enabled for c in channels)
    assert all("127.0.0.1:9" in c.url_hint for c in channels)
    seed_demo(today())  # idempotent
    assert db.session.scalar(sa.select(sa.func.count(Channel.id))) == 2


def test_the_intranets_proxy_is_used_for_the_vendors(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.intra:3128")
    monkeypatch.setenv("no_proxy", "crm.intra")
    proxy = vendors._proxy_for(urlsplit(WECOM))
    assert (proxy.hostname, proxy.port) == ("proxy.intra", 3128)
    assert vendors._proxy_for(urlsplit("http://127.0.0.1:8123/robot/send?access_token=x")) is None
    monkeypatch.delenv("https_proxy")
    assert vendors._proxy_for(urlsplit(DING)) is None
