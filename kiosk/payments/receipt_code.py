"""The signed UR1 code printed on a payment receipt (document type "receipt").

Design: the kiosk signs receipts with its enrollment key (Ed25519, the same key
that signs its sync envelopes); central's trust list carries each kiosk's key
with the allowed type "receipt" only, so a stolen kiosk key can forge receipts
of that kiosk and nothing else, and central can revoke it by dropping the kid.
Receipts are not in the document revocation list (kiosks issue them offline and
cannot take a registry index): verifiers look the payment up instead - the kiosk in
its journal (`kiosk.payments.receipts.verify_at_station`), central in its ledger (central/receipt_verify.py).
Receipts are signed in the compact form (`contract.receipt_claims`): the short receipt
id, the amount and a digest binding the full collection id, amount and fee reference, so
the printed QR stays at version 10 or lower at ECC M. Long codes printed before
(`sign_receipt`, the UUID as id and eight fields) keep verifying everywhere.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contract import cose_sign1, receipt_claims, ur1
from kiosk.identity import Identity


def receipt_doc_id(payment_id: str) -> str:
    """UR1 ids are 1..32 upper-case characters: the collection UUID's 32 hex digits."""
    return payment_id.replace("-", "").upper()[:32]


def body_digest(body: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).digest()


def kiosk_kid(ident: Identity) -> bytes:
    return cose_sign1.kid_of(ident.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def sign_compact_receipt(ident: Identity, payment_id: str, issued_at: int, amount: int,
                         fee_ref: str) -> str:
    """The UR1 text printed on receipts now: short id, amount, digest of id+amount+fee."""
    claims = ur1.Claims(
        doc_id=receipt_claims.short_id(payment_id), doc_type="receipt", agency="UR",
        issued_at=issued_at, body_sha256=receipt_claims.compact_digest(payment_id, amount, fee_ref),
        status_index=0, fields={receipt_claims.COMPACT_AMOUNT: str(int(amount))},
        office=ident.office[:receipt_claims.MAX_OFFICE],
    )
    return str(ur1.sign(claims, ident.key, kiosk_kid(ident)))


def sign_receipt(ident: Identity, payment_id: str, issued_at: int, fields: dict[str, str],
                 body: dict[str, Any]) -> str:
    """The long UR1 text receipts carried before (kept for tests of old codes). `status_index` is 0 and meaningless: a receipt is not in
    the document revocation list; whether its payment still stands is the ledger's answer
    (reversed/refunded -> REVOKED), see `receipt_status`."""
    claims = ur1.Claims(
        doc_id=receipt_doc_id(payment_id), doc_type="receipt", agency="UR",
        issued_at=issued_at, body_sha256=body_digest(body), status_index=0,
        fields={k: str(v)[:200] for k, v in list(fields.items())[:16]},
        office=ident.office[:64],
    )
    return str(ur1.sign(claims, ident.key, kiosk_kid(ident)))
