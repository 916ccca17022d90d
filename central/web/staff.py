"""The staff console: login (password + TOTP where the role needs it), the clerk's
worklist with SLA clocks, a case with its form and audit trail, and the case actions
the command line has (`ur-central apps act`).

The session is a signed cookie (itsdangerous; key in a 0600 file) holding the user
id and a CSRF token; every request re-reads the user row, so disabling an account
takes effect at once in every process. Every POST form carries the CSRF token.
"""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, Field

from central import applications, casework, db, workflows
from central.web import accounts
from central.web.pages import render
from contract import private_files, tracking
from contract.errors import UrError

COOKIE = "ur_staff"
MAX_AGE = 12 * 3600  # a working day; then log in again


def secret_path(settings: Any) -> Path:
    if settings.secret_file:
        return Path(settings.secret_file)
    url = db.resolve_url(settings.db_url)
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return Path(url[len("sqlite:///"):]).with_name("web-secret")
    return Path("var/web-secret")


def load_secret(path: Path) -> str:
    """The cookie-signing key, made (0600) on first use. `ur-central web` makes it
    before starting workers, so processes never race to write different keys."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private_files.write_private(path, accounts.new_secret())
    if path.stat().st_mode & 0o077:
        raise UrError(f"{path} is readable by others; chmod 600 it")
    return path.read_text().strip()


class Sessions:
    def __init__(self, secret: str, secure: bool) -> None:
        self.signer = URLSafeTimedSerializer(secret, salt="ur-staff-session")
        self.secure = secure

    def read(self, request: Request) -> dict[str, Any]:
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data = self.signer.loads(raw, max_age=MAX_AGE)
                if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                    return data
            except BadSignature:
                pass
        return {"csrf": secrets.token_urlsafe(24)}

    def write(self, resp: Response, data: dict[str, Any]) -> Response:
        resp.set_cookie(COOKIE, self.signer.dumps(data), max_age=MAX_AGE, httponly=True,
                        secure=self.secure, samesite="strict", path="/")
        return resp


def _sessions(request: Request) -> Sessions:
    return request.app.state.staff_sessions


def _csrf_ok(sess: dict[str, Any], token: str) -> None:
    if not token or not hmac.compare_digest(str(sess.get("csrf", "")), token):
        raise HTTPException(403, "csrf")


def _user(request: Request, sess: dict[str, Any]) -> accounts.StaffUser:
    """The logged-in person, read afresh; pages redirect to the login, the API answers 401."""
    uid = sess.get("uid")
    u: accounts.StaffUser | None = None
    if isinstance(uid, int):
        with request.app.state.read_sessions() as s:
            u = s.get(accounts.StaffUser, uid)
    if u is None or u.disabled:
        if request.url.path.startswith("/api/"):
            raise HTTPException(401)
        raise HTTPException(303, headers={"Location": "/staff/login"})
    return u


def _page(request: Request, name: str, ctx: dict[str, Any], sess: dict[str, Any], status: int = 200) -> Response:
    resp = render(request, name, {"csrf": sess["csrf"], **ctx}, status)
    return _sessions(request).write(resp, sess)


def login_form(request: Request) -> Response:
    sess = _sessions(request).read(request)
    return _page(request, "staff_login.html", {"error": None}, sess)


def login(request: Request, username: str = Form(max_length=64), password: str = Form(max_length=256),
          totp: str = Form("", max_length=10), csrf: str = Form(max_length=64)) -> Response:
    sess = _sessions(request).read(request)
    _csrf_ok(sess, csrf)
    host = request.client.host if request.client else "?"
    if not request.app.state.login_limit.hit(f"login:{host}"):
        raise HTTPException(429, headers={"Retry-After": "60"})
    with request.app.state.sessions.begin() as s:
        u = accounts.authenticate(s, username.strip(), password, totp)
        uid = u.id if u else None
    if uid is None:
        return _page(request, "staff_login.html", {"error": "login_failed"}, sess, 401)
    new = {"uid": uid, "csrf": secrets.token_urlsafe(24)}  # a fresh token after login
    return _sessions(request).write(RedirectResponse("/staff", 303), new)


def logout(request: Request, csrf: str = Form(max_length=64)) -> Response:
    sess = _sessions(request).read(request)
    _csrf_ok(sess, csrf)
    return _sessions(request).write(RedirectResponse("/staff/login", 303), {"csrf": secrets.token_urlsafe(24)})


PAGE = 100  # worklist rows per page: an agency may hold 100,000 open cases


def _page_no(page: int) -> int:
    if not 1 <= page <= 100_000:
        raise HTTPException(400, "bad_page")
    return page


def worklist(request: Request, page: int = 1) -> Response:
    sess = _sessions(request).read(request)
    u = _user(request, sess)
    page = _page_no(page)
    rows: list[dict[str, Any]] = []
    total = 0
    if u.role in ("clerk", "supervisor", "auditor"):
        with request.app.state.read_sessions() as s:
            rows = casework.inbox(s, u.agency, limit=PAGE, offset=(page - 1) * PAGE)
            total = casework.inbox_count(s, u.agency)
    pages = max(1, -(-total // PAGE))
    return _page(request, "staff_worklist.html", {"user": u, "rows": rows, "total": total, "page": page,
                                                  "pages": pages}, sess)


def case_page(request: Request, number: str) -> Response:
    sess = _sessions(request).read(request)
    u = _user(request, sess)
    try:
        n = tracking.parse(number)
    except UrError:
        raise HTTPException(400, "bad_tracking") from None
    with request.app.state.read_sessions() as s:
        row = s.get(casework.CaseRow, n)
        if row is None:
            raise HTTPException(404)
        if not accounts.may_read_case(u.role, u.agency, row.agency):
            raise HTTPException(403)
        case = casework.show(s, n)
        app = s.get(applications.Application, n)
        form = json.loads(app.fields) if app is not None else {}
    return _page(request, "staff_case.html", {"user": u, "case": case, "form": form, "number": n,
                                              "may_act": accounts.may_act(u.role, u.agency, row.agency)}, sess)


def act(request: Request, number: str, action: str = Form(max_length=32), note: str = Form("", max_length=2000),
        to: str = Form("", max_length=64), csrf: str = Form(max_length=64)) -> Response:
    sess = _sessions(request).read(request)
    _csrf_ok(sess, csrf)
    u = _user(request, sess)
    try:
        _apply(request, u, number, action, note, to)
    except UrError as e:
        return _page(request, "error.html", {"status": 409, "message": str(e), "detail": None}, sess, 409)
    return RedirectResponse(f"/staff/case/{tracking.parse(number)}", 303)


def _apply(request: Request, u: accounts.StaffUser, number: str, action: str, note: str, to: str) -> None:
    """One case action with its authorisation; UrError when the workflow refuses it."""
    try:
        n = tracking.parse(number)
    except UrError:
        raise HTTPException(400, "bad_tracking") from None
    if action not in workflows.CLERK_ACTIONS:
        raise HTTPException(400)
    with request.app.state.sessions.begin() as s:
        row = s.get(casework.CaseRow, n)
        if row is None:
            raise HTTPException(404)
        if not accounts.may_act(u.role, u.agency, row.agency):
            raise HTTPException(403)
        # The audit line carries the person's account name and full name.
        casework.act(s, n, action, f"{u.username} ({u.display_name})", f"web:{u.agency}", note=note,
                     to=to or None)


class ActBody(BaseModel):
    action: str = Field(max_length=32, description=", ".join(workflows.CLERK_ACTIONS))
    note: str = Field("", max_length=2000)
    to: str = Field("", max_length=64, description="agency, for forward")


def api_worklist(request: Request, page: int = 1) -> list[dict[str, Any]]:
    """Open cases of the caller's agency, overdue first, 100 a page (clerks, supervisors, auditors)."""
    u = _user(request, _sessions(request).read(request))
    if u.role not in ("clerk", "supervisor", "auditor"):
        raise HTTPException(403)
    page = _page_no(page)
    with request.app.state.read_sessions() as s:
        return casework.inbox(s, u.agency, limit=PAGE, offset=(page - 1) * PAGE)


