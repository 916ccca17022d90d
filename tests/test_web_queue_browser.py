"""The office queue in a real browser (Debian's chromium via Playwright) against a real
`ur-central web` process: a clerk presses "call next" on the counter page, the office
board shows the number and plays the Arabic call the server spoke with espeak-ng; the
call's link opens the application page the ticket's QR points at; a recall is spoken
again; done measures the service time shown on the queue-times page (supervisors, auditors)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import support
from tests.web_support import DESKTOP, chromium, web_server

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
GROUP = "moi-criminal-evidence"
FEE = 10000  # the seed catalogue's fee for the certificate: a wrong one is rejected at once


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def _audible(wav: bytes, tmp: Path) -> float:
    """Seconds of the clip, after checking with sox that it is not silence."""
    path = tmp / "call.wav"
    path.write_bytes(wav)
    stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    fields = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in stat.splitlines() if ":" in ln)}
    assert float(fields["Maximum amplitude"]) > 0.1, stat
    return float(fields["Length (seconds)"])


def _until(page, expression: str, what: str) -> object:
    """Poll `expression` in the page (wait_for_function would eval a string, which the
    pages' CSP rightly forbids; page.evaluate goes through the debugger protocol)."""
    return support.wait_until(lambda: page.evaluate(expression), 30, 0.05, what)


def test_clerk_calls_next_and_the_board_shows_and_speaks_it(browser, tmp_path: Path) -> None:
    from central import applications, casework, db, kiosks
    from central import catalogue as central_catalogue
    from contract import tracking

    assert casework.start_applications in applications.SUBMISSION_HOOKS  # the case page needs the case
    db_url = support.sqlite_url(tmp_path / "central.db")
    engine = db.make_engine(db_url)
    db.init_schema(engine)
    S = db.sessions(engine)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    with S.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
        code = kiosks.register(s, "K1", "ab" * 32, "karkh", t0).kiosk_code
    numbers = [tracking.make(code, i) for i in (1, 2)]
    with S.begin() as s:
        for i, n in enumerate(numbers):
            applications.handle_submission(s, "K1", f"m-{i}", {
                "tracking": n, "service_id": "non-conviction-certificate", "catalogue_version": 1,
                "fee_total": FEE, "fields": {"full_name": "زينب علي", "national_id": "199001234567",
                                           "mobile": "07701234567"},
                "submitted_at": (t0 + timedelta(minutes=i)).isoformat()})
    engine.dispose()
    pw = "clerk password 1"
    for user, role in (("clerk-a", "clerk"), ("audit-a", "auditor")):
        r = support.run_cli(["ur-central", "--db", db_url, "users", "add", user, "--name", "سارا أحمد",
                             "--agency", GROUP, "--role", role], input=pw + "\n")
        assert r.returncode == 0, r.stderr
    with web_server(db_url, tmp_path) as srv:
        board_ctx = browser.new_context(viewport=DESKTOP)
        board = board_ctx.new_page()
        clips: list[tuple[int, str]] = []
        board.on("response", lambda resp: clips.append((resp.status, resp.url)) if "/queue/say.wav" in resp.url else None)
        board.goto(srv.url + "/queue/board?office=karkh")
        assert board.locator("html").get_attribute("dir") == "rtl"
        board.click("#sound-on")  # a person touches the screen once: the browser may then play sound
        _until(board, "Number(document.body.dataset.polled || 0) >= 1", "the board's first poll")
        assert board.locator("#board tbody tr").count() == 0

        ctx = browser.new_context(viewport=DESKTOP)
        page = ctx.new_page()
        page.goto(srv.url + "/staff/login?lang=en")
        page.fill("#username", "clerk-a")
        page.fill("#password", pw)
        page.click("button[type=submit]")
        page.goto(srv.url + "/staff/queue?office=karkh&counter=2&lang=en")
        assert page.inner_text("#queue-waiting") == "2"
        page.click("#call-next")
        called = page.locator(f"#called-{numbers[0]}")
        called.wait_for()  # the form posts and the page reloads: wait for the new page, not the old one
        assert called.count() == 1  # the oldest ticket, at this counter
        assert page.inner_text("#queue-waiting") == "1"

        # The board shows it and plays the call the server spoke (Arabic, espeak-ng).
        row = board.locator(f'#board tbody tr[data-number="{numbers[0]}"]')
        row.wait_for()
        assert row.locator("td").nth(1).inner_text() == "2"
        key = f"{numbers[0]}/2/1"
        _until(board, f"document.body.dataset.spoken === '{key}' || document.body.dataset.unspoken === '{key}'",
               "the call played")
        assert board.evaluate("document.body.dataset.spoken") == key, "the call's clip did not play"
        assert [st for st, _u in clips] == [200]
        with urllib.request.urlopen(clips[0][1]) as resp:
            assert resp.headers["Content-Type"] == "audio/wav"
            assert _audible(resp.read(), tmp_path) > 2.0  # eleven digits and the counter take seconds

        # Call again: the board speaks it again.
        page.click(f"#recall-{numbers[0]}")
        _until(board, f"document.body.dataset.spoken === '{numbers[0]}/2/2'", "the recall played")

        # The call's link is the ticket's QR target: the application page.
        assert called.locator("a.open-case").get_attribute("href") == f"/staff/case/{numbers[0]}"
        page.click(f"#called-{numbers[0]} a.open-case")
        main = page.inner_text("main")
        assert page.locator("#case").count() == 1 and numbers[0] in main, main
        page.go_back()
        page.click(f"#done-{numbers[0]}")
        assert page.locator(f"#called-{numbers[0]}").count() == 0
        ctx.close()

        # A clip is spoken only for a ticket called now at that counter.
        for bad in (f"number={numbers[1]}&counter=2", f"number={numbers[0]}&counter=2", "number=junk&counter=1"):
            try:
                urllib.request.urlopen(f"{srv.url}/queue/say.wav?{bad}")
                raise AssertionError(f"{bad} was spoken")
            except urllib.error.HTTPError as e:
                assert e.code in (400, 404)

        sup = browser.new_context(viewport=DESKTOP)
        sp = sup.new_page()
        sp.goto(srv.url + "/staff/login?lang=en")
        sp.fill("#username", "audit-a")
        sp.fill("#password", pw)
        sp.click("button[type=submit]")
        sp.goto(srv.url + "/staff/queue/stats?lang=en")
        cells = sp.locator("#queue-stats tr").nth(1).locator("td").all_inner_texts()
        assert cells[:3] == ["karkh", GROUP, "1"] and cells[5] == "1 / 1"
        sup.close()
        board_ctx.close()
    r = support.run_cli(["ur-central", "--db", db_url, "--json", "queue", "stats"])
    [g] = json.loads(r.stdout)
    assert g["measured_done"] == 1 and g["wait_median_s"] >= 5 * 60  # the ticket waited five minutes
