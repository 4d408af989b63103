"""Claims fixtures: a reviewer, small real files (a JPEG with EXIF time, a PDF), API tokens."""

import io

import pytest
from PIL import Image

from crm.auth.services import issue_token
from crm.extensions import db
from tests import factories


def jpeg(colour=(200, 80, 40), taken="2026:03:01 09:30:00") -> bytes:
    image = Image.new("RGB", (32, 24), colour)
    exif = Image.Exif()
    exif[0x0132] = taken  # DateTime
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def app_config(tmp_path):
    return {"CRM_STORAGE_URL": f"file://{tmp_path / 'files'}"}


@pytest.fixture
def cw(world):
    """The world with a reviewer and tokens for everyone."""
    world.reviewer = factories.user("reviewer", "reviewer")
    db.session.flush()
    world.tokens = {u.username: issue_token(u) for u in (
        world.admin, world.viewer, world.reviewer, world.head_a, world.off_a1, world.off_a2,
        world.head_b, world.off_b1)}
    db.session.commit()
    return world


@pytest.fixture
def api(client, cw):
    class Api:
        def __call__(self, method, path, user="a-1", **kw):
            headers = {"Authorization": f"Bearer {cw.tokens[user]}"} if user else {}
            return client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

        def upload(self, lead_id, data, name="photo.jpg", kind="site_photo", user="a-1"):
            return self("POST", f"/leads/{lead_id}/attachments", user=user,
                        data={"file": (io.BytesIO(data), name), "kind": kind},
                        content_type="multipart/form-data")

    return Api()
