"""A refused request on a citizen's page is said in the page's language (issue 16:
"raw English errors on Arabic screens"): never the service's English sentence on an
Arabic or Kurdish page; a rule's code picks its own translated sentence; English pages
keep the sentence after the translated lead. Driven on the real app."""

from __future__ import annotations

import re

import pytest

from contract.errors import ValidationError
from kiosk import i18n
from kiosk.ui_services import TrackResult
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness

LATIN = re.compile(r"[A-Za-z]")


def _track(h: Harness, number: str) -> str:
    h.tap("home.track")
    h.type(number)
    h.tap("track.go")
    h.wait(lambda: "track.error" in h.ids(), what="the refusal")
    return h.text("track.error")


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_unknown_tracking_number_is_refused_in_the_pages_words(lang: str) -> None:
    shown = _track(Harness(FixtureServices(), lang=lang), "KSK1-000008")
    assert shown == i18n.tr("err.refused_check", lang)
    assert not LATIN.search(shown), shown  # no English sentence, no internal words


def test_english_page_keeps_the_services_sentence() -> None:
    shown = _track(Harness(FixtureServices(), lang="en"), "KSK1-000008")
    assert shown.startswith(i18n.tr("err.refused", "en"))
    assert "no application with tracking number KSK1-000008" in shown


class _RuleRefusal(FixtureServices):
    def track(self, tracking: str) -> TrackResult:
        raise ValidationError("tracking number refused", [("tracking", "required", "tracking number is required")])


def test_a_rules_code_picks_its_translated_sentence() -> None:
    shown = _track(Harness(_RuleRefusal(), lang="ar"), "1")
    assert shown == i18n.tr("err.required", "ar")
