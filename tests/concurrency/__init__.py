"""Concurrent writers against real gunicorn processes (issue 8)."""
