"""Camera frame or photo -> raw payload bytes of each QR code in it.

The pure decoding step of the camera scanner: zbar in binary mode (no charset
guessing), QR only, one contrast-stretched retry. It lives in contract so that
central's `docs verify --image` uses the very same call; this module is the
kiosk's device-side name for it (the camera scanner driver imports it here).
"""

from __future__ import annotations

from typing import Any

from contract.qr_decode import decode_file, decode_image, single_text

__all__ = ["decode_file", "decode_frame", "decode_image", "single_text"]


def decode_frame(frame: Any, thorough: bool = True) -> list[bytes]:
    """One camera frame (OpenCV BGR/gray array or PIL image) -> payloads, [] if none.

    A live loop can pass thorough=False (one half-density pass) and try the next frame."""
    return decode_image(frame, thorough)
