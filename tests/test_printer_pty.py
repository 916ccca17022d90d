"""The receipt printer through a real pseudo-terminal against the emulator:
every state, paper-out / cover-open / power cycle mid-receipt, dead printer,
journal exactly-once with REPRINT."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kiosk.devices import escpos_commands as cmd
from kiosk.devices import receipt as r
from kiosk.devices.escpos_status import PrinterState
from kiosk.devices.printer_driver import EscPosPrinter, PrinterUnavailable
from kiosk.payments.print_journal import DONE, WAITING, PrintJournal, PrintSpooler
from kiosk.store import KioskStore
from tests import support

PROFILE = r.ReceiptProfile(width_dots=576, native_qr=True)
FAULT_STATES = [s for s in PrinterState if s not in (PrinterState.READY, PrinterState.NO_RESPONSE)]


@pytest.fixture
def emulated(tmp_path: Path):
    with support.printer_emulator(576, tmp_path / "out") as (emu, p):
        # The product's cap (3 s), not 0.5 s: the emulator thread answers status on a
        # loaded machine too, just later. A test of the wait itself sets its own.
        drv = EscPosPrinter(p.device, 115200, status_timeout=3.0)
        yield emu, drv
        drv.close()


def _spooler(tmp_path: Path, drv: EscPosPrinter, seen: list | None = None) -> PrintSpooler:
    store = KioskStore(tmp_path / "store")
    return PrintSpooler(PrintJournal(store), drv, PROFILE,
                        on_change=(seen.append if seen is not None else None))


@pytest.mark.parametrize("state", FAULT_STATES)
def test_each_state_is_reported_over_the_pty(emulated, state: PrinterState) -> None:
    emu, drv = emulated
    assert drv.state() is PrinterState.READY
    emu.set_fault(state.value)
    assert drv.state() is state
    emu.set_fault("ready")
    assert drv.state() is PrinterState.READY


@pytest.mark.parametrize("state", [s for s in FAULT_STATES if not s.can_print])
def test_job_waits_with_the_reason_and_prints_once_after_recovery(
        emulated, tmp_path: Path, state: PrinterState) -> None:
    emu, drv = emulated
    emu.set_fault(state.value)
    sp = _spooler(tmp_path, drv)
    job = sp.journal.submit("pay-1", "payment", r.sample_data())
    v = sp.run_once()
    assert v is not None and (v.state, v.reason) == (WAITING, state.value)
    assert emu.receipts == []
    emu.set_fault("ready")
    assert sp.run_once().state == DONE  # type: ignore[union-attr]  # a job is open, so run_once returns its view
    assert sp.run_once() is None
    assert len(emu.receipts) == 1
    # The printer was not ready before anything was sent: a first print, not a reprint.
    assert "*** REPRINT ***" not in emu.receipt_texts[0]
    assert sp.journal.get(job.id).state == DONE


def test_near_end_is_a_warning_and_printing_goes_on(emulated, tmp_path: Path) -> None:
    emu, drv = emulated
    emu.set_fault("paper_near_end")
    sp = _spooler(tmp_path, drv)
    sp.journal.submit("pay-1", "payment", r.sample_data())
    assert sp.run_once().state == DONE  # type: ignore[union-attr]  # a job is open, so run_once returns its view
    assert sp.printer_state is PrinterState.PAPER_NEAR_END
    assert len(emu.receipts) == 1


@pytest.mark.parametrize("fault", ["paper_out", "cover_open", "power_cycle"])
def test_fault_mid_receipt_waits_then_reprints_once_marked(
        emulated, tmp_path: Path, fault: str) -> None:
    emu, drv = emulated
    seen: list = []
    sp = _spooler(tmp_path, drv, seen)
    sp.journal.submit("pay-7", "payment", r.sample_data())
    # The fault strikes after the 4th printed line of the receipt.
    knob = {"paper_out": "paper_out_after=4", "cover_open": "cover_open@4", "power_cycle": "dead@4"}
    emu.set_fault(knob[fault])
    expect = {"paper_out": PrinterState.PAPER_END, "cover_open": PrinterState.COVER_OPEN,
              "power_cycle": PrinterState.NO_RESPONSE}[fault]
    # run_once returns (the kiosk is not held): the driver's waits are bounded, which
    # test_dead_printer_gives_up_after_its_bounded_status_wait checks without a clock.
    v = sp.run_once()
    assert v is not None and (v.state, v.reason) == (WAITING, expect.value)
    assert emu.receipts == []
    assert [x.state for x in seen] == ["PRINTING", "WAITING"]
    # Waiting jobs keep their reason while the printer stays broken.
    assert sp.run_once().reason == expect.value  # type: ignore[union-attr]  # a job is open, so run_once returns its view
    # Recovery: paper loaded / cover closed / power back on.
    if fault == "power_cycle":
        emu.power_cycle()
    else:
        emu.set_fault("ready")
    assert sp.run_once().state == DONE  # type: ignore[union-attr]  # a job is open, so run_once returns its view
    assert sp.run_once() is None
    complete = [t for t in emu.receipt_texts if "TOTAL    28,000 IQD" in t]
    assert len(complete) == 1
    assert complete[0][0] == "*** REPRINT ***"
    # Only the cover-open case leaves a half receipt on the paper; it is cut off first.
    assert len(emu.receipts) == (2 if fault == "cover_open" else 1)
    assert emu.decode_errors == []


def test_same_receipt_key_prints_once(emulated, tmp_path: Path) -> None:
    emu, drv = emulated
    sp = _spooler(tmp_path, drv)
    a = sp.journal.submit("pay-9", "payment", r.sample_data())
    b = sp.journal.submit("pay-9", "payment", r.sample_data())
    assert a.id == b.id
    while sp.run_once() is not None:
        pass
    sp.journal.submit("pay-9", "payment", r.sample_data())
    assert sp.run_once() is None
    assert len(emu.receipts) == 1


def test_job_left_printing_by_a_dead_process_is_reprinted(emulated, tmp_path: Path) -> None:
    emu, drv = emulated
    sp = _spooler(tmp_path, drv)
    job = sp.journal.submit("pay-3", "payment", r.sample_data())
    sp.journal._set(job.id, state="PRINTING", started=True)  # what a crash mid-print leaves
    store2 = KioskStore(tmp_path / "store")  # the restarted process
    sp2 = PrintSpooler(PrintJournal(store2), drv, PROFILE)
    assert sp2.run_once().state == DONE  # type: ignore[union-attr]  # a job is open, so run_once returns its view
    assert emu.receipt_texts[0][0] == "*** REPRINT ***"


def test_dead_printer_gives_up_after_its_bounded_status_wait(emulated, tmp_path: Path) -> None:
    """A silent printer is NO_RESPONSE after the wait the driver was configured with
    (status_timeout=0.5 here, never more than 3 s), not a hang. The bound is read from
    what the driver says it waited, not from a wall clock: on a loaded machine the wait
    itself may be late, the bound it chose may not."""
    emu, drv = emulated
    drv.status_timeout = 0.5
    emu.set_fault("dead")
    with pytest.raises(PrinterUnavailable) as e:
        drv.status()
    assert e.value.state is PrinterState.NO_RESPONSE
    assert "no status reply within 0.5s" in str(e.value)
    # after a long job the wait grows with the bytes still in flight, but is capped
    drv._since_query = 10**9
    with pytest.raises(PrinterUnavailable, match=r"no status reply within 3\.0s"):
        drv.status()
    sp = _spooler(tmp_path, drv)
    sp.journal.submit("pay-4", "payment", r.sample_data())
    v = sp.run_once()
    assert v is not None and (v.state, v.reason) == (WAITING, "no_response")


def test_unplugged_port_is_no_response_not_a_hang(tmp_path: Path) -> None:
    drv = EscPosPrinter(str(tmp_path / "no-such-tty"), 9600)
    with pytest.raises(PrinterUnavailable) as e:
        drv.status()
    assert e.value.state is PrinterState.NO_RESPONSE
    assert "no-such-tty" in str(e.value)  # the error names the port that is missing


def test_status_bytes_inside_image_data_do_not_confuse_the_driver(emulated) -> None:
    emu, drv = emulated
    # An image whose data contains DLE EOT 1..4: the printer answers them (as
    # real ones do); the driver must still read its own status correctly.
    data = (b"\x10\x04\x01" + b"\x10\x04\x04") * 8
    blocks = [cmd.INIT, cmd.raster(6, 8, data), cmd.cut()]
    emu.set_fault("paper_near_end")
    drv.print_blocks(blocks)
    assert drv.state() is PrinterState.PAPER_NEAR_END
    assert emu.status_requests >= 16 + 4
    assert len(emu.receipts) == 1


def test_screen_learns_about_paper_out_from_the_background_loop(emulated, tmp_path: Path) -> None:
    """The spooler's loop reports WAITING(paper_end) to the screen by itself, and DONE once
    paper is back. How soon is bench/ material (the loop retries every 0.2 s here)."""
    emu, drv = emulated
    seen: list = []
    sp = _spooler(tmp_path, drv, seen)
    stop = threading.Event()
    emu.set_fault("paper_end")
    t = threading.Thread(target=sp.run_forever, args=(stop, 0.2), daemon=True)
    t.start()
    try:
        sp.journal.submit("pay-5", "payment", r.sample_data())
        support.wait_until(lambda: any(v.reason == "paper_end" for v in seen),
                           what="WAITING(paper_end) reported")
        assert emu.receipts == []
        emu.set_fault("ready")
        support.wait_until(lambda: any(v.state == DONE for v in seen), what="DONE")
    finally:
        stop.set()
        t.join(5)
    assert len(emu.receipts) == 1


def test_driver_speaks_to_a_printer_over_socket_url(tmp_path: Path) -> None:
    """serial_for_url: the same driver over socket:// (a network printer / serial server)."""
    import socket

    from kiosk.devices.printer_emulator import PrinterEmulator

    emu = PrinterEmulator(576)
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        conn.settimeout(0.1)
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                reply = emu.handle(data)
                if reply:
                    conn.sendall(reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    drv = EscPosPrinter(f"socket://127.0.0.1:{port}", 9600)
    try:
        assert drv.state() is PrinterState.READY
        drv.print_blocks(r.render_receipt_blocks(r.load_template("payment"), r.sample_data(),
                                                 PROFILE))
        emu.set_fault("cover_open")
        assert drv.state() is PrinterState.COVER_OPEN
    finally:
        drv.close()
        stop.set()
        t.join(5)
        srv.close()
    assert len(emu.receipts) == 1


def test_big_rasters_are_split_so_status_comes_often(emulated) -> None:
    from kiosk.devices.printer_driver import split_raster

    emu, drv = emulated
    data = bytes(range(256)) * 9  # 72 bytes x 32 rows
    block = cmd.align("center") + cmd.raster(72, 32, data)
    parts = split_raster(block, 600)
    assert len(parts) == 4 and all(p.startswith(cmd.align("center")) for p in parts)
    assert all(len(p) <= 600 + 11 for p in parts)
    assert b"".join(p[11:] for p in parts) == data
    before = emu.status_requests
    slow = EscPosPrinter(drv.port, 9600, status_timeout=0.5)  # 9600 baud: ~960-byte blocks
    slow.print_blocks([cmd.INIT, cmd.raster(72, 100, bytes(7200)), cmd.cut()])
    slow.close()
    assert emu.status_requests - before >= 4 * 9  # a status check after every ~1 s of wire time
    assert len(emu.receipts) == 0  # an all-white picture is blank paper: no receipt
    assert split_raster(b"\x1dv0\x00", 10) == [b"\x1dv0\x00"]  # truncated: left alone


def test_printer_without_status_support_prints_blind(emulated) -> None:
    emu, drv = emulated
    blind = EscPosPrinter(drv.port, 115200, status_supported=False)
    blind.print_blocks(r.render_receipt_blocks(r.load_template("payment"), r.sample_data(), PROFILE))
    blind.close()
    support.wait_until(lambda: len(emu.receipts) == 1, timeout=5, what="the blind job printed")
    assert emu.status_requests == 0


def test_make_spooler_from_a_profile_and_screen_status(emulated, tmp_path: Path) -> None:
    from firmware_config.profiles import load_profile, profile_dict
    from kiosk.payments.print_journal import make_spooler, screen_status

    emu, drv = emulated
    emu.set_fault("cover_open")
    sp = make_spooler(KioskStore(tmp_path / "s"), profile_dict(load_profile("epson_tm_t20ii_80mm")),
                      drv.port)
    sp.journal.submit("pay-x", "payment", r.sample_data())
    sp.run_once()
    s = screen_status(sp)
    assert s["printer_state"] == "cover_open" and s["job"]["state"] == WAITING
    assert s["job"]["message"] == "Printer cover is open"
    emu.set_fault("ready")
    sp.run_once()
    assert screen_status(sp)["open_jobs"] == 0 and len(emu.receipts) == 1
    sp.printer.close()
