"""The kiosk store's promises: durability settings, refusing new work before
losing accepted work, quarantining (never deleting) a corrupt database."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from contract.errors import UrError
from kiosk import identity, storage_guard
from kiosk.applications import applications
from kiosk.store import KioskStore
from kiosk.sync import outbox
from tests import support

FORM = {"full_name": "Ali", "national_id": "199001234567", "mobile": "07701234567"}


@pytest.fixture
def enrolled(tmp_path: Path) -> support.Deployment:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", "mqtt://127.0.0.1:1")
    return dep


def test_wal_and_full_sync_on_every_connection(enrolled: support.Deployment) -> None:
    store = KioskStore(enrolled.kiosk_dir("K1"))
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    with store.soft_tx() as s:  # the fsync-free bookkeeping tx restores FULL afterwards
        s.execute(outbox.StreamSeq.__table__.select())
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_near_full_store_refuses_new_applications_keeps_accepted_and_raises_alarm(
        enrolled: support.Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    kdir = enrolled.kiosk_dir("K1")
    store = KioskStore(kdir)
    ident = identity.load(store)
    first = applications.submit(store, ident, "non-conviction-certificate", FORM).tracking
    used = storage_guard.used_bytes(store)
    monkeypatch.setenv("UR_KIOSK_STORE_LIMIT_BYTES", str(used))  # already "full"
    with pytest.raises(UrError, match="storage nearly full"):
        applications.submit(store, ident, "non-conviction-certificate", FORM)
    with store.session() as s:
        assert s.query(storage_guard.Alarm).filter_by(kind="storage_full").count() == 1
        assert outbox.stats(s).pending == 1
        assert applications.status(s, first)["tracking"] == first
    # Payments are never refused by the guard: the outbox still takes them.
    with store.tx() as s:
        outbox.enqueue(s, ident, "payments", {"collection_id": "c1", "amount": 10000})
    # The CLI says it in one line.
    r = enrolled.kiosk("K1", "apply", "--service", "non-conviction-certificate",
                       *[f"--field={k}={v}" for k, v in FORM.items()], check=False,
                       env={"UR_KIOSK_STORE_LIMIT_BYTES": str(used)})
    assert r.returncode == 2 and "storage nearly full" in r.stderr


def test_eviction_drops_only_telemetry(enrolled: support.Deployment) -> None:
    store = KioskStore(enrolled.kiosk_dir("K1"))
    ident = identity.load(store)
    with store.tx() as s:
        outbox.enqueue(s, ident, "heartbeat", {"x": 1})
        outbox.enqueue(s, ident, "payments", {"collection_id": "c1"})
    applications.submit(store, ident, "non-conviction-certificate", FORM)
    assert storage_guard.evict_telemetry(store) == 1
    with store.session() as s:
        streams = sorted(r.stream for r in s.query(outbox.OutboxRow))
    assert streams == ["applications", "payments"]


def test_corrupt_database_is_quarantined_not_deleted(enrolled: support.Deployment) -> None:
    kdir = enrolled.kiosk_dir("K1")
    db = kdir / "kiosk.db"
    for suffix in ("-wal", "-shm"):
        p = Path(str(db) + suffix)
        if p.exists():
            p.unlink()
    raw = bytearray(db.read_bytes())
    raw[0:16] = b"not a database!!"
    raw[200:400] = os.urandom(200)
    db.write_bytes(bytes(raw))
    r = enrolled.kiosk("K1", "queue", check=False)
    assert r.returncode == 2 and "corrupt" in r.stderr and "moved aside" in r.stderr, r.stderr
    kept = list((kdir / "quarantine").rglob("kiosk.db"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(raw)


def test_queue_reports_counts_and_age(enrolled: support.Deployment) -> None:
    enrolled.kiosk("K1", "apply", "--service", "non-conviction-certificate",
                   *[f"--field={k}={v}" for k, v in FORM.items()])
    q = json.loads(enrolled.kiosk("K1", "--json", "queue").stdout)
    assert q["pending"] == 1 and q["delivered"] == 0 and q["oldest_pending_age_s"] >= 0
    assert q["last_successful_sync"] is None
    with sqlite3.connect(enrolled.kiosk_dir("K1") / "kiosk.db") as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_heartbeat_reaches_central(tmp_path: Path, mqtt_broker: support.Broker) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", mqtt_broker.url)
    try:
        dep.serve(mqtt_broker.url)
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0.5")
        kiosks = json.loads(dep.central("--json", "kiosks", "list").stdout)
        hb = kiosks[0]["heartbeat"]
        assert hb["queue"]["pending"] >= 0 and hb["version"]
        assert kiosks[0]["last_seen"] is not None
    finally:
        dep.stop_all()
