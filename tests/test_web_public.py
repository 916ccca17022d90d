"""Central's public pages over HTTP (the ASGI app in-process on a real SQLite file):
verification in both QR forms and its JSON twin, letter inquiry without subjects,
tracking behind its second factor, and every bad request answered with a 4xx page
in the page's language, never a traceback."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from central import applications, casework, letters, registry
from central import catalogue as central_catalogue
from contract import qr_text, tracking, ur1
from tests import support

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from central.web.app import Settings, create_app  # noqa: E402

BASE = "HTTP://TESTSERVER/"
FIELDS = {"name": "محمد <script>alert(1)</script>", "number": "4471/ب"}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[TestClient, object]]:
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'c.db'}", public_per_minute=1000))
    with TestClient(app) as c:
        yield c, app.state.sessions
    app.state.engine.dispose()


def _issue(S, **kw) -> registry.Document:
    with S.begin() as s:
        return registry.issue(s, doc_type="certificate", agency="MOI", office="بغداد", fields=FIELDS,
                              now=kw.pop("now", int(time.time()) - 5), **kw)


def _path(doc: registry.Document) -> str:
    return qr_text.verification_text(doc.text, BASE)[len(BASE) - 1:]


def _status(html: str) -> str:
    m = re.search(r'id="verdict" data-status="([A-Z_]+)"', html)
    assert m, html[:500]
    return m.group(1)


def test_address_form_opens_as_link_and_shows_escaped_fields(web) -> None:
    c, S = web
    doc = _issue(S, expires_at=int(time.time()) + 86400 * 400)
    path = _path(doc)
    assert re.fullmatch(r"/UR1/[A-Z2-7]+", path)
    r = c.get(path)
    assert r.status_code == 200 and _status(r.text) == "VALID"
    assert 'lang="ar" dir="rtl"' in r.text and "صالحة" in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and "<script>alert" not in r.text
    assert doc.id in r.text and "بغداد" in r.text
    # Dates in the page's language: Arabic-Indic digits and Iraqi month names.
    issued = datetime.fromtimestamp(doc.issued_at, UTC)
    assert str(issued.year).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) in r.text
    en = c.get(path + "?lang=en")
    assert 'lang="en" dir="ltr"' in en.text and ">VALID<" in en.text and str(issued.year) in en.text
    ckb = c.get(path + "?lang=ckb")
    assert 'lang="ckb" dir="rtl"' in ckb.text and "دروستە" in ckb.text
    # A camera may lower-case the path; Base32 is case-free.
    assert _status(c.get(path.lower().replace("/ur1/", "/UR1/")).text) == "VALID"
    # JSON twin: the same verdict, only what the code carries (no body, no registry row).
    j = c.get("/api/v1" + path.replace("/UR1/", "/verify/UR1/")).json()
    assert j["status"] == "VALID" and j["document"]["id"] == doc.id
    assert set(j["document"]) == {"id", "type", "agency", "office", "issued_at", "expires_at", "fields",
                                  "body_sha256", "status_index", "kid"}


def test_old_printed_form_still_verifies_by_paste_and_as_clean_link(web) -> None:
    c, S = web
    doc = _issue(S)
    old = qr_text.legacy_text(doc.text, "HTTPS://VERIFY.UR.GOV.IQ/")
    for text in (old, doc.text, qr_text.verification_text(doc.text, "HTTPS://VERIFY.UR.GOV.IQ/")):
        r = c.post("/verify", data={"code": text + "\r\n"})
        assert _status(r.text) == "VALID", text[:40]
        assert c.post("/api/v1/verify", json={"text": text}).json()["status"] == "VALID"
    # Opened as a link: the browser re-encodes spaces/% -> we ask for the text instead of guessing.
    r = c.get("/" + doc.text.replace(" ", "%20").replace("%", "%25"))
    assert r.status_code == 200 and 'id="old-form"' in r.text


def test_revoked_and_expired_and_garbage(web) -> None:
    c, S = web
    doc = _issue(S)
    old = _issue(S, now=int(time.time()) - 4, expires_at=int(time.time()) - 2)
    with S.begin() as s:
        registry.revoke(s, doc.id, "reported stolen", int(time.time()))
    r = c.get(_path(doc) + "?lang=en")
    assert _status(r.text) == "REVOKED" and "verdict bad" in r.text and "reported stolen" in r.text
    assert _status(c.get(_path(old)).text) == "EXPIRED"
    bad = c.get("/UR1/AAAA")
    assert bad.status_code == 200 and _status(bad.text) == "INVALID" and "Traceback" not in bad.text
    assert c.get("/api/v1/verify/UR1/11").json()["status"] == "INVALID"


@pytest.mark.skipif(support.postgres_available() is not None, reason="PostgreSQL not reachable")
def test_verification_and_worklist_on_postgresql() -> None:
    """The same app on PostgreSQL (its verification reads without a transaction): valid,
    then revoked at once; the counts reach the overview's counter rows at shutdown."""
    from central.web import verify_tally

    with support.postgres_schema() as url:
        app = create_app(Settings(db_url=url, public_per_minute=1000))
        S = app.state.sessions
        try:
            doc = _issue(S)
            with TestClient(app) as c:
                assert c.get("/api/v1/verify" + _path(doc)).json()["status"] == "VALID"
                assert _status(c.get(_path(doc)).text) == "VALID"
                with S.begin() as s:
                    registry.revoke(s, doc.id, "stolen", int(time.time()))
                assert c.get("/api/v1/verify" + _path(doc)).json()["status"] == "REVOKED"
            day = verify_tally.today()
            with S() as s:
                assert verify_tally.read(s, [day]) == {day: (2, 1)}
        finally:
            app.state.engine.dispose()


