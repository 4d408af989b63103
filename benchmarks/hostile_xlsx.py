"""Hostile .xlsx files posted to a real server: time to refusal, the worker's extra memory, and
the latency of a visit posted by another client meanwhile (SQLite and PostgreSQL).

    .venv/bin/python benchmarks/hostile_xlsx.py                 # both databases
    .venv/bin/python benchmarks/hostile_xlsx.py --db sqlite

One gunicorn worker with 4 threads (crm.wsgi, crm/gunicorn_conf.py), so the upload and the visit
share one process: the worst case for both. Targets: each file refused in <= 2 s with <= 50 MB of
extra memory; the visit <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402
from tests.security.test_hostile_files import (  # noqa: E402
    SHEET_HEAD,
    SHEET_TAIL,
    repeated,
    sheet_rows,
    strings_table,
    wide_row,
    write_xlsx,
)

DEFAULT_PG = os.environ.get("CRM_TEST_POSTGRES_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:54329/postgres")


def varied_strings(total_bytes: int):
    """Shared strings of 1,000 characters, each a different one."""
    head = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    yield head
    count = total_bytes // 1020
    for start in range(0, count, 1000):
        yield b"".join(b"<si><t>" + (b"%09d" % i) + b"x" * 991 + b"</t></si>"
                       for i in range(start, min(start + 1000, count)))
    yield b"</sst>"


FILES = {
    # the attack's three: a wide row (~3 M cells, 60 MB unzipped), its bigger variant, and a
    # 180 MB shared-strings table
    "wide row, 3 M cells": lambda: (wide_row(3_000_000, b'<c s="0"><v>1</v></c>'), None),
    "wide row, 9 M cells": lambda: (wide_row(9_000_000, b'<c s="0"><v>1</v></c>'), None),
    "180 MB shared strings": lambda: (sheet_rows(b'<row><c t="s"><v>0</v></c></row>', 1),
                                      varied_strings(180 * 1024 * 1024)),
    # the slowest refusals the limits allow: counted up to the cell and string budgets
    "3 M empty rows": lambda: (sheet_rows(b"<row/>", 3_000_000), None),
    "2 M empty shared strings": lambda: (sheet_rows(b'<row><c t="s"><v>0</v></c></row>', 1),
                                         strings_table(b"<si/>", 2_000_000)),
    "5 M foreign elements": lambda: (repeated(b"<x/>", 5_000_000, SHEET_HEAD + b"<row>",
                                              b"</row>" + SHEET_TAIL), None),
}

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    return match.group(1) or match.group(2)


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120)
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf(page.text), "username": username,
                                           "password": harness.DEMO_PASSWORD})
    assert response.status_code == 302, response.text[:300]
    return client


def worker_process(server: harness.Gunicorn) -> psutil.Process:
    children = psutil.Process(server.process.pid).children(recursive=True)
    assert len(children) == 1, children
    return children[0]


def measure(server, uploader: httpx.Client, api: httpx.Client, lead_id: int, path: Path) -> dict:
    worker = worker_process(server)
    form = uploader.get("/imports/leads")
    token = csrf(form.text)
    api.post(f"/api/v1/leads/{lead_id}/visits", json=visit())  # warm
    baseline = worker.memory_info().rss
    cpu_before = sum(worker.cpu_times()[:2])
    peak = baseline
    done = threading.Event()
    started = threading.Event()
    visits: list[tuple[int, float]] = []

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, worker.memory_info().rss)
            time.sleep(0.005)

    def post_visits():
        started.wait()
        while True:
            t0 = time.perf_counter()
            response = api.post(f"/api/v1/leads/{lead_id}/visits", json=visit())
            visits.append((response.status_code, time.perf_counter() - t0))
            if done.is_set():
                return

    threads = [threading.Thread(target=sample), threading.Thread(target=post_visits)]
    for thread in threads:
        thread.start()
    data = path.read_bytes()
    started.set()
    t0 = time.perf_counter()
    response = uploader.post("/imports/leads", data={"csrf_token": token},
                             files={"file": ("台账.xlsx", data)})
    elapsed = time.perf_counter() - t0
    cpu = sum(worker.cpu_times()[:2]) - cpu_before  # the visits' share included
    done.set()
    for thread in threads:
        thread.join()
    message = re.search(r'class="flash flash-[a-z]+">([^<]+)', response.text)
    return {"status": response.status_code, "seconds": elapsed, "cpu": cpu,
            "extra_mb": (peak - baseline) / 1048576,
            "message": message.group(1).strip() if message else response.text[:120],
            "visits": visits}


def visit() -> dict:
    return {"visited_on": harness.today().isoformat(), "kind": "call", "summary": "上传期间的走访"}


def run(kind: str, url: str, files: dict[str, Path], out: list[str]) -> None:
    harness.prepare_database(url)
    officer = next(a for a in harness.accounts(url) if a.username == "shuiguo-1")
    with tempfile.TemporaryDirectory() as log_dir, \
            harness.Gunicorn(url, workers=1, threads=4, log_dir=log_dir) as server:
        uploader = sign_in(server.url, "mengzhuang-1")
        api = httpx.Client(base_url=server.url, timeout=120,
                           headers={"Authorization": f"Bearer {officer.token}"})
        for name, path in files.items():
            got = measure(server, uploader, api, officer.editable[0], path)
            statuses = sorted({s for s, _t in got["visits"]})
            slowest = max(t for _s, t in got["visits"])
            line = (f"| {kind} | {name} | {path.stat().st_size // 1024} KB | {got['status']} | "
                    f"{got['seconds']:.2f} s ({got['cpu']:.2f} s CPU) | {got['extra_mb']:.1f} MB | "
                    f"{len(got['visits'])} × "
                    f"{statuses}, slowest {slowest:.2f} s | {got['message'][:60]} |")
            print(line, flush=True)
            out.append(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-server", default=DEFAULT_PG)
    args = parser.parse_args()
    out: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for name, build in FILES.items():
            sheet, strings = build()
            files[name] = write_xlsx(Path(folder) / f"{len(files)}.xlsx", sheet, strings)
        print(f"load average {os.getloadavg()[0]:.1f} at the start")
        print("| database | file | size | answer | refused after (worker CPU) | worker's extra RSS | "
              "visits meanwhile | message |")
        print("|---|---|---|---|---|---|---|---|")
        if args.db in ("sqlite", "both"):
            run("SQLite", harness.sqlite_url(folder), files, out)
        if args.db in ("postgresql", "both"):
            with harness.postgres_database(args.pg_server, prefix="crm_hostile") as url:
                run("PostgreSQL", url, files, out)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
