"""Submit is exactly-once on the real app: a second tap on Submit (a complaint, an
application), or Back and Submit again, files nothing more; the citizen sees the
reference already given. A changed form is a new filing. A fine paid already shows
"paid", and paying it again says so instead of charging. While the terminal holds
the card, Home and the idle wipe do nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from kiosk import i18n
from kiosk.screens.citizen import start_payment
from kiosk.ui_services import PayEvent
from tests.test_ui_citizen import fill_passport_form
from tests.test_ui_screen_defects import file_complaint
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness


def test_a_complaint_tapped_twice_is_filed_once() -> None:
    svc = FixtureServices()
    h = Harness(svc, lang="en")
    file_complaint(h)
    ref = h.text("complaint.reference")
    h.tap("complaint.go")  # the second tap
    h.tap("complaint.go")
    assert len(svc.complaints) == 1
    assert h.text("complaint.reference") == ref
    h.tap("field.complaint_text")
    h.type("R")  # a different complaint is a new one
    h.tap("complaint.go")
    assert len(svc.complaints) == 2 and h.text("complaint.reference") != ref


def test_an_application_submitted_twice_is_filed_once() -> None:
    svc = FixtureServices()
    h = Harness(svc, lang="ar")
    h.tap("home.catalogue", to="catalogue")
    h.tap("svc.passport-ordinary", to="service")
    h.tap("service.apply", to="apply")
    fill_passport_form(h)
    h.tap("apply.next", to="review")
    h.tap("review.submit", to="submitted")
    number = h.text("submitted.tracking")
    h.app.go("review")  # back to the review page, as a citizen going back would
    h.tap("review.submit", to="submitted")
    assert len(svc.applications) == 1
    assert h.text("submitted.tracking") == number


def test_a_paid_fine_shows_paid_and_paying_again_says_already_paid() -> None:
    svc = FixtureServices()
    h = Harness(svc, lang="ckb")
    h.tap("home.fines", to="fines")
    h.tap("field.plate")
    h.type("12345BGD")
    h.tap("fines.go")
    h.tap("fine.F-778.pay", to="pay")
    h.wait(lambda: h.app.current_screen().stage == "approved", what="the fine paid")
    assert len(svc.payments) == 1
    h.app.go("fines")
    h.tap("fines.go")
    assert "fine.F-778.pay" not in h.ids()  # paid: no Pay button
    assert h.text("fine.F-778.paid") == i18n.tr("fines.paid", "ckb")
    start_payment(h.app, "F-778", 50_000, "fines")  # a stale screen still offering it
    h.wait(lambda: "pay.detail" in h.ids(), what="the payment's answer")
    assert h.text("pay.detail") == i18n.tr("pay.already_paid", "ckb")
    assert "pay.retry" not in h.ids() and len(svc.payments) == 1
    h.tap("pay.back", to="fines")


class HeldCardServices(FixtureServices):
    """The terminal holds the card until the test lets it go (`release`)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    def pay(self, reference: str, amount: int, lang: str = "ar") -> Iterator[PayEvent]:
        events = super().pay(reference, amount, lang)
        yield next(events)  # insert_card
        self.holding.set()
        self.release.wait(30)
        yield from events


def test_home_and_the_idle_wipe_do_nothing_while_the_terminal_holds_the_card() -> None:
    svc = HeldCardServices()
    h = Harness(svc, lang="en")
    h.tap("home.fines", to="fines")
    h.tap("field.plate")
    h.type("12345BGD")
    h.tap("fines.go")
    h.tap("fine.F-778.pay", to="pay")
    h.wait(svc.holding.is_set, what="the terminal holding the card")
    h.tap("strip.home")
    assert h.screen == "pay"  # Home is locked
    h.app._idle()  # the idle timer fires during the card wait
    h.frames(2)
    assert h.screen == "pay" and "idle.prompt" not in h.ids() and h.app.idle_resets == 0
    assert h.app.session.pay_reference == "F-778"
    svc.release.set()
    h.wait(lambda: h.app.current_screen().stage == "approved", what="the payment's outcome")
    assert len(svc.payments) == 1
    h.tap("strip.home", to="home")  # the outcome is on screen: Home works again
