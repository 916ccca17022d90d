"""The counter page's actions over HTTP (ASGI app in-process, real SQLite file): call,
call again and done share one set-up (central/web/queue_pages.py `_at_counter`), so
each refuses the same way: a forged CSRF token 403, a counter outside 1..999 400, a
ticket of another agency 403 before anything is done (whether it exists or is called),
a ticket the rules refuse (not called, a malformed number) 409. The browser test
(tests/test_web_queue_browser.py) walks the happy path with sound; this one the edges."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from central import applications, kiosks, queue
from central import catalogue as central_catalogue
from central.web import accounts
from contract import tracking

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from central.web.app import Settings, create_app  # noqa: E402

PW = "correct horse battery"
GROUP = "moi-criminal-evidence"  # the non-conviction certificate's counters
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Env:
    app: Any
    ticket: str  # waiting in karkh's line of GROUP
    nobody: str  # well formed, no ticket


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'c.db'}", secret_file=str(tmp_path / "secret"),
                              login_per_minute=1000))
    S = app.state.sessions
    with S.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
        accounts.add(s, "clerk-a", "Clerk A", GROUP, "clerk", PW)
        accounts.add(s, "clerk-b", "Clerk B", "moj-notary", "clerk", PW)
        code = kiosks.register(s, "K1", "ab" * 32, "karkh", T0).kiosk_code
    number = tracking.make(code, 1)
    with S.begin() as s:
        applications.handle_submission(s, "K1", "m-1", {
            "tracking": number, "service_id": "non-conviction-certificate", "catalogue_version": 1,
            "fee_total": 10000, "fields": {"full_name": "زينب علي", "national_id": "199001234567",
                                           "mobile": "07801234567"},
            "submitted_at": T0.isoformat()})
    yield Env(app, number, tracking.make(code, 99))
    app.state.engine.dispose()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:300]
    return m.group(1)


def _clerk(app: Any, user: str) -> tuple[TestClient, str]:
    """A logged-in client and its session's CSRF token (from the counter page)."""
    c = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = _csrf(c.get("/staff/login?lang=en").text)
    assert c.post("/staff/login", data={"username": user, "password": PW, "totp": "", "csrf": token}).status_code == 303
    page = c.get("/staff/queue?office=karkh&counter=3&lang=en")
    assert page.status_code == 200, page.text[:300]
    return c, _csrf(page.text)


def _state(env: Env) -> tuple[str, int | None, int]:
    with env.app.state.sessions() as s:
        t = s.get(queue.QueueTicket, env.ticket)
        assert t is not None
        return t.status, t.counter, t.calls


def test_counter_actions_refuse_alike(env: Env) -> None:
    a, token_a = _clerk(env.app, "clerk-a")
    b, token_b = _clerk(env.app, "clerk-b")

    def post(c: TestClient, action: str, token: str, number: str | None = None, counter: int = 3) -> int:
        data = {"office": "karkh", "group": "", "counter": str(counter), "csrf": token}
        if number is not None:
            data["number"] = number
        r = c.post(f"/staff/queue/{action}", data=data)
        assert "Traceback" not in r.text
        return r.status_code

    # Not called yet: both ticket actions say so; another agency learns nothing (403 either way).
    assert (post(a, "recall", token_a, env.ticket), post(a, "done", token_a, env.ticket)) == (409, 409)
    assert (post(b, "recall", token_b, env.ticket), post(b, "done", token_b, env.ticket)) == (403, 403)
    assert (post(b, "recall", token_b, env.nobody), post(b, "done", token_b, env.nobody)) == (403, 403)
    for action in ("recall", "done"):
        assert post(a, action, token_a, "1234-abcdef-1") == 409  # malformed number
        assert post(a, action, token_a, env.ticket[:-1] + str((int(env.ticket[-1]) + 1) % 10)) == 409  # check digit
    # The shared set-up: CSRF and counter checked the same way for all three.
    for action, number in (("call", None), ("recall", env.ticket), ("done", env.ticket)):
        assert post(a, action, "forged", number) == 403
        assert post(a, action, token_a, number, counter=0) == 400
    assert _state(env) == ("waiting", None, 0)  # nothing above changed the ticket

    assert post(b, "call", token_b) == 303  # clerk-b's group (their agency) has nobody waiting
    assert _state(env) == ("waiting", None, 0)
    assert post(a, "call", token_a) == 303
    assert _state(env) == ("called", 3, 1)
    assert (post(b, "recall", token_b, env.ticket), post(b, "done", token_b, env.ticket)) == (403, 403)
    assert _state(env) == ("called", 3, 1)
    assert post(a, "recall", token_a, env.ticket, counter=5) == 303
    assert _state(env) == ("called", 5, 2)
    assert post(a, "done", token_a, env.ticket, counter=5) == 303
    assert _state(env) == ("done", 5, 2)
    assert (post(a, "recall", token_a, env.ticket), post(a, "done", token_a, env.ticket)) == (409, 409)
