"""Secured documents across the real sync path: the kiosk verifies offline with
the trust and status lists it got over MQTT, and sees a revocation after sync."""

from __future__ import annotations

import json
from pathlib import Path

from tests import support


def test_issue_verify_offline_revoke_reaches_kiosk_through_sync(tmp_path: Path, mqtt_broker: support.Broker) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", mqtt_broker.url)
    png = tmp_path / "certificate.png"
    r = dep.central("--json", "docs", "issue", "--type", "certificate", "--agency", "moi",
                    "--field", "holder=زينب علي حسن", "--field", "number=4471", "--png", str(png))
    issued = json.loads(r.stdout)
    doc_id = issued.get("id") or issued.get("document_id")
    assert doc_id and png.exists()
    try:
        dep.serve(mqtt_broker.url)
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
        v = dep.kiosk("K1", "docs", "verify", "--image", str(png), check=False)
        verdict = json.loads(v.stdout)
        assert v.returncode == 0 and verdict["status"] == "VALID", v.stdout + v.stderr
        assert "زينب علي حسن" in json.dumps(verdict["document"], ensure_ascii=False)

        dep.central("docs", "revoke", str(doc_id), "--reason", "issued in error")
        # The kiosk still says VALID until it syncs (it is offline-first) ...
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
        v = dep.kiosk("K1", "docs", "verify", "--image", str(png), check=False)
        assert json.loads(v.stdout)["status"] == "REVOKED" and v.returncode != 0, v.stdout
    finally:
        dep.stop_all()
