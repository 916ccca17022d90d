"""The signed UR1 code printed on a payment receipt (document type "receipt").

Design: the kiosk signs receipts with its enrollment key (Ed25519, the same key
that signs its sync envelopes); central's trust list carries each kiosk's key
with the allowed type "receipt" only, so a stolen kiosk key can forge receipts
of that kiosk and nothing else, and central can revoke it by dropping the kid.
Receipts are not in the document revocation list (kiosks issue them offline and
cannot take a registry index): verifiers look the payment up instead - the kiosk in
its journal (`verify_at_station`), central in its ledger (central/receipt_verify.py).
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
from contract.verdict import Status, Verdict
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


def verify_at_station(store: object, text: str, now: int) -> Verdict:
    """Offline check at any kiosk: signature and key against the synced trust list (central
    lists every kiosk key with type "receipt" only), then - if the payment was taken at
    this station - its state in the local journal."""
    from sqlalchemy import select

    from kiosk.document_verifier import TRUST, OfflineVerifier, pinned_root
    from kiosk.payments import PaymentRow

    v = OfflineVerifier(store)  # type: ignore[arg-type]  # store is a KioskStore, typed object to keep this module below kiosk.store
    with store.tx() as s:  # type: ignore[attr-defined]  # store is a KioskStore, typed object to keep this module below kiosk.store
        root = pinned_root(s)
        if root is None:
            return Verdict(Status.STALE, "no root key pinned on this kiosk (ur-kiosk docs pin-root)")
        trust, problem = v._list(s, TRUST, root, now)
        if problem or trust is None:
            return Verdict(Status.STALE, problem or "no trust list installed")
        rows = {r.payment_id.replace("-", "").upper(): r for r in s.scalars(select(PaymentRow))}

    def lookup(c: ur1.Claims) -> tuple[Status, str] | None:
        if c.doc_type != "receipt":
            return Status.INVALID, f"not a receipt but a {c.doc_type}"
        row = rows.get(c.doc_id)
        if row is None:
            return None  # another station's receipt: signature and key are all we can check offline
        if row.state in ("REVERSED", "REFUNDED"):
            return Status.REVOKED, f"payment {row.payment_id} was {row.state.lower()}"
        if body_digest_ok(row, c) is False:
            return Status.INVALID, f"receipt does not match payment {row.payment_id}"
        return None

    return ur1.verify(text, trust, None, now, lookup=lookup, check_lists=True)  # type: ignore[arg-type]  # _list types the decoded trust list as object


def body_digest_ok(row: object, c: ur1.Claims) -> bool | None:
    f = c.fields
    return f.get("amount") == str(row.dinars) and f.get("fee") == row.fee_ref  # type: ignore[attr-defined]  # row is a PaymentRow, typed object to avoid importing payments here
