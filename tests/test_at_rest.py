"""The kiosk's at-rest cipher (kiosk/at_rest.py): AES-GCM as raw bytes bound to the
row, and store migration 0003 converting a store the Fernet code wrote, in one
transaction that a crash part-way leaves untouched."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from contract import envelope, ids, schema_migrations, tracking
from contract.errors import UrError
from kiosk import at_rest, identity
from kiosk import migrations as kiosk_migrations
from kiosk.applications import applications, complaints, corrections
from kiosk.store import KioskStore
from kiosk.sync import outbox
from tests import support

FIELDS = {"full_name": "Zainab Ali", "national_id": "199001234567", "mobile": "07701234567"}
OLD = "0002_schema"  # the revision of stores the Fernet code wrote


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("enrolled")
    url = support.sqlite_url(root / "c.db")
    assert support.run_cli(["ur-central", "--db", url, "init"]).returncode == 0
    return support.enroll_kiosk(url, "K7", root / "k", "mqtt://127.0.0.1:1", root)


@pytest.fixture
def kdir(enrolled: Path, tmp_path: Path) -> Path:
    d = tmp_path / "k"
    shutil.copytree(enrolled, d)
    return d


def _rows(kdir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(kdir / "kiosk.db") as c:
        return c.execute(sql).fetchall()


def test_rows_are_raw_aes_gcm_bound_to_their_row(kdir: Path) -> None:
    store = KioskStore(kdir)
    ident = identity.load(store)
    try:
        a1 = applications.submit(store, ident, "non-conviction-certificate", FIELDS).tracking
        a2 = applications.submit(store, ident, "non-conviction-certificate", dict(FIELDS, full_name="Omar")).tracking
        c1 = complaints.file_complaint(store, ident, "the queue was long", "delay").tracking
        with store.tx() as s:  # central returned it to the citizen (a feed event in production)
            s.execute(sa.update(applications.KioskApplication).where(applications.KioskApplication.tracking == a1)
                      .values(status="returned"))
        corrections.resubmit(store, ident, a1, {"full_name": "Zainab Ali Hassan"})
    finally:
        store.close()
    blobs = dict(_rows(kdir, "SELECT tracking, fields_enc FROM applications"))
    plain = json.dumps(dict(FIELDS, full_name="Omar"), ensure_ascii=False).encode()
    assert len(blobs[a2]) == at_rest.NONCE + len(plain) + at_rest.TAG  # raw bytes, no base64, no padding
    assert not blobs[a2].startswith(b"gAAAAA") and b"Omar" not in blobs[a2]
    key = at_rest.DataKey.load(kdir)
    assert json.loads(key.open(blobs[a1], "applications", a1))["full_name"] == "Zainab Ali Hassan"
    # Swapping two citizens' fields on disk, or moving a row to another table, is detected.
    with pytest.raises(at_rest.AtRestError, match=f"applications row {a1} does not open"):
        key.open(blobs[a2], "applications", a1)
    with pytest.raises(at_rest.AtRestError, match="complaints row"):
        key.open(blobs[a2], "complaints", a2)
    with pytest.raises(at_rest.AtRestError, match="truncated"):
        key.open(blobs[a2][:20], "applications", a2)
    body = _rows(kdir, f"SELECT body_enc FROM complaints WHERE tracking = '{c1}'")[0][0]
    assert json.loads(key.open(body, "complaints", c1))["text"] == "the queue was long"
    with sqlite3.connect(kdir / "kiosk.db") as c:
        (m1, e1), (m2, e2) = c.execute("SELECT message_id, envelope FROM outbox ORDER BY id LIMIT 2").fetchall()
        c.execute("UPDATE outbox SET envelope = ? WHERE message_id = ?", (e2, m1))
    store = KioskStore(kdir)
    try:
        with store.session() as s:
            rows = {r.message_id: r for r in s.scalars(select(outbox.OutboxRow))}
        assert envelope.open_unverified(outbox.wire_bytes(rows[m2], ident))[0].message_id == m2
        with pytest.raises(UrError, match=f"outbox row {m1} does not open"):
            outbox.wire_bytes(rows[m1], ident)
    finally:
        store.close()
    with pytest.raises(UrError, match="not 32 bytes"):
        at_rest.DataKey(b"short")


def _downgrade_to_old(kdir: Path) -> None:
    """The store as the Fernet release left it: schema revision 0002 (migration 0003's
    downgrade turns the rows the set-up wrote back into Fernet tokens)."""
    engine = sa.create_engine(f"sqlite:///{kdir / 'kiosk.db'}")
    with engine.begin() as conn:
        command.downgrade(schema_migrations.config(kiosk_migrations.SCRIPTS, conn), OLD)
    engine.dispose()


def _old_code_writes(kdir: Path, n: int) -> dict[str, bytes]:
    """Queue `n` outbox rows and one application exactly as the Fernet code did
    (ident.fernet.encrypt(envelope.seal(env, key)); fields as Fernet(json)).
    Returns message id -> the signed envelope it must read back as."""
    fernet = Fernet((kdir / "secrets" / "data.key").read_bytes().strip())
    key = envelope.private_key_from_hex((kdir / "secrets" / "kiosk.key").read_text().strip())
    kiosk_id = _rows(kdir, "SELECT kiosk_id FROM identity")[0][0]
    sent: dict[str, bytes] = {}
    with sqlite3.connect(kdir / "kiosk.db") as c:
        seq = c.execute("SELECT coalesce(max(seq), 0) FROM outbox WHERE stream = 'reports'").fetchone()[0]
        for i in range(n):
            mid = ids.new_id()
            sealed = envelope.seal(envelope.Envelope(kiosk_id, mid, "reports", seq + 1 + i, 1000 + i,
                                                     {"kind": "telemetry", "i": i}), key)
            sent[mid] = sealed
            c.execute("INSERT INTO outbox (message_id, stream, seq, hlc, priority, envelope, state, attempts, "
                      "next_attempt, created_at) VALUES (?, 'reports', ?, ?, 3, ?, 'pending', 0, 0, ?)",
                      (mid, seq + 1 + i, 1000 + i, fernet.encrypt(sealed), time.time()))
        number = tracking.make(7, 4242)
        c.execute("INSERT INTO applications (tracking, serial, service_id, catalogue_version, fee_total, fields_enc, "
                  "created_at, status, status_detail, status_at) VALUES (?, 4242, 'svc', 1, 0, ?, "
                  "'2026-12-03 08:00:00', 'queued', '', '2026-12-03 08:00:00')",
                  (number, fernet.encrypt(json.dumps(FIELDS).encode())))
    return sent


def _old_store(kdir: Path, n: int) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """A store at 0002 holding Fernet rows; returns (outbox plaintexts by message id,
    application/complaint plaintexts by tracking) for every row."""
    store = KioskStore(kdir)
    ident = identity.load(store)
    try:
        applications.submit(store, ident, "non-conviction-certificate", FIELDS)
        complaints.file_complaint(store, ident, "no receipt paper", "service-quality")
        with store.session() as s:
            sent = {r.message_id: outbox.wire_bytes(r, ident) for r in s.scalars(select(outbox.OutboxRow))}
    finally:
        store.close()
    _downgrade_to_old(kdir)
    sent.update(_old_code_writes(kdir, n))
    fernet = Fernet((kdir / "secrets" / "data.key").read_bytes().strip())
    assert {m: fernet.decrypt(e) for m, e in _rows(kdir, "SELECT message_id, envelope FROM outbox")} == sent
    records = {t: fernet.decrypt(b) for t, b in _rows(kdir, "SELECT tracking, fields_enc FROM applications "
                                                            "UNION ALL SELECT tracking, body_enc FROM complaints")}
    assert _rows(kdir, "SELECT version_num FROM alembic_version") == [(OLD,)]
    return sent, records


def _reads_back(kdir: Path, sent: dict[str, bytes], records: dict[str, bytes]) -> None:
    store = KioskStore(kdir)
    ident = identity.load(store)
    try:
        with store.session() as s:
            got = {r.message_id: outbox.wire_bytes(r, ident) for r in s.scalars(select(outbox.OutboxRow))}
            apps = {a.tracking: ident.data_key.open(a.fields_enc, "applications", a.tracking)
                    for a in s.scalars(select(applications.KioskApplication))}
            comps = {c.tracking: ident.data_key.open(c.body_enc, "complaints", c.tracking)
                     for c in s.scalars(select(complaints.KioskComplaint))}
    finally:
        store.close()
    assert got == sent and {**apps, **comps} == records
    assert _rows(kdir, "SELECT version_num FROM alembic_version") == [(kiosk_migrations.HEAD,)]


def test_store_written_by_the_fernet_code_is_converted(kdir: Path) -> None:
    sent, records = _old_store(kdir, 1200)  # more than two pages of the migration
    assert len(sent) > 1200 and len(records) == 3
    _reads_back(kdir, sent, records)
    fernet = Fernet((kdir / "secrets" / "data.key").read_bytes().strip())
    for (blob,) in _rows(kdir, "SELECT envelope FROM outbox UNION ALL SELECT fields_enc FROM applications"):
        with pytest.raises(InvalidToken):  # no Fernet row is left
            fernet.decrypt(blob)


CRASH = """
import os, sys
from kiosk import at_rest
from kiosk.store import KioskStore
calls = [0]
seal = at_rest.DataKey.seal
def seal_then_die(self, *a):
    calls[0] += 1
    if calls[0] > int(sys.argv[2]):
        os._exit(9)  # power cut: no rollback, no close
    return seal(self, *a)
