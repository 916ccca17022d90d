"""Registrar pages: issue a secured document for the registrar's agency (page PNG to
download), revoke one, and see the signing keys with their validity. Issue and
revoke go into the hash-chained audit under the document id with the person's name."""

from __future__ import annotations

import io
import os
import time
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from central import audit, document_render, keys, registry
from central.web import staff
from contract import qr_text, ur1
from contract.errors import UrError


def _registrar(request: Request, sess: dict[str, Any]) -> Any:
    u = staff._user(request, sess)
    if u.role != "registrar":
        raise HTTPException(403)
    return u


def _base() -> str:
    return os.environ.get("UR_VERIFY_BASE", qr_text.DEFAULT_BASE)


def _fields(text: str) -> dict[str, str]:
    pairs = [line for line in text.splitlines() if line.strip()]
    return registry.parse_fields(pairs)


def _audit(s: Any, u: Any, doc_id: str, action: str, data: dict[str, Any]) -> None:
    audit.append_many(s, [audit.Entry(doc_id, f"{u.username} ({u.display_name})", f"web:{u.agency}", action, data)])


def _keys(request: Request) -> list[dict[str, Any]]:
    with request.app.state.read_sessions() as s:
        return [{"kid": k.kid, "role": k.role, "agency": k.agency, "not_before": k.not_before,
                 "not_after": k.not_after, "withdrawn_at": k.withdrawn_at, "active": k.active}
                for k in keys.signing_keys(s)]


def page(request: Request) -> Response:
    sess = staff._sessions(request).read(request)
    u = _registrar(request, sess)
    return staff._page(request, "staff_documents.html", {"user": u, "keys": _keys(request),
                                                         "types": ur1.DOCUMENT_TYPES}, sess)


def api_keys(request: Request) -> list[dict[str, Any]]:
    """The signing keys and their validity, as on the registrar's page (registrars)."""
    _registrar(request, staff._sessions(request).read(request))
    return _keys(request)


def api_document(request: Request, doc_id: str) -> dict[str, Any]:
    """One document of the registrar's agency: its claims, state and QR text (registrars)."""
    u = _registrar(request, staff._sessions(request).read(request))
    doc = _own(request, u, doc_id)
    return {"id": doc.id, "type": doc.doc_type, "agency": doc.agency, "office": doc.office,
            "issued_at": doc.issued_at, "expires_at": doc.expires_at, "fields": doc.fields,
            "revoked_at": doc.revoked_at, "revoke_reason": doc.revoke_reason,
            "qr": qr_text.verification_text(doc.text, _base())}


def _err(request: Request, sess: dict[str, Any], message: str) -> Response:
    return staff._page(request, "error.html", {"status": 409, "message": message, "detail": None}, sess, 409)


def _issue(request: Request, u: Any, doc_type: str, fields: dict[str, str], expires_days: int) -> str:
    """Issue a document for the registrar's agency (audited); its id. UrError when refused."""
    now = int(time.time())
    with request.app.state.sessions.begin() as s:
        doc = registry.issue(s, doc_type=doc_type, agency=u.agency, fields=fields, now=now,
                             expires_at=now + expires_days * 86400 if expires_days else None)
        _audit(s, u, doc.id, "issue", {"type": doc_type})
        return doc.id


def issue(request: Request, doc_type: str = Form(max_length=32), fields: str = Form(max_length=4000),
          expires_days: int = Form(0, ge=0, le=36500), csrf: str = Form(max_length=64)) -> Response:
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, csrf)
    u = _registrar(request, sess)
    try:
        doc_id = _issue(request, u, doc_type, _fields(fields), expires_days)
    except UrError as e:
        return _err(request, sess, str(e))
    return RedirectResponse(f"/staff/documents/{doc_id}", 303)


def _own(request: Request, u: Any, doc_id: str) -> registry.Document:
    with request.app.state.read_sessions() as s:
        doc: registry.Document | None = s.get(registry.Document, doc_id[:32])
    if doc is None:
        raise HTTPException(404)
    if doc.agency != u.agency:
        raise HTTPException(403)
    return doc


