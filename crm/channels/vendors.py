"""The two vendors' robots: which URLs are allowed, the request each expects, and sending it.

WeCom (企业微信): ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY``, markdown up to
4,096 bytes of UTF-8; @-mentions by mobile only in a text message (``mentioned_mobile_list``,
2,048 bytes). DingTalk (钉钉): ``https://oapi.dingtalk.com/robot/send?access_token=TOKEN``, signed
with ``&timestamp=…&sign=…`` when the robot has a 加签 secret, markdown with ``at.atMobiles``
(and the ``@mobile`` in the text), and the robot's keyword somewhere in the message.
Both answer ``{"errcode": 0, "errmsg": "ok"}``; any other errcode is a failure.

Requests go out over ``http.client``: a connect timeout, a read timeout, and redirects never
followed (an answer of 3xx is a failure).
"""

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

from flask import current_app
from flask_babel import lazy_gettext as _l

from crm.channels.models import DINGTALK, WECOM

VENDOR_HOSTS = {WECOM: "qyapi.weixin.qq.com", DINGTALK: "oapi.dingtalk.com"}
VENDOR_PATHS = {WECOM: "/cgi-bin/webhook/send", DINGTALK: "/robot/send"}
#: The query parameter of each vendor's URL that is the robot's secret key.
KEY_PARAMS = {WECOM: "key", DINGTALK: "access_token"}
#: Largest message, in bytes of UTF-8: WeCom's markdown and text limits; DingTalk's is larger
#: (20,000 bytes), kept lower so that a phone still shows the whole message.
MARKDOWN_LIMIT = {WECOM: 4096, DINGTALK: 8000}
TEXT_LIMIT = {WECOM: 2048, DINGTALK: 8000}
#: Hosts reached over plain http when allowed (a local test robot), never a vendor.
LOOPBACK_HTTP = {"127.0.0.1", "localhost", "::1"}
MAX_ANSWER = 64 * 1024


class UrlRefused(ValueError):
    """A webhook URL that is not allowed; the message says why, in Chinese."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class DeliveryError(Exception):
    """The robot did not take the message: the vendor's answer or the network error."""


def allowed_hosts() -> set[str]:
    raw = current_app.config.get("CRM_WEBHOOK_ALLOWED_HOSTS") or ""
    return {h.strip().lower() for h in str(raw).split(",") if h.strip()}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def check_url(kind: str, url: str) -> str:
    """``url`` stripped, or UrlRefused: https to the vendor's host (or to a host that
    CRM_WEBHOOK_ALLOWED_HOSTS names), no user or password in it, the vendor's path and key."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise UrlRefused(_l("Webhook 地址格式不正确")) from None
    if parts.scheme not in ("https", "http") or not host:
        raise UrlRefused(_l("Webhook 地址须以 https:// 开头"))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused(_l("Webhook 地址不能包含用户名或密码"))
    allowed = allowed_hosts()
    if host not in allowed:
        if _is_ip(host):
            raise UrlRefused(_l("Webhook 地址不能是 IP 地址，须为 %(h)s", h=VENDOR_HOSTS[kind]))
        raise UrlRefused(_l("Webhook 只能发往 %(h)s（其他地址须由管理员在 CRM_WEBHOOK_ALLOWED_HOSTS "
                            "中允许）", h=VENDOR_HOSTS[kind]))
    if host in VENDOR_HOSTS.values():
        if host != VENDOR_HOSTS[kind]:
            raise UrlRefused(_l("该地址不是所选类型的机器人（应为 %(h)s）", h=VENDOR_HOSTS[kind]))
        if parts.scheme != "https" or port not in (None, 443):
            raise UrlRefused(_l("Webhook 地址须以 https:// 开头"))
        if parts.path != VENDOR_PATHS[kind]:
            raise UrlRefused(_l("Webhook 地址的路径应为 %(p)s", p=VENDOR_PATHS[kind]))
    elif parts.scheme != "https" and host not in LOOPBACK_HTTP:
        raise UrlRefused(_l("Webhook 地址须以 https:// 开头"))
    if not dict(parse_qsl(parts.query)).get(KEY_PARAMS[kind]):
        raise UrlRefused(_l("Webhook 地址缺少 %(k)s 参数（复制机器人的完整地址）", k=KEY_PARAMS[kind]))
    if parts.fragment:
        raise UrlRefused(_l("Webhook 地址格式不正确"))
    return url


def url_hint(kind: str, url: str) -> str:
    """The URL as shown: its key cut to the last 4 characters."""
    parts = urlsplit(url)
    query = "&".join(f"{k}=…{v[-4:]}" if k == KEY_PARAMS[kind] else f"{k}={v}"
                     for k, v in parse_qsl(parts.query))
    return urlunsplit(parts._replace(query=query))[:300]


# --- the message as each vendor takes it -------------------------------------------------------

def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: URL-encoded base64 of HMAC-SHA256(secret, "timestamp\\nsecret")."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def signed_url(url: str, secret: str, timestamp_ms: int | None = None) -> str:
    if not secret:
        return url
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    joiner = "&" if urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def cut(text: str, limit: int, link: str = "") -> str:
    """``text`` within ``limit`` bytes of UTF-8, cut on a character (and, where one is near, a
    line) boundary, with a note and the link to the page for the rest."""
    if len(text.encode()) <= limit:
        return text
    more = f"[{_l('查看全文')}]({link})" if link else ""
    note = f"\n\n……（{_l('内容过长，已截断')}）{more}"
    budget = limit - len(note.encode())
    head = text.encode()[:max(budget, 0)].decode("utf-8", errors="ignore")
    line_end = head.rfind("\n")
    if line_end > len(head) * 3 // 4:
        head = head[:line_end]
    return head.rstrip() + note


def _with_keyword(title: str, body: str, keyword: str) -> tuple[str, str]:
    if keyword and keyword not in body:
        body = f"【{keyword}】{body}"
    if keyword and keyword not in title:
        title = f"【{keyword}】{title}"
    return title, body


def payload(kind: str, title: str, body: str, mentions: list[str], link: str = "",
            keyword: str = "") -> dict:
    """The JSON body the vendor's robot takes."""
    if kind == WECOM:
        if mentions:  # mentions by mobile exist only in WeCom's text messages
            return {"msgtype": "text", "text": {
                "content": cut(plain_text(body), TEXT_LIMIT[WECOM], link),
                "mentioned_mobile_list": mentions}}
        return {"msgtype": "markdown", "markdown": {"content": cut(body, MARKDOWN_LIMIT[WECOM], link)}}
    title, body = _with_keyword(title, body, keyword)
    if mentions:
        body = body + "\n\n" + " ".join(f"@{m}" for m in mentions)
    return {"msgtype": "markdown", "markdown": {"title": title[:64], "text": cut(
        body, MARKDOWN_LIMIT[DINGTALK], link)}, "at": {"atMobiles": mentions, "isAtAll": False}}


