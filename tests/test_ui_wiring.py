"""KioskServices over real kiosk parts: verification, letters and the status
strip answer from what the kiosk really synced (no screens involved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract.errors import UrError
from kiosk.services.kiosk_services import KioskServices
from kiosk.store import KioskStore
from tests import support


def test_verify_letters_and_status_strip_from_synced_data(tmp_path: Path, mqtt_broker: support.Broker) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", mqtt_broker.url)
    # The set-up commands run their `main` in this process (support.cli_in_process: no
    # Python start-up each); the sync that carries their data stays a process.
    central = ["ur-central", "--db", dep.db_url]
    r = support.cli_in_process([*central, "--json", "docs", "issue", "--type", "certificate", "--agency", "moi",
                                "--field", "holder=Karwan Ahmed"])
    assert r.returncode == 0, r.stderr
    qr = json.loads(r.stdout)["qr"]
    for args in (["letters", "register", "--number", "1205", "--date", "2026-11-20", "--from", "krg-baghdad",
                  "--to", "mof", "--subject", "طلب تأييد"], ["letters", "publish"]):
        assert support.cli_in_process([*central, *args]).returncode == 0, args
    r = support.cli_in_process(["ur-kiosk", "--data", str(dep.kiosk_dir("K1")), "apply", "--service",
                                "non-conviction-certificate", "--field", "full_name=Ali",
                                "--field", "national_id=199001234567", "--field", "mobile=07701234567"])
    assert r.returncode == 0, r.stderr
    services = KioskServices(KioskStore(dep.kiosk_dir("K1")))
    strip = services.status_strip()
    assert strip.online is False and strip.queued == 1
    try:
        dep.serve(mqtt_broker.url)
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
    finally:
        dep.stop_all()
    services = KioskServices(KioskStore(dep.kiosk_dir("K1")))
    strip = services.status_strip()
    assert strip.online is True and strip.queued == 0
    v = services.verify_document(qr)
    assert v.verdict == "VALID" and ("Karwan Ahmed" in [f.value for f in v.fields])
    assert services.verify_document("UR1:NOTACODE").verdict == "INVALID"
    letter = services.letter_status("1205", "2026-11-20")
    assert letter.status == "in_transit" and letter.current_agency["en"] == "mof"
    with pytest.raises(UrError, match="no letter"):
        services.letter_status("9999", "2026-11-20")