def show(request: Request, doc_id: str) -> Response:
    sess = staff._sessions(request).read(request)
    u = _registrar(request, sess)
    doc = _own(request, u, doc_id)
    return staff._page(request, "staff_document.html", {"user": u, "doc": doc, "qr": qr_text.verification_text(
        doc.text, _base())}, sess)


def png(request: Request, doc_id: str) -> Response:
    sess = staff._sessions(request).read(request)
    u = _registrar(request, sess)
    doc = _own(request, u, doc_id)
    img = document_render.render(doc_id=doc.id, doc_type=doc.doc_type, agency=doc.agency, office=doc.office,
                                 issued_at=doc.issued_at, expires_at=doc.expires_at, fields=doc.fields,
                                 body=doc.body, qr=qr_text.verification_text(doc.text, _base()))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return Response(buf.getvalue(), media_type="image/png",
                    headers={"Content-Disposition": f'attachment; filename="{doc.id}.png"'})


def _revoke(request: Request, u: Any, doc_id: str, reason: str) -> None:
    _own(request, u, doc_id)
    with request.app.state.sessions.begin() as s:
        registry.revoke(s, doc_id, reason, int(time.time()))
        _audit(s, u, doc_id, "revoke", {"reason": reason})


def revoke(request: Request, doc_id: str, reason: str = Form(max_length=500), csrf: str = Form(max_length=64)) -> Response:
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, csrf)
    u = _registrar(request, sess)
    try:
        _revoke(request, u, doc_id, reason)
    except UrError as e:
        return _err(request, sess, str(e))
    return RedirectResponse(f"/staff/documents/{doc_id}", 303)


class IssueBody(BaseModel):
    doc_type: str = Field(max_length=32, description=", ".join(ur1.DOCUMENT_TYPES))
    fields: dict[str, str] = Field(description="the fields printed on the document and carried in its code")
    expires_days: int = Field(0, ge=0, le=36500, description="0: no expiry")


class RevokeBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


def _api_registrar(request: Request) -> Any:
    sess = staff._sessions(request).read(request)
    staff._csrf_ok(sess, request.headers.get("x-csrf-token", ""))
    return _registrar(request, sess)


def api_issue(request: Request, body: IssueBody) -> JSONResponse:
    """Issue a document for the registrar's agency (CSRF token in X-CSRF-Token); its PNG is
    at /staff/documents/<id>.png."""
    u = _api_registrar(request)
    try:
        if not body.fields or any(not k.strip() or "=" in k for k in body.fields):
            raise UrError("fields must be a non-empty object of name: value, names without '='")
        doc_id = _issue(request, u, body.doc_type, {k.strip(): v for k, v in body.fields.items()},
                        body.expires_days)
    except UrError as e:
        return JSONResponse({"error": str(e)}, status_code=409)
    return JSONResponse(api_document(request, doc_id), status_code=201)


def api_revoke(request: Request, doc_id: str, body: RevokeBody) -> JSONResponse:
    """Revoke a document of the registrar's agency (CSRF token in X-CSRF-Token)."""
    u = _api_registrar(request)
    try:
        _revoke(request, u, doc_id, body.reason)
    except UrError as e:
        return JSONResponse({"error": str(e)}, status_code=409)
    return JSONResponse(api_document(request, doc_id))


def install(app: FastAPI) -> None:
    r = app.router
    r.add_api_route("/staff/documents", page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/staff/documents", issue, methods=["POST"], include_in_schema=False)
    r.add_api_route("/staff/documents/{doc_id}.png", png, methods=["GET"], include_in_schema=False)
    r.add_api_route("/staff/documents/{doc_id}", show, methods=["GET"], include_in_schema=False)
    r.add_api_route("/staff/documents/{doc_id}/revoke", revoke, methods=["POST"], include_in_schema=False)
    r.add_api_route("/api/v1/staff/keys", api_keys, methods=["GET"], tags=["registrar"])
    r.add_api_route("/api/v1/staff/documents/{doc_id}", api_document, methods=["GET"], tags=["registrar"])
    r.add_api_route("/api/v1/staff/documents", api_issue, methods=["POST"], tags=["registrar"])
    r.add_api_route("/api/v1/staff/documents/{doc_id}/revoke", api_revoke, methods=["POST"], tags=["registrar"])
