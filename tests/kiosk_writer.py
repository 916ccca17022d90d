"""A kiosk process that takes applications and syncs in one loop, writing each
tracking number to a file only after it is committed (= acknowledged to the citizen).
Used by the SIGKILL test: whatever it wrote must reach central exactly once.

The test forks it from a forkserver that has imported this module (and so the kiosk)
once: each of its 50 writers is a fresh process killed by SIGKILL, without paying
a Python start-up and the kiosk's imports (about 1 s of CPU) fifty times."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from kiosk import identity
from kiosk.applications import applications
from kiosk.context import wire_sync_handlers
from kiosk.store import KioskStore
from kiosk.sync.client import SyncClient, SyncConfig

# sync imports no business module: the capabilities register their feed handlers
wire_sync_handlers()


def run(data: Path, broker: str, start: int, seed: int, out: Path) -> None:
    """The loop; each tracking number is appended to `out` (and flushed) once committed."""
    rng = random.Random(seed)  # the test's seed draws it
    store = KioskStore(data)
    ident = identity.load(store)
    client = SyncClient(store, ident, broker, SyncConfig(ack_timeout=1.0, heartbeat_s=0, first_delay_max=0))
    i = start
    with open(out, "a", buffering=1) as confirmed:  # line-buffered: one write per number
        while True:
            if rng.random() < 0.5:
                r = applications.submit(store, ident, "non-conviction-certificate", {
                    "full_name": f"Writer {i}", "national_id": f"{i:012d}", "mobile": "07701234567"})
                confirmed.write(r.tracking + "\n")
                i += 1
            client.step(0.005)
            time.sleep(rng.random() * 0.01)


def main() -> None:
    """python -m tests.kiosk_writer DATA BROKER START SEED OUT"""
    run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))


if __name__ == "__main__":
    main()
