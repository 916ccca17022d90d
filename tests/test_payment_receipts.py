"""Payment receipts on a real ESC/POS printer emulator (pty) and the signed UR1 receipt code
verified offline at a kiosk and online at central, through real enrollment, a real broker
and a real central worker; a reversed payment's receipt becomes REVOKED."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from central import db as central_db
from central import fines as central_fines
from contract import receipt_claims, ur1
from kiosk import identity
from kiosk.devices.printer_driver import EscPosPrinter
from kiosk.devices.receipt import ReceiptProfile
from kiosk.devices.zvt_emulator import Knobs
from kiosk.payments import receipt_code
from kiosk.payments.print_journal import PrintJournal, PrintSpooler
from kiosk.payments.receipts import PaymentReceipts
from kiosk.payments.service import PaymentService
from kiosk.store import KioskStore
from tests import support
from tests.payment_fixtures import FINES, enrolled_store, terminal

PROFILE = ReceiptProfile(width_dots=576, native_qr=True)


def test_receipt_printed_once_reprint_marked_and_printer_failure_reverses(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with support.printer_emulator(576) as (emu, p), terminal(Knobs(card_delay_s=0, full_pan=True)) as (h, factory):
        drv = EscPosPrinter(p.device, 115200, status_timeout=3.0)
        receipts = PaymentReceipts(PrintSpooler(PrintJournal(store), drv, PROFILE), PrintJournal(store), ident)
        svc = PaymentService(store, ident, factory, receipts=receipts)
        r = svc.pay("fine:F-0001")
        assert r.paid and len(emu.receipt_texts) == 1
        text = "\n".join(emu.receipt_texts[0])
        assert "CITIZEN COPY" in text and "TOTAL 26,000 IQD" in text and "Statutory fee: 26,000 IQD" in text
        assert text.index("Paid for: Traffic fine F-0001, plate 12B0001") < text.index("CARDHOLDER COPY")
        assert "CARDHOLDER COPY" in text and "4111 11** **** 1111" in text  # terminal's lines, masked
        assert "4111111111111111" not in text.replace(" ", "")
        assert "REPRINT" not in text
        svc.recover()  # nothing open: nothing printed again
        assert len(emu.receipt_texts) == 1
        receipts.reprint(svc.get(r.payment_id))
        assert len(emu.receipt_texts) == 2 and "REPRINT" in "\n".join(emu.receipt_texts[1])
        # Out of paper: the receipt cannot be produced -> the approved charge is reversed.
        emu.set_fault("paper_end")
        r2 = svc.pay("fine:F-0002")
        assert r2.state == "REVERSED" and "receipt not printed" in r2.message
        paid = [e for e in h.journal if e.kind == "payment" and e.receipt_no and not e.reversed]
        assert [e.amount for e in paid] == [26000]
        drv.close()


def test_receipt_code_verifies_at_kiosk_and_central_and_revokes_on_reversal(tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = support.Deployment(tmp_path)
    try:
        dep.init_central()
        engine = central_db.make_engine(dep.db_url)
        with central_db.sessions(engine).begin() as s:
            for f in FINES[:5]:
                central_fines.add(s, f["plate"], f["amount"], f["offence"], f["id"])
            central_fines.publish(s)
        engine.dispose()
        dep.enroll("K1", broker.url)
        dep.enroll("K2", broker.url)
        dep.serve(broker.url)
        sync = ["sync", "--until-idle", "--timeout", "60", "--heartbeat", "0", "--ack-timeout", "2"]
        dep.kiosk("K1", *sync)
        dep.kiosk("K2", *sync)
        out = json.loads(dep.kiosk("K1", "--json", "fines", "12 b-0003").stdout)
        assert [f["fee_ref"] for f in out] == ["fine:F-0003"] and out[0]["amount"] == 28000
        store = KioskStore(dep.kiosk_dir("K1"))
        ident = identity.load(store)
        with terminal(Knobs(card_delay_s=0)) as (_h, factory):
            svc = PaymentService(store, ident, factory)
            r = svc.pay("fine:F-0003")
            code = r.receipt_code
            assert r.paid and code.startswith("UR1:")
            row = svc.get(r.payment_id)
            assert ur1.decode(code).claims.doc_id == receipt_claims.short_id(r.payment_id)
            # A long code as printed before issue 16 (the UUID as id, eight fields): still verifies.
            old = receipt_code.sign_receipt(ident, r.payment_id, int(time.time()) - 60, {
                "amount": str(row.dinars), "fee": row.fee_ref, "statutory": str(row.statutory),
                "service": str(row.service), "receipt": "1", "terminal": "", "trace": "", "date": row.business_date,
            }, {})
            v = json.loads(dep.kiosk("K2", "--json", "payments", "verify", old, check=False).stdout)
            assert v["status"] == "VALID", v
            # Offline at another kiosk (synced trust list lists K1's key for receipts only).
            v = json.loads(dep.kiosk("K2", "--json", "payments", "verify", code, check=False).stdout)
            assert v["status"] == "VALID", v
            v = json.loads(dep.central("--json", "ledger", "verify-receipt", code, check=False).stdout)
            assert v["status"] == "VALID" and "not in the ledger yet" in v["reason"]
            dep.kiosk("K1", *sync)
            for c in (code, old):
                v = json.loads(dep.central("--json", "ledger", "verify-receipt", c, check=False).stdout)
                assert v["status"] == "VALID" and "ledger" not in v["reason"], v
            assert svc.void(r.payment_id, "wrong plate").state == "REVERSED"
        store.close()
        dep.kiosk("K1", *sync)
        v = json.loads(dep.central("--json", "ledger", "verify-receipt", code, check=False).stdout)
        assert v["status"] == "REVOKED", v
        v = json.loads(dep.kiosk("K1", "--json", "payments", "verify", code, check=False).stdout)
        assert v["status"] == "REVOKED", v
        for c in (old,):  # the long form is matched to the reversed payment too
            v = json.loads(dep.central("--json", "ledger", "verify-receipt", c, check=False).stdout)
            assert v["status"] == "REVOKED", v
            v = json.loads(dep.kiosk("K1", "--json", "payments", "verify", c, check=False).stdout)
            assert v["status"] == "REVOKED", v
        tampered = code[:-6] + ("A" if code[-6] != "A" else "B") + code[-5:]
        v = dep.central("--json", "ledger", "verify-receipt", tampered, check=False)
        assert v.returncode == 1 and json.loads(v.stdout)["status"] == "INVALID"
        # The fine is paid centrally only while the payment stands.
        listed = {f["id"]: f["status"] for f in json.loads(dep.central("--json", "fines", "list").stdout)}
        assert listed["F-0003"] == "unpaid"
    finally:
        dep.stop_all()
        broker.stop()


@pytest.mark.parametrize("bad", ["", "fine:", "cash:123", "app", "x" * 200])
def test_fee_refs_rejected_with_a_clear_message(tmp_path: Path, bad: str) -> None:
    from contract.errors import UrError
    from kiosk.payments import payables

    store, _ident = enrolled_store(tmp_path / "k")
    with store.session() as s, pytest.raises(UrError, match="not a fee reference"):
        payables.resolve(s, bad)
