"""A revoked kiosk's screens: the real KioskServices on a kiosk store whose
identity is out of service, as sync records it (central's `service` event or
the broker refusing the certificate)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract import envelope
from kiosk import i18n, identity
from kiosk.services.kiosk_services import KioskServices
from kiosk.store import KioskStore
from tests.ui_harness import Harness  # first: the offscreen Kivy environment


def test_out_of_service_replaces_every_citizen_screen(tmp_path: Path) -> None:
    store = KioskStore(tmp_path / "k")
    identity.install(store, {"kiosk_id": "K1", "kiosk_code": 1001, "broker_url": "mqtt://127.0.0.1:1"},
                     envelope.raw_private_hex(Ed25519PrivateKey.generate()))
    d = Harness(KioskServices(store), lang="en", status_interval=0.05)
    try:
        assert d.screen == "home" and d.text("strip.online") != i18n.tr("strip.out_of_service", "en")
        with store.tx() as s:  # what sync records when central says the kiosk is revoked
            identity.set_out_of_service(s, "revoked")
        d.wait(lambda: d.screen == "out_of_service", timeout=60, what="the out-of-service screen")
        assert d.text("strip.online") == i18n.tr("strip.out_of_service", "en")
        assert d.text("out_of_service.body") == i18n.tr("out_of_service.body", "en")
        for name in ("home", "catalogue", "track", "fines"):
            d.app.go(name)
            d.frames(2)
            assert d.screen == "out_of_service", name
        d.tap("strip.home")
        d.frames(2)
        assert d.screen == "out_of_service"
        d.app.go("pin")  # the technician can still get to the staff screens
        d.frames(2)
        assert d.screen == "pin"
    finally:
        d.close()
        store.close()
