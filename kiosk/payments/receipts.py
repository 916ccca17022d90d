"""Payment receipts: citizen and merchant copies, journaled so each prints exactly once.

Each copy is in the session's language with English below it (Arabic by default):
what was paid for and its agency named from the catalogue, the fee split with
thousands separators (`kiosk.money_format.format_amount`, Arabic-Indic digits when the
operator set UR_KIOSK_ARABIC_INDIC), the short receipt id, the terminal's own receipt
lines as it sent them (already masked by the driver) and the compact UR1 receipt code.
Arabic and Kurdish lines print the printer profile's Arabic way (CP864 or shaped bitmap). The citizen copy is
printed before the payment counts as delivered; if it cannot be printed the payment
service reverses the charge (`DeliveryFailed`). A reprint is a new job whose first
line says REPRINT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contract import catalogue as cat
from contract import receipt_claims, ur1
from contract.errors import UrError
from contract.verdict import Status, Verdict
from kiosk import datasets
from kiosk.applications import fines
from kiosk.applications.applications import KioskApplication
from kiosk.documents.verifier import TRUST, OfflineVerifier, pinned_root
from kiosk.i18n import DEFAULT_LANG, LANGS, tr
from kiosk.identity import Identity
from kiosk.money_format import arabic_indic_setting, format_amount
from kiosk.payments import journal as pj
from kiosk.payments import payables
from kiosk.payments.print_journal import DONE, PrintJob, PrintJournal, PrintSpooler
from kiosk.payments.service import DeliveryFailed, PaymentRow, entry_of
from kiosk.store import KioskStore

TEMPLATE = "fee_receipt"  # "collection" (English only) stays for jobs journaled before issue 16
MAX_TERMINAL_LINES = 10
#: Per-language line keys of the fee receipt; the session's language first, English below.
LINE_KEYS = ("title", "copy", "paid_for", "agency", "reference", "office", "station", "date",
             "statutory", "service", "total", "card", "receipt")


@dataclass(frozen=True)
class PaidFor:
    """What a payment was for, named from the data in each language: the service and its
    agency from the catalogue (names per language), the human reference (tracking
    number, fine id)."""

    names: dict[str, str]  # lang -> what was paid for
    agency: dict[str, str]  # lang -> agency name ("" when not known)
    reference: str


def paid_for(session: Session, row: PaymentRow) -> PaidFor:
    """Names for the receipt from the kiosk's data; falls back to the journal's
    description when the catalogue no longer lists the service."""
    try:
        kind, ref = payables.parse_ref(row.fee_ref)
    except UrError:
        return PaidFor(dict.fromkeys(LANGS, row.description), dict.fromkeys(LANGS, ""), row.fee_ref)
    if kind == "fine":
        plate = ""
        try:
            plate = fines.get(session, ref).plate
        except UrError:
            pass  # paid and withdrawn from the list since: the id is enough
        return PaidFor({lang: tr("print.fine", lang, fine=ref, plate=plate) for lang in LANGS},
                       {lang: tr("print.traffic", lang) for lang in LANGS}, ref)
    service_id, reference = ref.split(":", 1)[0], ref
    if kind == "app":
        app = session.get(KioskApplication, ref.upper())
        service_id = app.service_id if app is not None else ""
        reference = ref.upper()
    ds = datasets.current(session, "catalogue")
    try:
        c = cat.parse(ds.body) if ds is not None else None
        svc = c.service(service_id) if c is not None else None
    except UrError:
        c, svc = None, None
    if svc is None or c is None:
        return PaidFor(dict.fromkeys(LANGS, row.description), dict.fromkeys(LANGS, ""), reference)
    inst = c.institution(svc.institution)
    return PaidFor({lang: svc.name.get(lang) for lang in LANGS},
                   {lang: inst.name.get(lang) if inst is not None else "" for lang in LANGS},
                   reference if kind == "app" else service_id)


def receipt_lines(row: PaymentRow, ident: Identity, copy: str, lang: str, arabic_indic: bool,
                  what: PaidFor) -> dict[str, str]:
    """The receipt's own lines in one language (pure: same payment, same text)."""
    e = entry_of(row)
    money = lambda n: format_amount(n, lang, arabic_indic)  # noqa: E731
    date = (e.history[-1][1] if e.history else row.business_date)[:19].replace("T", " ")
    return {
        "title": tr("print.title", lang),
        "copy": tr("print.copy_merchant", lang) if copy == "merchant" else tr("print.copy_citizen", lang),
        "paid_for": tr("print.paid_for", lang, what=what.names.get(lang, row.description)),
        "agency": tr("print.agency", lang, agency=what.agency[lang]) if what.agency.get(lang) else "",
        "reference": tr("print.reference", lang, ref=what.reference),
        "office": tr("print.office", lang, office=ident.office or "-"),
        "station": tr("print.station", lang, station=ident.kiosk_id),
        "date": tr("print.date", lang, date=date),
        "statutory": tr("print.statutory", lang, amount=money(row.statutory)),
        "service": tr("print.service_fee", lang, amount=money(row.service)),
        "total": tr("print.total", lang, amount=money(row.dinars)),
        "card": tr("print.card", lang, terminal=e.terminal_id or "-", trace=e.trace or "-",
                   receipt=e.receipt_no or "-"),
        "receipt": tr("print.receipt_id", lang, id=receipt_claims.short_id(row.payment_id)),
    }


