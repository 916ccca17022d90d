"""Document registry end to end: central issues, renders, revokes; the kiosk verifies offline
from the lists central published (delivered exactly as sync does: read central's dataset,
install it in the kiosk store). Real SQLite files, real PostgreSQL where it answers."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, features
from sqlalchemy import delete, select

from central import datasets as central_datasets
from central import db, document_render, keys, registry
from contract import qr_text
from contract.verdict import Status
from kiosk import datasets as kiosk_datasets
from kiosk.devices import qr_image_decoder
from kiosk.documents import verifier as document_verifier
from kiosk.store import KioskStore

FIELDS = {"name": "ئاراس محمد ڕەشید", "number": "4471/ب", "date": "2026-03-01"}


@pytest.fixture
def central(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'central.db'}")
    db.init_schema(engine)
    yield db.sessions(engine)
    engine.dispose()


@pytest.fixture
def kiosk(tmp_path: Path):
    store = KioskStore(tmp_path / "kiosk")
    yield store
    store.close()


def deliver(central, kiosk: KioskStore, *names: str) -> None:
    """What the sync downlink does: fetch central's latest version, install it on the kiosk."""
    with central.begin() as cs, kiosk.tx() as ks:
        for name in names:
            ds = central_datasets.latest(cs, name)
            assert ds is not None, name
            kiosk_datasets.install(ks, name, ds.version, ds.body, ds.sha256)


def enroll(central, kiosk: KioskStore) -> None:
    with central.begin() as cs:
        root = keys.ensure(cs, int(time.time()) - 1000).root  # keys older than the test documents
        with kiosk.tx() as ks:
            document_verifier.pin_root(ks, root.public_key.hex())


def issue(central, now: int, **kw) -> registry.Document:
    with central.begin() as s:
        args = {"doc_type": "certificate", "agency": "MOI", "office": "Erbil", "fields": FIELDS,
                "now": now, "expires_at": now + 86400 * 365} | kw
        return registry.issue(s, **args)


def online(central, text: str, now: int):
    with central.begin() as s:
        return registry.verify_online(s, text, now)


def test_issue_revoke_central_at_once_kiosk_after_install(central, kiosk) -> None:
    now = int(time.time())
    enroll(central, kiosk)
    other = issue(central, now - 10)
    doc = issue(central, now - 5)
    with central.begin() as s:
        registry.publish_status(s, now)
    deliver(central, kiosk, "trust_list", "status_list")
    verifier = document_verifier.OfflineVerifier(kiosk)
    assert online(central, doc.text, now).status is Status.VALID
    v = verifier.verify(doc.text, now)
    assert v.status is Status.VALID, v.reason
    assert v.document["fields"] == FIELDS and v.document["id"] == doc.id

    with central.begin() as s:
        registry.revoke(s, doc.id, "issued in error", now + 1)
    assert online(central, doc.text, now + 2).status is Status.REVOKED
    assert verifier.verify(doc.text, now + 2).status is Status.VALID  # old list still installed
    deliver(central, kiosk, "status_list")
    v = verifier.verify(doc.text, now + 2)
    assert v.status is Status.REVOKED and v.document["id"] == doc.id
    assert verifier.verify(other.text, now + 2).status is Status.VALID
    # Revoking twice changes nothing (exactly once).
    with central.begin() as s:
        again = registry.revoke(s, doc.id, "another reason", now + 3)
        assert again.revoked_at == now + 1 and again.revoke_reason == "issued in error"


def test_stale_lists_and_clock_checks(central, kiosk) -> None:
    now = int(time.time())
    enroll(central, kiosk)
    doc = issue(central, now)
    with central.begin() as s:
        registry.publish_status(s, now, valid_for=3600)
    deliver(central, kiosk, "trust_list", "status_list")
    verifier = document_verifier.OfflineVerifier(kiosk)
    assert verifier.verify(doc.text, now + 3599).status is Status.VALID
    v = verifier.verify(doc.text, now + 3601)
    assert v.status is Status.STALE and "status list" in v.reason
    v = verifier.verify(doc.text, now + keys.TRUST_VALID_FOR + 1)
    assert v.status is Status.STALE and "trust list" in v.reason
    v = verifier.verify(doc.text, now - 86400)
    assert v.status is Status.STALE and "clock" in v.reason
    info = verifier.lists_info(now + 3601)
    assert info["status_list"]["stale"] is True and info["trust_list"]["stale"] is False


def test_rollback_and_wrong_root_refused(central, kiosk) -> None:
    now = int(time.time())
    enroll(central, kiosk)
    doc = issue(central, now - 5)
    with central.begin() as s:
        registry.publish_status(s, now)
        old = central_datasets.latest(s, "status_list")
        registry.revoke(s, doc.id, "lost", now)
    deliver(central, kiosk, "trust_list", "status_list")
    verifier = document_verifier.OfflineVerifier(kiosk)
    assert verifier.verify(doc.text, now).status is Status.REVOKED
    # A replayed older list under a newer dataset version: the signed sequence gives it away.
    with kiosk.tx() as ks:
        kiosk_datasets.install(ks, "status_list", 99, old.body, old.sha256)
    v = document_verifier.OfflineVerifier(kiosk).verify(doc.text, now)
    assert v.status is Status.STALE and "rolled back" in v.reason
    # A list signed by another root is unusable.
    with kiosk.tx() as ks:
        document_verifier.pin_root(ks, "11" * 32)
    v = document_verifier.OfflineVerifier(kiosk).verify(doc.text, now)
    assert v.status is Status.STALE and "unusable" in v.reason


