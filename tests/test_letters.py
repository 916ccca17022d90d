"""Official letters: register, route both ways, status history, kiosk inquiry from its synced copy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from central import datasets as central_datasets
from central import db, letters, registry
from contract.errors import UrError
from contract.verdict import Status
from kiosk import datasets as kiosk_datasets
from kiosk.applications import letters as kiosk_letters
from kiosk.store import KioskStore
from tests.support import cli_in_process

KRG = "ممثلية حكومة إقليم كوردستان في بغداد"
MOF = "وزارة المالية الاتحادية"


@pytest.fixture
def central(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'central.db'}")
    db.init_schema(engine)
    yield db.sessions(engine)
    engine.dispose()


def _sync(central, store: KioskStore) -> None:
    with central.begin() as cs, store.tx() as ks:
        ds = central_datasets.latest(cs, "letters")
        kiosk_datasets.install(ks, "letters", ds.version, ds.body, ds.sha256)


def test_route_both_directions_and_kiosk_inquiry(central, tmp_path: Path) -> None:
    t0 = int(time.time())
    with central.begin() as s:
        letter = letters.register(s, number="1205/ك", letter_date="2026-11-20", from_agency=KRG, to_agency=MOF,
                                  subject="طلب تمويل رواتب", now=t0)
        letters.set_status(s, letter, "received", t0 + 60)
        letters.route(s, letter, "ديوان الرقابة المالية", t0 + 120, "للتدقيق")
        letters.route(s, letter, MOF, t0 + 180)
        letters.route(s, letter, KRG, t0 + 240, "الجواب")  # back to the sender
        letters.set_status(s, letter, "ANSWERED", t0 + 300)
    store = KioskStore(tmp_path / "kiosk")
    try:
        with store.tx() as ks:
            with pytest.raises(UrError, match="not synced"):
                kiosk_letters.inquire(ks, "1205/ك", "2026-11-20", t0)
        _sync(central, store)
        with store.tx() as ks:
            # Typed with Arabic-Indic digits, as a citizen might.
            out = kiosk_letters.inquire(ks, "١٢٠٥/ك", "٢٠٢٦-١١-٢٠", t0 + 3600)
        assert out["found"] and out["age_seconds"] == 3300  # index made at t0 + 300, asked at t0 + 3600
        (entry,) = out["letters"]
        assert entry["status"] == "ANSWERED" and entry["holder"] == KRG
        assert [(e["kind"], e["from"], e["to"]) for e in entry["steps"]] == [
            ("registered", KRG, MOF), ("status", MOF, MOF), ("routed", MOF, "ديوان الرقابة المالية"),
            ("routed", "ديوان الرقابة المالية", MOF), ("routed", MOF, KRG), ("status", KRG, KRG)]
        assert "subject" not in entry  # the public kiosk copy has no subjects
        # A change at central is not visible offline until the next sync; the age says so.
        with central.begin() as s:
            letters.set_status(s, letters.one(s, "1205/ك", "2026-11-20"), "CLOSED", t0 + 400)
        with store.tx() as ks:
            assert kiosk_letters.inquire(ks, "1205/ك", "2026-11-20", t0 + 500)["letters"][0]["status"] == "ANSWERED"
        _sync(central, store)
        with store.tx() as ks:
            assert kiosk_letters.inquire(ks, "1205/ك", "2026-11-20", t0 + 500)["letters"][0]["status"] == "CLOSED"
            assert not kiosk_letters.inquire(ks, "1205/ك", "2026-11-21", t0)["found"]
    finally:
        store.close()


def test_letter_rules(central) -> None:
    now = int(time.time())
    with central.begin() as s:
        letter = letters.register(s, number="77", letter_date="2026-01-02", from_agency=KRG, to_agency=MOF,
                                  subject="x", now=now)
        with pytest.raises(UrError, match="already registered"):
            letters.register(s, number="77", letter_date="2026-01-02", from_agency=KRG, to_agency=MOF,
                             subject="x", now=now)
        letters.register(s, number="77", letter_date="2026-01-02", from_agency=MOF, to_agency=KRG, subject="y", now=now)
        with pytest.raises(UrError, match="several letters"):
            letters.one(s, "77", "2026-01-02")
        assert letters.one(s, "77", "2026-01-02", KRG).id == letter.id
        with pytest.raises(UrError, match="already with"):
            letters.route(s, letter, MOF, now)
        with pytest.raises(UrError, match="not one of"):
            letters.set_status(s, letter, "LOST", now)
        with pytest.raises(UrError, match="YYYY-MM-DD"):
            letters.find(s, "77", "2/1/2026")
        with pytest.raises(UrError, match="same agency"):
            letters.register(s, number="78", letter_date="2026-01-02", from_agency=KRG, to_agency=KRG, subject="x", now=now)
        letters.set_status(s, letter, "CLOSED", now)
        with pytest.raises(UrError, match="closed"):
            letters.route(s, letter, "other", now)
        assert [x.number for x in letters.sent_by(s, KRG)] == ["77"]


def test_signed_letter_carries_valid_ur1(central) -> None:
    now = int(time.time())
    with central.begin() as s:
        letter = letters.register(s, number="9", letter_date="2026-11-22", from_agency=KRG, to_agency=MOF,
                                  subject="تأييد", now=now, sign=True)
        doc = registry.get(s, letter.doc_id)
        v = registry.verify_online(s, doc.text, now)
    assert v.status is Status.VALID and v.document["fields"]["number"] == "9" and v.document["type"] == "letter"


def test_letters_cli(tmp_path: Path) -> None:
    # The CLIs' `main` in this process (support.cli_in_process: exit codes, stdout and
    # stderr as a process gives them, without a Python start-up per command).
    url = f"sqlite:///{tmp_path / 'c.db'}"
    c = ["ur-central", "--db", url]
    r = cli_in_process([*c, "letters", "register", "--number", "500", "--date", "2026-11-01", "--from", KRG, "--to", MOF,
                 "--subject", "مخاطبة"])
    assert r.returncode == 0, r.stderr
    assert cli_in_process([*c, "letters", "route", "--number", "500", "--date", "2026-11-01", "--to", KRG]).returncode == 0
    r = cli_in_process([*c, "--json", "letters", "status", "--number", "500", "--date", "2026-11-01", "--set", "answered"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["letters"][0]["status"] == "ANSWERED"
    r = cli_in_process([*c, "--json", "letters", "list", "--sent-by", KRG])
    assert [x["number"] for x in json.loads(r.stdout)] == ["500"]
    r = cli_in_process([*c, "letters", "status", "--number", "501", "--date", "2026-11-01"])
    assert r.returncode == 1
    r = cli_in_process([*c, "letters", "status", "--number", "500", "--date", "01/11/2026"])
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr
    engine = db.make_engine(url)
    store = KioskStore(tmp_path / "k")
    try:
        _sync(db.sessions(engine), store)
    finally:
        store.close()
        engine.dispose()
    r = cli_in_process(["ur-kiosk", "--data", str(tmp_path / "k"), "letters", "status", "--number", "500", "--date", "2026-11-01"])
    assert r.returncode == 0, r.stderr
    assert "ANSWERED" in r.stdout and "old" in r.stdout
