"""Company and dispute fixtures: the claims' world (a reviewer, tokens) with a real SMTP server."""

import pytest

from tests.claims.conftest import api, cw  # noqa: F401  (fixtures shared with the claims tests)


@pytest.fixture
def app_config(tmp_path, smtp):
    return {"CRM_STORAGE_URL": f"file://{tmp_path / 'files'}", "CRM_MAIL_BACKEND": "smtp",
            "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp.port}
