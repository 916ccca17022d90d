"""Start-up objects kept out of the garbage collector's full passes.

Why: a long-running process (central's web workers and ingest workers, the kiosk's
screens) makes hundreds of thousands of objects while it starts (modules, routes,
templates, widget trees) that live as long as it does. Every full collection walks
them all while the work in hand waits: it was the whole p99 of central's
verification route (bench/bench_web.py: 89-116 ms before, 13-37 ms after).
`gc.freeze()` moves them to a generation the collector never visits; objects made
later are collected as before, so nothing is leaked.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Call once, when start-up is over and before the first request or message."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
