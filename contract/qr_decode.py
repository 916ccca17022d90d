"""Image -> raw payload bytes of every QR code in it (zbar in binary mode).

zbar guesses a charset for byte-mode QR and transcodes, corrupting payloads
(many short Arabic/Kurdish UTF-8 payloads come back wrong); ZBAR_CFG_BINARY makes it hand back the bytes as
encoded. Only QR is enabled (no EAN false positives from text on a letter).
If a frame yields nothing, a contrast-stretched copy is tried once, which
rescues faded or noisy photos at little cost. Shared by central (`--image`)
and the kiosk camera scanner (kiosk.devices.qr_image_decoder).
"""

from __future__ import annotations

import ctypes
from typing import Any

import cv2
import numpy as np
from PIL import Image
from pyzbar import pyzbar
from pyzbar.wrapper import (
    ZBarConfig,
    ZBarSymbol,
    zbar_image_scanner_set_config,
    zbar_image_set_data,
    zbar_image_set_format,
    zbar_image_set_size,
    zbar_scan_image,
)

from contract.errors import UrError

ZBAR_CFG_BINARY = 4  # zbar >= 0.23; pyzbar 0.1.9 predates it
ZBAR_CFG_X_DENSITY, ZBAR_CFG_Y_DENSITY = 0x100, 0x101  # scan every n-th line
_Y800 = pyzbar._FOURCC["L800"]


def _gray(image: Any) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"))
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            return image.astype(np.uint8, copy=False)
        if image.ndim == 3 and image.shape[2] in (3, 4):
            # OpenCV frames are BGR(A); cvtColor is ~50x faster than numpy arithmetic here.
            code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
            return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), code)
    raise UrError("image must be a PIL image or a 2-D/3-D uint8 array")


def _scan(gray: np.ndarray, density: int = 1) -> list[bytes]:
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = gray.shape
    data = gray.tobytes()
    out: list[bytes] = []
    with pyzbar._image_scanner() as scanner:
        zbar_image_scanner_set_config(scanner, ZBarSymbol.NONE, ZBarConfig.CFG_ENABLE, 0)
        zbar_image_scanner_set_config(scanner, ZBarSymbol.QRCODE, ZBarConfig.CFG_ENABLE, 1)
        zbar_image_scanner_set_config(scanner, ZBarSymbol.QRCODE, ZBAR_CFG_BINARY, 1)
        zbar_image_scanner_set_config(scanner, ZBarSymbol.NONE, ZBAR_CFG_X_DENSITY, density)
        zbar_image_scanner_set_config(scanner, ZBarSymbol.NONE, ZBAR_CFG_Y_DENSITY, density)
        with pyzbar._image() as img:
            zbar_image_set_format(img, _Y800)
            zbar_image_set_size(img, w, h)
            zbar_image_set_data(img, ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), len(data), None)
            if zbar_scan_image(scanner, img) < 0:
                raise UrError("zbar could not scan the image")
            for sym in pyzbar._symbols_for_image(img):
                out.append(ctypes.string_at(pyzbar.zbar_symbol_get_data(sym),
                                            pyzbar.zbar_symbol_get_data_length(sym)))
    return out


def decode_image(image: Any, thorough: bool = True) -> list[bytes]:
    """Every QR payload in the image, as the exact bytes encoded (empty list if none).

    First pass scans every second line (half the time; enough at >= 3 px/module).
    `thorough` adds a full-density pass and then a denoised, contrast-stretched one
    for hard photos; a camera loop may pass thorough=False and rely on the next frame.
    """
    gray = _gray(image)
    if gray.size == 0:
        return []
    found = _scan(gray, 2)
    if found or not thorough:
        return found
    found = _scan(gray, 1)
    if found:
        return found
    lo, hi = np.percentile(gray, (2, 98))
    if hi - lo > 8:
        smooth = cv2.medianBlur(gray, 3).astype(np.float32)
        stretched = np.clip((smooth - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        return _scan(stretched, 1)
    return []


def decode_file(path: str) -> list[bytes]:
    try:
        with Image.open(path) as im:
            im.load()
            return decode_image(im)
    except (OSError, Image.DecompressionBombError) as e:
        raise UrError(f"cannot read image {path}: {e}") from None


def single_text(payloads: list[bytes]) -> str:
    """The one code's text from a frame's payloads; refuses none, several, or non-ASCII."""
    distinct = list(dict.fromkeys(payloads))
    if not distinct:
        raise UrError("no QR code found in the image")
    if len(distinct) > 1:
        raise UrError(f"{len(distinct)} different QR codes in the image; show one code at a time")
    try:
        return distinct[0].decode("ascii")
    except UnicodeDecodeError:
        raise UrError("QR payload is not ASCII text (not a UR1 code)") from None
