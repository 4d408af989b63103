"""Supervision fixtures: API tokens for everyone, a red project, helpers to run in threads."""

import datetime as dt
import threading

import pytest

from crm.auth.services import issue_token
from crm.clock import today
from crm.extensions import db
from tests import factories


@pytest.fixture
def app_config(tmp_path):
    return {"CRM_STORAGE_URL": f"file://{tmp_path / 'files'}"}


@pytest.fixture
def sw(world):
    """The world with tokens for everyone."""
    world.tokens = {u.username: issue_token(u) for u in (
        world.admin, world.viewer, world.head_a, world.off_a1, world.off_a2, world.head_b,
        world.off_b1)}
    db.session.commit()
    return world


@pytest.fixture
def api(client, sw):
    class Api:
        def __call__(self, method, path, user="admin", **kw):
            headers = {"Authorization": f"Bearer {sw.tokens[user]}"} if user else {}
            return client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    return Api()


def red_lead(world, name="超算中心", unit=None, overdue_days=45, **kw):
    """A lead in negotiation whose planned sign date passed ``overdue_days`` ago (red)."""
    unit = unit or world.a
    actor = world.off_a1 if unit is world.a else world.off_b1
    lead = factories.lead(actor, unit, name=name, company=f"{name}有限公司", stage="negotiation",
                          created_on=today() - dt.timedelta(days=overdue_days + 10),
                          planned_sign_date=today() - dt.timedelta(days=overdue_days), **kw)
    db.session.commit()
    return lead


def in_threads(app, n, work):
    """Run ``work(i)`` in ``n`` threads at once, each in an app context (own session) of its
    own; returns the results, re-raising the first error."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def target(i):
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                try:
                    results[i] = work(i)
                finally:
                    db.session.remove()
        except BaseException as exc:  # noqa: BLE001 (re-raised below)
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results
