"""Central's pages in a real browser (Debian's chromium driven by Playwright) against a
real `ur-central web` process: a certificate's QR decoded from its PNG and opened the way
a phone camera opens it says VALID, and REVOKED after a revocation; an old printed code
pasted into the form verifies; a citizen's `<script>` shows as plain text. Every page is
saved as a screenshot in three languages, phone and desktop size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import qr_decode, qr_text
from tests import support
from tests.web_support import DESKTOP, PHONE, chromium, web_server

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
LANGS = ("ar", "ckb", "en")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def shots(browser, url: str, out: Path, name: str) -> None:
    """`url` in every language at phone and desktop size, saved as PNGs in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        ctx = browser.new_context(viewport=size)
        page = ctx.new_page()
        for lang in LANGS:
            sep = "&" if "?" in url else "?"
            page.goto(f"{url}{sep}lang={lang}")
            page.screenshot(path=str(out / f"{name}-{lang}-{size_name}.png"), full_page=True)
        ctx.close()


def test_phone_opens_certificate_qr_valid_then_revoked(browser, tmp_path: Path) -> None:
    db_url = support.sqlite_url(tmp_path / "central.db")
    out = tmp_path / "screens"
    with web_server(db_url, tmp_path, "--insecure-cookies") as srv:
        base = srv.url.upper() + "/"
        png = tmp_path / "cert.png"
        r = support.run_cli(["ur-central", "--db", db_url, "--json", "docs", "issue", "--type", "certificate",
                             "--agency", "MOI", "--office", "بغداد", "--field", "name=<script>alert(1)</script>",
                             "--field", "number=4471", "--base", base, "--png", str(png)])
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        text = qr_decode.single_text(qr_decode.decode_file(str(png)))
        assert text == doc["qr"] and " " not in text and "%" not in text
        phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = phone.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(text)  # what the camera app hands the browser
        assert page.get_attribute("#verdict", "data-status") == "VALID"
        assert page.locator("html").get_attribute("dir") == "rtl"
        # The word is readable: white on the verdict's colour, not the colour on itself.
        word, box = page.evaluate("[getComputedStyle(document.querySelector('#verdict .word')).color,"
                                  " getComputedStyle(document.querySelector('#verdict')).backgroundColor]")
        assert word == "rgb(255, 255, 255)" and box != word
        assert "<script>alert(1)</script>" in page.inner_text("#fields")  # shown as text, never run
        assert dialogs == []
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"page is {width}px wide on a {PHONE['width']}px phone"
        shots(browser, text, out, "verify-valid")

        # An old printed code (UR1: + Base45, spaces and all) pasted into the form.
        page.goto(srv.url + "/verify?lang=en")
        page.fill("#code", qr_text.legacy_text(_bare(db_url, doc["id"]), "HTTPS://VERIFY.UR.GOV.IQ/"))
        page.click("button[type=submit]")
        assert page.get_attribute("#verdict", "data-status") == "VALID"

        r = support.run_cli(["ur-central", "--db", db_url, "docs", "revoke", doc["id"], "--reason", "lost"])
        assert r.returncode == 0, r.stderr
        page.goto(text)
        assert page.get_attribute("#verdict", "data-status") == "REVOKED"
        assert "REVOKED" in page.inner_text("#verdict")  # in English: the language chosen above is kept
        shots(browser, text, out, "verify-revoked")
        for name in ("", "verify", "letters", "track"):
            shots(browser, f"{srv.url}/{name}", out, name or "home")
        phone.close()
    assert len(list(out.glob("*.png"))) == 6 * 3 * 2


def _bare(db_url: str, doc_id: str) -> str:
    r = support.run_cli(["ur-central", "--db", db_url, "--json", "docs", "show", doc_id])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["text"]


def test_clerk_logs_in_and_approves_in_the_browser(browser, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from central import applications, audit, db
    from central import catalogue as central_catalogue
    from contract import tracking

    db_url = support.sqlite_url(tmp_path / "central.db")
    engine = db.make_engine(db_url)
    db.init_schema(engine)
    S = db.sessions(engine)
    number = tracking.make(7, 1)
    with S.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
    with S.begin() as s:
        applications.handle_submission(s, "K1", "m-1", {
            "tracking": number, "service_id": "non-conviction-certificate", "catalogue_version": 1,
            "fee_total": 10000, "fields": {"full_name": "<script>alert('x')</script>", "national_id": "199001234567",
                                           "mobile": "07701234567"}, "submitted_at": datetime.now(UTC).isoformat()})
    pw = "clerk password 1"
    r = support.run_cli(["ur-central", "--db", db_url, "users", "add", "clerk-a", "--name", "سارا أحمد",
                         "--agency", "moi-criminal-evidence", "--role", "clerk"], input=pw + "\n")
    assert r.returncode == 0, r.stderr
    with web_server(db_url, tmp_path) as srv:  # Secure cookies: chromium keeps them on http://127.0.0.1
        ctx = browser.new_context(viewport=DESKTOP)
        page = ctx.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(srv.url + "/staff/login?lang=en")
        page.fill("#username", "clerk-a")
        page.fill("#password", pw)
        page.click("button[type=submit]")
        assert number in page.inner_text("#worklist")
        page.click(f"text={number}")
        assert "<script>alert('x')</script>" in page.inner_text("#form") and dialogs == []
        page.select_option("#action", "approve")
        page.click("#act button[type=submit]")
        assert "Visit to the office requested" in page.inner_text("#case-status")
        ctx.close()
    with S() as s:
        assert audit.trail(s, number)[-1]["actor"] == "clerk-a (سارا أحمد)"
    engine.dispose()
