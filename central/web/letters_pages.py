"""Letters officer pages: register a letter sent by the officer's agency, route a letter
the agency holds on (or back), and set its status. Every change goes through
central/letters.py, which republishes the kiosk index (without subjects), and into
the hash-chained audit under `letter:<id>` with the person's name, as case actions do.
`/api/v1/staff/letters` is the page's JSON twin."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import or_, select

from central import audit, letters
from central.web import staff
from contract.errors import UrError


def _officer(request: Request, sess: dict[str, Any]) -> Any:
    u = staff._user(request, sess)
    if u.role != "letters_officer":
        raise HTTPException(403)
    return u


def _audit(s: Any, u: Any, letter: letters.Letter, action: str, data: dict[str, Any]) -> None:
    audit.append(s, f"letter:{letter.id}", f"{u.username} ({u.display_name})", f"web:{u.agency}", action,
                 {"number": letter.number, "date": letter.letter_date, **data})


def _rows(request: Request, u: Any) -> list[dict[str, Any]]:
    """Letters the officer's agency sent or holds, latest change first."""
    with request.app.state.read_sessions() as s:
        return [x.full() | {"id": x.id} for x in s.scalars(select(letters.Letter).where(or_(
            letters.Letter.from_agency == u.agency, letters.Letter.holder == u.agency))
            .order_by(letters.Letter.updated_at.desc()).limit(200))]


def api_list(request: Request) -> list[dict[str, Any]]:
    """The letters page as JSON: letters the officer's agency sent or holds (letters officers)."""
    u = _officer(request, staff._sessions(request).read(request))
    return _rows(request, u)


def page(request: Request) -> Response:
    sess = staff._sessions(request).read(request)
    u = _officer(request, sess)
    rows = _rows(request, u)
    return staff._page(request, "staff_letters.html", {"user": u, "rows": rows, "settable": letters.SETTABLE,
                                                       "error": None}, sess)


def _done(request: Request, sess: dict[str, Any], u: Any, error: str) -> Response:
    return staff._page(request, "error.html", {"status": 409, "message": error, "detail": None}, sess, 409)


def register(request: Request, number: str = Form(max_length=64), date: str = Form(max_length=20),
             to: str = Form(max_length=128), subject: str = Form(max_length=2000),
             csrf: str = Form(max_length=64)) -> Response:
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, csrf)
    u = _officer(request, sess)
    try:
        with request.app.state.sessions.begin() as s:
            lt = letters.register(s, number=number, letter_date=date, from_agency=u.agency, to_agency=to,
                                  subject=subject, now=int(time.time()))
            _audit(s, u, lt, "letter_register", {"to": lt.to_agency})
    except UrError as e:
        return _done(request, sess, u, str(e))
    return RedirectResponse("/staff/letters", 303)


def change(request: Request, letter_id: int, to: str = Form("", max_length=128), status: str = Form("", max_length=16),
           note: str = Form("", max_length=500), csrf: str = Form(max_length=64)) -> Response:
    """Route (when `to` is given) or set the status of a letter the officer's agency holds."""
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, csrf)
    u = _officer(request, sess)
    try:
        with request.app.state.sessions.begin() as s:
            letter = s.get(letters.Letter, letter_id)
            if letter is None:
                raise HTTPException(404)
            if letter.holder != u.agency:
                raise HTTPException(403)
            now = int(time.time())
            if to:
                before = letter.holder
                letters.route(s, letter, to, now, note=f"{u.username}: {note}".strip(": "))
                _audit(s, u, letter, "letter_route", {"from": before, "to": letter.holder, "note": note})
            elif status:
                before = letter.status
                letters.set_status(s, letter, status, now, note=f"{u.username}: {note}".strip(": "))
                if letter.status != before:  # a repeated status is no change and no audit line
                    _audit(s, u, letter, "letter_status", {"from": before, "status": letter.status, "note": note})
            else:
                raise HTTPException(400)
    except UrError as e:
        return _done(request, sess, u, str(e))
    return RedirectResponse("/staff/letters", 303)


def install(app: FastAPI) -> None:
    app.router.add_api_route("/staff/letters", page, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/staff/letters", register, methods=["POST"], include_in_schema=False)
    app.router.add_api_route("/staff/letters/{letter_id}", change, methods=["POST"], include_in_schema=False)
    app.router.add_api_route("/api/v1/staff/letters", api_list, methods=["GET"], tags=["staff"])
