"""The WSGI entry point for production servers: `gunicorn -c python:crm.gunicorn_conf crm.wsgi:app`."""

import gc

from crm import create_app

app = create_app()
# The app's own objects (routes, templates, mappers, translations) live as long as the worker:
# moved out of the collector's generations, a full collection no longer walks them. At province
# scale it takes a third off the statistics requests, which create many short-lived objects
# (docs/performance.md).
gc.freeze()
