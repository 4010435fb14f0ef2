"""Finished response bodies kept in memory, least recently used first out, bounded in bytes.

Safe for anything derived from one publication only: the store never changes a recorded publication, so
a body built once stays right (keys must include whatever else the body shows, e.g. whether the
publication is still the latest).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class ResponseCache:
    """An LRU of response bodies holding at most ``max_bytes`` (0 disables it)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """Return the body cached under ``key``, else build, keep (if it fits) and return it."""
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return body
            self.misses += 1
        body = build()
        if len(body) > self.max_bytes:
            return body
        with self._lock:
            if key not in self._items:
                self._items[key] = body
                self._size += len(body)
            while self._size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)
        return body
