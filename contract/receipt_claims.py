"""What a payment receipt's UR1 code claims, and how a verifier matches it to a payment.

Both the kiosk (its payment journal) and central (its ledger) match a receipt code to a
collection, so the rule lives here, in the shared contract.

Two forms are in circulation and both verify:

- **long** (printed before issue 16): `id` = the collection UUID's 32 hex digits, eight
  text fields (`amount`, `fee`, `statutory` ...). Its QR was about version 17 at ECC M.
- **compact** (now): `id` = the UUID's first 12 hex digits as `XXXXXXXX-XXXX` (the short
  receipt id people read and type; 48 bits, unique per station in practice), one field `a`
  (the amount, which the clerk compares with the paper), and `h` = SHA-256 of the canonical
  compact body: the full collection id, the amount and the fee reference. A verifier
  recomputes `h` from its own record, so amount and fee stay bound without being spelled
  out, and the QR stays at version 10 or lower at ECC M.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

SHORT_HEX = 12  # hex digits of the collection UUID kept in the short receipt id
COMPACT_AMOUNT = "a"
COMPACT_VERSION = 2
MAX_OFFICE = 20  # characters of the office kept in a compact code (the QR's size bound)


def short_id(payment_id: str) -> str:
    """`3F2A9C1B-0D7E` for collection `3f2a9c1b-0d7e-4...`: the UUID's first two groups."""
    hexd = payment_id.replace("-", "").upper()[:SHORT_HEX]
    return f"{hexd[:8]}-{hexd[8:]}"


def is_short_id(doc_id: str) -> bool:
    return len(doc_id) == SHORT_HEX + 1 and doc_id[8] == "-" and \
        all(c in "0123456789ABCDEF" for c in doc_id.replace("-", ""))


def uuid_prefix(doc_id: str) -> str:
    """The lower-case UUID prefix a short id stands for (`3f2a9c1b-0d7e`)."""
    return doc_id.lower()


def compact_body(payment_id: str, amount: int | str, fee_ref: str) -> dict[str, object]:
    return {"v": COMPACT_VERSION, "payment": payment_id.lower(), "amount": str(amount),
            "fee": fee_ref}


def compact_digest(payment_id: str, amount: int | str, fee_ref: str) -> bytes:
    body = compact_body(payment_id, amount, fee_ref)
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).digest()


def is_compact(fields: Mapping[str, str]) -> bool:
    return COMPACT_AMOUNT in fields and "amount" not in fields


def matches(doc_id: str, fields: Mapping[str, str], body_sha256: bytes, payment_id: str,
            amount: int, fee_ref: str) -> bool:
    """Whether a receipt's claims describe this payment (either form)."""
    if is_compact(fields):
        return (short_id(payment_id) == doc_id and fields.get(COMPACT_AMOUNT) == str(amount)
                and compact_digest(payment_id, amount, fee_ref) == body_sha256)
    return fields.get("amount") == str(amount) and fields.get("fee") == fee_ref
