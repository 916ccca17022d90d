"""Supervisor pages: the daily reconciliation of collections (central/ledger.py) as a
table, a server-drawn SVG chart and a CSV download. Supervisors, auditors and
admins read it; nobody changes anything here."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select

from central import kiosks, ledger
from central.web import staff
from central.web.charts import stacked_bars
from contract import letters_index
from contract.errors import UrError

READERS = frozenset({"supervisor", "auditor", "admin"})
KINDS = ("matched", "missing_at_central", "missing_at_station", "mismatched", "unresolved_at_station")
COLOURS = {"matched": "#0b6b2e", "missing_at_central": "#a4161a", "missing_at_station": "#d96c00",
           "mismatched": "#6a1b9a", "unresolved_at_station": "#8a5a00"}


def counts(day: ledger.StationDay) -> dict[str, int]:
    """Items per reconciliation outcome for one station-day (pure)."""
    out = dict.fromkeys(KINDS, 0)
    for i in day.items:
        out[i["status"]] = out.get(i["status"], 0) + 1
    return out


def reader(request: Request) -> tuple[dict[str, Any], Any]:
    """The session and the staff user, if the user may read the supervisor's pages
    (reconciliation and overview); anyone else gets 403."""
    sess = staff._sessions(request).read(request)
    u = staff._user(request, sess)
    if u.role not in READERS:
        raise HTTPException(403)
    return sess, u


def _date(value: str | None) -> str:
    if not value:
        return datetime.now(UTC).date().isoformat()
    try:
        return letters_index.norm_date(value[:20])
    except UrError:
        raise HTTPException(400, "bad_date") from None


def reconciliation(request: Request, date: str | None = None) -> Response:
    sess, u = reader(request)
    d = _date(date)
    with request.app.state.read_sessions() as s:
        days = ledger.reconcile(s, d)
    rows = [(f"{x.office or ''} {x.station}".strip(), counts(x)) for x in days]
    return staff._page(request, "staff_reconciliation.html",
                       {"user": u, "date": d, "days": days, "kinds": KINDS, "chart": stacked_bars(rows, KINDS, COLOURS, bar=22)}, sess)


def reconciliation_csv(request: Request, date: str | None = None) -> Response:
    reader(request)
    d = _date(date)
    with request.app.state.read_sessions() as s:
        body = ledger.report_csv(ledger.reconcile(s, d))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="reconciliation-{d}.csv"'})


OFFLINE_AFTER = 180  # seconds without a message from a kiosk: shown offline (3 heartbeats at the default)


def fleet_rows(rows: list[kiosks.Kiosk], now: datetime, offline_after: int = OFFLINE_AFTER) -> list[dict[str, Any]]:
    """One line per kiosk, offline ones first (pure: rows in, dicts out)."""
    out = []
    for k in rows:
        try:
            hb = json.loads(k.heartbeat or "{}")
        except ValueError:
            hb = {}
        hb = hb if isinstance(hb, dict) else {}
        seen = k.last_seen.replace(tzinfo=UTC) if k.last_seen and k.last_seen.tzinfo is None else k.last_seen
        q: dict[str, Any] = hb["queue"] if isinstance(hb.get("queue"), dict) else {}
        devices: dict[str, Any] = hb["devices"] if isinstance(hb.get("devices"), dict) else {}
        out.append({"kiosk_id": k.kiosk_id, "office": k.office, "revoked": k.revoked_at is not None,
                    "online": bool(seen and (now - seen).total_seconds() <= offline_after and k.revoked_at is None),
                    "last_seen": seen.isoformat() if seen else None, "pending": q.get("pending"),
                    "oldest_pending_age_s": q.get("oldest_pending_age_s"),
                    "printer": devices.get("printer", ""), "terminal": devices.get("terminal", ""),
                    "version": str(hb.get("version", ""))})
    out.sort(key=lambda r: (r["online"], r["kiosk_id"]))
    return out


def _fleet(request: Request) -> list[dict[str, Any]]:
    with request.app.state.read_sessions() as s:
        return fleet_rows(list(s.scalars(select(kiosks.Kiosk))), datetime.now(UTC),
                          request.app.state.settings.offline_after)


def fleet(request: Request) -> Response:
    sess, u = reader(request)
    return staff._page(request, "staff_fleet.html", {"user": u, "rows": _fleet(request)}, sess)


def api_fleet(request: Request) -> list[dict[str, Any]]:
    """The fleet page as JSON: every kiosk, offline ones first (supervisors, auditors, admins)."""
    reader(request)
    return _fleet(request)


def api_reconciliation(request: Request, date: str | None = None) -> dict[str, Any]:
    """The reconciliation page as JSON: per station-day, its status and items per outcome."""
    reader(request)
    d = _date(date)
    with request.app.state.read_sessions() as s:
        days = ledger.reconcile(s, d)
    return {"date": d, "stations": [asdict(x) | {"status": x.status, "counts": counts(x)} for x in days]}


def install(app: FastAPI) -> None:
    app.router.add_api_route("/staff/fleet", fleet, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/api/v1/staff/fleet", api_fleet, methods=["GET"], tags=["supervisor"])
    app.router.add_api_route("/api/v1/staff/reconciliation", api_reconciliation, methods=["GET"],
                             tags=["supervisor"])
    app.router.add_api_route("/staff/reconciliation", reconciliation, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/staff/reconciliation.csv", reconciliation_csv, methods=["GET"],
                             include_in_schema=False)