def test_key_rotation_and_withdrawal(central, kiosk) -> None:
    now = int(time.time())
    enroll(central, kiosk)
    old_doc = issue(central, now - 100)
    with central.begin() as s:
        old_kid = keys.signing_key(s).kid
        new = keys.rotate(s, now - 50)
        assert new.kid != old_kid
    new_doc = issue(central, now - 10)
    assert new_doc.kid == new.kid and old_doc.kid == old_kid
    with central.begin() as s:
        registry.publish_status(s, now)
    deliver(central, kiosk, "trust_list", "status_list")
    verifier = document_verifier.OfflineVerifier(kiosk)
    assert verifier.verify(old_doc.text, now).status is Status.VALID
    assert verifier.verify(new_doc.text, now).status is Status.VALID
    # The old key is compromised from before old_doc was issued: old_doc is refused, new_doc is not.
    with central.begin() as s:
        keys.withdraw(s, old_kid, now - 200, now)
    deliver(central, kiosk, "trust_list")
    v = verifier.verify(old_doc.text, now)
    assert v.status is Status.INVALID and "withdrawn" in v.reason
    assert verifier.verify(new_doc.text, now).status is Status.VALID
    assert online(central, old_doc.text, now).status is Status.INVALID


def test_unknown_key_and_idempotent_issue(central, kiosk, tmp_path: Path) -> None:
    now = int(time.time())
    a = issue(central, now, request_id="req-1")
    b = issue(central, now + 5, request_id="req-1")
    assert a.id == b.id and a.text == b.text
    other_engine = db.make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    db.init_schema(other_engine)
    foreign = issue(db.sessions(other_engine), now)
    assert online(central, foreign.text, now).status is Status.UNKNOWN_KEY
    other_engine.dispose()


