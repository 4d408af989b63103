"""Shared harness of the load test and the multi-process tests: a real gunicorn, real clients.

* ``Gunicorn``: starts ``gunicorn -c python:crm.gunicorn_conf crm.wsgi:app`` on a free loopback
  port against a given database, waits for /healthz, and always stops it (process group).
* ``prepare_database`` (``crm db upgrade`` + ``crm seed-demo``), ``accounts`` (API tokens and the
  leads each demo user may change), ``login`` (the real /login form with its CSRF token).
* The operations (reads, visit posts, lead edits with the version read, stage moves), each
  returning an ``Outcome``; every write carries a unique marker so that ``verify`` can look for
  every acknowledged write in the database afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEMO_PASSWORD = "zhaoshang2026"  # noqa: S105  (the published demo password, crm/seed.py)
SECRET_KEY = "loadtest-" + "k" * 40  # one key shared by every worker and server of a run
MARKER_PREFIX = "lt-"
READ_KINDS = ("lead_list", "lead_page", "board", "stats", "api_leads", "api_lead", "api_stats")
WRITE_KINDS = ("visit", "edit", "move", "stale_edit")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crm_env(database_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_DATABASE_URL=database_url, CRM_SECRET_KEY=SECRET_KEY, CRM_SCHEDULER="off",
               CRM_MAIL_BACKEND="file", PYTHONUNBUFFERED="1",
               # Each simulated user is a client of its own, many per token: the per-token API rate
               # limit (tests/security/test_headers.py) would only measure itself here.
               CRM_API_RATE_LIMIT="0")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def crm(database_url: str, *args, timeout=300, **extra) -> str:
    """Run a `crm` command; its stdout, or RuntimeError with its stderr."""
    result = subprocess.run([str(VENV_BIN / "crm"), *args], env=crm_env(database_url, **extra),
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"crm {' '.join(args)}: {result.stderr.strip()[-2000:]}")
    return result.stdout


def prepare_database(database_url: str) -> None:
    """Migrations and the demo district, as an operator would."""
    crm(database_url, "db", "upgrade")
    crm(database_url, "seed-demo")


def sqlite_url(directory) -> str:
    return f"sqlite:///{Path(directory) / 'crm.sqlite3'}"


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str = "crm_load"):
    """A fresh database on the server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Gunicorn:
    """One gunicorn server on a free loopback port; a context manager that always stops it."""

    def __init__(self, database_url: str, *, workers=2, threads=4, log_dir=None, **extra_env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="crm-gunicorn-"))
        self.log_path = self.log_dir / f"gunicorn-{self.port}.log"
        self.env = crm_env(database_url, CRM_BIND=f"127.0.0.1:{self.port}", CRM_WORKERS=workers,
                           CRM_THREADS=threads, CRM_ACCESS_LOG="off", CRM_ERROR_LOG="-",
                           **extra_env)
        self.process: subprocess.Popen | None = None

    def start(self, timeout=120.0) -> Gunicorn:
        log = open(self.log_path, "wb")  # noqa: SIM115  (closed with the process)
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "python:crm.gunicorn_conf", "crm.wsgi:app"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.process.returncode}: {self.log()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout}s: {self.log()[-2000:]}")

    def stop(self, timeout=20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@dataclass
class Account:
    username: str
    role: str
    token: str
    editable: list[int]  # leads this user may edit, log visits on and move forward
    manageable: list[int]  # leads this user may also move back (heads and admin)
    stats_path: str = "/stats/"  # the district overview, or the user's own unit


def accounts(database_url: str, limit: int | None = None) -> list[Account]:
    """An API token for every active user (the first ``limit``), and the leads each may change
    (by the policy)."""
    from crm import create_app
    from crm.auth.models import User
    from crm.auth.permissions import editable_leads
    from crm.auth.services import issue_token
    from crm.extensions import db
    from crm.leads.models import Lead

    app = create_app({"CRM_DATABASE_URL": database_url, "CRM_SECRET_KEY": SECRET_KEY,
                      "IGNORE_INSTANCE_FILE": True})
    found = []
    with app.app_context():
        users = db.session.scalars(sa.select(User).where(User.active).order_by(User.id).limit(limit))
        for user in users:
            ids = list(db.session.scalars(editable_leads(user).with_only_columns(Lead.id)
                                          .where(Lead.stage != "lost").order_by(Lead.id)))
            managed = ids if user.role in ("district_admin", "township_head") else []
            stats = {"district_admin": "/stats/", "viewer": "/stats/",
                     "township_head": f"/stats/unit/{user.township_id}"}.get(user.role, "/")
            found.append(Account(user.username, user.role, issue_token(user, "loadtest"), ids, managed,
                                 stats))
        db.session.commit()
        db.engine.dispose()
    return found


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    if not match:
        raise ValueError("no csrf_token on the page")
    return match.group(1) or match.group(2)


async def login(client: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the real form: GET /login, parse the CSRF token, POST; as a person would,
    try again after the Retry-After of a busy answer (many users signing in at the same moment)."""
    for _ in range(30):
        page = await client.get("/login")
        response = await client.post("/login", data={"csrf_token": csrf_token(page.text),
                                                     "username": username, "password": password})
        if response.status_code != 429:
            break
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    if response.status_code != 302 or "/login" in response.headers.get("location", ""):
        raise RuntimeError(f"login of {username} failed: {response.status_code}")


@dataclass
class Outcome:
    kind: str
    status: int  # 0: no answer (connection error or timeout)
    seconds: float
    lead_id: int | None = None
    marker: str | None = None
    note: str = ""  # for failures: the first bytes of the answer or the exception


def marker() -> str:
    return MARKER_PREFIX + uuid.uuid4().hex[:16]


async def _timed(kind, coro_fn, lead_id=None, mark=None) -> Outcome:
    started = time.perf_counter()
    try:
        response = await coro_fn()
    except httpx.HTTPError as exc:
        return Outcome(kind, 0, time.perf_counter() - started, lead_id, mark, repr(exc)[:300])
    note = ""
    if response.status_code >= 500 or b"database is locked" in response.content:
        note = response.text[:300]
    return Outcome(kind, response.status_code, time.perf_counter() - started, lead_id, mark, note)


async def read(web: httpx.AsyncClient, api: httpx.AsyncClient, kind: str, lead_id: int,
               stats_path: str = "/stats/") -> Outcome:
    paths = {"lead_list": (web, "/leads/"), "lead_page": (web, f"/leads/{lead_id}"),
             "board": (web, "/board"), "stats": (web, stats_path),
             "api_leads": (api, "/api/v1/leads?per_page=50"),
             "api_lead": (api, f"/api/v1/leads/{lead_id}"),
             "api_stats": (api, "/api/v1/stats/townships")}
    client, path = paths[kind]
    return await _timed(kind, lambda: client.get(path), lead_id)


async def post_visit(api: httpx.AsyncClient, lead_id: int) -> Outcome:
    mark = marker()
    body = {"visited_on": today().isoformat(), "kind": "call", "summary": f"{mark} 负载测试走访"}
    return await _timed("visit", lambda: api.post(f"/api/v1/leads/{lead_id}/visits", json=body),
                        lead_id, mark)


async def edit_lead(api: httpx.AsyncClient, lead_id: int, *, stale=False) -> Outcome:
    """Read the lead, then PATCH its notes with the version read (or a known-stale one)."""
    got = await api.get(f"/api/v1/leads/{lead_id}")
    if got.status_code != 200:
        return Outcome("stale_edit" if stale else "edit", got.status_code, 0.0, lead_id,
                       note=got.text[:300] if got.status_code >= 500 else "")
    version = got.json()["version"]
    if stale and version <= 1:
        stale = False
    mark = marker()
    body = {"notes": mark, "version": version - 1 if stale else version}
    return await _timed("stale_edit" if stale else "edit",
                        lambda: api.patch(f"/api/v1/leads/{lead_id}", json=body), lead_id, mark)


async def move_stage(api: httpx.AsyncClient, lead_id: int, may_move_back: bool) -> Outcome | None:
    """contact → negotiation, or (heads and admin) negotiation → contact with a marked reason."""
    got = await api.get(f"/api/v1/leads/{lead_id}")
    if got.status_code != 200:
        return Outcome("move", got.status_code, 0.0, lead_id, note=got.text[:300])
    lead = got.json()
    if lead["stage"] == "contact":
        body = {"to": "negotiation", "version": lead["version"]}
    elif lead["stage"] == "negotiation" and may_move_back:
        body = {"to": "contact", "version": lead["version"], "reason": marker()}
    else:
        return None
    return await _timed("move", lambda: api.post(f"/api/v1/leads/{lead_id}/transitions", json=body),
                        lead_id, body.get("reason"))


def today() -> dt.date:
    from crm.clock import today as business_today

    return business_today()


def clients(base_url: str, token: str, timeout=60.0):
    """A cookie client for pages and a bearer client for the API."""
    # Idle connections are dropped before the server's keep-alive (5 s) closes them, so a request
    # never races the server's close (which shows as "server disconnected").
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=2.0)
    web = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)
    api = httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits,
                            headers={"Authorization": f"Bearer {token}"})
    return web, api


# --- after the run ---------------------------------------------------------------------------


def snapshot(database_url: str) -> dict:
    """Per lead: version, notes, stage; and the last stage change id (to count moves after it)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            leads = {row.id: {"version": row.version, "notes": row.notes, "stage": row.stage}
                     for row in conn.execute(sa.text("SELECT id, version, notes, stage FROM leads"))}
            last_change = conn.scalar(sa.text("SELECT COALESCE(MAX(id), 0) FROM stage_changes"))
            last_audit = conn.scalar(sa.text("SELECT COALESCE(MAX(id), 0) FROM audit_log"))
    finally:
        engine.dispose()
    return {"leads": leads, "last_change": last_change, "last_audit": last_audit}


@dataclass
class Verification:
    acknowledged: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    lost: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.problems


def verify(database_url: str, outcomes: list[Outcome], before: dict) -> Verification:
    """Look for every acknowledged (2xx) write in the database, by querying it directly.

    Visits: their marker in a visit's summary. Edits: their marker in the audit trail of an edit
    of that lead, in the order of the trail; the lead's notes are the last acknowledged edit's.
    Moves: as many new stage changes per lead as acknowledged moves. Versions: each lead's
    counter went up by exactly the number of acknowledged writes on it (no lost update).
    """
    result = Verification()
    ok = [o for o in outcomes if o.kind in WRITE_KINDS and 200 <= o.status < 300]
    for o in ok:
        result.acknowledged[o.kind] += 1
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            summaries = set(conn.scalars(sa.text(
                "SELECT summary FROM visits WHERE summary LIKE :p"), {"p": MARKER_PREFIX + "%"}))
            visit_markers = {s.split()[0] for s in summaries}
            edits = defaultdict(list)
            for row in conn.execute(sa.text(
                    "SELECT lead_id, changes FROM audit_log WHERE action = 'lead.edit' AND id > :a "
                    "ORDER BY id"), {"a": before["last_audit"]}):
                changes = row.changes if isinstance(row.changes, dict) else _json(row.changes)
                new = (changes.get("notes") or [None, None])[1]
                if new:
                    edits[row.lead_id].append(new)
            moves = Counter(dict(conn.execute(sa.text(
                "SELECT lead_id, COUNT(*) FROM stage_changes WHERE id > :c GROUP BY lead_id"),
                {"c": before["last_change"]}).all()))
            leads = {row.id: row for row in conn.execute(
                sa.text("SELECT id, version, notes FROM leads"))}
    finally:
        engine.dispose()

    by_lead = defaultdict(Counter)
    acked_edits = defaultdict(set)
    for o in ok:
        by_lead[o.lead_id][o.kind] += 1
        if o.kind == "visit":
            if o.marker in visit_markers:
                result.found["visit"] += 1
            else:
                result.lost.append(o)
        elif o.kind in ("edit", "stale_edit"):
            acked_edits[o.lead_id].add(o.marker)
            if o.marker in edits.get(o.lead_id, ()):
                result.found[o.kind] += 1
            else:
                result.lost.append(o)
    for lead_id, counts in by_lead.items():
        if moves.get(lead_id, 0) != counts["move"]:
            result.problems.append(f"lead {lead_id}: {counts['move']} moves acknowledged, "
                                   f"{moves.get(lead_id, 0)} stage changes written")
        else:
            result.found["move"] += counts["move"]
        trail = edits.get(lead_id, [])
        if trail and set(trail) != acked_edits[lead_id]:
            result.problems.append(f"lead {lead_id}: edits in the trail that no client saw acknowledged")
        if trail and leads[lead_id].notes != trail[-1]:
            result.problems.append(f"lead {lead_id}: notes {leads[lead_id].notes!r} are not the "
                                   f"last acknowledged edit {trail[-1]!r} (overwritten)")
        expected = before["leads"][lead_id]["version"] + sum(counts.values())
        if leads[lead_id].version != expected:
            result.problems.append(f"lead {lead_id}: version {leads[lead_id].version}, expected "
                                   f"{expected} (initial + acknowledged writes)")
    return result


def _json(text):
    import json

    return json.loads(text) if text else {}


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(outcomes: list[Outcome], elapsed: float) -> str:
    """Requests/s; p50/p95/p99 per kind and overall (ms); answers by status."""
    lines = [f"{len(outcomes)} requests in {elapsed:.1f} s = {len(outcomes) / elapsed:.1f} req/s"]
    lines.append(f"{'kind':<12}{'n':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'mean':>9}  statuses")
    by_kind = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    for kind in [*READ_KINDS, *WRITE_KINDS, "all"]:
        group = outcomes if kind == "all" else by_kind.get(kind, [])
        if not group:
            continue
        ms = [o.seconds * 1000 for o in group]
        statuses = Counter(o.status for o in group)
        lines.append(f"{kind:<12}{len(group):>7}{percentile(ms, 50):>9.0f}{percentile(ms, 95):>9.0f}"
                     f"{percentile(ms, 99):>9.0f}{statistics.fmean(ms):>9.0f}  "
                     + " ".join(f"{s}:{n}" for s, n in sorted(statuses.items())))
    return "\n".join(lines)


def errors(outcomes: list[Outcome]) -> list[Outcome]:
    """Server errors, no answers, and any answer that mentions a locked database."""
    return [o for o in outcomes if o.status == 0 or o.status >= 500 or "database is locked" in o.note]


async def virtual_user(base_url: str, account: Account, web_cookies, seconds: float,
                       write_share: float, rng: random.Random, all_leads: list[int],
                       contended: list[int] | None = None, stale_share=0.0) -> list[Outcome]:
    """One user: reads and writes chosen at random until the time is up; returns every outcome."""
    web, api = clients(base_url, account.token)
    web.cookies = web_cookies
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            outcomes.append(await one_step(web, api, account, write_share, rng, all_leads,
                                           contended, stale_share))
    finally:
        await web.aclose()
        await api.aclose()
    return [o for o in outcomes if o is not None]


async def one_step(web, api, account, write_share, rng, all_leads, contended, stale_share):
    if rng.random() >= write_share or not account.editable:
        # Officers may not read unit statistics (the policy's unit.stats): no stats API for them.
        kinds = READ_KINDS if account.role != "officer" else READ_KINDS[:-1]
        return await read(web, api, rng.choice(kinds), rng.choice(account.editable or all_leads),
                          account.stats_path)
    pool = account.editable
    if contended:
        shared = [i for i in contended if i in account.editable]
        if shared and rng.random() < 0.5:
            pool = shared
    lead_id = rng.choice(pool)
    roll = rng.random()
    if roll < stale_share:
        return await edit_lead(api, lead_id, stale=True)
    if roll < 0.45:
        return await post_visit(api, lead_id)
    if roll < 0.85:
        return await edit_lead(api, lead_id)
    moved = await move_stage(api, lead_id, lead_id in account.manageable)
    return moved or await post_visit(api, lead_id)


def run_clients(base_url, accts: list[Account], users: int, seconds: float, write_share: float,
                seed: int = 1, contended=None, stale_share=0.0, web_logins=True,
                password: str = DEMO_PASSWORD) -> tuple[list, float]:
    """``users`` virtual users at once (asyncio); one page sign-in per distinct account.

    ``base_url`` may be a list of servers sharing one database: user i talks to server i mod n
    (the session cookie of one is good on the others: they share the secret key).
    """
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    base_url = urls[0]

    async def main():
        chosen = [accts[i % len(accts)] for i in range(users)]
        jars = {}
        all_leads = sorted({i for a in accts for i in a.editable})
        for account in {a.username: a for a in chosen}.values():
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as c:
                if web_logins:
                    await login(c, account.username, password)
                jars[account.username] = c.cookies
        started = time.monotonic()
        results = await asyncio.gather(*[
            virtual_user(urls[i % len(urls)], a, jars[a.username], seconds, write_share,
                         random.Random(seed * 1000 + i), all_leads, contended, stale_share)
            for i, a in enumerate(chosen)])
        return [o for r in results for o in r], time.monotonic() - started

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Called where an event loop already runs (e.g. after Playwright's sync API in one process).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()
