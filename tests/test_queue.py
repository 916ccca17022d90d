"""Office queues (central/queue.py) on SQLite and PostgreSQL: a visit-needing application
opens one ticket keyed by its tracking number however often it is delivered or routed;
counters call the oldest ticket of their group (two counters never get the same one);
ticket -> call and call -> done are measured into the `queue_waits` dataset. Then end to
end with a real broker, worker and kiosk sync loop: the kiosk prints the ticket on the
ESC/POS emulator with central's measured wait and a QR that opens the staff page."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central import applications, casework, datasets, kiosks, queue
from central import catalogue as central_catalogue
from contract import queue_waits as qw
from contract import tracking
from contract.errors import UrError

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIELDS = {"full_name": "زينب علي", "national_id": "199001234567", "mobile": "07801234567"}
PROC = "non-conviction-certificate"  # procedural: one visit, counters of moi-criminal-evidence
GROUP = "moi-criminal-evidence"
FEE = 10000  # the seed catalogue's fee for the certificate: a wrong one is rejected at once


def _submit(s: Any, kiosk_id: str, code: int, serial: int, service: str, at: datetime,
            fields: dict[str, str] | None = None, fee: int | None = None) -> str:
    number = tracking.make(code, serial)
    fee = central_catalogue.load_seed().service(service).fee_total if fee is None else fee
    applications.handle_submission(s, kiosk_id, f"m-{kiosk_id}-{serial}", {
        "tracking": number, "service_id": service, "catalogue_version": 1, "fee_total": fee,
        "fields": fields or FIELDS, "submitted_at": at.isoformat()})
    return number


def _participatory_fields() -> dict[str, str]:
    return {**FIELDS, "water_account": "1234", "electricity_account": "5678", "reason": "purchase"}


@pytest.fixture
def office(central_sessions: Any) -> tuple[Any, int]:
    S = central_sessions
    with S.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
        k = kiosks.register(s, "K1", "ab" * 32, "karkh", T0)
        kiosks.register(s, "K2", "cd" * 32, "rusafa", T0)
        return S, k.kiosk_code


def test_one_ticket_per_visit_needing_application_whatever_the_replays(office: tuple[Any, int]) -> None:
    S, code = office
    with S.begin() as s:
        a = _submit(s, "K1", code, 1, PROC, T0)
        b = _submit(s, "K1", code, 2, "subscriber-name-change", T0, _participatory_fields())  # no visit
        c = _submit(s, "K1", code, 3, PROC, T0, fee=1)  # a wrong fee: rejected at once, never called
    with S.begin() as s:
        # the same message again (a resend after a lost ack), and the hook run again (re-route)
        assert applications.handle_many(s, "K1", [("m-K1-1", {
            "tracking": a, "service_id": PROC, "catalogue_version": 1, "fee_total": FEE, "fields": FIELDS,
            "submitted_at": T0.isoformat()})])[0][0] == "rejected"
        queue.open_tickets(s, [a, b, c, a])
    with S() as s:
        assert {n: s.get(casework.CaseRow, n) is not None for n in (a, b)} == {a: True, b: True}
        assert s.get(applications.Application, c).status == "rejected"  # type: ignore[union-attr]  # stored above
        rows = s.scalars(select(queue.QueueTicket)).all()
        assert [(t.tracking, t.office, t.counter_group, t.status) for t in rows] == [(a, "karkh", GROUP, "waiting")]
    with S.begin() as s:
        assert queue.call_next(s, "karkh", GROUP, 3, "clerk-a", T0 + timedelta(minutes=4)).tracking == a
    with S.begin() as s:
        queue.open_tickets(s, [a])  # a late re-route never resets a called ticket
    with S() as s:
        t = s.get(queue.QueueTicket, a)
        assert t is not None and (t.status, t.counter) == ("called", 3)


def test_counters_call_oldest_first_measure_and_publish(office: tuple[Any, int]) -> None:
    S, code = office
    with S.begin() as s:
        first = _submit(s, "K1", code, 1, PROC, T0)
        second = _submit(s, "K1", code, 2, PROC, T0 + timedelta(minutes=1))
        _submit(s, "K2", code + 1, 1, PROC, T0)  # another office: not in karkh's line
    with S.begin() as s:
        assert [t.tracking for t in queue.line(s, "karkh", GROUP)] == [first, second]
        assert queue.call_next(s, "karkh", "moi-passports", 1, "x") is None  # nobody in that group
        t1 = queue.call_next(s, "karkh", GROUP, 1, "clerk-a", T0 + timedelta(minutes=10))
        t2 = queue.call_next(s, "karkh", GROUP, 2, "clerk-b", T0 + timedelta(minutes=13))
        assert (t1 and t1.tracking, t2 and t2.tracking) == (first, second)
        assert queue.call_next(s, "karkh", GROUP, 1, "clerk-a") is None
        with pytest.raises(UrError, match="no queue ticket"):
            queue.recall(s, _submit_none(code), 1, "x")
    with S.begin() as s:
        queue.done(s, first, T0 + timedelta(minutes=16))  # served 6 min, waited 10
        queue.done(s, second, T0 + timedelta(minutes=21))  # served 8 min, waited 12
        with pytest.raises(UrError, match="done, not called"):
            queue.done(s, first)
    with S() as s:
        [g] = [g for g in queue.stats(s, "karkh", now=T0 + timedelta(hours=1))]
        assert (g.waiting, g.measured_calls, g.measured_done) == (0, 2, 2)
        assert (g.wait_median_s, g.service_median_s) == (11 * 60, 7 * 60)
        [r] = queue.stats(s, "rusafa", now=T0 + timedelta(hours=1))
        assert (r.waiting, r.measured_calls) == (1, 0)
    with S.begin() as s:
        ds = queue.publish(s, "https://central.example/staff/case/", now=T0 + timedelta(hours=1))
        again = queue.publish(s, now=T0 + timedelta(hours=1))  # nothing changed: same version
        assert again.version == ds.version
        body = qw.parse(ds.body)
        assert body.case_url == "https://central.example/staff/case/"
        assert body.estimate("karkh", GROUP) == qw.Waits(11, 7)
        assert body.estimate("rusafa", GROUP) is None  # not measured: no estimate, never a guess
        with pytest.raises(UrError, match="https://"):
            queue.publish(s, "javascript:alert(1)")
    with S.begin() as s:  # a done in rusafa measures rusafa again and keeps karkh's figures
        t3 = queue.call_next(s, "rusafa", GROUP, 1, "clerk-c", T0 + timedelta(minutes=30))
        assert t3 is not None
        queue.done(s, t3.tracking, T0 + timedelta(minutes=33))
        body = qw.parse(datasets.latest(s, qw.DATASET).body)  # type: ignore[union-attr]  # published above
        assert body.estimate("karkh", GROUP) == qw.Waits(11, 7) and body.estimate("rusafa", GROUP) == qw.Waits(30, 3)
        assert body.case_url == "https://central.example/staff/case/"


def _submit_none(code: int) -> str:
    """A well-formed number that has no ticket."""
    return tracking.make(code, 99)


@pytest.mark.postgres
def test_two_counters_at_once_never_take_the_same_ticket(pg_url: str) -> None:
    """PostgreSQL: counter 1's transaction holds the oldest ticket (not committed yet);
    counter 2 calling meanwhile skips it and takes the next one."""
    from central import db

    engine = db.make_engine(pg_url)
    db.init_schema(engine)
    S = db.sessions(engine)
    try:
        with S.begin() as s:
            central_catalogue.publish(s, central_catalogue.load_seed())
            code = kiosks.register(s, "K1", "ab" * 32, "karkh", T0).kiosk_code
            a = _submit(s, "K1", code, 1, PROC, T0)
            b = _submit(s, "K1", code, 2, PROC, T0 + timedelta(minutes=1))
        with S.begin() as s1, S.begin() as s2:
            t1 = queue.call_next(s1, "karkh", GROUP, 1, "clerk-a")
            t2 = queue.call_next(s2, "karkh", GROUP, 2, "clerk-b")
            assert (t1 and t1.tracking, t2 and t2.tracking) == (a, b)
    finally:
        engine.dispose()


def test_dataset_codec_refuses_bad_figures_by_name() -> None:
    with pytest.raises(UrError, match="queue_waits dataset is invalid") as e:
        qw.parse(json.dumps({"offices": {"karkh": {"g": {"wait_min": -1, "service_min": 2}}}}).encode())
    assert "karkh" in str(e.value) and "wait_min" in str(e.value)
    assert qw.minutes(1) == 1 and qw.minutes(0) == 0 and qw.minutes(61) == 2
    assert qw.median([3, 1, 2]) == 2 and qw.median([1, 2, 3, 10]) == 2.5 and qw.median([]) == 0


def test_ticket_template_prints_arabic_first_then_english_on_a_cp864_printer() -> None:
    """The printer's Arabic strategy applies to the ticket: on a model with CP864 the
    Arabic lines go as code-page text, which the emulator reads back, above the English."""
    import unicodedata

    from firmware_config import profiles as fp
    from kiosk.applications import ticket
    from kiosk.devices import receipt as r
    from kiosk.devices.printer_emulator import PrinterEmulator

    prof = fp.parse_profile({"model": "x", "kind": "printer", "capability_model": "TM-T20II",
                             "printer": {"arabic": "auto"}})
    profile = r.ReceiptProfile.from_mapping(fp.profile_dict(prof))
    t = ticket.Ticket(tracking.make(1001, 5), "karkh", GROUP, {"ar": "مديرية الأدلة الجنائية", "en": "Criminal evidence"},
                      12, "https://central.example/staff/case/" + tracking.make(1001, 5), T0)
    emu = PrinterEmulator(profile.width_dots, model="TM-T20II")
    stream = r.render_receipt(r.load_template(ticket.TEMPLATE), ticket.print_data(t), profile)
    emu.handle(stream)
    [texts] = emu.receipt_texts
    logical = [unicodedata.normalize("NFKC", x)[::-1].strip() for x in texts]
    assert logical[0] == "تذكرة مراجعة" and texts[1] == "VISIT TICKET"
    assert logical.index("رقم الدور") < texts.index(f"Queue number {t.tracking}")
    assert "Counter  Criminal evidence" in texts and "Wait     about 12 min" in texts
    # a line with a letter CP864 lacks (the agency's hamza) goes as a shaped bitmap
    assert b"\x1bt\x25" in stream and b"\x1dv0" in stream


def test_kiosk_prints_the_ticket_offline_first_with_centrals_measured_wait(tmp_path: Path) -> None:
    from central import db
    from central.worker import Worker
    from contract import qr_decode
    from kiosk import datasets, identity
    from kiosk.context import wire_sync_handlers
    from kiosk.devices.printer_driver import EscPosPrinter
    from kiosk.devices.receipt import ReceiptProfile
    from kiosk.payments.print_journal import PrintJournal, PrintSpooler
    from kiosk.services.kiosk_services import KioskServices
    from kiosk.store import KioskStore
    from kiosk.sync.client import SyncClient, SyncConfig
    from tests import support

    wire_sync_handlers()
    url = support.sqlite_url(tmp_path / "central.db")
    assert support.run_cli_in_process(["ur-central", "--db", url, "init"])[0] == 0

    def central(*args: str) -> Any:
        code, out = support.run_cli_in_process(["ur-central", "--db", url, "--json", *args])
        assert code == 0, out
        return json.loads(out)

    with support.broker(tmp_path) as broker, support.printer_emulator(576, tmp_path / "paper") as (emu, p):
        kdir = support.enroll_kiosk(url, "K1", tmp_path / "k1", broker.url, tmp_path, office="karkh")
        store = KioskStore(kdir)
        ident = identity.load(store)
        worker = Worker(url, broker.url, "w-test")
        sync = SyncClient(store, ident, broker.url,
                          SyncConfig(heartbeat_s=0, catch_up_s=1.0, first_delay_max=0.0, ack_timeout=3.0))
        drv = EscPosPrinter(p.device, 115200, status_timeout=3.0)
        spooler = PrintSpooler(PrintJournal(store), drv, ReceiptProfile())
        services = KioskServices(store, spooler=spooler)

        def pump_until(pred: Callable[[], Any], what: str) -> Any:
            return support.wait_until(lambda: (worker.step(0.01), sync.step(0.01), pred())[2], 60, 0, what)

        try:
            # Before any sync of the estimates: the ticket prints, and says there is no estimate.
            def has(name: str, version: int = 1) -> bool:
                with store.session() as s:
                    have = datasets.current(s, name)
                    return have is not None and have.version >= version
            pump_until(lambda: has("catalogue"), "catalogue at the kiosk")
            first = services.submit_application(PROC, FIELDS)
            assert first.ticket is not None and first.ticket.printed and first.ticket.wait_min is None
            assert first.ticket.counter_group["en"] and len(emu.receipts) == 1
            text = "\n".join(emu.receipt_texts[0])
            assert f"Queue number {first.tracking}" in text and "Wait     no estimate yet" in text
            assert qr_decode.single_text(qr_decode.decode_file(str(tmp_path / "paper/receipt-0001.png"))) == \
                first.tracking  # no console address published yet: the number alone
            part = services.submit_application("subscriber-name-change", _participatory_fields())
            assert part.ticket is None and len(emu.receipts) == 1  # no visit, no ticket

            # Central opens the ticket when the application arrives; a counter calls it and is done.
            pump_until(lambda: central("queue", "list", "--office", "karkh"), "ticket at central")
            assert [t["tracking"] for t in central("queue", "list", "--office", "karkh")] == [first.tracking]
            called = central("queue", "call", "--office", "karkh", "--group", GROUP, "--counter", "4")["called"]
            assert (called["tracking"], called["counter"]) == (first.tracking, 4)
            central("queue", "done", first.tracking)
            [stats] = central("queue", "stats", "--office", "karkh")
            assert (stats["measured_calls"], stats["measured_done"]) == (1, 1)
            ds = central("queue", "publish", "--case-url", "https://central.example/staff/case/")
            with db.sessions(db.make_engine(url))() as s:
                from central import datasets as central_datasets
                published = qw.parse(central_datasets.get(s, qw.DATASET, ds["version"]).body)  # type: ignore[union-attr]  # published just above
            measured = published.estimate("karkh", GROUP)
            assert measured is not None and measured.wait_min == qw.minutes(stats["wait_median_s"])
            pump_until(lambda: has(qw.DATASET, ds["version"]), "queue_waits at the kiosk")

            second = services.submit_application(PROC, FIELDS)
            assert second.ticket is not None and second.ticket.wait_min == measured.wait_min
            text = "\n".join(emu.receipt_texts[1])
            assert f"Wait     about {measured.wait_min} min" in text
            qr = qr_decode.single_text(qr_decode.decode_file(str(tmp_path / "paper/receipt-0002.png")))
            assert qr == "https://central.example/staff/case/" + second.tracking
            # The print journal holds one job per ticket: asking again prints nothing more.
            job = PrintJournal(store).submit(f"ticket:{second.tracking}", "queue_ticket", {})
            assert spooler.print_job(job.id).state == "DONE" and len(emu.receipts) == 2
        finally:
            drv.close()
            sync.close()
            worker.client.disconnect()
            store.close()


def test_headless_apply_prints_the_visit_ticket(tmp_path: Path) -> None:
    """`ur-kiosk apply --printer P` is the screen's submit without the screen: the ticket
    prints; a service without a visit prints nothing."""
    from tests import support
    from tests.payment_fixtures import enrolled_store
    from tests.test_ui_kiosk_services import store_with_catalogue

    store_with_catalogue(tmp_path).close()
    enrolled_store(tmp_path / "kiosk", office="BGD-01")[0].close()
    with support.printer_emulator(576) as (emu, p):
        code, out = support.run_cli_in_process([
            "ur-kiosk", "--data", str(tmp_path / "kiosk"), "--json", "apply", "--service", "passport-ordinary",
            "--field", "full_name=علي حسن", "--field", "mobile=07701234567", "--printer", p.device])
        assert code == 0, out
        got = json.loads(out)
        assert got["ticket"] == {"number": got["tracking"], "counter_group": {
            "ar": "مديرية الجوازات", "ckb": "بەڕێوەبەرایەتی پاسپۆرت", "en": "Passports Directorate"},
            "wait_min": None, "printed": True}
        assert len(emu.receipts) == 1 and f"Queue number {got['tracking']}" in emu.receipt_texts[0]