def receipt_data(row: PaymentRow, ident: Identity, copy: str, reprint: bool = False,
                 lang: str = DEFAULT_LANG, arabic_indic: bool = False,
                 what: PaidFor | None = None) -> dict[str, Any]:
    """Data of the fee receipt template: `l_*` lines in the session's language, `e_*` the
    same in English below them (empty in an English session), the terminal's own lines
    as it sent them (`t1`..), and the compact receipt code."""
    if lang not in LANGS:
        raise UrError(f"unknown receipt language {lang!r}")
    what = what or PaidFor(dict.fromkeys(LANGS, row.description), dict.fromkeys(LANGS, ""),
                           row.fee_ref)
    lines = json.loads(row.terminal_receipt or "{}").get("merchant" if copy == "merchant" else "customer", [])
    local = receipt_lines(row, ident, copy, lang, arabic_indic, what)
    english = receipt_lines(row, ident, copy, "en", False, what) if lang != "en" else {}
    data: dict[str, Any] = {"reprint": "*** REPRINT ***" if reprint else "", "qr": row.receipt_code,
                            "short_id": receipt_claims.short_id(row.payment_id)}
    for k in LINE_KEYS:
        data[f"l_{k}"] = local[k]
        data[f"e_{k}"] = english.get(k, "")
    data["english"] = "1" if english else ""
    for i in range(MAX_TERMINAL_LINES):
        data[f"t{i + 1}"] = lines[i] if i < len(lines) else ""
    return data


class PaymentReceipts:
    """Prints the citizen copy (and the merchant copy at a cashier station)."""

    def __init__(self, spooler: PrintSpooler | None, journal: PrintJournal, ident: Identity,
                 merchant_copy: bool = False, lang: str = DEFAULT_LANG,
                 arabic_indic: bool | None = None) -> None:
        self.spooler = spooler
        self.journal = journal
        self.ident = ident
        self.merchant_copy = merchant_copy
        self.lang = lang  # the session's language (the screens set it per payment)
        # The operator setting UR_KIOSK_ARABIC_INDIC, as on the screens.
        self.arabic_indic = arabic_indic_setting() if arabic_indic is None else arabic_indic

    def data(self, row: PaymentRow, copy: str, reprint: bool = False) -> dict[str, Any]:
        with self.journal.store.session() as s:
            what = paid_for(s, row)
        return receipt_data(row, self.ident, copy, reprint, self.lang, self.arabic_indic, what)

    def issue(self, row: PaymentRow) -> None:
        if pj.PaymentState(row.state) not in (pj.S.APPROVED, pj.S.PAID):
            raise DeliveryFailed(f"payment {row.payment_id} is {row.state}: no receipt")
        copies = ["citizen"] + (["merchant"] if self.merchant_copy else [])
        for copy in copies:
            job = self.journal.submit(f"payment:{row.payment_id}:{copy}", TEMPLATE,
                                      self.data(row, copy))
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
                                  self.data(row, "citizen", reprint=True))
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
