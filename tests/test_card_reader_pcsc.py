"""Reading an ICAO 9303 chip through the real PC/SC stack: pcscd, vsmartcard's virtual
reader and vsmartcard's own ePass emulator (vicc) as the independent chip -- BAC,
secure messaging and the files are answered by code nobody here wrote
(tests/icao_vicc_card.py, tests/icao_pcsc_stack.py). Fails, never skips, when the
stack is missing (see icao_pcsc_stack)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from kiosk import device_health
from kiosk.devices import card_reader_device, icao_reader, pcsc_reader
from kiosk.devices.card_errors import BacFailed, NoCard, ReaderUnavailable, TornRead
from kiosk.devices.icao_mrz import MrzKey
from kiosk.devices.id_card_form import CardFallback, CardPrefill
from kiosk.station_devices import StationDevices
from tests import icao_vectors as V
from tests.icao_pcsc_stack import READER, ensure_pcscd, virtual_card

PROFILE = {"card_reader": {"reader": READER, "read_photo": True}}


def _irq_passport() -> str:
    """A TD3 MRZ (vicc's ePass derives its keys from the TD3 layout only), check digits
    computed: Iraqi passport A12345678, born 1985-01-15, valid to 2030-12-31."""
    from kiosk.devices.icao_mrz import check_digit as cd

    l1 = "P<IRQAL<RASHID<<AHMED<ALI".ljust(44, "<")
    personal = "199001234567".ljust(14, "<")
    l2 = "A12345678" + cd("A12345678") + "IRQ" + "850115" + cd("850115") + "M" + "301231" + cd("301231")
    l2 += personal + cd(personal)
    l2 += cd(l2[0:10] + l2[13:20] + l2[21:43])
    return l1 + l2


@pytest.fixture
def photo(tmp_path: Path, rng: random.Random) -> Path:
    """A JPEG large enough to need many READ BINARY chunks (about 3-6 kB)."""
    img = Image.new("RGB", (120, 160))
    img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(120 * 160)])
    p = tmp_path / "face.jpg"
    img.save(p, quality=20)
    return p


@pytest.fixture
def passport(photo: Path) -> Iterator[Path]:
    with virtual_card(V.TD3_SPECIMEN, photo):
        yield photo


def _read(key: MrzKey, want_photo: bool = True) -> icao_reader.IdDocument:
    with pcsc_reader.card(READER) as transmit:
        return icao_reader.run(icao_reader.read_document(key, want_photo), transmit)


def test_reads_dg1_and_dg2_from_vicc_epass(passport: Path) -> None:
    doc = _read(MrzKey.parse("L898902C", "690806", "940623"))
    m = doc.mrz
    assert (m.surname, m.given_names, m.document_number, m.nationality, m.birth_date, m.sex,
            m.expiry_date) == ("ERIKSSON", "ANNA MARIA", "L898902C", "UTO", "690806", "F", "940623")
    assert m.check_digits_ok and doc.data_groups == [1, 2]
    assert doc.photo is not None and doc.photo.mime == "image/jpeg"
    assert doc.photo.data == passport.read_bytes()
    assert len(doc.photo.data) > 2 * icao_reader.CHUNK  # the file really came in chunks


def test_wrong_birth_date_is_refused_by_the_chip(passport: Path) -> None:
    with pytest.raises(BacFailed, match="refused the MRZ data"):
        _read(MrzKey.parse("L898902C", "690807", "940623"))
    # and the card still answers the right key afterwards
    assert _read(MrzKey.parse("L898902C", "690806", "940623"), want_photo=False).photo is None


def test_card_pulled_during_the_photo_is_a_torn_read(photo: Path) -> None:
    with virtual_card(V.TD3_SPECIMEN, photo) as card:
        sent: list[bytes] = []
        with pytest.raises(TornRead, match="removed or stopped answering|cut short|no data"):
            with pcsc_reader.card(READER) as transmit:
                def pull_midway(apdu: bytes) -> bytes:
                    sent.append(apdu)
                    if len(sent) == 14:  # SELECT, challenge, auth, 2+1 COM, 2+1 DG1, DG2...
                        card.pull()
                    return transmit(apdu)

                icao_reader.run(icao_reader.read_document(MrzKey.parse("L898902C", "690806", "940623")),
                                pull_midway)
        assert len(sent) == 14


def test_no_card_in_the_reader() -> None:
    ensure_pcscd()
    from tests.icao_pcsc_stack import _lock, _wait_card

    with _lock("vpcd-35963"):
        assert _wait_card(False, 10)
        with pytest.raises(NoCard, match="no card in the reader"):
            _read(MrzKey.parse("L898902C", "690806", "940623"))
        assert card_reader_device.diagnose(PROFILE, READER)["state"] == "ready"


def test_unknown_reader_name_is_named() -> None:
    ensure_pcscd()
    with pytest.raises(ReaderUnavailable, match="no card reader named like 'ACME 9000'.*Virtual PCD"):
        with pcsc_reader.card("ACME 9000"):
            pass


def _station(tmp_path: Path) -> StationDevices:
    m = tmp_path / "devices.toml"
    m.write_text('kiosk = "T-1"\n[devices.id_reader]\nprofile = "vsmartcard_virtual_reader"\n')
    return StationDevices(m)


def test_station_prefills_the_form_and_health_lists_the_reader(tmp_path: Path, photo: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    station = _station(tmp_path)
    with virtual_card(_irq_passport(), photo):
        assert device_health.report(station.map_path)["id_reader"]["state"] == "card_present"
        r = station.read_id_card("A12345678", "850115", "301231")
        wrong = station.read_id_card("A12345678", "850116", "301231")
    assert isinstance(r, CardPrefill) and not r.confirmed
    assert r.fields["full_name"] == "AHMED ALI AL RASHID"
    assert (r.fields["document_number"], r.fields["birth_date"], r.fields["expiry_date"],
            r.fields["sex"], r.fields["nationality"]) == ("A12345678", "1985-01-15", "2030-12-31", "M", "IRQ")
    assert "national_id" not in r.fields  # a passport's personal number is not taken as one
    assert r.photo is not None and r.photo.data == photo.read_bytes()
    assert "photo" not in r.fields
    assert isinstance(wrong, CardFallback) and wrong.reason == "card.wrong_mrz" and wrong.retry_mrz
    # the photo and the personal data never reach a log line
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "RASHID" not in logged and "199001234567" not in logged
    assert r.photo.data[:64].hex() not in logged.lower()
    # card out: the reader is idle, the form says so and the citizen types
    assert device_health.report(station.map_path)["id_reader"]["state"] == "ready"
    gone = station.read_id_card("A12345678", "850115", "301231")
    assert isinstance(gone, CardFallback) and gone.reason == "card.no_card" and not gone.retry_mrz


def test_kiosk_services_prefill_only_the_forms_own_fields(tmp_path: Path, photo: Path) -> None:
    import hashlib
    import json

    from kiosk import datasets
    from kiosk.services.kiosk_services import KioskServices
    from kiosk.store import KioskStore

    t = {"ar": "x", "ckb": "x", "en": "x"}
    catalogue = {"version": 1, "institutions": [{"id": "moi", "name": t}], "services": [{
        "id": "svc", "name": t, "kind": "procedural", "institution": "moi", "visits": 1, "duration_days": 1,
        "steps": [t], "documents": [], "fees": {"statutory": 0, "service": 0},
        "form": [{"name": "full_name", "type": "text", "label": t},
                 {"name": "birth_date", "type": "date", "label": t},
                 {"name": "name_ar", "type": "arabic_text", "label": t},
                 {"name": "mobile", "type": "mobile", "label": t}]}]}
    store = KioskStore(tmp_path / "kiosk")
    body = json.dumps(catalogue).encode()
    with store.tx() as s:
        datasets.install(s, "catalogue", 1, body, hashlib.sha256(body).hexdigest())
    services = KioskServices(store, device_map=_station(tmp_path).map_path)
    with virtual_card(_irq_passport(), photo):
        r = services.read_id_card("svc", "A12345678", "850115", "301231")
    assert r.reason is None and r.fields == {"full_name": "AHMED ALI AL RASHID", "birth_date": "1985-01-15"}
    assert r.photo == photo.read_bytes() and r.photo_mime == "image/jpeg"
    assert "photo=" not in repr(r) and "\\xff" not in repr(r)
    gone = services.read_id_card("svc", "A12345678", "850115", "301231")
    assert (gone.fields, gone.reason, gone.retry_mrz) == ({}, "card.no_card", False)


def test_cli_devices_test_and_diagnose_list_the_card_reader(tmp_path: Path, photo: Path) -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    station = _station(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kiosk.cli", *args], capture_output=True, text=True,
                              env=env, cwd=repo, timeout=120)

    with virtual_card(V.TD3_SPECIMEN, photo):
        t = cli("devices", "test", "card_reader", "--profile", "vsmartcard_virtual_reader")
        d = cli("devices", "diagnose", "--map", str(station.map_path))
    assert t.returncode == 0 and "OK (ready)" in t.stdout and "select_lds_application: 9000" in t.stdout, t.stdout + t.stderr
    assert d.returncode == 0 and "id_reader" in d.stdout and "card_present" in d.stdout, d.stdout + d.stderr
    gone = cli("devices", "test", "card_reader", "--profile", "vsmartcard_virtual_reader")
    assert gone.returncode == 1 and "FAILED (no_card)" in gone.stdout, gone.stdout + gone.stderr


def test_health_check_during_a_read_does_not_disturb_it(passport: Path) -> None:
    """The heartbeat's diagnose asks pcscd for the reader state, never the card: a read
    in progress (exclusive, inside secure messaging) goes on unharmed."""
    states: list[str] = []
    with pcsc_reader.card(READER) as transmit:
        def with_heartbeat(apdu: bytes) -> bytes:
            if apdu[:2] == b"\x0c\xb0" and not states:  # first protected READ BINARY
                states.append(card_reader_device.diagnose(PROFILE, READER)["state"])
            return transmit(apdu)

        doc = icao_reader.run(icao_reader.read_document(MrzKey.parse("L898902C", "690806", "940623")),
                              with_heartbeat)
    assert states == ["card_present"]
    assert doc.photo is not None and doc.photo.data == passport.read_bytes()


def test_technician_device_states_list_the_card_reader(tmp_path: Path, photo: Path) -> None:
    from kiosk.services.kiosk_services import KioskServices
    from kiosk.store import KioskStore

    services = KioskServices(KioskStore(tmp_path / "kiosk"), device_map=_station(tmp_path).map_path)
    with virtual_card(V.TD3_SPECIMEN, photo):
        inside = {d.device: d for d in services.device_states()}["card_reader"]
    idle = {d.device: d for d in services.device_states()}["card_reader"]
    assert (inside.state, idle.state) == ("ok", "ok")
    assert "id_reader" in inside.detail and "card_present" in inside.detail and "ready" in idle.detail
