"""The admin's page: the staff accounts of the admin's agency, with their role, state
and failed logins, and disabling or enabling one (audited under `user:<username>`
with the admin's name; disabling ends the person's open sessions at once, since every
request re-reads the account). Accounts are created and passwords reset with
`ur-central users` on the server, where the TOTP enrolment is shown once."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from central import audit
from central.web import accounts, staff


def _admin(request: Request, sess: dict[str, Any]) -> accounts.StaffUser:
    u = staff._user(request, sess)
    if u.role != "admin":
        raise HTTPException(403)
    return u


def _rows(request: Request, u: accounts.StaffUser) -> list[dict[str, Any]]:
    with request.app.state.read_sessions() as s:
        return [{"username": x.username, "name": x.display_name, "agency": x.agency, "role": x.role,
                 "disabled": x.disabled, "failed_logins": x.failed_logins,
                 "locked_until": x.locked_until.isoformat() if x.locked_until else None}
                for x in s.scalars(select(accounts.StaffUser).where(accounts.StaffUser.agency == u.agency)
                                   .order_by(accounts.StaffUser.username))]


def _set(request: Request, u: accounts.StaffUser, username: str, disabled: bool) -> None:
    if username == u.username:
        raise HTTPException(409, "an admin cannot disable their own account")
    with request.app.state.sessions.begin() as s:
        target = s.scalars(select(accounts.StaffUser).where(accounts.StaffUser.username == username[:64])).first()
        if target is None:
            raise HTTPException(404)
        if target.agency != u.agency:
            raise HTTPException(403)
        if target.disabled != disabled:
            target.disabled = disabled
            audit.append(s, f"user:{target.username}", f"{u.username} ({u.display_name})", f"web:{u.agency}",
                         "user_disable" if disabled else "user_enable", {"role": target.role})


def page(request: Request) -> Response:
    sess = staff._sessions(request).read(request)
    u = _admin(request, sess)
    return staff._page(request, "staff_users.html", {"user": u, "rows": _rows(request, u)}, sess)


def change(request: Request, username: str, disabled: str = Form(max_length=3), csrf: str = Form(max_length=64)
           ) -> Response:
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, csrf)
    u = _admin(request, sess)
    if disabled not in ("yes", "no"):
        raise HTTPException(400)
    _set(request, u, username, disabled == "yes")
    return RedirectResponse("/staff/users", 303)


def api_list(request: Request) -> list[dict[str, Any]]:
    """Staff accounts of the admin's agency (admins)."""
    return _rows(request, _admin(request, staff._sessions(request).read(request)))


def api_change(request: Request, username: str, disabled: bool) -> JSONResponse:
    """Disable (`?disabled=true`) or enable an account of the admin's agency (CSRF token in X-CSRF-Token)."""
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, request.headers.get("x-csrf-token", ""))
    u = _admin(request, sess)
    _set(request, u, username, disabled)
    return JSONResponse({"username": username, "disabled": disabled})


def install(app: FastAPI) -> None:
    app.router.add_api_route("/staff/users", page, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/staff/users/{username}", change, methods=["POST"], include_in_schema=False)
    app.router.add_api_route("/api/v1/staff/users", api_list, methods=["GET"], tags=["admin"])
    app.router.add_api_route("/api/v1/staff/users/{username}", api_change, methods=["POST"], tags=["admin"])
