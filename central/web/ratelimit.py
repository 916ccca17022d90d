"""Fixed-window request counters per client and route group, in process memory.

Counting in the database would put a write on every public request, the
verification page's hot path. Counters are per serving process: with N
processes a client gets at most N times the limit, which still bounds a
flood; nothing a second process needs is kept here (a lost counter only
resets a window).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Limiter:
    per_minute: int
    window: float = 60.0
    max_keys: int = 100_000
    _counts: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one request; False when `key` is over its limit in this window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            start, n = self._counts.get(key, (now, 0))
            if now - start >= self.window:
                start, n = now, 0
            n += 1
            if len(self._counts) >= self.max_keys and key not in self._counts:
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
            self._counts[key] = (start, n)
            return n <= self.per_minute
