"""One bounded, thread-safe LRU for everything the app keeps in memory: models, encoder runs, fine-tuned models."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """Values by key, most recently used last, bounded by a count and by a total size.

    Putting a value evicts the least recently used others until both bounds hold; the value just put always stays
    (one model bigger than the whole budget is still served). Evicted values go to ``on_evict`` after the lock is
    released, so a callback may free memory or take other locks.

    Args:
        max_entries: most values kept; None: no count bound.
        max_bytes: most total ``size(value)`` kept; None: no size bound.
        size: a value's size in bytes (only read when max_bytes is set).
        on_evict: called with (key, value) for each value evicted by a put (not by pop or clear).
    """

    def __init__(self, *, max_entries: int | None = None, max_bytes: int | None = None,
                 size: Callable[[V], int] | None = None, on_evict: Callable[[K, V], None] | None = None):
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size = size or (lambda _value: 0)
        self._on_evict = on_evict
        self._lock = threading.Lock()
        self._values: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> list[tuple[K, V]]:
        """Keep ``value`` as the most recently used; returns what was evicted to make room (oldest first)."""
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            evicted = []
            while len(self._values) > 1 and self._over():
                evicted.append(self._values.popitem(last=False))
        if self._on_evict is not None:
            for old_key, old_value in evicted:
                self._on_evict(old_key, old_value)
        return evicted

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The value under ``key``, or ``compute()``'s, kept for next time (two racing callers may both compute)."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def pop(self, key: K) -> V | None:
        """Remove and return the value under ``key`` (no on_evict), or None."""
        with self._lock:
            return self._values.pop(key, None)

    def discard_where(self, predicate: Callable[[K, V], bool]) -> list[tuple[K, V]]:
        """Remove every entry for which ``predicate(key, value)`` holds (no on_evict); returns them."""
        with self._lock:
            gone = [(key, value) for key, value in self._values.items() if predicate(key, value)]
            for key, _value in gone:
                del self._values[key]
            return gone

    def items(self) -> list[tuple[K, V]]:
        """A snapshot, most recently used first."""
        with self._lock:
            return list(reversed(self._values.items()))

    def values(self) -> list[V]:
        """A snapshot of the values, most recently used first."""
        return [value for _key, value in self.items()]

    def total_bytes(self) -> int:
        with self._lock:
            return sum(self._size(value) for value in self._values.values())

    def clear(self) -> list[tuple[K, V]]:
        """Remove everything (no on_evict); returns what was held."""
        with self._lock:
            held = list(self._values.items())
            self._values.clear()
            return held

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def _over(self) -> bool:
        if self.max_entries is not None and len(self._values) > self.max_entries:
            return True
        return self.max_bytes is not None and sum(self._size(v) for v in self._values.values()) > self.max_bytes
