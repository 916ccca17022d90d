"""The citizen journey driven by real touches on the offscreen kiosk: language,
search, service page, form with the on-screen keyboard, pay, receipt (QR read back
from the screenshot), track by scanning it, verify, letters, fines, complaint."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import i18n
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness


def tr(key: str, lang: str, **kw: object) -> str:
    return i18n.tr(key, lang, **kw)


@pytest.fixture
def svc() -> FixtureServices:
    return FixtureServices(pay_step_s=0.02)


def fill_passport_form(h, name: str = "علي حسن", nid: str = "199012345678", mobile: str = "07701234567") -> None:
    h.tap("field.full_name")
    h.type(name)
    h.tap("field.national_id")
    h.type(nid)
    h.tap("field.mobile")
    h.type(mobile)
    h.tap("choice.delivery.office")


def test_search_as_you_type_filters_and_service_page(svc: FixtureServices) -> None:
    h = Harness(svc)
    h.tap("home.catalogue", to="catalogue")
    assert {"svc.passport-ordinary", "svc.national-card", "svc.poa-special"} <= set(h.ids())
    h.type("جو")  # each key re-runs the search
    assert "search:ج" in svc.calls and "search:جو" in svc.calls
    found = {k for k in h.ids() if k.startswith("svc.")}
    assert found == {"svc.passport-ordinary", "svc.passport-fees-info"}
    h.tap("key.BACK")
    h.tap("key.BACK")
    h.tap("inst.moj-notary")
    assert {k for k in h.ids() if k.startswith("svc.")} == {"svc.poa-special"}
    h.tap("inst.all")
    h.tap("kind.informational")
    assert {k for k in h.ids() if k.startswith("svc.")} == {"svc.passport-fees-info"}
    h.tap("svc.passport-fees-info")
    assert "service.apply" not in h.ids()  # nothing to apply for
    assert h.text("service.info_only") == tr("service.info_only", "ar")
    h.tap("nav.back")
    h.tap("kind.all")
    h.type("جواز")
    h.tap("svc.passport-ordinary")
    assert h.text("service.name") == "إصدار جواز سفر عادي"
    assert h.text("service.fee_statutory") == tr("service.fee_statutory", "ar", amount=i18n.money(25_000, "ar"))
    assert h.text("service.fee_service") == tr("service.fee_service", "ar", amount=i18n.money(66_000, "ar"))
    assert h.text("service.fee_total") == tr("service.fee_total", "ar", amount=i18n.money(91_000, "ar"))
    assert h.text("service.visits") == i18n.ntr("service.visits", 1, "ar")
    assert tr("service.doc_held", "ar") in h.text("service.doc.2")  # the state holds the residence card
    assert i18n.ntr("service.doc_copies", 1, "ar") in h.text("service.doc.1")
    h.tap("lang.en")
    assert h.text("service.name") == "Ordinary passport"
    assert h.text("service.duration") == "Expected duration: 7 days"


def test_form_errors_in_citizen_language_then_submit_offline_pay_and_receipt(svc: FixtureServices, tmp_path: Path) -> None:
    h = Harness(svc, lang="ckb")
    h.tap("home.catalogue")
    h.type("پاسپ")
    h.tap("svc.passport-ordinary")
    h.tap("service.apply", to="apply")
    assert not h.keyboard_shown()  # no field has focus yet: no keyboard over the form
    h.tap("field.full_name")
    assert h.find("kbd.ckb")  # an Arabic-script field opens the citizen's Arabic-script keyboard
    h.tap("apply.next")
    # Every required field says so, in Kurdish
    for name in ("full_name", "national_id", "mobile"):
        assert h.text(f"field.{name}.error") == tr("err.required", "ckb")
    assert h.text("field.delivery.error") == tr("err.required", "ckb")
    fill_passport_form(h, name="عەلی حەسەن", mobile="0770123")
    assert not h.keyboard_shown()  # the tap on a choice, outside the fields, closed it
    h.tap("apply.next", to="apply")
    assert h.text("field.mobile.error") == tr("err.mobile", "ckb")
    assert "field.national_id.error" not in h.ids()
    h.tap("field.mobile")
    h.type("4567")
    assert "mobile" not in h.app.session.form_errors  # typing clears the old complaint
    assert h.app.current_screen().fields["mobile"].error.text == ""
    h.tap("apply.next", to="review")
    assert h.text("review.full_name") == "عەلی حەسەن"
    assert h.text("review.mobile") == "07701234567"
    assert h.text("review.delivery") == "فەرمانگە"
    h.tap("review.submit", to="submitted")
    number = h.text("submitted.tracking")
    assert number == "KSK1-000001"
    assert h.text("submitted.state") == tr("submitted.queued", "ckb")  # offline: queued
    assert svc.applications[number][1]["full_name"] == "عەلی حەسەن"
    h.app.strip.poll()
    h.frames(1)
    assert h.text("strip.queued") == i18n.tr("strip.queued", "ckb", n=1)
    h.tap("submitted.pay", to="pay")
    h.wait(lambda: h.app.current_screen().stage == "approved", what="approval")
    pay = h.app.current_screen()
    assert pay.stages_shown == ["insert_card", "enter_pin", "processing", "approved"]
    assert h.text("pay.stage") == tr("pay.stage.approved", "ckb")
    h.tap("pay.receipt", to="receipt")
    assert h.text("receipt.amount") == i18n.money(91_000, "ckb")
    assert h.text("receipt.print_state") == tr("receipt.printed", "ckb")
    # The QR on screen really encodes the slip: read it back from the screenshot.
    shot = h.screenshot(tmp_path / "receipt.png")
    from PIL import Image
    from pyzbar.pyzbar import decode

    codes = [d.data.decode() for d in decode(Image.open(shot))]
    assert codes == [f"UR1:SLIP:{number}"]
    # Track it by "scanning" the receipt's QR (the scanner hands the code to the screen)
    h.tap("receipt.done")
    assert h.screen == "home" and h.app.session.is_empty()
    h.tap("home.track")
    svc.scans.append(codes[0])
    h.wait(lambda: "track.status" in h.ids(), what="tracking result")
    assert h.text("track.status") == tr("status.received", "ckb")


@pytest.mark.parametrize("outcome, key", [("declined", "pay.stage.declined"), ("unknown", "pay.stage.unknown")])
def test_payment_declined_or_unknown_is_said_clearly(outcome: str, key: str) -> None:
    svc = FixtureServices(pay_outcome=outcome)
    svc.applications["KSK1-000009"] = ("national-card", {})
    h = Harness(svc, lang="en")
    from kiosk.screens.citizen import start_payment

    start_payment(h.app, "KSK1-000009", 5000, back="home")
    h.wait(lambda: h.app.current_screen().stage == outcome, what=outcome)
    assert h.text("pay.stage") == tr(key, "en")
    if outcome == "unknown":
        assert "do not pay again" in h.text("pay.stage")
        assert "pay.retry" not in h.ids()  # never offer to charge again
        assert h.text("pay.unknown_help") == tr("pay.unknown_help", "en")
    else:
        svc.pay_outcome = "approved"
        h.tap("pay.retry")
        h.wait(lambda: h.app.current_screen().stage == "approved", what="approval on retry")
    assert len(svc.payments) == (1 if outcome == "declined" else 0)


def test_receipt_says_when_the_printer_has_no_paper() -> None:
    svc = FixtureServices(paper="out")
    h = Harness(svc, lang="ar")
    assert h.text("strip.paper") == tr("strip.paper.out", "ar")
    from kiosk.screens.citizen import start_payment

    start_payment(h.app, "F-778", 50_000, back="home")
    h.wait(lambda: h.app.current_screen().stage == "approved", what="approval")
    h.tap("pay.receipt")
    assert h.text("receipt.print_state") == tr("receipt.paper_out", "ar")
    assert h.find("receipt.qr")  # the QR stays on screen to photograph or scan


def test_verify_document_by_scanning_shows_verdict_and_fields() -> None:
    svc = FixtureServices()
    h = Harness(svc, lang="en")
    h.tap("home.verify")
    assert h.text("verify.prompt") == tr("verify.prompt", "en")
    svc.scans.append("UR1:DOC-GOOD")
    h.wait(lambda: "verify.verdict" in h.ids(), what="verdict")
    assert h.text("verify.verdict") == "GENUINE"
    assert h.find("verify.verdict").font_size >= 50  # large verdict
    assert h.text("verify.field.1") == "NC-2026-000123"
    h.tap("verify.again")
    svc.scans.append("UR1:DOC-REVOKED")
    h.wait(lambda: "verify.verdict" in h.ids(), what="verdict")
    assert h.text("verify.verdict") == tr("verdict.REVOKED", "en")


def test_track_by_typed_number_letter_fines_and_complaint() -> None:
    svc = FixtureServices()
    svc.applications["KSK1-000007"] = ("national-card", {})
    h = Harness(svc, lang="en")
    h.tap("home.track")
    assert not h.keyboard_shown()
    h.type("KSK1-000008")
    assert h.find("kbd.en")
    h.tap("track.go")
    assert "no application with tracking number KSK1-000008" in h.text("track.error")
    h.tap("field.tracking")
    h.tap("key.BACK")
    h.type("7")
    h.tap("track.go")
    assert h.text("track.status") == "Received"
    assert "Unified national card" in h.text("track.service")
    h.tap("strip.home")
    h.tap("home.letter")
    h.type("1234")
    h.tap("field.letter_date")
    assert h.find("kbd.digits")
    h.type("2026-04-20")
    h.tap("letter.go")
    assert h.text("letter.status") == tr("letter.status.in_transit", "en")
    h.tap("strip.home")
    h.tap("home.fines")
    h.type("12345 BGD")
    h.tap("fines.go")
    assert "Speeding" in h.text("fine.F-778.text")
    h.tap("fine.F-778.pay", to="pay")
    h.wait(lambda: h.app.current_screen().stage == "approved", what="fine payment")
    assert svc.payments[-1].reference == "F-778" and svc.payments[-1].amount == 50_000
    h.tap("pay.receipt")
    h.tap("receipt.done")
    assert h.screen == "fines"  # back where the citizen paid from
    h.tap("strip.home")
    h.tap("home.complaint")
    h.tap("complaint.go")
    assert "complaint.reference" not in h.ids()
    assert "choose what the complaint is about" in h.text("complaint.error")
    h.tap("complaint.cat.service-quality")
    h.type("SLOW")
    h.tap("field.complaint_mobile")
    h.type("07701234567")
    h.tap("complaint.go")
    assert h.text("complaint.reference") == tr("complaint.filed", "en", ref="C-00001")
    assert svc.complaints == [("service-quality", "SLOW", "07701234567")]


def test_a_national_size_catalogue_lists_a_screenful_and_asks_to_narrow() -> None:
    from dataclasses import replace

    from kiosk.screens.citizen import MAX_RESULTS
    from tests import ui_fixtures

    class BigCatalogue(FixtureServices):
        def search_services(self, query, lang, institution=None, kind=None):
            base = ui_fixtures.SERVICES["passport-ordinary"].summary
            every = [replace(base, id=f"svc-{n:03d}") for n in range(548)]
            return [s for s in every if query in s.id]

    h = Harness(BigCatalogue(), lang="en")
    h.tap("home.catalogue")
    shown = [k for k in h.ids() if k.startswith("svc.")]
    assert len(shown) == MAX_RESULTS
    assert h.text("catalogue.more") == i18n.ntr("catalogue.more", 548 - MAX_RESULTS, "en")
    h.type("54")  # as-you-type narrows: svc-054, svc-154 ... svc-540..547
    narrowed = [n for n in range(548) if "54" in f"svc-{n:03d}"]
    assert len(narrowed) < MAX_RESULTS
    assert sorted(k for k in h.ids() if k.startswith("svc.")) == [f"svc.svc-{n:03d}" for n in narrowed]
    assert "catalogue.more" not in h.ids()


def card_photo(seed: int) -> bytes:
    """A small JPEG face stand-in (seeded noise), as the chip's DG2 would hand it over."""
    import io
    import random

    from PIL import Image

    rnd = random.Random(seed)
    img = Image.new("RGB", (60, 80))
    img.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(60 * 80)])
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


