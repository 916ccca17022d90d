"""Office queue pages: the counter's call page, the office's display board and the
supervisor's queue times (central/queue.py holds the rules).

The board speaks each call in Arabic from a clip espeak-ng makes on the server
(`/queue/say.wav`), not the browser's speechSynthesis: Debian's Chromium has no
Arabic voice of its own and an office screen may have none either, while the server
has espeak-ng (the kiosks' spoken prompts use it too), so what is heard is the same
on every screen and can be tested. The number is read digit by digit in Arabic words
(a citizen compares it with the ticket), then the counter.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from central import queue
from central.web import staff
from central.web.pages import render
from central.web.public import limited
from contract import tracking
from contract.errors import UrError

CALLERS = frozenset({"clerk", "supervisor"})
STATS_READERS = frozenset({"supervisor", "auditor", "admin"})
ESPEAK = "espeak-ng"
SAY_TIMEOUT_S = 10.0
_AR_DIGITS = ("صفر", "واحد", "اثنان", "ثلاثة", "أربعة", "خمسة", "ستة", "سبعة", "ثمانية", "تسعة")


def spoken_call(number: str, counter: int) -> str:
    """The Arabic sentence the board says (pure): the number digit by digit, its three
    groups apart, then the counter ("الرقم ... إلى الشباك رقم N")."""
    groups = tracking.parse(number).split("-")
    digits = "، ".join(" ".join(_AR_DIGITS[int(d)] for d in g) for g in groups)
    return f"الرقم {digits}. إلى الشباك رقم {counter}."


@lru_cache(maxsize=64)
def _clip(text: str) -> bytes:
    try:
        r = subprocess.run([ESPEAK, "-v", "ar", "-s", "140", "--stdout", text], capture_output=True,
                           timeout=SAY_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UrError(f"espeak-ng could not speak: {e}") from None
    if r.returncode != 0 or not r.stdout.startswith(b"RIFF"):
        raise UrError(f"espeak-ng failed ({r.returncode}): {r.stderr.decode(errors='replace')[:200]}")
    return r.stdout


def _caller(request: Request) -> tuple[dict[str, Any], Any]:
    sess = staff._sessions(request).read(request)
    u = staff._user(request, sess)
    if u.role not in CALLERS:
        raise HTTPException(403)
    return sess, u


def _group_of(u: Any, group: str | None) -> str:
    """A clerk calls only the counters of their own agency; a supervisor any group."""
    if u.role == "clerk" or not group:
        return str(u.agency)
    return group[:64]


def _counter(counter: int) -> int:
    if not 1 <= counter <= 999:
        raise HTTPException(400, "bad_counter")
    return counter


def _back(office: str, group: str, counter: int) -> RedirectResponse:
    return RedirectResponse("/staff/queue?" + urlencode({"office": office, "group": group, "counter": counter}), 303)


def counter_page(request: Request, office: str = "", group: str = "", counter: int = 1) -> Response:
    sess, u = _caller(request)
    g, c = _group_of(u, group), _counter(counter)
    office = office[:64]
    with request.app.state.read_sessions() as s:
        offices = sorted({t for t in s.scalars(queue.offices_of_group(g))})
        if not office and offices:
            office = offices[0]
        line = queue.line(s, office, g) if office else []
    mine = [t for t in line if t.status == queue.CALLED and t.counter == c]
    waiting = [t for t in line if t.status == queue.WAITING]
    return staff._page(request, "staff_queue.html", {"user": u, "office": office, "offices": offices, "group": g,
                                                     "counter": c, "mine": mine, "waiting": waiting}, sess)


def _at_counter(request: Request, office: str, group: str, counter: int, csrf: str,
               act: Callable[[Session, str, int, str], object], number: str | None = None) -> Response:
    """The one set-up of every counter action (call, call again, done): the caller, the
    CSRF token, the counter group (a clerk: their agency) and the counter number, then
    `act(session, group, counter, caller)` in one transaction. With `number` (a ticket
    action) the ticket must be of that group, checked before anything is done so an
    agency learns nothing of another's tickets (403), and a ticket the rules refuse
    (not called, a malformed number) is 409."""
    sess, u = _caller(request)
    staff._csrf_ok(sess, csrf)
    g, c = _group_of(u, group), _counter(counter)
    try:
        with request.app.state.sessions.begin() as s:
            if number is not None:
                t = s.get(queue.QueueTicket, tracking.parse(number))
                if t is None or t.counter_group != g:
                    raise HTTPException(403)
            act(s, g, c, str(u.username))
    except UrError:
        if number is None:
            raise
        raise HTTPException(409, "not_called") from None
    return _back(office, g, c)


def call(request: Request, office: str = Form(max_length=64), group: str = Form("", max_length=64),
         counter: int = Form(), csrf: str = Form(max_length=64)) -> Response:
    return _at_counter(request, office, group, counter, csrf,
                       lambda s, g, c, by: queue.call_next(s, office, g, c, by))


def recall(request: Request, number: str = Form(max_length=20), office: str = Form(max_length=64),
           group: str = Form("", max_length=64), counter: int = Form(), csrf: str = Form(max_length=64)) -> Response:
    return _at_counter(request, office, group, counter, csrf,
                       lambda s, _g, c, by: queue.recall(s, number, c, by), number)


def done(request: Request, number: str = Form(max_length=20), office: str = Form(max_length=64),
         group: str = Form("", max_length=64), counter: int = Form(), csrf: str = Form(max_length=64)) -> Response:
    return _at_counter(request, office, group, counter, csrf,
                       lambda s, _g, _c, _by: queue.done(s, number), number)


def stats_page(request: Request, office: str | None = None) -> Response:
    sess = staff._sessions(request).read(request)
    u = staff._user(request, sess)
    if u.role not in STATS_READERS:
        raise HTTPException(403)
    with request.app.state.read_sessions() as s:
        rows = queue.stats(s, office[:64] if office else None)
    return staff._page(request, "staff_queue_stats.html", {"user": u, "rows": rows}, sess)


def board_page(request: Request, office: str = "") -> Response:
    """The office screen: public (it shows queue numbers only, as the hall's screen does)."""
    limited(request, "board")
    return render(request, "queue_board.html", {"office": office[:64]})


def board_json(request: Request, office: str = "") -> JSONResponse:
    limited(request, "board")
    with request.app.state.read_sessions() as s:
        calls = queue.board(s, office[:64])
    return JSONResponse({"office": office, "calls": [
        {"number": t.tracking, "counter": t.counter, "group": t.counter_group,
         # changes on every call and recall: the board speaks when it changes
         "key": f"{t.tracking}/{t.counter}/{t.calls}"}
        for t in calls]}, headers={"Cache-Control": "no-store"})


def say(request: Request, number: str, counter: int) -> Response:
    """The spoken call for a ticket called now at `counter` (anything else: 404, so
    the server speaks only what a board may show)."""
    limited(request, "board")
    try:
        n = tracking.parse(number)
    except UrError:
        raise HTTPException(400, "bad_tracking") from None
    with request.app.state.read_sessions() as s:
        t = s.get(queue.QueueTicket, n)
        if t is None or t.status != queue.CALLED or t.counter != counter:
            raise HTTPException(404)
    try:
        wav = _clip(spoken_call(n, counter))
    except UrError:
        raise HTTPException(503, "no_speech") from None
    return Response(wav, media_type="audio/wav", headers={"Cache-Control": "public, max-age=3600"})


def install(app: FastAPI) -> None:
    r = app.router
    r.add_api_route("/staff/queue", counter_page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/staff/queue/call", call, methods=["POST"], include_in_schema=False)
    r.add_api_route("/staff/queue/recall", recall, methods=["POST"], include_in_schema=False)
    r.add_api_route("/staff/queue/done", done, methods=["POST"], include_in_schema=False)
    r.add_api_route("/staff/queue/stats", stats_page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/queue/board", board_page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/queue/board.json", board_json, methods=["GET"], include_in_schema=False)
    r.add_api_route("/queue/say.wav", say, methods=["GET"], include_in_schema=False)
