"""Central's verdict on a payment receipt code: signature and key from the trust list
(kiosk keys may sign receipts only), then the ledger: a reversed or refunded payment's
receipt is REVOKED, a receipt whose amount or fee differs from the ledger is INVALID,
and one not (yet) in the ledger is VALID by signature with a note that it has not synced."""

from __future__ import annotations

from sqlalchemy.orm import Session

from central import keys, ledger
from contract import ur1
from contract.verdict import Status, Verdict


def _collection_of(session: Session, doc_id: str) -> ledger.Collection | None:
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
        col = _collection_of(session, c.doc_id)
        if col is None:
            note.append("payment not in the ledger yet (station has not synced)")
            return None
        if str(col.amount) != c.fields.get("amount") or col.fee_ref != c.fields.get("fee"):
            return Status.INVALID, f"receipt does not match ledger record {col.collection_id}"
        if col.state in ("reversed", "refunded"):
            return Status.REVOKED, f"payment {col.collection_id} was {col.state}"
        return None

    v = ur1.verify(text, trust, None, now, lookup=lookup, check_lists=False)
    if note and v.status is Status.VALID:
        return Verdict(v.status, f"{v.reason}; {note[0]}", v.document)
    return v