def open_card_screen(h, doc: str = "A12345678", birth: str = "850115", expiry: str = "301231") -> None:
    h.tap("apply.read_card", to="card")
    assert h.text("card.title") == tr("card.title", "ar")
    for kid, value in (("field.card_document", doc), ("field.card_birth", birth), ("field.card_expiry", expiry)):
        h.tap(kid)
        h.type(value)


def test_id_card_prefills_the_form_only_after_confirm_and_a_failed_read_says_why(
        svc: FixtureServices, rng) -> None:
    from kiosk.i18n import isolate
    from kiosk.ui_services import IdCardRead

    h = Harness(svc)
    h.tap("home.catalogue")
    h.type("جواز")
    h.tap("svc.passport-ordinary")
    h.tap("service.apply", to="apply")
    assert h.text("apply.read_card") == tr("apply.read_card", "ar")
    # No reader: the translated reason, and the citizen types the form as before
    open_card_screen(h)
    h.tap("card.read")
    h.wait(lambda: "card.reason" in h.ids(), what="the card read's answer")
    assert h.text("card.reason") == tr("card.no_reader", "ar")
    assert h.text("card.type_instead") == tr("card.type_instead", "ar")
    assert svc.calls[-1] == "card:passport-ordinary:A12345678:850115:301231"
    assert "card.confirm" not in h.ids()
    h.tap("card.type_myself", to="apply")
    assert h.app.session.form == {}
    fill_passport_form(h, nid="111122223333")
    # The card is read: photo and fields shown, nothing in the form until confirmed
    photo = card_photo(rng.randrange(1 << 30))
    svc.card = IdCardRead({"full_name": "ALI HASSAN", "national_id": "199012345678", "birth_date": "1985-01-15"},
                          photo=photo, photo_mime="image/jpeg")
    h.tap("apply.read_card", to="card")
    assert "card.reason" not in h.ids()  # a new visit starts without the last answer
    h.tap("card.read")
    h.wait(lambda: "card.confirm" in h.ids(), what="the prefilled fields")
    assert h.text("card.check") == tr("card.check", "ar")
    assert h.find("card.photo").texture.size == (60, 80)
    assert h.text("card.field.national_id") == isolate("199012345678", "ar")
    assert "card.field.full_name" not in h.ids()  # DG1's Latin name never fills an Arabic field
    assert h.app.session.form["national_id"] == "111122223333"
    h.tap("card.discard", to="apply")  # the citizen says no: the form keeps what they typed
    assert h.app.session.form["national_id"] == "111122223333"
    assert h.app.session.results.get("card") is None
    h.tap("apply.read_card", to="card")
    h.tap("card.read")
    h.wait(lambda: "card.confirm" in h.ids(), what="the prefilled fields")
    h.tap("card.confirm", to="apply")
    form = h.app.session.form
    assert form["national_id"] == "199012345678" and form["full_name"] == "علي حسن"
    assert "199012345678" in h.text("field.national_id")
    assert h.app.session.results.get("card") is None  # the photo is gone with the card screen
    # A mistyped date: the card refuses, the reason asks to check the fields, which stay
    svc.card = IdCardRead({}, "card.wrong_mrz", "BAC refused", True)
    h.tap("apply.read_card", to="card")
    h.tap("card.read")
    h.wait(lambda: "card.reason" in h.ids(), what="the card read's answer")
    assert h.text("card.reason") == tr("card.wrong_mrz", "ar")
    assert "850115" in h.text("field.card_birth")
    h.tap("card.type_myself", to="apply")
    h.tap("apply.next", to="review")
    assert h.text("review.national_id") == "199012345678"
