"""A fake group robot: a loopback HTTP server speaking like WeCom's and DingTalk's webhooks.

It checks what each vendor checks (the path and key, the JSON body and its message type, the
markdown and text limits in bytes of UTF-8, DingTalk's signature and keyword) and answers
``{"errcode": 0}``; or, when told, an error code, a hang (no answer until the client gives up),
a vendor rate limit, a redirect, or nothing at all (the server stopped: connection refused).
"""

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WECOM_PATH, DINGTALK_PATH = "/cgi-bin/webhook/send", "/robot/send"


@dataclass
class Received:
    vendor: str
    key: str
    body: dict
    query: dict
    headers: dict

    @property
    def text(self) -> str:
        """The message's text, whatever its type."""
        kind = self.body.get("msgtype")
        part = self.body.get(kind, {})
        return part.get("content") or part.get("text") or ""


@dataclass
class Robot:
    #: DingTalk robots' 加签 secrets and keywords, by access token.
    secrets: dict = field(default_factory=dict)
    keywords: dict = field(default_factory=dict)
    #: "ok", "error", "hang", "ratelimit", "redirect", "http500"
    mode: str = "ok"
    #: The vendor's own limit (None: none): more than this many a minute answers its error code.
    vendor_limit: int | None = None
    hang_seconds: float = 3.0
    received: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    requests: int = 0

    def __post_init__(self):
        self.lock = threading.Lock()
        self.server = None
        self.port = None
        self._times: list[float] = []

    # --- the server -----------------------------------------------------------------------
    def start(self, port: int = 0):
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, answer, location = robot.handle(self.path, dict(self.headers), raw)
                if status is None:  # hang: the client's read timeout ends it
                    time.sleep(robot.hang_seconds)
                    status, answer = 200, {"errcode": 0, "errmsg": "ok (too late)"}
                data = json.dumps(answer, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a hang): as a vendor's late answer

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Down: connections are refused until ``start(port=self.port)``."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def restart(self):
        return self.start(self.port)

    # --- URLs -----------------------------------------------------------------------------
    def wecom_url(self, key="wecom-key-1234"):
        return f"http://127.0.0.1:{self.port}{WECOM_PATH}?key={key}"

    def dingtalk_url(self, token="ding-token-5678"):  # noqa: S107 (a fake robot's token)
        return f"http://127.0.0.1:{self.port}{DINGTALK_PATH}?access_token={token}"

    # --- what the vendors check -------------------------------------------------------------
    def handle(self, path, headers, raw):
        with self.lock:
            self.requests += 1
            parts = urlsplit(path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if self.mode == "redirect":
                return 302, {}, f"http://127.0.0.1:{self.port}/elsewhere"
            if self.mode == "http500":
                return 500, {"error": "server busy"}, None
            if self.mode == "hang":
                return None, None, None
            if self.mode == "error":
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, None
            now = time.monotonic()
            self._times = [t for t in self._times if now - t < 60]
            if self.mode == "ratelimit" or (self.vendor_limit is not None
                                            and len(self._times) >= self.vendor_limit):
                return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, None
            problem, vendor, key, body = self._check(parts.path, query, headers, raw)
            if problem:
                self.refused.append(problem)
                return 200, {"errcode": 40000, "errmsg": problem}, None
            self._times.append(now)
            self.received.append(Received(vendor, key, body, query, headers))
            return 200, {"errcode": 0, "errmsg": "ok"}, None

    def _check(self, path, query, headers, raw):
        if "application/json" not in headers.get("Content-Type", ""):
            return "content type is not json", None, None, None
        try:
            body = json.loads(raw.decode("utf-8"))  # strict: broken UTF-8 is refused
        except (UnicodeDecodeError, ValueError):
            return "body is not utf-8 json", None, None, None
        if path == WECOM_PATH:
            return (self._check_wecom(query, body), "wecom", query.get("key"), body)
        if path == DINGTALK_PATH:
            return (self._check_dingtalk(query, body), "dingtalk", query.get("access_token"), body)
        return f"unknown path {path}", None, None, None

    @staticmethod
    def _check_wecom(query, body):
        if not query.get("key"):
            return "missing key"
        kind = body.get("msgtype")
        if kind == "markdown":
            content = body.get("markdown", {}).get("content")
            if not isinstance(content, str) or not content:
                return "markdown.content missing"
            if len(content.encode()) > 4096:
                return "markdown.content exceeds 4096 bytes"
        elif kind == "text":
            text = body.get("text", {})
            if not isinstance(text.get("content"), str) or len(text["content"].encode()) > 2048:
                return "text.content missing or exceeds 2048 bytes"
            mobiles = text.get("mentioned_mobile_list", [])
            if not isinstance(mobiles, list) or not all(isinstance(m, str) for m in mobiles):
                return "mentioned_mobile_list must be a list of strings"
        else:
            return f"invalid msgtype {kind}"
        return None

    def _check_dingtalk(self, query, body):
        token = query.get("access_token")
        if not token:
            return "missing access_token"
        secret = self.secrets.get(token)
        if secret:
            timestamp, sign = query.get("timestamp"), query.get("sign")
            if not timestamp or not sign:
                return "sign not match (missing timestamp or sign)"
            if abs(int(timestamp) - time.time() * 1000) > 3600 * 1000:
                return "timestamp is not in the hour"
            digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                              hashlib.sha256).digest()
            # parse_qs decoded the query once: what is left is the base64 text.
            if sign != base64.b64encode(digest).decode():
                return "sign not match"
        if body.get("msgtype") != "markdown":
            return f"unexpected msgtype {body.get('msgtype')}"
        markdown = body.get("markdown", {})
        if not isinstance(markdown.get("title"), str) or not isinstance(markdown.get("text"), str):
            return "markdown.title and markdown.text are required"
        keyword = self.keywords.get(token)
        if keyword and keyword not in markdown["text"] and keyword not in markdown["title"]:
            return "keywords not in content"
        at = body.get("at", {})
        if not isinstance(at.get("atMobiles", []), list):
            return "at.atMobiles must be a list"
        return None
