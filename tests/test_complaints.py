"""Complaints at the kiosk: one transaction with the outbox row, their own
(descending) serial range, precise errors, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, update

from contract import tracking
from contract.errors import UrError
from kiosk import identity
from kiosk.applications import applications, complaints
from kiosk.store import KioskStore
from kiosk.sync import outbox
from tests import support

FIELDS = {"full_name": "x", "national_id": "199001234567", "mobile": "07701234567"}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One kiosk enrolled through the real CLIs; each test gets a copy (the CLIs
    take seconds, the copy milliseconds)."""
    root = tmp_path_factory.mktemp("enrolled")
    url = support.sqlite_url(root / "c.db")
    assert support.run_cli(["ur-central", "--db", url, "init"]).returncode == 0
    return support.enroll_kiosk(url, "K9", root / "k", "mqtt://127.0.0.1:1", root)


@pytest.fixture
def kiosk(enrolled: Path, tmp_path: Path):
    kdir = tmp_path / "k"
    shutil.copytree(enrolled, kdir)
    store = KioskStore(kdir)
    yield kdir, store, identity.load(store)
    store.close()


def test_complaints_count_down_and_never_collide_with_applications(kiosk) -> None:
    _, store, ident = kiosk
    a1 = applications.submit(store, ident, "non-conviction-certificate", FIELDS).tracking
    c1 = complaints.file_complaint(store, ident, "slow", "delay", application=a1, name="علي", mobile="٠٧٧٠١٢٣٤٥٦٧")
    c2 = complaints.file_complaint(store, ident, "rude clerk", "conduct")
    a2 = applications.submit(store, ident, "non-conviction-certificate", FIELDS).tracking
    code = f"{ident.kiosk_code:04d}"
    assert [x.split("-")[:2] for x in (a1, a2)] == [[code, "000001"], [code, "000002"]]
    assert [x.tracking.split("-")[:2] for x in (c1, c2)] == [[code, "999999"], [code, "999998"]]
    assert tracking.parse(c1.tracking) == c1.tracking and not c1.anonymous and c2.anonymous
    with store.session() as s:
        rows = list(s.scalars(select(outbox.OutboxRow).where(outbox.OutboxRow.stream == "complaints")))
        assert [r.seq for r in rows] == [1, 2]
        stored = s.get(complaints.KioskComplaint, c1.tracking)
        body = json.loads(ident.data_key.open(stored.body_enc, "complaints", stored.tracking))
        assert body["application"] == a1 and body["mobile"] == "07701234567" and body["name"] == "علي"
        assert "علي" not in stored.body_enc.decode("latin-1")  # encrypted at rest


def test_ranges_meeting_is_refused(kiosk) -> None:
    _, store, ident = kiosk
    applications.submit(store, ident, "non-conviction-certificate", FIELDS)
    with store.tx() as s:
        s.execute(update(applications.KioskApplication).values(serial=999999))
    with pytest.raises(UrError, match="used up its tracking numbers"):
        complaints.file_complaint(store, ident, "x")


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"text": "   "}, "needs some text"),
    ({"text": "x" * 4001}, "at most 4000"),
    ({"text": "x", "category": "weather"}, "not one of"),
    ({"text": "x", "application": "1234-000001-0"}, "check digit"),
    ({"text": "x", "mobile": "12345"}, "Iraqi mobile number"),
])
def test_bad_complaints_are_refused_and_nothing_is_queued(kiosk, kwargs, msg) -> None:
    _, store, ident = kiosk
    with pytest.raises(UrError, match=msg):
        complaints.file_complaint(store, ident, **kwargs)
    with store.session() as s:
        assert outbox.stats(s).pending == 0
        assert s.scalars(select(complaints.KioskComplaint)).first() is None


def test_cli_files_a_complaint(kiosk) -> None:
    kdir, _, _ = kiosk
    r = support.run_cli(["ur-kiosk", "--data", str(kdir), "--json", "complaint", "file", "--text", "طابور طويل",
                         "--category", "delay", "--office", "karkh-notary"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["anonymous"] is True and out["tracking"].split("-")[1] == "999999"
    r = support.run_cli(["ur-kiosk", "--data", str(kdir), "complaint", "file", "--text", "x", "--mobile", "1"])
    assert r.returncode == 2 and "Iraqi mobile" in r.stderr and len(r.stderr.strip().splitlines()) == 1
