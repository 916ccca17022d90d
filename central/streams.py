"""Which uplink streams central understands, how to apply each, and which
must be applied in sequence order (a gap holds later messages).

A handler is `(session, kiosk_id, message_id, payload) -> None`; it raises
`UrError` for a payload it can never accept (rejected for good, kiosk told).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from central import applications, casework, complaints, kiosks, ledger

Handler = Callable[[Session, str, str, dict[str, Any]], None]
# Optional fast path: (session, kiosk_id, [(message_id, payload)]) -> [(result, reason)].
BulkHandler = Callable[[Session, str, list[tuple[str, dict[str, Any]]]], list[tuple[str, str]]]


@dataclass(frozen=True)
class StreamSpec:
    handler: Handler
    ordered: bool
    bulk: BulkHandler | None = None
    # The payload's `tracking` is a new number the kiosk minted under its own code:
    # ingest refuses one under another kiosk's code (counted as tracking_kiosk).
    mints_tracking: bool = False


def _heartbeat(session: Session, kiosk_id: str, _mid: str, payload: dict[str, Any]) -> None:
    kiosks.record_heartbeat(session, kiosk_id, payload)


STREAMS: dict[str, StreamSpec] = {
    "applications": StreamSpec(applications.handle_submission, ordered=True,
                               bulk=applications.handle_many, mints_tracking=True),
    "heartbeat": StreamSpec(_heartbeat, ordered=False),
    "complaints": StreamSpec(complaints.handle, ordered=True, mints_tracking=True),
    "corrections": StreamSpec(casework.handle_correction, ordered=True),
    "payments": StreamSpec(ledger.handle, ordered=True),
}
