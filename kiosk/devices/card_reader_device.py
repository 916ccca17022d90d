"""The citizen's ID card reader as a device kind (firmware_config kind "card_reader"):
`diagnose` and `test` for the technician and the heartbeat, `read` for the form.

The port is a part of the PC/SC reader's name (empty: pcscd's first reader). The
reading itself is kiosk/devices/icao_reader.py over kiosk/devices/pcsc_reader.py.
"""

from __future__ import annotations

from typing import Any

from kiosk.devices import icao_reader, pcsc_reader
from kiosk.devices.card_errors import CardReadError, NoCard, ReaderUnavailable
from kiosk.devices.icao_mrz import MrzKey
from kiosk.devices.icao_reader import IdDocument


def _settings(profile: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = profile.get("card_reader") or {}
    return s


def read(profile: dict[str, Any], port: str, key: MrzKey) -> IdDocument:
    """Read DG1 (and DG2 unless the profile says not to) behind BAC; CardReadError otherwise."""
    want_photo = bool(_settings(profile).get("read_photo", True))
    with pcsc_reader.card(port) as transmit:
        return icao_reader.run(icao_reader.read_document(key, want_photo=want_photo), transmit)


def diagnose(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Is pcscd up, is the reader there, is a card in it? Reads nothing from the card."""
    try:
        names = pcsc_reader.reader_names()
        present = pcsc_reader.card_present(port)
    except ReaderUnavailable as e:
        return {"ok": False, "state": "unavailable", "details": {"reader": port, "error": str(e)}}
    reader = next((n for n in names if port.lower() in n.lower()), port)
    # A reader without a card is the normal idle state: ok, waiting for the citizen.
    return {"ok": True, "state": "card_present" if present else "ready",
            "details": {"reader": reader}}


def test(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Technician test: the card in the reader answers and has an ICAO application.
    Without the citizen's MRZ BAC cannot run, so this stops after SELECT."""
    try:
        with pcsc_reader.card(port) as transmit:
            resp = transmit(bytes.fromhex("00A4040C07A0000002471001"))
    except NoCard as e:
        return {"ok": False, "state": "no_card", "details": {"reader": port, "error": str(e)}}
    except CardReadError as e:
        return {"ok": False, "state": "unavailable", "details": {"reader": port, "error": str(e)}}
    sw = resp[-2:].hex().upper()
    ok = sw == "9000"
    return {"ok": ok, "state": "ready" if ok else "not_an_id_card",
            "details": {"reader": port, "select_lds_application": sw}}
