"""Personal data sealed on the wire (contract.pii_seal): what sealing costs the
kiosk per message, what opening costs central's ingest worker per message
(shared secret remembered per ephemeral key, an exchange in process every
time, and the exchange in the PKCS#11 token where central's key lives), and
how many bytes a seal adds to an application.

Run: PYTHONPATH=. python -m bench.bench_pii_seal
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bench.table import print_table
from central import hsm, pii_key
from contract import pii_seal

PAYLOAD = {"tracking": "1001-000001-3", "service_id": "ordinary-passport", "catalogue_version": 1,
           "fee_total": 25000, "submitted_at": "2026-12-02T16:00:00+00:00",
           "fields": {"full_name": "زينب قاسم محمد الموسوي", "national_id": "198712340987",
                      "mobile": "07719283746", "passport_type": "new", "birth_date": "1987-06-05"}}
N = 3000


def _per_call_us(fn: Callable[[int], object], n: int = N) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    central = pii_seal.SoftwareRecipient(X25519PrivateKey.generate())
    remembering = pii_key.Remembering(central)
    mids = [f"0190{i:032x}" for i in range(N)]
    seal_reused = _per_call_us(lambda i: pii_seal.seal_payload(PAYLOAD, central.public_raw, "K1", "applications",
                                                               mids[i]))
    seal_fresh = _per_call_us(lambda i: pii_seal.seal(central.public_raw, cbor2.dumps(PAYLOAD), b"", fresh=True),
                              N // 3)
    sealed = [pii_seal.seal_payload(PAYLOAD, central.public_raw, "K1", "applications", m) for m in mids]
    open_hit = _per_call_us(lambda i: pii_seal.open_payload(sealed[i], lambda _k: remembering, "K1",
                                                            "applications", mids[i]))
    open_miss = _per_call_us(lambda i: pii_seal.open_payload(sealed[i], lambda _k: central, "K1",
                                                             "applications", mids[i]))
    with tempfile.TemporaryDirectory() as d:
        # A SoftHSM2 token of the bench's own unless one is configured (central/hsm.py).
        os.environ.setdefault("UR_CENTRAL_HSM_DIR", str(Path(d) / "hsm"))
        in_token = hsm.X25519TokenKey(hsm.token().generate_x25519("bench-pii"))
        token_exchange = _per_call_us(lambda i: in_token.exchange(sealed[i]["sealed"][9:41]), 300)
        hsm.token().destroy(in_token.kid)
    clear_bytes = len(cbor2.dumps(PAYLOAD))
    sealed_bytes = len(cbor2.dumps(sealed[0]))
    print_table("Sealing personal data (one application payload, this machine)", [
        ("seal, kiosk (ephemeral key reused)", seal_reused, "µs/msg", "-", "what every application costs the kiosk"),
        ("seal, new ephemeral key", seal_fresh, "µs/msg", "-", "once per 10,000 messages or 10 min"),
        ("open, central (shared secret remembered)", open_hit, "µs/msg", "< 100", "the ingest worker, per message"),
        ("open, exchange every time (in process)", open_miss, "µs/msg", "-", "first message of a kiosk process"),
        ("X25519 exchange in the token (SoftHSM2)", token_exchange, "µs", "-",
         "central's key: once per kiosk process and interval, then remembered"),
        ("payload bytes clear -> sealed", f"{clear_bytes} -> {sealed_bytes}", "bytes", "-",
         f"+{sealed_bytes - clear_bytes}: header 57, tag 16, CBOR"),
        ("machine load average (1 min)", f"{os.getloadavg()[0]:.1f}", "", "-",
         f"{os.cpu_count()} cores shared with other work; timings scale with it"),
    ])


if __name__ == "__main__":
    main()
