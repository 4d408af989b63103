"""One unit of work per request: what a view's answer keeps in the database.

Routes added to a real app write a real row (a unit) and answer in each way a view can; the test
then reads the database.
"""

import pytest
import sqlalchemy as sa
from flask import abort, redirect

from crm.errors import DomainError
from crm.extensions import db
from crm.townships.models import Township
from crm.unit_of_work import commit_now, discard


@pytest.fixture
def app(app):
    def write(answer):
        db.session.add(Township(name=f"uow-{answer}", kind="town"))
        db.session.flush()
        if answer == "page":
            return "ok"
        if answer == "created":
            return "ok", 201
        if answer == "redirect":
            return redirect("/")
        if answer == "refused":
            return "refused", 422
        if answer == "forbidden":
            abort(403)
        if answer == "domain":
            raise DomainError("no")
        if answer == "raises":
            raise RuntimeError("boom")
        if answer == "discarded":  # a refusal turned into a form error: the page still says 200
            discard()
            db.session.add(Township(name="uow-after-discard", kind="town"))
            return "form again"
        if answer == "committed-then-refused":
            commit_now()
            db.session.add(Township(name="uow-after-commit", kind="town"))
            return "refused", 422
        raise AssertionError(answer)

    def duplicate():
        """A row that breaks a unique constraint only when the request commits."""
        db.session.add(Township(name="uow-taken", kind="town"))
        return "ok"

    app.add_url_rule("/uow/<answer>", "uow_write", write, methods=["POST"])
    app.add_url_rule("/uow-duplicate", "uow_duplicate", duplicate, methods=["POST"])
    return app


def stored(*names) -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(sa.select(Township.name).where(Township.name.in_(names))))


@pytest.mark.parametrize(("answer", "status", "kept"), [
    ("page", 200, True),
    ("created", 201, True),
    ("redirect", 302, True),
    ("refused", 422, False),
    ("forbidden", 403, False),
    ("domain", 422, False),
    ("raises", 500, False),
])
def test_a_request_keeps_its_changes_only_when_it_succeeded(client, answer, status, kept):
    response = client.post(f"/uow/{answer}")
    assert response.status_code == status
    assert stored(f"uow-{answer}") == ({f"uow-{answer}"} if kept else set())


def test_a_discarded_request_commits_nothing_whatever_it_answers(client):
    response = client.post("/uow/discarded")
    assert response.status_code == 200
    assert stored("uow-discarded", "uow-after-discard") == set()


def test_commit_now_keeps_what_came_before_it(client):
    response = client.post("/uow/committed-then-refused")
    assert response.status_code == 422
    assert stored("uow-committed-then-refused", "uow-after-commit") == {"uow-committed-then-refused"}


def test_a_commit_that_fails_is_answered_like_any_database_error(client):
    db.session.add(Township(name="uow-taken", kind="town"))
    db.session.commit()
    response = client.post("/uow-duplicate")
    assert response.status_code == 500
    assert "Traceback" not in response.text and "IntegrityError" not in response.text
    # The next request starts clean.
    assert client.post("/uow/page").status_code == 200
    assert stored("uow-page") == {"uow-page"}
