"""Public pages, no login: document verification (with its JSON twin), letter
inquiry and application tracking. Each route is rate limited per client.

What each page may show is decided here, in one place per page:
- verification shows only what the code itself carries (claims) plus the verdict;
- a letter shows its route and status, never its subject (as the kiosk index);
- tracking shows status, step, agency and SLA only after the second factor,
  the last four digits of the mobile number given on the form (see docs/web.md).
"""

from __future__ import annotations

import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from central import applications, casework, letters, workflows
from central.web.pages import render, render_kept
from central.web.verifier import Passed
from contract import letters_index, tracking, ur1
from contract.errors import UrError
from contract.verdict import Status, Verdict

router = APIRouter()
_MOBILE = re.compile(r"^07\d{9}$")
_LAST4 = re.compile(r"^\d{4}$")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
COLOURS = {Status.VALID: "ok", Status.REVOKED: "bad", Status.INVALID: "bad", Status.EXPIRED: "warn",
           Status.NOT_YET_VALID: "warn", Status.UNKNOWN_KEY: "bad", Status.STALE: "warn"}


def limited(request: Request, group: str = "public") -> None:
    """429 when this client has used up its requests for the minute (per process)."""
    host = request.client.host if request.client else "?"
    if not request.app.state.public_limit.hit(f"{group}:{host}"):
        raise HTTPException(429, headers={"Retry-After": "60"})


async def verdict_of(request: Request, text: str) -> tuple[Verdict, Passed | None]:
    """The verdict (central/web/verifier.py: one database read), counted for the overview."""
    v, passed = await request.app.state.verifier.verdict(text, int(time.time()))
    tally = request.app.state.verify_tally
    if tally.add(v.status == Status.VALID):
        # The counts' write to the database, every few seconds, in a thread: not on the loop.
        await anyio.to_thread.run_sync(tally.flush_quietly)
    return v, passed


def _verdict_page(request: Request, v: Verdict, passed: Passed | None, status: int = 200) -> Response:
    ctx = {"v": v, "status": str(v.status), "colour": COLOURS[v.status], "doc": v.document, "old_form": False}
    if passed is None:
        return render(request, "verdict.html", ctx, status)
    # A code's VALID page is the same for every scan in one language: rendered once.
    return render_kept(request, passed.bodies, "verdict.html", ctx, status)