def _camera_frame(page: Image.Image, angle: float, blur: float, noise: float, px_per_module: float,
                  version: int) -> np.ndarray:
    """A 640x480 camera view of the page's QR corner: scaled, rotated, blurred, noisy."""
    w, h = page.size
    qr_px = (version * 4 + 17 + 8) * document_render.MODULE_PX
    crop = page.crop((0, h - 900, 900, h))
    scale = px_per_module / document_render.MODULE_PX
    crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.BILINEAR)
    crop = crop.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=255)
    frame = Image.new("L", (640, 480), 200)
    frame.paste(crop, ((640 - crop.width) // 2, (480 - crop.height) // 2))
    assert qr_px * scale < 480
    frame = frame.filter(ImageFilter.GaussianBlur(blur))
    rng = np.random.default_rng(7)
    arr = np.asarray(frame).astype(np.float32) + rng.normal(0, noise, (480, 640))
    return np.clip(arr, 0, 255).astype(np.uint8)


def test_print_to_png_then_camera_path_valid(central, kiosk, tmp_path: Path) -> None:
    assert features.check("raqm")
    now = int(time.time())
    enroll(central, kiosk)
    doc = issue(central, now - 5)
    qr = qr_text.verification_text(doc.text, "HTTPS://VERIFY.EXAMPLE.IQ/")
    code = qr_text.make_qr(qr)
    assert code.error == "M" and not code.is_micro and code.mode == "alphanumeric"
    page = document_render.render(doc_id=doc.id, doc_type=doc.doc_type, agency=doc.agency, office=doc.office,
                                  issued_at=doc.issued_at, expires_at=doc.expires_at, fields=doc.fields,
                                  body="نص الوثيقة", qr=qr)
    png, pdf = tmp_path / "doc.png", tmp_path / "doc.pdf"
    document_render.save(page, str(png), str(pdf))
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert Image.open(png).size == document_render.A4_PX
    with central.begin() as s:
        registry.publish_status(s, now)
    deliver(central, kiosk, "trust_list", "status_list")
    verifier = document_verifier.OfflineVerifier(kiosk)
    loaded = Image.open(png).convert("L")
    for angle, blur, noise, ppm in [(0, 0, 0, 4), (8, 0.8, 6, 3), (-25, 1.0, 10, 3.5), (90, 0.6, 8, 3), (180, 0.7, 12, 3.2)]:
        frame = _camera_frame(loaded, angle, blur, noise, ppm, code.version)
        payloads = qr_image_decoder.decode_frame(frame)
        assert payloads == [qr.encode()], (angle, blur, noise, ppm)
        v = verifier.verify(qr_image_decoder.single_text(payloads), now)
        assert v.status is Status.VALID, (angle, v.reason)
    # JPEG photo of the page corner
    buf = io.BytesIO()
    Image.fromarray(_camera_frame(loaded, 5, 0.5, 4, 3.5, code.version)).save(buf, "JPEG", quality=40)
    assert qr_image_decoder.decode_frame(Image.open(io.BytesIO(buf.getvalue()))) == [qr.encode()]


def test_optical_bad_inputs(central) -> None:
    import segno

    now = int(time.time())
    doc = issue(central, now)
    qr = qr_text.make_qr(doc.text)
    # Micro QR (what segno.make would pick for short data) is not read: nothing found.
    micro = segno.make("UR1:AB", micro=True)
    assert micro.is_micro
    assert qr_image_decoder.decode_image(Image.open(io.BytesIO(qr_text.png_bytes(micro, 6)))) == []
    # Two different codes in one frame are refused, not guessed between.
    a = Image.open(io.BytesIO(qr_text.png_bytes(qr, 3))).convert("L")
    b = Image.open(io.BytesIO(qr_text.png_bytes(qr_text.make_qr("UR1:OTHER"), 3))).convert("L")
    both = Image.new("L", (a.width + b.width + 20, max(a.height, b.height)), 255)
    both.paste(a, (0, 0))
    both.paste(b, (a.width + 20, 0))
    with pytest.raises(Exception, match="2 different QR codes"):
        qr_image_decoder.single_text(qr_image_decoder.decode_image(both))
    with pytest.raises(Exception, match="no QR code"):
        qr_image_decoder.single_text(qr_image_decoder.decode_image(np.full((480, 640), 255, np.uint8)))
    # Byte-mode binary payload comes back byte-exact (binary mode), then fails as non-ASCII.
    raw = bytes(range(200, 256)) + "محمد".encode()
    bq = segno.make_qr(raw, error="m")
    got = qr_image_decoder.decode_image(Image.open(io.BytesIO(qr_text.png_bytes(bq, 4))))
    assert got == [raw]
    with pytest.raises(Exception, match="not ASCII"):
        qr_image_decoder.single_text(got)


@pytest.mark.postgres
def test_registry_on_postgres(pg_url: str) -> None:
    engine = db.make_engine(pg_url)
    db.init_schema(engine)
    S = db.sessions(engine)
    now = int(time.time())
    docs = [issue(S, now) for _ in range(3)]
    assert [d.status_index for d in docs] == [0, 1, 2]
    with S.begin() as s:
        registry.revoke(s, docs[1].id, "wrong name", now)
        sl = registry.build_status(s, now)
    assert sl.size == 3 and sl.is_revoked(1) and not sl.is_revoked(0)
    assert online(S, docs[1].text, now).status is Status.REVOKED
    assert online(S, docs[2].text, now).status is Status.VALID
    # The prepared lookup (registry.lookup_row) on one connection, again and again, sees
    # each change at once: a row gone reads as not in the registry.
    with S() as s:
        for _ in range(3):
            assert registry.verify_online(s, docs[2].text, now).status is Status.VALID
        s.execute(delete(registry.Document).where(registry.Document.id == docs[2].id))
        v = registry.verify_online(s, docs[2].text, now)
        assert v.status is Status.INVALID and "not in the registry" in v.reason, v
        s.rollback()
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_issue_on_postgres_gives_dense_unique_indexes(pg_url: str) -> None:
    """Two workers issuing at once: every document gets its own status index, none is lost,
    and a retried request id yields the first document, not a second one."""
    import threading

    engine = db.make_engine(pg_url)
    db.init_schema(engine)
    S = db.sessions(engine)
    now = int(time.time())
    with S.begin() as s:
        keys.ensure(s, now - 60)
    ids: list[str] = []
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            for i in range(12):
                ids.append(issue(S, now).id)
                ids.append(issue(S, now, request_id=f"shared-{i}").id)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with S.begin() as s:
        rows = s.scalars(select(registry.Document)).all()
    assert len(rows) == 24 + 12  # 12 plain per worker + 12 shared request ids
    assert sorted(r.status_index for r in rows) == list(range(36))
    assert len(set(ids)) == 36
    engine.dispose()


def test_camera_loop_recheck_window(central, kiosk) -> None:
    """With a recheck window the loop keeps its last list check; without one it sees a new list at once."""
    now = int(time.time())
    enroll(central, kiosk)
    doc = issue(central, now - 5)
    with central.begin() as s:
        registry.publish_status(s, now)
    deliver(central, kiosk, "trust_list", "status_list")
    loop = document_verifier.OfflineVerifier(kiosk, recheck_after=3600)
    every = document_verifier.OfflineVerifier(kiosk)
    assert loop.verify(doc.text, now).ok and every.verify(doc.text, now).ok
    with central.begin() as s:
        registry.revoke(s, doc.id, "stolen", now)
    deliver(central, kiosk, "status_list")
    assert every.verify(doc.text, now).status is Status.REVOKED
    assert loop.verify(doc.text, now).status is Status.VALID  # inside its window: documented trade-off
    loop.recheck_after = 0
    assert loop.verify(doc.text, now).status is Status.REVOKED