def plain_text(markdown: str) -> str:
    """Markdown made readable as plain text: links as "text（url）", no heading or bold marks."""
    import re

    text = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", r"\1（\2）", markdown)
    text = re.sub(r"^#+\s*", "", text, flags=re.MULTILINE)
    text = text.replace("**", "")
    return re.sub(r"<font[^>]*>|</font>", "", text)


# --- sending -----------------------------------------------------------------------------------

def _proxy_for(parts):
    """The proxy of ``https_proxy`` (or ``HTTPS_PROXY``) for an https URL, unless ``no_proxy``
    names its host; None for plain http (a loopback test robot) or without a proxy."""
    if parts.scheme != "https":
        return None
    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return proxy_parts if proxy_parts.hostname else None


@dataclass
class Answer:
    status: int
    body: str


def post(url: str, data: dict) -> Answer:
    """POST ``data`` as JSON to ``url``: a connect and a read timeout, no redirect followed.

    DeliveryError for a network error, a timeout, a status other than 200, an answer that is
    not JSON, or an ``errcode`` other than 0 (with the vendor's errmsg).
    """
    parts = urlsplit(url)
    connect_timeout = float(current_app.config.get("CRM_WEBHOOK_CONNECT_TIMEOUT") or 5)
    read_timeout = float(current_app.config.get("CRM_WEBHOOK_READ_TIMEOUT") or 10)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    proxy = _proxy_for(parts)
    if proxy is not None:  # the intranet's proxy: a CONNECT tunnel to the vendor's host
        conn = cls(proxy.hostname, proxy.port or 8080, timeout=connect_timeout)
        conn.set_tunnel(parts.hostname, parts.port or 443)
    else:
        conn = cls(parts.hostname, parts.port, timeout=connect_timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(data, ensure_ascii=False).encode()
    try:
        conn.connect()
        conn.sock.settimeout(read_timeout)
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "zhaoshang-crm"})
        response = conn.getresponse()
        raw = response.read(MAX_ANSWER)
    except TimeoutError:
        raise DeliveryError("timeout: the robot did not answer in time") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"network: {exc.__class__.__name__}: {exc}") from None
    finally:
        conn.close()
    text = raw.decode("utf-8", errors="replace")
    if 300 <= response.status < 400:
        raise DeliveryError(f"HTTP {response.status}: redirect not followed")
    if response.status != 200:
        raise DeliveryError(f"HTTP {response.status}: {text[:300]}")
    try:
        answer = json.loads(text)
    except ValueError:
        raise DeliveryError(f"not JSON: {text[:300]}") from None
    if not isinstance(answer, dict) or answer.get("errcode") != 0:
        code = answer.get("errcode") if isinstance(answer, dict) else None
        message = answer.get("errmsg", "") if isinstance(answer, dict) else text[:300]
        raise DeliveryError(f"errcode {code}: {message}")
    return Answer(response.status, text)
