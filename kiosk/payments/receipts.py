"""Payment receipts: citizen and merchant copies, journaled so each prints exactly once.

Each copy carries the terminal's own receipt lines (already masked by the driver),
the fee split, what was paid and the signed UR1 receipt code. The citizen copy is
printed before the payment counts as delivered; if it cannot be printed the payment
service reverses the charge (`DeliveryFailed`). A reprint is a new job whose first
line says REPRINT.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from contract import receipt_claims, ur1
from contract.verdict import Status, Verdict
from kiosk.documents.verifier import TRUST, OfflineVerifier, pinned_root
from kiosk.identity import Identity
from kiosk.payments import journal as pj
from kiosk.payments.print_journal import DONE, PrintJob, PrintJournal, PrintSpooler
from kiosk.payments.service import DeliveryFailed, PaymentRow, entry_of
from kiosk.store import KioskStore

TEMPLATE = "collection"
MAX_TERMINAL_LINES = 10


def receipt_data(row: PaymentRow, ident: Identity, copy: str, reprint: bool = False) -> dict[str, Any]:
    e = entry_of(row)
    lines = json.loads(row.terminal_receipt or "{}").get("merchant" if copy == "merchant" else "customer", [])
    data: dict[str, Any] = {
        "reprint": "*** REPRINT ***" if reprint else "",
        "title": "UR E-SERVICES FEE RECEIPT",
        "copy": "MERCHANT COPY" if copy == "merchant" else "CITIZEN COPY",
        "paid_for": row.description, "office": ident.office or "-", "station": ident.kiosk_id,
        "date": (e.history[-1][1] if e.history else row.business_date)[:19],
        "statutory": row.statutory, "service": row.service, "total": row.dinars,
        "terminal": e.terminal_id or "-", "trace": e.trace or "-", "receipt_no": e.receipt_no or "-",
        "qr": row.receipt_code, "collection": row.payment_id,
    }
    for i in range(MAX_TERMINAL_LINES):
        data[f"t{i + 1}"] = lines[i] if i < len(lines) else ""
    return data


class PaymentReceipts:
    """Prints the citizen copy (and the merchant copy at a cashier station)."""

    def __init__(self, spooler: PrintSpooler | None, journal: PrintJournal, ident: Identity,
                 merchant_copy: bool = False) -> None:
        self.spooler = spooler
        self.journal = journal
        self.ident = ident
        self.merchant_copy = merchant_copy

    def issue(self, row: PaymentRow) -> None:
        if pj.PaymentState(row.state) not in (pj.S.APPROVED, pj.S.PAID):
            raise DeliveryFailed(f"payment {row.payment_id} is {row.state}: no receipt")
        copies = ["citizen"] + (["merchant"] if self.merchant_copy else [])
        for copy in copies:
            job = self.journal.submit(f"payment:{row.payment_id}:{copy}", TEMPLATE,
                                      receipt_data(row, self.ident, copy))
            if self.spooler is None:
                continue
            v = self.spooler.print_job(job.id)
            if v.state != DONE:
                raise DeliveryFailed(f"{copy} receipt not printed: {v.reason or v.state}")

    def reprint(self, row: PaymentRow) -> str:
        """A new job marked REPRINT (the original stays printed once)."""
        if pj.PaymentState(row.state) is not pj.S.PAID:
            raise DeliveryFailed(f"payment {row.payment_id} is {row.state}: nothing to reprint")
        with self.journal.store.session() as s:
            n = s.scalar(select(func.count()).select_from(PrintJob).where(
                PrintJob.receipt_key.like(f"payment:{row.payment_id}:reprint:%"))) or 0
        job = self.journal.submit(f"payment:{row.payment_id}:reprint:{n + 1}", TEMPLATE,
                                  receipt_data(row, self.ident, "citizen", reprint=True))
        if self.spooler is not None:
            self.spooler.print_job(job.id)
        return job.id


def verify_at_station(store: KioskStore, text: str, now: int) -> Verdict:
    """Offline check at any kiosk: signature and key against the synced trust list (central
    lists every kiosk key with type "receipt" only), then - if the payment was taken at
    this station - its state in the local journal."""
    v = OfflineVerifier(store)
    with store.tx() as s:
        root = pinned_root(s)
        if root is None:
            return Verdict(Status.STALE, "no root key pinned on this kiosk (ur-kiosk docs pin-root)")
        trust, problem = v._list(s, TRUST, root, now)
        if problem or trust is None:
            return Verdict(Status.STALE, problem or "no trust list installed")
        rows: dict[str, PaymentRow] = {}
        for r in s.scalars(select(PaymentRow)):
            rows[r.payment_id.replace("-", "").upper()] = r  # long codes: the whole UUID
            rows.setdefault(receipt_claims.short_id(r.payment_id), r)  # compact codes: short id

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


def body_digest_ok(row: PaymentRow, c: ur1.Claims) -> bool | None:
    """Whether the code's claims describe this payment (long or compact form)."""
    return receipt_claims.matches(c.doc_id, c.fields, c.body_sha256, row.payment_id,
                                  row.dinars, row.fee_ref)
