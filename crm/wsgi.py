"""The WSGI entry point for production servers: `gunicorn -c python:crm.gunicorn_conf crm.wsgi:app`."""

from crm import create_app

app = create_app()