at_rest.DataKey.seal = seal_then_die
KioskStore(sys.argv[1])
"""


def test_crash_mid_migration_leaves_the_old_store_and_the_next_start_converts(kdir: Path) -> None:
    sent, records = _old_store(kdir, 1200)
    # Die while sealing the second page: 500 rows are already updated in the transaction.
    r = subprocess.run([sys.executable, "-c", CRASH, str(kdir), "700"], cwd=support.REPO,
                       env={**os.environ, "PYTHONPATH": str(support.REPO)}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr
    fernet = Fernet((kdir / "secrets" / "data.key").read_bytes().strip())
    assert _rows(kdir, "SELECT version_num FROM alembic_version") == [(OLD,)]
    assert {m: fernet.decrypt(e) for m, e in _rows(kdir, "SELECT message_id, envelope FROM outbox")} == sent
    _reads_back(kdir, sent, records)


def test_a_row_that_does_not_open_stops_the_upgrade_and_changes_nothing(kdir: Path) -> None:
    sent, _records = _old_store(kdir, 10)
    bad = sorted(sent)[-1]
    with sqlite3.connect(kdir / "kiosk.db") as c:
        c.execute("UPDATE outbox SET envelope = ? WHERE message_id = ?", (b"gAAAAAdamaged", bad))
    before = _rows(kdir, "SELECT message_id, envelope FROM outbox ORDER BY message_id")
    with pytest.raises(UrError, match=f"outbox row {bad}: not a Fernet token"):
        KioskStore(kdir)
    assert _rows(kdir, "SELECT message_id, envelope FROM outbox ORDER BY message_id") == before
    assert _rows(kdir, "SELECT version_num FROM alembic_version") == [(OLD,)]
