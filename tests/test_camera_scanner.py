"""Camera QR scanning: zbar binary mode on frames, and a generated MJPG video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import UrError
from kiosk.devices.camera_scanner import CameraError, CameraScanner, decode_frame


def qr_frame(data: bytes | str, size: tuple[int, int] = (640, 480), scale: int = 5,
             at: tuple[int, int] = (40, 40)) -> np.ndarray:
    # Bytes are forced into byte mode (segno would pick Kanji mode for some pairs).
    q = segno.make_qr(data, error="m", mode="byte" if isinstance(data, bytes) else None)
    m = np.array([[0 if v else 255 for v in row] for row in q.matrix], dtype=np.uint8)
    m = np.pad(m, 4, constant_values=255).repeat(scale, 0).repeat(scale, 1)
    frame = np.full((size[1], size[0]), 255, dtype=np.uint8)
    frame[at[1]:at[1] + m.shape[0], at[0]:at[0] + m.shape[1]] = m
    return frame


def test_binary_mode_keeps_utf8_and_raw_bytes() -> None:
    # Short Arabic/Kurdish UTF-8 is exactly what zbar's charset guess corrupts.
    for text in ["سلاو", "ڕێگا ١٢", "مرحبا", "ئەم"]:
        assert decode_frame(qr_frame(text.encode())) == [text.encode()]
    raw = bytes(range(0, 256, 3))
    assert decode_frame(qr_frame(raw)) == [raw]


def test_no_code_and_bad_input() -> None:
    assert decode_frame(np.full((480, 640), 255, np.uint8)) == []
    with pytest.raises(UrError, match="uint8"):
        decode_frame(np.zeros((4, 4), np.float32))


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=40))
def test_fuzz_random_payloads_round_trip(data: bytes) -> None:
    assert decode_frame(qr_frame(data)) == [data]


def _video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (1280, 960))
    assert w.isOpened()
    for f in frames:
        w.write(cv2.cvtColor(cv2.resize(f, (1280, 960), interpolation=cv2.INTER_NEAREST),
                             cv2.COLOR_GRAY2BGR))
    w.release()


def test_video_file_codes_once_each_with_downscale_and_fps_cap(tmp_path: Path) -> None:
    blank = np.full((480, 640), 255, np.uint8)
    a, b = qr_frame("UR1:FIRST"), qr_frame("ڕەسید ٧", at=(300, 150))
    frames = [blank] * 5 + [a] * 30 + [blank] * 10 + [b] * 30 + [blank] * 5
    path = tmp_path / "scan.avi"
    _video(path, frames)  # 1280x960: the scanner downscales to 640
    cam = CameraScanner(str(path), max_fps=10, max_width=640, realtime=False)
    got = [c.data for c in cam.codes()]
    assert got == [b"UR1:FIRST", "ڕەسید ٧".encode()]
    assert cam.frames_read == len(frames)
    assert cam.frames_decoded == len(frames) // 3 + (1 if len(frames) % 3 else 0)


def test_missing_camera_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="cannot open"):
        list(CameraScanner(str(tmp_path / "none.avi")).codes())


def test_scanner_device_codes_from_a_camera_profile_and_cli_scan_test(tmp_path: Path) -> None:
    import threading

    from firmware_config.profiles import load_profile, profile_dict
    from kiosk.devices import scanner_device
    from tests import support

    path = tmp_path / "cam.avi"
    _video(path, [qr_frame("UR1:CAM")] * 20)
    prof = profile_dict(load_profile("usb_camera"))
    got = list(scanner_device.codes(prof, str(path), threading.Event()))
    assert [c.data for c in got] == [b"UR1:CAM"]
    r = support.run_cli(["ur-kiosk", "devices", "test", "scanner", "--profile", "usb_camera",
                         "--port", str(path), "--timeout", "5"])
    assert r.returncode == 0 and "code: UR1:CAM" in r.stdout, r.stdout + r.stderr
    r = support.run_cli(["ur-kiosk", "devices", "diagnose", "--profile", "usb_camera",
                         "--port", str(tmp_path / "missing.avi")])
    assert r.returncode == 1 and "unavailable" in r.stdout
