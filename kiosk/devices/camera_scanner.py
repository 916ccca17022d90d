"""QR codes from a camera (or a video file) for kiosks without a serial scanner.

Why zbar through its C API: pyzbar's `decode()` cannot switch on zbar's binary
mode, and without it zbar guesses a charset for byte-mode QR and corrupts many
short UTF-8 payloads (133 of 440 random Arabic/Kurdish strings came back wrong). `decode_frame` enables
ZBAR_CFG_BINARY (4) for QR only and returns the raw bytes. The camera loop caps
the frame rate, downscales large frames and reports each code once while it
stays in view, as the same `ScannedCode` events the serial scanner yields.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from contract import qr_decode
from contract.errors import UrError
from kiosk.devices.scanner_framing import ScannedCode

log = logging.getLogger(__name__)

class CameraError(UrError):
    """The camera or video source cannot be opened or read."""


def decode_frame(gray: np.ndarray) -> list[bytes]:
    """QR payloads (raw bytes, zbar binary mode) found in one 8-bit grey frame.

    The one decoder the kiosk and central share (contract.qr_decode); this name
    keeps the camera loop's contract: a 2-D uint8 frame in, payloads out."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise UrError(f"decode_frame needs a 2-D uint8 grey image, got {gray.dtype} {gray.shape}")
    if gray.size == 0:
        return []
    return qr_decode.decode_image(gray, thorough=True)


def to_gray(frame: np.ndarray, max_width: int) -> np.ndarray:
    import cv2  # 0.10-0.14 s on top of numpy (python -X importtime): only with a camera

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
        import cv2  # 0.10-0.14 s on top of numpy (python -X importtime): only with a camera

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
