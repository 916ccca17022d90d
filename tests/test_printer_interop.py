"""The printer emulator against python-escpos, a client nobody here wrote, over raw
TCP (port-9100 style); and our driver over the network and over a USB-printer-class
style device file (a pty opened as a plain file, as /dev/usb/lp0 is by usblp).

What the field found and each test pins: python-escpos's EAN-13 (GS k) must print
with the rest of the receipt, its Arabic text goes out as ESC t 32 (CP720 in
Epson's numbering) and must read back as Arabic, and an unknown command never drops
a receipt.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from escpos.printer import Network
from PIL import Image

from kiosk.devices import escpos_decoder as dec
from kiosk.devices.printer_driver import EscPosPrinter
from kiosk.devices.printer_emulator import PrinterEmulator
from kiosk.devices.receipt_image import Paper, code_pages_of
from tests.support import PtyPair


@contextmanager
def network_printer(model: str = "TM-T20II") -> Iterator[tuple[PrinterEmulator, int]]:
    emu = PrinterEmulator(576, model=model)
    t, stop, port = emu.start_tcp_thread()
    try:
        yield emu, port
    finally:
        stop.set()
        t.join(5)


def wait_receipts(emu: PrinterEmulator, n: int) -> None:
    """Bounded wait for the emulator to have cut `n` receipts (bytes still in flight)."""
    done = threading.Event()
    for _ in range(200):
        if len(emu.receipts) >= n:
            done.set()
            break
        done.wait(0.025)
    assert len(emu.receipts) >= n, f"emulator cut {len(emu.receipts)} receipts, want {n}"


def test_python_escpos_receipt_with_styles_qr_image_barcode_arabic_and_cut() -> None:
    with network_printer() as (emu, port):
        p = Network("127.0.0.1", port, profile="TM-T20II")
        p.set(align="center", bold=True, double_height=True)
        p.text("Ur Kiosk\n")
        p.set(align="left", bold=False, normal_textsize=True)
        p.text("Receipt 0042\n")
        p.qr("UR1:ABC", native=True, size=4)
        p.image(Image.new("1", (64, 16), 0))
        p.barcode("4006381333931", "EAN13", height=60, width=2, pos="BELOW")
        p.text("مرحبا\n")
        p.cut()
        p.close()
        wait_receipts(emu, 1)
    text = emu.receipt_texts[0]
    assert "Ur Kiosk" in text and "Receipt 0042" in text
    assert "[barcode ean13 4006381333931]" in text
    assert "مرحبا" in text  # ESC t 32 is CP720 on this model: Arabic, not 'Ω⌐Ñáƒ'
    assert emu.unknown_commands == [] and emu.decode_errors == []
    assert emu.receipts[0].height > 300  # QR, image and bars are on the paper


@pytest.mark.parametrize("fault,online,paper", [
    ("ready", True, 2), ("paper_near_end", True, 1), ("paper_end", False, 0),
    ("cover_open", False, 2), ("offline", False, 2),
])
def test_python_escpos_status_calls_under_each_fault(fault: str, online: bool, paper: int) -> None:
    with network_printer() as (emu, port):
        emu.set_fault(fault)
        p = Network("127.0.0.1", port, profile="TM-T20II")
        try:
            assert p.is_online() is online
            assert p.paper_status() == paper
        finally:
            p.close()


def test_unknown_command_keeps_the_receipt_and_marks_the_place() -> None:
    with network_printer() as (emu, port):
        p = Network("127.0.0.1", port, profile="TM-T20II")
        p.text("before\n")
        p._raw(b"\x1b\x99")  # ESC 0x99: no such command
        p.text("after\n")
        p.cut()
        p.close()
        wait_receipts(emu, 1)
    assert "before" in emu.receipt_texts[0] and "after" in emu.receipt_texts[0]
    assert emu.unknown_commands == ["unknown command ESC 0x99"]


def test_code_pages_follow_the_models_numbering() -> None:
    epson = code_pages_of("TM-T20II")
    assert (epson[32], epson[37], epson[50]) == ("cp720", "cp864", "cp1256")
    assert code_pages_of("RP326")[27] == "cp720"  # another model, another number for CP720
    paper = Paper(384, code_pages=epson)
    for e in dec.EscPosDecoder().receive_data(b"\x1bt\x20" + "سلام".encode("cp720") + b"\n"):
        paper.apply(e)
    assert paper.text_lines == ["سلام"]


def test_barcode_both_forms_and_params_decode() -> None:
    evs = dec.EscPosDecoder().receive_data(
        b"\x1dh\x50\x1dw\x02\x1dH\x02\x1df\x00" + b"\x1dk\x02400638133393\x00" + b"\x1dkI\x08{BUR-123")
    assert dec.Barcode(2, b"400638133393") in evs and dec.Barcode(73, b"{BUR-123") in evs
    assert dec.BarcodeParam(0x68, 0x50) in evs
    paper = Paper(576)
    for e in evs:
        paper.apply(e)
    assert paper.text_lines == ["[barcode ean13 4006381333931]", "[barcode code128 UR-123]"]


def test_our_driver_on_a_network_printer_prints_and_reads_status() -> None:
    with network_printer() as (emu, port):
        with EscPosPrinter(f"tcp://127.0.0.1:{port}") as p:
            st = p.print_blocks([b"\x1b@network\n", b"\x1dVA\x00"])
            assert st.state.can_print
            emu.set_fault("paper_end")
            assert p.state().value == "paper_end"
        wait_receipts(emu, 1)
    assert "network" in emu.receipt_texts[0]


def test_our_driver_on_a_usb_printer_class_device_file(pty: PtyPair) -> None:
    # usblp's /dev/usb/lp0 is a device file written (and, bidirectional, read) like a
    # file; a pty slave opened the same way stands in for it.
    emu = PrinterEmulator(576)
    t, stop = emu.start_thread(pty.fd)
    try:
        with EscPosPrinter(f"usb:{pty.device}") as p:
            st = p.print_blocks([b"\x1b@usb class\n", b"\x1dVA\x00"])
            assert st.state.can_print
            emu.set_fault("cover_open")
            assert p.state().value == "cover_open"
        wait_receipts(emu, 1)
    finally:
        stop.set()
        t.join(5)
    assert "usb class" in emu.receipt_texts[0]


def test_python_escpos_file_printer_usb_class_style(pty: PtyPair) -> None:
    # python-escpos's File printer is how it drives /dev/usb/lp0: a plain file write.
    from escpos.printer import File

    emu = PrinterEmulator(576, model="TM-T20II")
    t, stop = emu.start_thread(pty.fd)
    try:
        p = File(pty.device, profile="TM-T20II")
        p.text("usblp\n")
        p.barcode("4006381333931", "EAN13")
        p.cut()
        p.close()
        wait_receipts(emu, 1)
    finally:
        stop.set()
        t.join(5)
    assert "usblp" in emu.receipt_texts[0] and "[barcode ean13 4006381333931]" in emu.receipt_texts[0]
