"""Role-aware moves and 申请退回: mail over real SMTP (tests/mailserver.py)."""

import pytest


@pytest.fixture
def app_config(smtp):
    return {"CRM_MAIL_BACKEND": "smtp", "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp.port}


@pytest.fixture
def login(auth):
    """Sign in as ``username``, signing out whoever was signed in on this client."""
    def as_user(username):
        auth.logout()
        response = auth.login(username)
        assert response.status_code == 302, username
    return as_user
