"""Reading the citizen's ID card into a form: the card's fields prefill the form, the
citizen confirms them, and any failure becomes a message and the typed form as before.

Pure: the card read itself is passed in (`read`: MrzKey -> IdDocument), so this holds
only the rules: which MRZ fields go into which form fields, dates in ISO form, and
which failure the screen explains how. The face image travels with the prefill for
the screen and is never part of `fields` (fields are what gets submitted and stored).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk.devices.card_errors import (
    BacFailed,
    BadCardData,
    CardReadError,
    NoCard,
    NotAnEmrtd,
    ReaderUnavailable,
    TornRead,
)
from kiosk.devices.icao_lds import FacePhoto
from kiosk.devices.icao_mrz import MrzError, MrzKey, iso_date
from kiosk.devices.icao_reader import IdDocument

# Why the card gave nothing, in the order the screen can help: a reason key for the
# screen's text, and whether retyping the MRZ fields (rather than the form) can help.
REASONS: dict[type[CardReadError], tuple[str, bool]] = {
    ReaderUnavailable: ("card.no_reader", False),
    NoCard: ("card.no_card", False),
    NotAnEmrtd: ("card.not_an_id_card", False),
    BacFailed: ("card.wrong_mrz", True),
    TornRead: ("card.torn_read", False),
    BadCardData: ("card.bad_data", False),
}


@dataclass(frozen=True)
class CardPrefill:
    """Form fields from the chip, shown for the citizen to confirm before submitting."""

    fields: dict[str, str]
    photo: FacePhoto | None = field(default=None, repr=False)
    confirmed: bool = False  # the screen sets it (dataclasses.replace) on the citizen's OK


@dataclass(frozen=True)
class CardFallback:
    """No card data: the screen shows `message` and the citizen types the form."""

    reason: str  # card.no_reader, card.no_card, card.wrong_mrz, ... or card.bad_input
    message: str
    retry_mrz: bool  # True: the MRZ fields were probably mistyped, let the citizen fix them


def form_fields(doc: IdDocument, today: dt.date | None = None) -> dict[str, str]:
    m = doc.mrz
    name = " ".join(p for p in (m.given_names, m.surname) if p)
    out = {
        "full_name": name,
        "surname": m.surname,
        "given_names": m.given_names,
        "document_number": m.document_number,
        "birth_date": iso_date(m.birth_date, "birth", today),
        "expiry_date": iso_date(m.expiry_date, "expiry", today),
        "nationality": m.nationality,
        "sex": m.sex,
        "issuing_state": m.issuing_state,
    }
    # ID cards (TD1) often carry a personal number in the optional data; only an
    # all-digit value is taken as the national ID (see docs/devices.md, assumed).
    if m.document_code.startswith("I") and m.optional_data.isdigit():
        out["national_id"] = m.optional_data
    return out


def read_for_form(read: Callable[[MrzKey], IdDocument], document_number: str, birth_date: str,
                  expiry_date: str, today: dt.date | None = None) -> CardPrefill | CardFallback:
    """The typed MRZ fields (or a camera's) open the chip; never raises for a card problem."""
    try:
        key = MrzKey.parse(document_number, birth_date, expiry_date)
    except MrzError as e:
        return CardFallback("card.bad_input", str(e), True)
    try:
        doc = read(key)
    except CardReadError as e:
        for cls, (reason, retry) in REASONS.items():
            if isinstance(e, cls):
                return CardFallback(reason, str(e), retry)
        return CardFallback("card.error", str(e), False)
    if not doc.mrz.check_digits_ok:
        return CardFallback("card.bad_data", "the chip's MRZ fails its check digits", False)
    try:
        fields = form_fields(doc, today)
    except MrzError as e:
        return CardFallback("card.bad_data", f"the chip's MRZ: {e}", False)
    return CardPrefill(fields, doc.photo)
