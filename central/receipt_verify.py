"""Central's verdict on a payment receipt code: signature and key from the trust list
(kiosk keys may sign receipts only), then the ledger: a reversed or refunded payment's
receipt is REVOKED, a receipt whose amount or fee differs from the ledger is INVALID,
and one not (yet) in the ledger is VALID by signature with a note that it has not synced.
Long codes (the collection UUID as id) and compact ones (short id + digest,
contract/receipt_claims.py) both verify."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import keys, ledger
from contract import receipt_claims, ur1
from contract.verdict import Status, Verdict


def _collection_of(session: Session, c: ur1.Claims) -> ledger.Collection | None:
    """The ledger record a receipt names: by the whole UUID (long codes printed before
    issue 16) or by the short id, the UUID's first 12 hex digits (compact codes). Among
    records sharing a short id, the one whose digest the code carries; else the only one."""
    doc_id = c.doc_id
    if receipt_claims.is_short_id(doc_id):
        prefix = receipt_claims.uuid_prefix(doc_id)
        found = list(session.scalars(select(ledger.Collection).where(
            ledger.Collection.collection_id.like(prefix + "-%")).limit(16)))
        for col in found:
            if receipt_claims.matches(doc_id, c.fields, c.body_sha256, col.collection_id,
                                      col.amount, col.fee_ref):
                return col
        return found[0] if len(found) == 1 else None
    if len(doc_id) != 32:
        return None
    cid = f"{doc_id[:8]}-{doc_id[8:12]}-{doc_id[12:16]}-{doc_id[16:20]}-{doc_id[20:]}".lower()
    return session.get(ledger.Collection, cid)


def verify_receipt(session: Session, text: str, now: int) -> Verdict:
    trust = keys.trust(session, now)
    note: list[str] = []

    def lookup(c: ur1.Claims) -> tuple[Status, str] | None:
        if c.doc_type != "receipt":
            return Status.INVALID, f"not a receipt but a {c.doc_type}"
        col = _collection_of(session, c)
        if col is None:
            note.append("payment not in the ledger yet (station has not synced)")
            return None
        if not receipt_claims.matches(c.doc_id, c.fields, c.body_sha256, col.collection_id,
                                      col.amount, col.fee_ref):
            return Status.INVALID, f"receipt does not match ledger record {col.collection_id}"
        if col.state in ("reversed", "refunded"):
            return Status.REVOKED, f"payment {col.collection_id} was {col.state}"
        return None

    v = ur1.verify(text, trust, None, now, lookup=lookup, check_lists=False)
    if note and v.status is Status.VALID:
        return Verdict(v.status, f"{v.reason}; {note[0]}", v.document)
    return v
