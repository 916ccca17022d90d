"""Complaints filed at the kiosk (the 5599 helpline idea), online or not.

The complaint and its outbox row are one transaction, like applications.
Tracking numbers: complaints take serials from the top of the kiosk's range
downwards (999999, 999998, ...) while applications count up from 1, so the two
never collide and both are ordinary `KKKK-NNNNNN-C` numbers the citizen can
track with `ur-kiosk status`. Filing refuses if the ranges would meet.
The text, name and mobile are personal data: encrypted at rest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from contract import catalogue as cat
from contract import tracking
from contract.errors import UrError
from kiosk import storage_guard
from kiosk.applications.applications import KioskApplication
from kiosk.identity import Identity
from kiosk.store import Base, KioskStore
from kiosk.sync import outbox

STREAM = "complaints"
TOP_SERIAL = 999_999
CATEGORIES = ("delay", "bribery", "conduct", "wrong-fee", "service-quality", "other")


class KioskComplaint(Base):
    __tablename__ = "complaints"
    tracking: Mapped[str] = mapped_column(String(16), primary_key=True)
    serial: Mapped[int] = mapped_column(Integer, unique=True)
    category: Mapped[str] = mapped_column(String(32))
    application: Mapped[str | None] = mapped_column(String(16), nullable=True)
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Filed:
    tracking: str
    category: str
    anonymous: bool


def file_complaint(store: KioskStore, ident: Identity, text: str, category: str = "other",
                   application: str | None = None, office: str | None = None,
                   institution: str | None = None, name: str | None = None,
                   mobile: str | None = None, now: float | None = None) -> Filed:
    now = time.time() if now is None else now
    text = " ".join(text.split())
    if not text:
        raise UrError("a complaint needs some text")
    if len(text) > 4000:
        raise UrError("a complaint is at most 4000 characters")
    if category not in CATEGORIES:
        raise UrError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    app_no = tracking.parse(application) if application else None
    if mobile:
        mobile = cat.validate_form(_MOBILE_FORM, {"mobile": mobile})["mobile"]
    name = " ".join(name.split()) if name else None
    storage_guard.check_room_for_new_application(store)
    with store.tx() as s:
        low = s.scalar(select(func.min(KioskComplaint.serial)))
        serial = (low - 1) if low is not None else TOP_SERIAL
        if serial <= (s.scalar(select(func.max(KioskApplication.serial))) or 0):
            raise UrError("this kiosk has used up its tracking numbers; ask support to re-enroll it")
        number = tracking.make(ident.kiosk_code, serial)
        at = datetime.fromtimestamp(now, UTC)
        payload = {"tracking": number, "category": category, "text": text, "application": app_no,
                   "office": office, "institution": institution, "name": name, "mobile": mobile,
                   "filed_at": at.isoformat()}
        s.add(KioskComplaint(tracking=number, serial=serial, category=category, application=app_no,
                             body_enc=ident.data_key.seal(json.dumps(payload, ensure_ascii=False).encode(), "complaints", number),
                             created_at=at))
        outbox.enqueue(s, ident, STREAM, payload, now=now)
    return Filed(number, category, name is None)


_MOBILE_FORM = cat.Service.model_validate({
    "id": "complaint-contact", "name": {"ar": "شكوى", "ckb": "سکاڵا", "en": "Complaint"},
    "kind": "interactive", "institution": "helpline-5599",
    "form": [{"name": "mobile", "type": "mobile"}],
})
