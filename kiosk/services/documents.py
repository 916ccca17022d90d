"""Secured documents for screens: the offline verdict from the synced trust and status
lists (kiosk.documents.verifier)."""

from __future__ import annotations

import time

from kiosk.documents.verifier import OfflineVerifier
from kiosk.services.station import Station, same_in_all
from kiosk.ui_services import DocumentField, Verification


class DocumentServices:
    def __init__(self, station: Station) -> None:
        self.store = station.store

    def verify_document(self, text: str) -> Verification:
        verdict = OfflineVerifier(self.store).verify(text, int(time.time()))
        doc = verdict.document or {}
        fields = tuple(DocumentField(label=same_in_all(k), value=str(v))
                       for k, v in (doc.get("fields") or {}).items())
        return Verification(verdict=str(verdict.status), document_type=same_in_all(str(doc.get("type", ""))),
                            issuer=same_in_all(str(doc.get("agency", ""))), fields=fields)
