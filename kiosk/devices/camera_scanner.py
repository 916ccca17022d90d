"""QR codes from a camera (or a video file) for kiosks without a serial scanner.

Why zbar through its C API: pyzbar's `decode()` cannot switch on zbar's binary
mode, and without it zbar guesses a charset for byte-mode QR and corrupts many
short UTF-8 payloads (FIELD_NOTES "QR"). `decode_frame` enables
ZBAR_CFG_BINARY (4) for QR only and returns the raw bytes. The camera loop caps
the frame rate, downscales large frames and reports each code once while it
stays in view, as the same `ScannedCode` events the serial scanner yields.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from contract.errors import UrError
from kiosk.devices.scanner_framing import ScannedCode

log = logging.getLogger(__name__)

ZBAR_QRCODE = 64
ZBAR_NONE = 0
ZBAR_CFG_ENABLE = 0
ZBAR_CFG_BINARY = 4
_Y800 = 0x30303859  # fourcc 'Y800': 8-bit grey


class CameraError(UrError):
    """The camera or video source cannot be opened or read."""


def decode_frame(gray: np.ndarray) -> list[bytes]:
    """QR payloads (raw bytes, binary mode) found in one 8-bit grey frame."""
    from pyzbar import wrapper as zw

    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise UrError(f"decode_frame needs a 2-D uint8 grey image, got {gray.dtype} {gray.shape}")
    h, w = gray.shape
    if w == 0 or h == 0:
        return []
    pixels = np.ascontiguousarray(gray).tobytes()
    scanner = zw.zbar_image_scanner_create()
    try:
        zw.zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0)
        zw.zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1)
        zw.zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1)
        img = zw.zbar_image_create()
        try:
            zw.zbar_image_set_format(img, _Y800)
            zw.zbar_image_set_size(img, w, h)
            buf = ctypes.create_string_buffer(pixels, len(pixels))
            zw.zbar_image_set_data(img, ctypes.cast(buf, ctypes.c_void_p), len(pixels), None)
            if zw.zbar_scan_image(scanner, img) < 0:
                raise UrError("zbar refused the frame")
            out: list[bytes] = []
            sym = zw.zbar_image_first_symbol(img)
            while sym:
                n = zw.zbar_symbol_get_data_length(sym)
                out.append(ctypes.string_at(zw.zbar_symbol_get_data(sym), n))
                sym = zw.zbar_symbol_next(sym)
            return out
        finally:
            zw.zbar_image_destroy(img)
    finally:
        zw.zbar_image_scanner_destroy(scanner)


def to_gray(frame: np.ndarray, max_width: int) -> np.ndarray:
    import cv2

    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = frame.shape[:2]
    if w > max_width:
        frame = cv2.resize(frame, (max_width, int(h * max_width / w)),
                           interpolation=cv2.INTER_AREA)
    return frame


class CameraScanner:
    """`source`: a device index (int or digits) or a video file path."""

    def __init__(self, source: int | str, *, max_fps: float = 10.0, max_width: int = 640,
                 repeat_after: float = 2.0, realtime: bool = True) -> None:
        self.source = int(source) if isinstance(source, str) and source.isdigit() else source
        self.max_fps = max_fps
        self.max_width = max_width
        self.repeat_after = repeat_after
        self.realtime = realtime  # a video file is paced like a camera unless False
        self.frames_read = 0
        self.frames_decoded = 0
        self.state = "closed"

    def codes(self, stop: threading.Event | None = None,
              clock: Callable[[], float] = time.monotonic) -> Iterator[ScannedCode]:
        import cv2

        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            self.state = "unavailable"
            raise CameraError(f"cannot open camera/video {self.source!r}")
        self.state = "ready"
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        stride = max(1, round(fps / self.max_fps)) if not self.realtime else 1
        period = 1.0 / self.max_fps
        last_seen: dict[bytes, float] = {}
        next_at = clock()
        try:
            while stop is None or not stop.is_set():
                ok, frame = cap.read()
                if not ok:
                    break
                self.frames_read += 1
                now = clock()
                if self.realtime:
                    if now < next_at:
                        continue  # over the frame-rate cap: skip decoding this frame
                    next_at = now + period
                elif (self.frames_read - 1) % stride:
                    continue
                self.frames_decoded += 1
                for data in decode_frame(to_gray(frame, self.max_width)):
                    t = self.frames_read / fps if not self.realtime else now
                    if t - last_seen.get(data, -1e9) >= self.repeat_after:
                        yield ScannedCode(data, "]Q1")
                    last_seen[data] = t
        finally:
            cap.release()
            self.state = "closed"
