"""Values kept in this process's memory: the last few of a kind, per database engine (a test's
app, a new database, starts empty), shared by the request threads (read only)."""

import threading
import weakref
from collections import OrderedDict

from crm.extensions import db


class Kept:
    """The ``size`` most recently used values of one kind, by key, per engine."""

    def __init__(self, size: int):
        self.size = size
        self._by_engine: weakref.WeakKeyDictionary[object, OrderedDict] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, key):
        """The value kept under ``key``, or None."""
        with self._lock:
            values = self._by_engine.get(db.engine)
            found = None if values is None else values.get(key)
            if found is not None:
                values.move_to_end(key)
        return found

    def put(self, key, value) -> None:
        with self._lock:
            values = self._by_engine.setdefault(db.engine, OrderedDict())
            values[key] = value
            values.move_to_end(key)
            while len(values) > self.size:
                values.popitem(last=False)

    def clear(self) -> None:
        """Forget this engine's values."""
        with self._lock:
            self._by_engine.pop(db.engine, None)
