"""A kiosk process that takes applications and syncs in one loop, printing each
tracking number only after it is committed (= acknowledged to the citizen).
Used by the SIGKILL test: whatever it printed must reach central exactly once."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from kiosk import applications, identity
from kiosk.store import KioskStore
from kiosk.sync.client import SyncClient, SyncConfig


def main() -> None:
    data, broker, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]))  # the test's seed draws it
    store = KioskStore(data)
    ident = identity.load(store)
    client = SyncClient(store, ident, broker, SyncConfig(ack_timeout=1.0, heartbeat_s=0, first_delay_max=0))
    i = start
    while True:
        if rng.random() < 0.5:
            r = applications.submit(store, ident, "non-conviction-certificate", {
                "full_name": f"Writer {i}", "national_id": f"{i:012d}", "mobile": "07701234567"})
            print(r.tracking, flush=True)
            i += 1
        client.step(0.005)
        time.sleep(rng.random() * 0.01)


if __name__ == "__main__":
    main()
