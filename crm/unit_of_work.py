"""One unit of work per request: the request's session is committed once, when its view has
answered successfully, and rolled back otherwise.

Services flush and never commit; views and API resources call them and never commit either.
The app class below commits after the view returned a response with a status below 400 (a page,
a 201, a redirect), inside the view's dispatch, so a commit that fails is handled like any error
of the view (a 503 for a database that cannot be reached, else a 500). A view that answers 4xx/5xx,
or raises, commits nothing: its changes are rolled back (``roll_back_failed``).

A service that refuses (``DomainError``) may have changed rows before it did: the view that turns
the refusal into a form error or a flash calls ``discard()``, which rolls back and makes sure the
request commits nothing, whatever it answers (a re-rendered form, a redirect back).

Some functions commit on their own, by design, and say so in their name (``…_and_commit``):
the sign-in log, the API rate-limit count, an API token's last use. CLI commands and scheduled
jobs are not requests: they commit explicitly.
"""

from flask import Flask, g

from crm.extensions import db


class App(Flask):
    """Flask, committing the request's unit of work when its view succeeded."""

    def dispatch_request(self):
        response = self.make_response(super().dispatch_request())
        if response.status_code < 400 and not g.get("_uow_discarded"):
            db.session.commit()
        return response


def discard() -> None:
    """Undo what this request changed so far; the request then commits nothing."""
    db.session.rollback()
    g._uow_discarded = True


def commit_now() -> None:
    """Commit what the request did so far, for a view that must act only once it is stored
    (delete an uploaded file once its rows are imported); the request goes on in a new
    transaction, committed at its end as usual."""
    db.session.commit()


def end_transaction() -> None:
    """End the request's open (reading) transaction before slow work outside the database (a
    large file read), so that no lock is held meanwhile; the request goes on in a new one.
    Nothing has been written at this point: what the request flushed so far is rolled back."""
    db.session.rollback()


def roll_back_failed(response):
    """An answer of 4xx/5xx (a refused form, an error page, flask-smorest's 422) keeps nothing."""
    if response.status_code >= 400:
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001, S110 (a dead connection cannot roll back; it is dropped)
            pass
    return response


def register(app: Flask) -> None:
    app.after_request(roll_back_failed)
