"""Answers to kiosk requests (request/response over MQTT 5): status events
since a cursor, and dataset bodies (or deltas) since the version a kiosk has.

Pure over a session: the worker moves bytes and signs, this decides what to answer.
`DELTA_BUILDERS[name](session, have_version, latest) -> bytes | None` lets a
dataset (the catalogue) send only what changed; the kiosk checks the sha256
of the result before switching, so a wrong delta can never be installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central import catalogue, datasets, status_feed
from central.datasets import Dataset
from central.status_feed import KioskEvent
from contract import downlink
from contract.errors import UrError

EVENTS_PAGE = 500
DeltaBuilder = Callable[[Session, int, Dataset], bytes | None]
DELTA_BUILDERS: dict[str, DeltaBuilder] = {
    "catalogue": catalogue.build_delta,
}


Reply = tuple[str, dict[str, Any]]  # (kind, fields): the worker signs it for the asking kiosk


def answer(session: Session, kiosk_id: str, kind: str, data: bytes) -> Reply:
    """What to answer a kiosk's request (unsigned; the worker seals it with the
    kiosk id and the request's correlation data inside the signature)."""
    try:
        req = downlink.decode(data)
        if kind == "events":
            cursor = int(req.get("cursor", 0))
            events = status_feed.since(session, kiosk_id, cursor, EVENTS_PAGE)
            return "events", {"events": events, "more": len(events) == EVENTS_PAGE, "cursor": cursor}
        if kind == "dataset":
            name = str(req.get("name", ""))
            have = int(req.get("have", 0))
            ds = datasets.latest(session, name)
            if ds is None:
                return "error", {"reason": f"no dataset {name!r}", "name": name}
            if ds.version <= have:
                return "dataset", {"name": name, "version": ds.version, "sha256": ds.sha256, "unchanged": True}
            builder = DELTA_BUILDERS.get(name)
            delta = builder(session, have, ds) if builder and have > 0 else None
            if delta is not None:
                return "dataset", {"name": name, "version": ds.version, "sha256": ds.sha256,
                                   "delta_from": have, "delta": delta}
            return "dataset", {"name": name, "version": ds.version, "sha256": ds.sha256, "body": ds.body}
        return "error", {"reason": f"unknown request {kind!r}"}
    except (UrError, ValueError, TypeError) as e:
        return "error", {"reason": str(e)[:200]}


def manifest_fields(session: Session) -> dict[str, tuple[int, dict[str, Any]]]:
    """name -> (version, manifest fields) for every dataset; the worker signs a
    manifest (a broadcast) only when it publishes a new version."""
    return {ds.name: (ds.version, downlink.manifest_fields(ds.name, ds.version, ds.sha256, ds.size))
            for ds in datasets.manifests(session)}


def pending_pokes(session: Session, after_event: int) -> tuple[int, set[str]]:
    """Kiosks with feed events newer than `after_event`, and the newest event id."""
    top = session.scalar(select(func.max(KioskEvent.id))) or 0
    if top <= after_event:
        return after_event, set()
    kiosks = set(session.scalars(select(KioskEvent.kiosk_id).where(KioskEvent.id > after_event).distinct()))
    return int(top), kiosks