def test_withdrawn_key_is_refused_by_the_next_request(web) -> None:
    """Each process keeps the signing keys and the codes that passed (docs/web.md), labelled
    with the trust list's version it reads on every request: a withdrawn key stops
    verifying on the very next request, as a revoked document does."""
    from central import keys

    c, S = web
    doc = _issue(S)
    for _ in range(2):  # the second answer comes from what the process kept
        assert c.get("/api/v1/verify" + _path(doc)).json()["status"] == "VALID"
        assert _status(c.get(_path(doc)).text) == "VALID"
    with S.begin() as s:
        keys.withdraw(s, doc.kid, doc.issued_at - 1, int(time.time()))
    j = c.get("/api/v1/verify" + _path(doc)).json()
    assert j["status"] == "INVALID" and "withdrawn" in j["reason"]
    assert _status(c.get(_path(doc)).text) == "INVALID"


@pytest.mark.skipif(support.postgres_available() is not None, reason="PostgreSQL not reachable")
def test_two_processes_see_revocation_and_withdrawal_at_once_on_postgresql() -> None:
    """Two serving processes' worth of state (two apps on one PostgreSQL database, each
    with its own kept keys, codes and pages): after a revocation, and after a key
    withdrawal, the next request to either answers the new verdict."""
    from central import keys

    with support.postgres_schema() as url:
        apps = [create_app(Settings(db_url=url, public_per_minute=1000)) for _ in range(2)]
        S = apps[0].state.sessions
        try:
            doc, other = _issue(S), _issue(S)
            with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
                for c in (a, b, a, b):  # each process keeps both codes and their VALID answers
                    for d in (doc, other):
                        assert c.get("/api/v1/verify" + _path(d)).json()["status"] == "VALID"
                        assert _status(c.get(_path(d) + "?lang=en").text) == "VALID"
                with S.begin() as s:
                    registry.revoke(s, doc.id, "stolen", int(time.time()))
                for c in (a, b):
                    j = c.get("/api/v1/verify" + _path(doc)).json()
                    assert j["status"] == "REVOKED" and j["reason"] == "revoked: stolen"
                    assert _status(c.get(_path(doc)).text) == "REVOKED"
                    assert c.get("/api/v1/verify" + _path(other)).json()["status"] == "VALID"
                with S.begin() as s:
                    keys.withdraw(s, other.kid, other.issued_at - 1, int(time.time()))
                for c in (b, a):
                    assert c.get("/api/v1/verify" + _path(other)).json()["status"] == "INVALID"
                    assert _status(c.get(_path(other)).text) == "INVALID"
                # A document issued under the new key verifies in both at once.
                fresh = _issue(S, now=int(time.time()) + 1)  # after the new key's start
                for c in (a, b):
                    assert _status(c.get(_path(fresh)).text) == "VALID"
        finally:
            for app in apps:
                app.state.engine.dispose()


