"""Answers to kiosk requests (request/response over MQTT 5): status events
since a cursor, and dataset bodies (or deltas) since the version a kiosk has.

Pure over a session: the worker moves bytes, this decides what to answer.
`DELTA_BUILDERS[name](session, have_version, latest) -> bytes | None` lets a
dataset (the catalogue) send only what changed; the kiosk checks the sha256
of the result before switching, so a wrong delta can never be installed.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from central import catalogue, datasets, status_feed
from central.datasets import Dataset
from contract import downlink
from contract.errors import UrError

EVENTS_PAGE = 500
DeltaBuilder = Callable[[Session, int, Dataset], bytes | None]
DELTA_BUILDERS: dict[str, DeltaBuilder] = {
    "catalogue": catalogue.build_delta,
}


def answer(session: Session, kiosk_id: str, kind: str, data: bytes) -> bytes:
    try:
        req = downlink.decode(data)
        if kind == "events":
            cursor = int(req.get("cursor", 0))
            events = status_feed.since(session, kiosk_id, cursor, EVENTS_PAGE)
            return downlink.encode("events", events=events, more=len(events) == EVENTS_PAGE)
        if kind == "dataset":
            name = str(req.get("name", ""))
            have = int(req.get("have", 0))
            ds = datasets.latest(session, name)
            if ds is None:
                return downlink.encode("error", reason=f"no dataset {name!r}")
            if ds.version <= have:
                return downlink.encode("dataset", name=name, version=ds.version, sha256=ds.sha256, unchanged=True)
            builder = DELTA_BUILDERS.get(name)
            delta = builder(session, have, ds) if builder and have > 0 else None
            if delta is not None:
                return downlink.encode("dataset", name=name, version=ds.version, sha256=ds.sha256,
                                       delta_from=have, delta=delta)
            return downlink.encode("dataset", name=name, version=ds.version, sha256=ds.sha256, body=ds.body)
        return downlink.encode("error", reason=f"unknown request {kind!r}")
    except (UrError, ValueError, TypeError) as e:
        return downlink.encode("error", reason=str(e)[:200])


def manifest_payloads(session: Session) -> dict[str, tuple[int, bytes]]:
    """name -> (version, retained manifest payload) for every dataset."""
    out: dict[str, tuple[int, bytes]] = {}
    for ds in datasets.manifests(session):
        out[ds.name] = (ds.version, downlink.manifest(ds.name, ds.version, ds.sha256, ds.size))
    return out


def pending_pokes(session: Session, after_event: int) -> tuple[int, set[str]]:
    """Kiosks with feed events newer than `after_event`, and the newest event id."""
    from sqlalchemy import func, select

    from central.status_feed import KioskEvent

    top = session.scalar(select(func.max(KioskEvent.id))) or 0
    if top <= after_event:
        return after_event, set()
    kiosks = set(session.scalars(select(KioskEvent.kiosk_id).where(KioskEvent.id > after_event).distinct()))
    return int(top), kiosks
