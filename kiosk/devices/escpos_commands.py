"""ESC/POS command bytes the kiosk sends (the subset our receipts use).

One function per command, each returning bytes; the emulator's decoder
(escpos_decoder) reads exactly this set back.
"""

from __future__ import annotations

from contract.errors import UrError

ESC = 0x1B
GS = 0x1D

INIT = b"\x1b@"
LF = b"\n"

ALIGN = {"left": 0, "center": 1, "right": 2}


def align(where: str) -> bytes:
    if where not in ALIGN:
        raise UrError(f"alignment {where!r} is not one of {sorted(ALIGN)}")
    return bytes([ESC, 0x61, ALIGN[where]])


def print_mode(*, bold: bool = False, double_height: bool = False,
               double_width: bool = False) -> bytes:
    """ESC ! n: font A, bold bit 3, double height bit 4, double width bit 5."""
    n = (0x08 if bold else 0) | (0x10 if double_height else 0) | (0x20 if double_width else 0)
    return bytes([ESC, 0x21, n])


def code_page(n: int) -> bytes:
    if not 0 <= n <= 255:
        raise UrError(f"code page number {n} is outside 0..255")
    return bytes([ESC, 0x74, n])


def feed_lines(n: int) -> bytes:
    return bytes([ESC, 0x64, max(0, min(255, n))])


def feed_dots(n: int) -> bytes:
    return bytes([ESC, 0x4A, max(0, min(255, n))])


def cut(partial: bool = False) -> bytes:
    """GS V 65/66 n: feed to the cutter and cut (full or partial)."""
    return bytes([GS, 0x56, 66 if partial else 65, 0])


def raster(width_bytes: int, rows: int, data: bytes, mode: int = 0) -> bytes:
    """GS v 0: one raster bit image, MSB = leftmost dot, 1 = black.

    mode 0 normal, 1 double width, 2 double height, 3 quadruple (each bit 2 x 2 dots).
    """
    if mode not in (0, 1, 2, 3):
        raise UrError(f"raster mode {mode} is not 0..3")
    if width_bytes <= 0 or rows <= 0 or len(data) != width_bytes * rows:
        raise UrError(f"raster of {width_bytes} bytes x {rows} rows needs "
                      f"{width_bytes * rows} data bytes, got {len(data)}")
    if width_bytes > 0xFFFF or rows > 0xFFFF:
        raise UrError("raster image too large for GS v 0")
    return bytes([GS, 0x76, 0x30, mode, width_bytes & 0xFF, width_bytes >> 8,
                  rows & 0xFF, rows >> 8]) + data


def _qr_fn(fn: int, payload: bytes) -> bytes:
    size = len(payload) + 2
    return bytes([GS, 0x28, 0x6B, size & 0xFF, size >> 8, 49, fn]) + payload


def qr_native(data: bytes, module_dots: int = 6, ecc: str = "M") -> bytes:
    """GS ( k: model 2, module size, error level, store, print (cn = 49)."""
    levels = {"L": 48, "M": 49, "Q": 50, "H": 51}
    if ecc not in levels:
        raise UrError(f"QR error level {ecc!r} is not one of L, M, Q, H")
    if not 1 <= module_dots <= 16:
        raise UrError(f"QR module size {module_dots} is outside 1..16 dots")
    if len(data) > 7089:
        raise UrError(f"QR data of {len(data)} bytes is too long")
    return (
        _qr_fn(65, bytes([50, 0]))
        + _qr_fn(67, bytes([module_dots]))
        + _qr_fn(69, bytes([levels[ecc]]))
        + _qr_fn(80, bytes([48]) + data)
        + _qr_fn(81, bytes([48]))
    )


BARCODE_SYSTEMS = {"UPC-A": 65, "EAN13": 67, "EAN8": 68, "CODE39": 69, "ITF": 70, "CODABAR": 71, "CODE128": 73}


def barcode(data: bytes, system: str = "EAN13", height: int = 80, module: int = 2, hri: int = 2) -> bytes:
    """GS h / GS w / GS H, then GS k in its length-prefixed form (m = 65..73)."""
    if system not in BARCODE_SYSTEMS:
        raise UrError(f"bar code system {system!r} is not one of {sorted(BARCODE_SYSTEMS)}")
    if not 1 <= len(data) <= 255 or not 1 <= height <= 255 or not 2 <= module <= 6 or hri not in (0, 1, 2, 3):
        raise UrError("bar code: 1..255 data bytes, height 1..255 dots, module 2..6, text position 0..3")
    return (bytes([GS, 0x68, height, GS, 0x77, module, GS, 0x48, hri, GS, 0x6B, BARCODE_SYSTEMS[system], len(data)])
            + data)