def test_hostile_requests_get_4xx_pages_in_the_page_language(web) -> None:
    c, _ = web
    big = c.post("/verify?lang=en", content=b"code=" + b"A" * (10 * 1024 * 1024),
                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "too large" in big.text and 'dir="ltr"' in big.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(200):
            yield b"A" * 4096

    streamed = c.post("/verify?lang=ar", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413 and "كبير" in streamed.text
    missing = c.post("/verify?lang=en", data={})
    assert missing.status_code == 422 and "Traceback" not in missing.text and "code" in missing.text
    assert c.post("/api/v1/verify", json={"text": 5}).status_code == 422
    assert c.post("/api/v1/verify", content=b"{", headers={"content-type": "application/json"}).status_code == 422
    nf = c.get("/no-such-page?lang=ckb")
    assert nf.status_code == 404 and 'lang="ckb"' in nf.text
    for r in (big, nf, c.get("/verify"), c.get("/health")):  # on every answer, refusals included
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert c.get("/api/v1/nothing").json()["error"]


def test_rate_limit_answers_429(tmp_path: Path) -> None:
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'c.db'}", public_per_minute=3))
    with TestClient(app) as c:
        codes = [c.get("/verify?lang=en").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = c.get("/verify?lang=en")
        assert r.headers["retry-after"] == "60" and "Too many requests" in r.text
        assert c.get("/health").status_code == 200  # the health route is not limited
    app.state.engine.dispose()


def test_letter_inquiry_shows_route_never_subject(web) -> None:
    c, S = web
    now = int(time.time())
    with S.begin() as s:
        lt = letters.register(s, number="١٢٣/ك", letter_date="2026-03-01", from_agency="KRG representation Baghdad",
                              to_agency="Federal Ministry of Finance", subject="SECRET-SUBJECT salaries", now=now - 3600)
        letters.route(s, lt, "Ministry of Planning", now - 60)
        letters.set_status(s, lt, "IN_PROGRESS", now)
    r = c.get("/letters", params={"number": "123/ك", "date": "2026-03-01", "lang": "en"})
    assert r.status_code == 200 and "SECRET" not in r.text
    assert "Ministry of Planning" in r.text and "In progress" in r.text
    assert r.text.count("<tr><td>") == 3  # registered, routed, status
    ar = c.get("/letters", params={"number": "123/ك", "date": "٢٠٢٦-٠٣-٠١", "lang": "ar"})
    assert "آذار" in ar.text and "١٢٣/ك" in ar.text and "SECRET" not in ar.text
    j = c.get("/api/v1/letters", params={"number": "123/ك", "date": "2026-03-01"}).json()
    assert len(j["letters"]) == 1 and "subject" not in j["letters"][0] and len(j["letters"][0]["steps"]) == 3
    assert "SECRET" not in str(j)
    none = c.get("/letters", params={"number": "999", "date": "2026-03-01", "lang": "en"})
    assert 'id="none"' in none.text
    bad = c.get("/letters", params={"number": "1", "date": "2026-02-30", "lang": "en"})
    assert bad.status_code == 400 and "year-month-day" in bad.text
    assert c.get("/api/v1/letters", params={"number": "1", "date": "x"}).json()["error"] == "bad_date"
    # The error names the input that broke, whatever words the other one holds.
    blank = c.get("/api/v1/letters", params={"number": "   ", "date": "2026-03-01"})
    assert blank.status_code == 400 and blank.json()["error"] == "bad_number"
    long_no = c.get("/api/v1/letters", params={"number": "date " * 20, "date": "2026-03-01"})
    assert long_no.json()["error"] == "bad_number"


def test_tracking_needs_check_digit_and_second_factor(web) -> None:
    c, S = web
    with S.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
    number = tracking.make(7, 1)
    with S.begin() as s:
        applications.handle_submission(s, "K1", "m-1", {
            "tracking": number, "service_id": "non-conviction-certificate", "catalogue_version": 1,
            "fee_total": 10000, "fields": {"full_name": "سارا <b>x</b>", "national_id": "199001234567",
                                           "mobile": "07701234567"},
            "submitted_at": datetime.now(UTC).isoformat()})
    wrong_digit = number[:-1] + str((int(number[-1]) + 1) % 10)
    r = c.post("/track?lang=en", data={"number": wrong_digit, "last4": "4567"})
    assert r.status_code == 400 and "check digit" in r.text
    guessed = c.post("/track?lang=en", data={"number": number, "last4": "0000"})
    unknown = c.post("/track?lang=en", data={"number": tracking.make(7, 2), "last4": "4567"})
    assert guessed.status_code == unknown.status_code == 404
    assert 'id="result"' not in guessed.text and "سارا" not in guessed.text
    assert c.post("/track?lang=en", data={"number": number, "last4": "45a7"}).status_code == 400
    ok = c.post("/track?lang=en", data={"number": number, "last4": "٤٥٦٧"})
    assert ok.status_code == 200 and 'id="result"' in ok.text
    assert "moi-criminal-evidence" in ok.text and "review" in ok.text and "Due by" in ok.text
    assert "سارا" not in ok.text and "199001234567" not in ok.text  # no personal data, even then
    j = c.post("/api/v1/track", json={"number": number, "last4": "4567"}).json()
    assert j["agency"] == "moi-criminal-evidence" and j["step"] == "review" and j["sla_due"]
    assert c.post("/api/v1/track", json={"number": number, "last4": "1111"}).status_code == 404
    with S.begin() as s:
        casework.act(s, number, "reject", "clerk", "office", note="incomplete")
    j = c.post("/api/v1/track", json={"number": number, "last4": "4567"}).json()
    assert j["status"] == "rejected"


def test_openapi_lists_the_public_api(web) -> None:
    c, _ = web
    spec = c.get("/api/openapi.json").json()
    assert {"/api/v1/verify", "/api/v1/verify/UR1/{code}", "/api/v1/letters", "/api/v1/track"} <= set(spec["paths"])
    assert ur1.ADDRESS_MARK == "UR1/"


@pytest.mark.skipif(support.postgres_available() is not None, reason="PostgreSQL not reachable")
def test_reads_gathered_into_one_round_trip_answer_each_request_its_own_row() -> None:
    """The PostgreSQL reader reads concurrent requests' documents together
    (central/web/verifier.py): each gets its own row, an absent document its own
    "not in the registry", and a request that goes away leaves the others answered."""
    import asyncio

    from central.web import verifier

    with support.postgres_schema() as url:
        app = create_app(Settings(db_url=url, public_per_minute=1000))
        S = app.state.sessions
        try:
            kept, gone = _issue(S), _issue(S)
            with S.begin() as s:
                registry.revoke(s, gone.id, "lost", int(time.time()))
            reader = verifier.PgReader(app.state.engine, size=1, batch=3)

            async def run() -> list[object]:
                ids = [kept.id, gone.id, "DNOSUCHDOC00", kept.id, gone.id, "DNOSUCHDOC01", kept.id]
                tasks = [asyncio.ensure_future(reader.read(i)) for i in ids]
                tasks.append(asyncio.ensure_future(reader.read(gone.id)))
                tasks[-1].cancel()  # this request went away
                out = await asyncio.gather(*tasks[:-1])
                await reader.aclose()
                return out

            rows = asyncio.run(run())
            assert [getattr(r, "status_index", None) is None for r in rows] == [False, False, True, False, False, True,
                                                                                False]
            assert rows[0].revoked_at is None and rows[1].revoked_at is not None and rows[1].revoke_reason == "lost"
            assert rows[0].status_index == kept.status_index and rows[4].status_index == gone.status_index
            assert len({r.trust_version for r in rows}) == 1 and rows[2].trust_version is not None
        finally:
            app.state.engine.dispose()
