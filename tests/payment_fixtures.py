"""Helpers for the payment tests: an enrolled kiosk store with a fines list, and a
ZVT emulator on a real pty (the driver opens the pty's device path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from kiosk import datasets, identity
from kiosk.applications import fines
from kiosk.devices.zvt_driver import ZvtDriver
from kiosk.devices.zvt_emulator import EmulatorHandle, Knobs, run_in_thread
from kiosk.store import KioskStore
from tests.support import PtyPair

FINES = [{"id": f"F-{i:04d}", "plate": f"12B{i:04d}", "amount": 25000 + 1000 * (i % 7),
          "offence": "speeding", "issued": "2026-11-01"} for i in range(1, 601)]


def enrolled_store(path: Path, kiosk_id: str = "kiosk-1", code: int = 11, office: str = "BGD-01",
                   fine_list: list[dict] | None = None) -> tuple[KioskStore, identity.Identity]:
    store = KioskStore(path)
    key = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
    identity.install(store, {"kiosk_id": kiosk_id, "kiosk_code": code, "office": office,
                             "broker_url": "mqtt://127.0.0.1:1"}, key)
    install_fines(store, fine_list if fine_list is not None else FINES)
    return store, identity.load(store)


def install_fines(store: KioskStore, fine_list: list[dict], version: int = 1) -> None:
    import hashlib

    body = fines.dump(fine_list)
    with store.tx() as s:
        datasets.install(s, fines.DATASET, version, body, hashlib.sha256(body).hexdigest())


@contextmanager
def terminal(knobs: Knobs | None = None, baudrate: int = 115200,
             timeout: float = 5.0) -> Iterator[tuple[EmulatorHandle, Callable[[], ZvtDriver]]]:
    """(emulator handle, factory) - factory() opens a fresh ZvtDriver on the pty."""
    pty = PtyPair()
    try:
        with run_in_thread(pty.fd, knobs or Knobs(card_delay_s=0.0)) as h:
            def factory() -> ZvtDriver:
                return ZvtDriver(pty.device, baudrate=baudrate, timeout=timeout, ack_timeout=0.5)
            factory.device = pty.device  # type: ignore[attr-defined]  # for CLI tests: the pty path
            yield h, factory
    finally:
        pty.close()


# -- card-number scan ------------------------------------------------------------------------
import re  # noqa: E402

# Bounded by non-alphanumerics: digit stretches inside hex digests, base64 and ids are not numbers.
_UUID = re.compile(rb"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_RUN = re.compile(rb"(?<![0-9A-Za-z])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_numbers(data: bytes) -> list[str]:
    """Luhn-valid 13-19 digit runs (spaces/dashes allowed) that start like a payment card
    (major industry identifier 2-6). Timestamps and counters start with 1 and are skipped;
    a '*' (masking) breaks a run, so a masked PAN never matches; runs glued to letters
    (hex digests, base64) and runs inside a UUID are ids, not numbers, and are skipped."""
    uuids = [u.span() for u in _UUID.finditer(data)]
    out = []
    for m in _RUN.finditer(data):
        if any(a <= m.start() and m.end() <= b for a, b in uuids):
            continue  # the all-digit head of a UUID ("34554469-3055-4604-b4fe-...") is an id
        digits = re.sub(rb"[ -]", b"", m.group(0)).decode()
        if digits[0] in "23456" and 13 <= len(digits) <= 19 and luhn_ok(digits):
            out.append(digits)
    return out


def db_values(path: Path) -> bytes:
    """Every cell of every table of a SQLite file (WAL included), one per line: card numbers
    are looked for in values, not across the binary record format where unrelated fields
    sit next to each other."""
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for v in row:
                    if v is not None:
                        out.append(v if isinstance(v, bytes) else str(v).encode())
        return b"\n".join(out)
    finally:
        con.close()
