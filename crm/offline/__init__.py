"""The installable, offline-tolerant app: web manifest, service worker, offline page."""
