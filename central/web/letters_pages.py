"""Letters officer pages: register a letter sent by the officer's agency, route a letter
the agency holds on (or back), and set its status. Every change goes through
central/letters.py, which republishes the kiosk index (without subjects), and into
the hash-chained audit under `letter:<id>` with the person's name, as case actions do.
`/api/v1/staff/letters` is the page's JSON twin."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
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


def _form_action(request: Request, csrf: str, act: Callable[[Any], object]) -> Response:
    """What every letters form does around its change: session, CSRF, officer check, and the
    error page (not a traceback) when the change is refused; back to the list when it is done."""
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, csrf)
    u = _officer(request, sess)
    try:
        act(u)
    except UrError as e:
        return _done(request, sess, u, str(e))
    return RedirectResponse("/staff/letters", 303)


def _register(request: Request, u: Any, number: str, date: str, to: str, subject: str) -> int:
    """Register a letter from the officer's agency (audited); its id. UrError when refused."""
    with request.app.state.sessions.begin() as s:
        lt = letters.register(s, number=number, letter_date=date, from_agency=u.agency, to_agency=to,
                              subject=subject, now=int(time.time()))
        _audit(s, u, lt, "letter_register", {"to": lt.to_agency})
        return lt.id


def _change(request: Request, u: Any, letter_id: int, to: str, status: str, note: str) -> None:
    """Route (when `to` is given) or set the status of a letter the officer's agency holds."""
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


def register(request: Request, number: str = Form(max_length=64), date: str = Form(max_length=20),
             to: str = Form(max_length=128), subject: str = Form(max_length=2000),
             csrf: str = Form(max_length=64)) -> Response:
    return _form_action(request, csrf, lambda u: _register(request, u, number, date, to, subject))


def change(request: Request, letter_id: int, to: str = Form("", max_length=128), status: str = Form("", max_length=16),
           note: str = Form("", max_length=500), csrf: str = Form(max_length=64)) -> Response:
    return _form_action(request, csrf, lambda u: _change(request, u, letter_id, to, status, note))


class LetterBody(BaseModel):
    number: str = Field(max_length=64)
    date: str = Field(max_length=20, description="YYYY-MM-DD")
    to: str = Field(max_length=128, description="receiving agency")
    subject: str = Field(max_length=2000)


class LetterChange(BaseModel):
    to: str = Field("", max_length=128, description="route to this agency; or give status")
    status: str = Field("", max_length=16, description=", ".join(letters.SETTABLE))
    note: str = Field("", max_length=500)


def _api_officer(request: Request) -> Any:
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, request.headers.get("x-csrf-token", ""))
    return _officer(request, sess)


def api_register(request: Request, body: LetterBody) -> JSONResponse:
    """Register a letter from the officer's agency (CSRF token in X-CSRF-Token)."""
    u = _api_officer(request)
    try:
        lid = _register(request, u, body.number, body.date, body.to, body.subject)
    except UrError as e:
        return JSONResponse({"error": str(e)}, status_code=409)
    return JSONResponse({"id": lid}, status_code=201)


def api_change(request: Request, letter_id: int, body: LetterChange) -> JSONResponse:
    """Route or set the status of a letter the officer's agency holds (CSRF token in X-CSRF-Token)."""
    u = _api_officer(request)
    try:
        _change(request, u, letter_id, body.to, body.status, body.note)
    except UrError as e:
        return JSONResponse({"error": str(e)}, status_code=409)
    with request.app.state.read_sessions() as s:
        lt = s.get(letters.Letter, letter_id)
        return JSONResponse({"id": letter_id, "status": lt.status if lt else None, "holder": lt.holder if lt else None})


def install(app: FastAPI) -> None:
    app.router.add_api_route("/staff/letters", page, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/staff/letters", register, methods=["POST"], include_in_schema=False)
    app.router.add_api_route("/staff/letters/{letter_id}", change, methods=["POST"], include_in_schema=False)
    app.router.add_api_route("/api/v1/staff/letters", api_list, methods=["GET"], tags=["letters"])
    app.router.add_api_route("/api/v1/staff/letters", api_register, methods=["POST"], tags=["letters"])
    app.router.add_api_route("/api/v1/staff/letters/{letter_id}", api_change, methods=["POST"], tags=["letters"])