def api_act(request: Request, number: str, body: ActBody) -> JSONResponse:
    """The same action as the case page; the CSRF token goes in the X-CSRF-Token header."""
    sess = _sessions(request).read(request)
    _csrf_ok(sess, request.headers.get("x-csrf-token", ""))
    u = _user(request, sess)
    try:
        _apply(request, u, number, body.action, body.note, body.to)
    except UrError as e:
        return JSONResponse({"error": str(e)}, status_code=409)
    with request.app.state.read_sessions() as s:
        shown = casework.show(s, tracking.parse(number))
    return JSONResponse({"number": shown["number"], "status": shown["status"], "step": shown["step"],
                         "agency": shown["agency"]})


def install(app: FastAPI) -> None:
    settings = app.state.settings
    app.state.staff_sessions = Sessions(load_secret(secret_path(settings)), settings.secure_cookies)
    r = app.router
    r.add_api_route("/staff/login", login_form, methods=["GET"], include_in_schema=False)
    r.add_api_route("/staff/login", login, methods=["POST"], include_in_schema=False)
    r.add_api_route("/staff/logout", logout, methods=["POST"], include_in_schema=False)
    r.add_api_route("/staff", worklist, methods=["GET"], include_in_schema=False)
    r.add_api_route("/staff/case/{number}", case_page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/staff/case/{number}/act", act, methods=["POST"], include_in_schema=False)
    r.add_api_route("/api/v1/staff/worklist", api_worklist, methods=["GET"], tags=["staff"])
    r.add_api_route("/api/v1/staff/cases/{number}/act", api_act, methods=["POST"], tags=["staff"])


__all__ = ["install", "load_secret", "secret_path"]
