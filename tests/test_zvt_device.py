"""terminal_device: emulate() as a real process on its own pty, test() and diagnose()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from contract.errors import ValidationError
from kiosk.devices import terminal_device
from kiosk.devices.zvt_emulator import Knobs
from tests.support import REPO, wait_until

PROFILE = REPO / "firmware_config" / "profiles" / "zvt_terminal_generic.toml"

SCRIPT = """
import json, sys
from kiosk.devices.terminal_device import emulate
emulate(json.loads(sys.argv[1]), lambda path: (print(path, flush=True)))
print("stopped", flush=True)
"""


def spawn_emulator(options: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    import json

    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(options)], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("/dev/"), f"no device path from emulator: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    return proc, line


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return out


def profile() -> dict:
    return tomllib.loads(PROFILE.read_text())


def test_sample_profile_has_the_terminal_keys() -> None:
    p = profile()
    assert p["kind"] == "terminal" and p["model"]
    s = terminal_device.terminal_settings(p)
    assert (s["baudrate"], s["bytesize"], s["parity"], s["stopbits"], s["currency"], s["exponent"]) == (
        9600, 8, "N", 2, 368, 0)


def test_emulate_process_test_and_diagnose(tmp_path: Path) -> None:
    proc, dev = spawn_emulator({}, tmp_path)
    try:
        t = terminal_device.test(profile(), dev)
        assert t["ok"] and t["state"] == "ready" and t["details"]["terminal_id"] == "52500123"
        d = terminal_device.diagnose(profile(), dev)
        assert d["ok"] and d["state"] == "ready"
    finally:
        out = stop(proc)
    assert proc.returncode == 0 and "stopped" in out


def test_emulate_busy_is_diagnosed_busy(tmp_path: Path) -> None:
    proc, dev = spawn_emulator({"fault": "busy"}, tmp_path)
    try:
        d = terminal_device.diagnose(profile(), dev)
        assert not d["ok"] and d["state"] == "busy" and d["details"]["status_code"] == "9C"
        assert terminal_device.diagnose(profile(), dev)["ok"]
    finally:
        stop(proc)


def test_dead_terminal_reports_unavailable(tmp_path: Path) -> None:
    proc, dev = spawn_emulator({"fault": "drop_ack", "ack_timeout_s": "0.2"}, tmp_path)
    try:
        p = profile()
        p["terminal"]["timeout_s"] = 2
        t = terminal_device.test(p, dev)
        assert not t["ok"] and t["state"] == "unavailable"
    finally:
        stop(proc)


def test_missing_port_is_unavailable() -> None:
    t = terminal_device.test(profile(), "/dev/no-such-terminal")
    assert not t["ok"] and t["state"] == "unavailable" and "cannot open" in t["details"]["error"]


def test_bad_profile_names_the_field() -> None:
    with pytest.raises(ValidationError, match="password: must be exactly 6 digits"):
        terminal_device.terminal_settings({"terminal": {"port": "/dev/x", "password": "12"}})


def test_knob_options_parse_and_reject() -> None:
    k = Knobs.from_options({"fault": "busy=2,decline=6C,full_pan", "card": "mastercard"})
    assert (k.busy, k.decline, k.full_pan, k.card) == (2, 0x6C, True, "mastercard")
    with pytest.raises(ValidationError, match="unknown knob 'melt'"):
        Knobs.from_options({"fault": "melt"})


def test_emulate_stops_on_sigint(tmp_path: Path) -> None:
    proc, dev = spawn_emulator({}, tmp_path)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped" in out
    wait_until(lambda: proc.poll() is not None, 5, what="emulator exit")
