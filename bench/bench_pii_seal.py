"""Personal data sealed on the wire (contract.pii_seal): what sealing costs the
kiosk per message, what opening costs central's ingest worker per message
(shared secret remembered per ephemeral key, an exchange in process every
time, and the exchange in the PKCS#11 token where central's key lives), how
many bytes a seal adds to an application, and central's ingest of the same
applications clear and sealed (process_batch on SQLite, signatures checked,
workflow routing deferred as the worker does), alternated to share the load.

Run: PYTHONPATH=. python -m bench.bench_pii_seal
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bench.table import print_table
from central import applications, db, hsm, ingest, kiosks, pii_key
from contract import envelope, ids, pii_seal, topics, tracking

PAYLOAD = {"tracking": "1001-000001-3", "service_id": "ordinary-passport", "catalogue_version": 1,
           "fee_total": 25000, "submitted_at": "2026-12-02T16:00:00+00:00",
           "fields": {"full_name": "زينب قاسم محمد الموسوي", "national_id": "198712340987",
                      "mobile": "07719283746", "passport_type": "new", "birth_date": "1987-06-05"}}
N = 3000
INGEST_N = 4000  # applications per form, in batches of INGEST_BATCH (the first pair only warms up)
INGEST_BATCH = 500


def _per_call_us(fn: Callable[[int], object], n: int = N) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n * 1e6


def _ingest_us_per_msg(d: Path) -> tuple[float, float]:
    """Central's ingest of INGEST_N applications per kiosk, clear from K1 and
    sealed from K2, in alternating batches: µs per message for each."""
    engine = db.make_engine(f"sqlite:///{d / 'central.db'}")
    db.init_schema(engine)
    sessions = db.sessions(engine)
    keys = {"K1": Ed25519PrivateKey.generate(), "K2": Ed25519PrivateKey.generate()}
    with sessions.begin() as s:
        codes = {k: kiosks.register(s, k, envelope.raw_public_hex(key), "", datetime.now(UTC)).kiosk_code
                 for k, key in keys.items()}
        pinned = pii_key.ensure(s).public_key
    batches: dict[str, list[list[tuple[str, bytes]]]] = {"K1": [], "K2": []}
    for k, key in keys.items():
        items = []
        for i in range(1, INGEST_N + 1):
            mid = ids.new_id()
            payload = {**PAYLOAD, "tracking": tracking.make(codes[k], i)}
            if k == "K2":
                payload = pii_seal.seal_payload(payload, pinned, k, "applications", mid)
            env = envelope.Envelope(k, mid, "applications", i, i, payload)
            items.append((topics.up(k, "applications"), envelope.seal(env, key)))
        batches[k] = [items[i:i + INGEST_BATCH] for i in range(0, len(items), INGEST_BATCH)]
    spent = {"K1": 0.0, "K2": 0.0}
    token = applications.DEFER_ROUTING.set(True)
    try:
        for n, (b1, b2) in enumerate(zip(batches["K1"], batches["K2"], strict=True)):
            pair = (("K1", b1), ("K2", b2)) if n % 2 else (("K2", b2), ("K1", b1))  # neither always first
            for k, batch in pair:
                t0 = time.perf_counter()
                out = ingest.process_batch(sessions, batch)
                if n:
                    spent[k] += time.perf_counter() - t0
                assert all(o.result == "applied" for o in out), {o.result for o in out}
    finally:
        applications.DEFER_ROUTING.reset(token)
        engine.dispose()
    counted = INGEST_N - INGEST_BATCH
    return spent["K1"] / counted * 1e6, spent["K2"] / counted * 1e6


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
        ingest_clear, ingest_sealed = _ingest_us_per_msg(Path(d))
    clear_bytes = len(cbor2.dumps(PAYLOAD))
    sealed_bytes = len(cbor2.dumps(sealed[0]))
    print_table("Sealing personal data (one application payload, this machine)", [
        ("seal, kiosk (ephemeral key reused)", seal_reused, "µs/msg", "-", "what every application costs the kiosk"),
        ("seal, new ephemeral key", seal_fresh, "µs/msg", "-", "once per 10,000 messages or 10 min"),
        ("open, central (shared secret remembered)", open_hit, "µs/msg", "< 100", "the ingest worker, per message"),
        ("open, exchange every time (in process)", open_miss, "µs/msg", "-", "first message of a kiosk process"),
        ("X25519 exchange in the token (SoftHSM2)", token_exchange, "µs", "-",
         "central's key: once per kiosk process and interval, then remembered"),
        ("central ingest, clear applications", ingest_clear, "µs/msg", "-",
         f"{INGEST_N - INGEST_BATCH:,} after a warm-up batch, batches of {INGEST_BATCH}, SQLite, routing deferred"),
        ("central ingest, sealed applications", ingest_sealed, "µs/msg", "-",
         f"the same, sealed: {(ingest_sealed / ingest_clear - 1) * 100:+.0f}%"),
        ("payload bytes clear -> sealed", f"{clear_bytes} -> {sealed_bytes}", "bytes", "-",
         f"+{sealed_bytes - clear_bytes}: header 57, tag 16, CBOR"),
        ("machine load average (1 min)", f"{os.getloadavg()[0]:.1f}", "", "-",
         f"{os.cpu_count()} cores shared with other work; timings scale with it"),
    ])


if __name__ == "__main__":
    main()