def _verdict_json(v: Verdict, passed: Passed | None) -> Response:
    body = passed.bodies.get("json") if passed is not None else None
    if body is None:
        body = json.dumps(v.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
        if passed is not None:
            passed.bodies["json"] = body
    return Response(body, media_type="application/json")


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    limited(request)
    return render(request, "home.html", {})


@router.get("/UR1/{code}", include_in_schema=False)
async def verify_address(request: Request, code: str) -> Response:
    """What a phone opens from the QR: `/UR1/` + Base32 (any case: Base32 is case-free)."""
    limited(request)
    return _verdict_page(request, *await verdict_of(request, ur1.ADDRESS_MARK + code.upper()))


@router.get("/UR1:{rest:path}", include_in_schema=False)
async def verify_old_address(request: Request, rest: str) -> Response:
    """An old `UR1:` + Base45 code opened as a link. The browser may have re-encoded
    spaces and `%` or folded `/./`: when it did, we cannot know the text, so we ask
    for it pasted instead of guessing."""
    limited(request)
    raw = request.scope.get("raw_path", b"")
    if b"%" not in raw and not request.url.query:
        v, passed = await verdict_of(request, ur1.PREFIX + rest)
        if v.document is not None:
            return _verdict_page(request, v, passed)
    return render(request, "verify.html", {"old_form": True, "code": ""})


@router.get("/verify", include_in_schema=False)
def verify_form(request: Request) -> Response:
    limited(request)
    return render(request, "verify.html", {"old_form": False, "code": ""})


@router.post("/verify", include_in_schema=False)
async def verify_pasted(request: Request, code: str = Form(max_length=ur1.MAX_TEXT + 200)) -> Response:
    """Any form a scanner gives: bare UR1:, the old address, the new address."""
    limited(request)
    return _verdict_page(request, *await verdict_of(request, code.strip("\r\n")))


class VerifyBody(BaseModel):
    text: str = Field(max_length=ur1.MAX_TEXT + 200, description="the code's text as scanned, any form")


class VerdictOut(BaseModel):
    """The verdict's JSON (contract/verdict.py): what the code carries, never the registry row."""

    status: str
    reason: str
    document: dict[str, Any] | None


@router.get("/api/v1/verify/UR1/{code}", tags=["public"], response_model=VerdictOut)
async def api_verify_address(request: Request, code: str) -> Response:
    """The verdict page's JSON twin: `{"status", "reason", "document"}`."""
    limited(request)
    return _verdict_json(*await verdict_of(request, ur1.ADDRESS_MARK + code.upper()))


@router.post("/api/v1/verify", tags=["public"], response_model=VerdictOut)
async def api_verify(request: Request, body: VerifyBody) -> Response:
    limited(request)
    return _verdict_json(*await verdict_of(request, body.text))


# --- letters -------------------------------------------------------------------------------

def _letters(request: Request, number: str, date: str) -> list[dict[str, Any]]:
    # Each input is checked on its own, so the error names the field that broke
    # (never guessed from the message text).
    try:
        n = letters_index.norm_number(number)
    except UrError:
        raise HTTPException(400, "bad_number") from None
    try:
        d = letters_index.norm_date(date)
    except UrError:
        raise HTTPException(400, "bad_date") from None
    with request.app.state.read_sessions() as s:
        return [x.public() for x in letters.find(s, n, d)]


@router.get("/letters", include_in_schema=False)
def letters_page(request: Request, number: str = "", date: str = "") -> Response:
    limited(request)
    if not number and not date:
        return render(request, "letters.html", {"number": "", "date": "", "found": None, "error": None})
    try:
        found = _letters(request, number[:100], date[:40])
        error = None
    except HTTPException as e:
        found, error = None, str(e.detail)
    return render(request, "letters.html", {"number": number, "date": date, "found": found, "error": error},
                  400 if error else 200)


@router.get("/api/v1/letters", tags=["public"])
def api_letters(request: Request, number: str, date: str) -> JSONResponse:
    """Route and status of letters with this number and date (no subjects)."""
    limited(request)
    try:
        return JSONResponse({"letters": _letters(request, number[:100], date[:40])})
    except HTTPException as e:
        return JSONResponse({"error": str(e.detail)}, status_code=400)


# --- tracking ------------------------------------------------------------------------------

def _mobiles(fields: dict[str, Any]) -> list[str]:
    return [v for v in fields.values() if isinstance(v, str) and _MOBILE.match(v)]


def track_lookup(request: Request, number: str, last4: str) -> tuple[str | None, dict[str, Any] | None]:
    """(error key, None) or (None, what the citizen sees). An unknown number and a wrong
    second factor give the same answer, so a guessed number learns nothing."""
    try:
        n = tracking.parse(number[:40])
    except UrError:
        return "bad_tracking", None
    digits = last4.strip().translate(_DIGITS)
    if not _LAST4.match(digits):
        return "bad_last4", None
    with request.app.state.read_sessions() as s:
        app = s.get(applications.Application, n)
        if app is None:
            return "not_found_track", None
        mobiles = _mobiles(json.loads(app.fields))
        # Compare against every mobile on the form, in constant time each.
        if not any(hmac.compare_digest(m[-4:], digits) for m in mobiles):
            return "not_found_track", None
        row = s.scalars(select(casework.CaseRow).where(casework.CaseRow.number == n)).first()
        out: dict[str, Any] = {"tracking": n, "status": app.status, "status_at": app.status_at.isoformat(),
                               "service_id": app.service_id, "step": None, "agency": None, "sla_due": None,
                               "overdue": False}
        if row is not None:
            case = workflows.Case.from_json(row.state)
            due = row.sla_due.replace(tzinfo=UTC) if row.sla_due and row.sla_due.tzinfo is None else row.sla_due
            out |= {"step": case.step.id, "agency": row.agency, "since": case.since.isoformat(),
                    "sla_due": due.isoformat() if due else None,
                    "overdue": bool(due and row.status == "in_review" and due < datetime.now(UTC))}
            if due and row.status == "in_review":
                out["hours_left"] = round((due - datetime.now(UTC)).total_seconds() / 3600, 1)
        return None, out


@router.get("/track", include_in_schema=False)
def track_form(request: Request) -> Response:
    limited(request)
    return render(request, "track.html", {"number": "", "result": None, "error": None})


@router.post("/track", include_in_schema=False)
def track_page(request: Request, number: str = Form(max_length=40), last4: str = Form(max_length=10)) -> Response:
    limited(request, "track")
    error, result = track_lookup(request, number, last4)
    status = 200 if error is None else (404 if error == "not_found_track" else 400)
    return render(request, "track.html", {"number": number, "result": result, "error": error}, status)


class TrackBody(BaseModel):
    number: str = Field(max_length=40, description="tracking number, e.g. 1234-000001-7")
    last4: str = Field(max_length=10, description="last four digits of the mobile number on the form")


@router.post("/api/v1/track", tags=["public"])
def api_track(request: Request, body: TrackBody) -> JSONResponse:
    limited(request, "track")
    error, result = track_lookup(request, body.number, body.last4)
    if error is not None:
        return JSONResponse({"error": error}, status_code=404 if error == "not_found_track" else 400)
    return JSONResponse(result)
