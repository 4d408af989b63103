"""8 client processes write at once, to different leads and to the same leads, through gunicorn.

Nothing may fail (5xx, "database is locked"), get lost (every 2xx write is in the database) or be
silently overwritten (a stale version is answered 409; each contended lead ends as its last
acknowledged edit, with its version counter up by exactly the acknowledged writes).
"""

import multiprocessing
from collections import Counter

import pytest

from benchmarks import harness
from tests.concurrency.conftest import concurrency_seconds

CLIENTS = 8

pytestmark = pytest.mark.timeout(600)


def _client(base_url, account, seconds, seed, contended):
    outcomes, _ = harness.run_clients(base_url, [account], users=1, seconds=seconds, write_share=1.0,
                                      seed=seed, contended=contended, stale_share=0.1,
                                      web_logins=False)
    return outcomes


def _writers(accounts):
    """Eight accounts that may change leads: the admin, the heads, then officers."""
    order = {"district_admin": 0, "township_head": 1, "officer": 2}
    writers = sorted((a for a in accounts if a.editable), key=lambda a: order.get(a.role, 3))
    return (writers * CLIENTS)[:CLIENTS]


def _contended(writers):
    """Leads that at least three of the writers may change: they all write to these."""
    counts = Counter(i for a in {w.username: w for w in writers}.values() for i in a.editable)
    shared = [i for i, n in counts.most_common() if n >= 3]
    assert shared, "the demo district has no lead that three writers share"
    return shared[:3]


def test_concurrent_writers_lose_nothing(served):
    kind, url, server = served
    accounts = harness.accounts(url)
    writers = _writers(accounts)
    contended = _contended(writers)
    before = harness.snapshot(url)
    seconds = concurrency_seconds()

    with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
        jobs = [pool.apply_async(_client, (server.url, w, seconds, 100 + n, contended))
                for n, w in enumerate(writers)]
        outcomes = [o for job in jobs for o in job.get(timeout=seconds + 120)]
    server.stop()
    log = server.log()

    check = harness.verify(url, outcomes, before)
    statuses = Counter((o.kind, o.status) for o in outcomes)
    made = sum(n for (k, _), n in statuses.items() if k in harness.WRITE_KINDS)
    conflicts = sum(n for (k, s), n in statuses.items() if s == 409)
    on_contended = sum(1 for o in outcomes if o.lead_id in contended and 200 <= o.status < 300)
    print(f"\n[{kind}] {CLIENTS} processes x {seconds:.0f} s: writes made {made}, acknowledged "
          f"{sum(check.acknowledged.values())} ({dict(check.acknowledged)}), found "
          f"{sum(check.found.values())}, lost {len(check.lost)}, 409s {conflicts} "
          f"(stale edits {statuses[('stale_edit', 409)]}), acknowledged on the "
          f"{len(contended)} contended leads {on_contended}; statuses {dict(statuses)}")

    failed = harness.errors(outcomes)
    assert not failed, [(o.kind, o.status, o.note[:200]) for o in failed[:5]]
    assert "database is locked" not in log
    assert "Traceback" not in log, log[-3000:]
    unexpected = {key: n for key, n in statuses.items() if key[1] not in (200, 201, 409)}
    assert not unexpected, unexpected
    # A known-stale version is always refused, and something was tried on both kinds of lead.
    assert statuses[("stale_edit", 409)] > 0
    assert not [o for o in outcomes if o.kind == "stale_edit" and o.status != 409]
    assert on_contended > 0 and made > on_contended
    assert check.ok, (check.lost[:5], check.problems[:5])
    assert sum(check.found.values()) == sum(check.acknowledged.values())
