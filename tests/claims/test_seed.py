"""The demo district shows a realistic queue."""

import pytest
import sqlalchemy as sa

from crm.claims import services
from crm.claims.models import Claim
from crm.clock import today
from crm.extensions import db
from crm.seed import seed_demo


@pytest.mark.slow  # exhaustive or a whole demo district: `make test` runs it
def test_demo_queue(app, tmp_path):
    app.config["CRM_STORAGE_URL"] = f"file://{tmp_path / 'files'}"
    app.extensions.pop("crm_storage", None)
    seed_demo(today())
    db.session.commit()
    counts = dict(db.session.execute(
        sa.select(Claim.status, sa.func.count()).group_by(Claim.status)).all())
    assert counts["pending"] == 5 and counts["returned"] == 1 and counts["verified"] > 20
    waiting = db.session.scalars(sa.select(Claim).where(Claim.status != "verified")).all()
    assert all(c.evidence and c.evidence[0].content_type == "image/jpeg" for c in waiting)
    reused = services.reused_on([a for c in waiting for a in c.evidence])
    assert sum(1 for others in reused.values() if others) == 2
    returned = next(c for c in waiting if c.status == "returned")
    assert returned.reviews[-1].opinion and returned.reviews[-1].by.username == "reviewer"
