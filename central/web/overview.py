"""The supervisor's overview: what a person reads at a glance, as tables and charts
drawn on the server (SVG, no script): SLA breaches by agency, complaints (5599) by
category and state, documents issued, revoked and verified per day, and collections per day,
office and station. Supervisors, auditors and admins read it; `/api/v1/staff/overview`
is its JSON twin.

The sums are SQL GROUP BYs (a day of a document is its Iraq-time calendar day:
epoch seconds + 3 h, divided by 86,400); shaping them into rows and bars is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import and_, case, func, select

from central import casework, complaints, ledger, registry, workflows
from central.web import i18n, staff, verify_tally
from central.web.charts import stacked_bars
from central.web.pages import lang_of
from central.web.supervisor import reader

DAYS = 14  # days shown in the per-day charts, ending today
IRAQ_OFFSET_S = 3 * 3600
PALETTE = ("#0b6b2e", "#a4161a", "#d96c00", "#6a1b9a", "#1f4e99", "#8a5a00", "#3d6b6b", "#7a7a7a")


def colours_for(series: Sequence[str]) -> dict[str, str]:
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}


def day_labels(today: date, days: int = DAYS) -> list[str]:
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def _iraq_day(epoch_col: Any) -> Any:
    return (epoch_col + IRAQ_OFFSET_S) / 86400


def sla_by_agency(s: Any, now: datetime) -> list[dict[str, Any]]:
    """Open cases per agency and how many of them are past their SLA, most breaches first."""
    breached = func.sum(case((and_(casework.CaseRow.sla_due.is_not(None), casework.CaseRow.sla_due < now), 1),
                             else_=0))
    q = (select(casework.CaseRow.agency, func.count(), breached)
         .where(casework.CaseRow.status == workflows.IN_REVIEW).group_by(casework.CaseRow.agency))
    out = [{"agency": a, "open": int(n), "breached": int(b or 0)} for a, n, b in s.execute(q)]
    out.sort(key=lambda r: (-r["breached"], -r["open"], r["agency"]))
    return out


def complaints_by_category(s: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Per category, complaints in each state; and the states seen (the chart's series)."""
    q = select(complaints.Complaint.category, complaints.Complaint.status, func.count()).group_by(
        complaints.Complaint.category, complaints.Complaint.status)
    by: dict[str, dict[str, int]] = {}
    states: set[str] = set()
    for cat, st, n in s.execute(q):
        by.setdefault(cat, {})[st] = int(n)
        states.add(st)
    ranked = sorted(by.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return [{"category": c, "states": v, "total": sum(v.values())} for c, v in ranked], sorted(states)


def documents_per_day(s: Any, today: date) -> list[dict[str, Any]]:
    """Documents issued and revoked on each of the last DAYS days (Iraq time)."""
    labels = day_labels(today)
    first = int(datetime.fromisoformat(labels[0]).replace(tzinfo=UTC).timestamp()) - IRAQ_OFFSET_S
    doc = registry.Document
    counts: dict[str, dict[str, int]] = {d: {"issued": 0, "revoked": 0} for d in labels}
    for kind, col in (("issued", doc.issued_at), ("revoked", doc.revoked_at)):
        day = _iraq_day(col)
        for d, n in s.execute(select(day, func.count()).where(col.is_not(None), col >= first).group_by(day)):
            label = (date(1970, 1, 1) + timedelta(days=int(d))).isoformat()
            if label in counts:
                counts[label][kind] = int(n)
    verified = verify_tally.read(s, labels)
    return [{"day": d, **counts[d], "verified_valid": verified[d][0], "verified_not_valid": verified[d][1]}
            for d in labels]


def collections(s: Any, today: date) -> list[dict[str, Any]]:
    """Collections taken (paid or refunded) per business day, office and station, the last DAYS days."""
    c = ledger.Collection
    first = day_labels(today)[0]
    q = (select(c.business_date, c.office, c.station, func.count(), func.sum(c.amount))
         .where(c.business_date >= first, c.state.in_(ledger.COUNTS_AS_TAKEN))
         .group_by(c.business_date, c.office, c.station).order_by(c.business_date.desc(), c.office, c.station))
    return [{"day": d, "office": o, "station": st, "count": int(n), "amount": int(a or 0)}
            for d, o, st, n, a in s.execute(q)]


def gather(s: Any, now: datetime) -> dict[str, Any]:
    today = (now + timedelta(seconds=IRAQ_OFFSET_S)).date()
    comp, states = complaints_by_category(s)
    return {"sla": sla_by_agency(s, now), "complaints": comp, "complaint_states": states,
            "documents": documents_per_day(s, today), "collections": collections(s, today)}


def charts(data: dict[str, Any]) -> dict[str, str]:
    """The four SVG charts of the overview (pure)."""
    per_day: dict[str, dict[str, int]] = {}
    for r in data["collections"]:
        per_day.setdefault(r["day"], {}).setdefault(r["office"] or "-", 0)
        per_day[r["day"]][r["office"] or "-"] += r["amount"]
    offices = sorted({o for v in per_day.values() for o in v})
    states = data["complaint_states"]
    return {
        "sla": stacked_bars([(r["agency"], {"breached": r["breached"], "on_time": r["open"] - r["breached"]})
                             for r in data["sla"]], ("breached", "on_time"),
                            {"breached": "#a4161a", "on_time": "#0b6b2e"}),
        "complaints": stacked_bars([(r["category"], r["states"]) for r in data["complaints"]], states,
                                   colours_for(states)),
        "documents": stacked_bars([(r["day"], {"issued": r["issued"], "revoked": r["revoked"]})
                                   for r in data["documents"]], ("issued", "revoked"),
                                  {"issued": "#1f4e99", "revoked": "#a4161a"}),
        "verified": stacked_bars([(r["day"], {"valid": r["verified_valid"], "not_valid": r["verified_not_valid"]})
                                  for r in data["documents"]], ("valid", "not_valid"),
                                 {"valid": "#0b6b2e", "not_valid": "#d96c00"}),
        "collections": stacked_bars(sorted(per_day.items()), offices, colours_for(offices)),
    }


def _data(request: Request) -> dict[str, Any]:
    with request.app.state.read_sessions() as s:
        return gather(s, datetime.now(UTC))


def page(request: Request) -> Response:
    sess, u = reader(request)
    data = _data(request)
    page = i18n.Page(lang_of(request))
    labels = {st: page.t(f"A_{st}") if f"A_{st}" in i18n.TEXTS else st for st in data["complaint_states"]}
    return staff._page(request, "staff_overview.html", {"user": u, "d": data, "charts": charts(data),
                                                        "state_labels": labels}, sess)


def api(request: Request) -> dict[str, Any]:
    """The overview as JSON: SLA by agency, complaints by category and state, documents and
    collections per day (supervisors, auditors, admins)."""
    reader(request)
    return _data(request)


def install(app: FastAPI) -> None:
    app.router.add_api_route("/staff/overview", page, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/api/v1/staff/overview", api, methods=["GET"], tags=["supervisor"])
