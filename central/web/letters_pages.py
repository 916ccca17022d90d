"""Letters officer pages: register a letter sent by the officer's agency, route a letter
the agency holds on (or back), and set its status. Every change goes through
central/letters.py, which republishes the kiosk index (without subjects)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import or_, select

from central import letters
from central.web import staff
from contract.errors import UrError


def _officer(request: Request, sess: dict[str, Any]) -> Any:
    u = staff._user(request, sess)
    if u.role != "letters_officer":
        raise HTTPException(403)
    return u


def page(request: Request) -> Response:
    sess = staff._sessions(request).read(request)
    u = _officer(request, sess)
    with request.app.state.read_sessions() as s:
        rows = [x.full() | {"id": x.id} for x in s.scalars(select(letters.Letter).where(or_(
            letters.Letter.from_agency == u.agency, letters.Letter.holder == u.agency))
            .order_by(letters.Letter.updated_at.desc()).limit(200))]
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
            letters.register(s, number=number, letter_date=date, from_agency=u.agency, to_agency=to,
                             subject=subject, now=int(time.time()))
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
                letters.route(s, letter, to, now, note=f"{u.username}: {note}".strip(": "))
            elif status:
                letters.set_status(s, letter, status, now, note=f"{u.username}: {note}".strip(": "))
            else:
                raise HTTPException(400)
    except UrError as e:
        return _done(request, sess, u, str(e))
    return RedirectResponse("/staff/letters", 303)


def install(app: FastAPI) -> None:
    app.router.add_api_route("/staff/letters", page, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/staff/letters", register, methods=["POST"], include_in_schema=False)
    app.router.add_api_route("/staff/letters/{letter_id}", change, methods=["POST"], include_in_schema=False)
