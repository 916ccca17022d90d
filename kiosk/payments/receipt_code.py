"""The signed UR1 code printed on a payment receipt (document type "receipt").

Design: the kiosk signs receipts with its enrollment key (Ed25519, the same key
that signs its sync envelopes); central's trust list carries each kiosk's key
with the allowed type "receipt" only, so a stolen kiosk key can forge receipts
of that kiosk and nothing else, and central can revoke it by dropping the kid.
Receipts are not in the document revocation list (kiosks issue them offline and
cannot take a registry index): verifiers look the payment up instead - the kiosk in
its journal (`kiosk.payments.receipts.verify_at_station`), central in its ledger (central/receipt_verify.py).
The claims bind the receipt number, amount, fee split and what was paid, and
`h` is the SHA-256 of the canonical receipt body, so any kiosk or central's
page can verify a receipt offline against the trust list.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contract import cose_sign1, ur1
from kiosk.identity import Identity


def receipt_doc_id(payment_id: str) -> str:
    """UR1 ids are 1..32 upper-case characters: the collection UUID's 32 hex digits."""
    return payment_id.replace("-", "").upper()[:32]


def body_digest(body: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).digest()


def kiosk_kid(ident: Identity) -> bytes:
    return cose_sign1.kid_of(ident.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def sign_receipt(ident: Identity, payment_id: str, issued_at: int, fields: dict[str, str],
                 body: dict[str, Any]) -> str:
    """UR1 text for a receipt. `status_index` is 0 and meaningless: a receipt is not in
    the document revocation list; whether its payment still stands is the ledger's answer
    (reversed/refunded -> REVOKED), see `receipt_status`."""
    claims = ur1.Claims(
        doc_id=receipt_doc_id(payment_id), doc_type="receipt", agency="UR",
        issued_at=issued_at, body_sha256=body_digest(body), status_index=0,
        fields={k: str(v)[:200] for k, v in list(fields.items())[:16]},
        office=ident.office[:64],
    )
    return str(ur1.sign(claims, ident.key, kiosk_kid(ident)))
