"""`ur-kiosk emulate`, `devices ...`, `config validate` as real processes on real ptys."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kiosk import device_health
from tests import support


@contextmanager
def emulator(kind: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = dict(os.environ, PYTHONPATH=str(support.REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "emulate", kind, *args],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path, proc.stderr.read() if proc.stderr else ""
        yield proc, path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _control(proc: subprocess.Popen[str], line: str) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def test_emulate_printer_test_print_faults_and_clean_exit(tmp_path: Path) -> None:
    out = tmp_path / "receipts"
    with emulator("printer", "--out", str(out), "--stdin") as (proc, port):
        assert port.startswith("/dev/pts/")
        r = support.run_cli(["ur-kiosk", "devices", "test", "printer",
                             "--profile", "epson_tm_t20ii_80mm", "--port", port])
        assert r.returncode == 0 and "OK (ready)" in r.stdout, r.stdout + r.stderr
        assert sorted(p.name for p in out.iterdir()) == ["receipt-0001.png"]
        assert _control(proc, "fault cover_open") == "ok fault cover_open"
        r = support.run_cli(["ur-kiosk", "--json", "devices", "diagnose",
                             "--profile", "epson_tm_t20ii_80mm", "--port", port])
        assert r.returncode == 1
        assert json.loads(r.stdout)["state"] == "cover_open"
        r = support.run_cli(["ur-kiosk", "devices", "test", "printer",
                             "--profile", "epson_tm_t20ii_80mm", "--port", port])
        assert r.returncode == 1 and "cover_open" in r.stdout
        assert _control(proc, "fault ready") == "ok fault ready"
        r = support.run_cli(["ur-kiosk", "devices", "apply-settings", "printer",
                             "--profile", "epson_tm_t20ii_80mm", "--port", port])
        assert r.returncode == 0 and "WPC1252" in r.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_emulate_printer_with_a_fault_from_the_command_line() -> None:
    with emulator("printer", "--fault", "paper_end") as (_proc, port):
        r = support.run_cli(["ur-kiosk", "devices", "diagnose", "--profile", "generic_58mm",
                             "--port", port])
        assert r.returncode == 1 and "paper_end" in r.stdout and "out of paper" in r.stdout


def test_unknown_fault_is_one_line_exit_2() -> None:
    r = support.run_cli(["ur-kiosk", "emulate", "printer", "--fault", "on_fire"], timeout=60)
    assert r.returncode == 2 and "unknown printer fault 'on_fire'" in r.stderr
    assert "Traceback" not in r.stderr


def test_emulate_scanner_scan_test_and_settings(tmp_path: Path) -> None:
    link = tmp_path / "scanner"
    with emulator("scanner", "--option", f"link={link}", "--option", "scan=UR1:HELLO",
                  "--option", "interval=0.3") as (_proc, port):
        assert port == str(link)
        r = support.run_cli(["ur-kiosk", "devices", "test", "scanner", "--profile",
                             "honeywell_1400g_serial", "--port", port, "--timeout", "10"])
        assert r.returncode == 0 and "code: UR1:HELLO" in r.stdout, r.stdout + r.stderr
        r = support.run_cli(["ur-kiosk", "devices", "apply-settings", "scanner", "--profile",
                             "honeywell_1400g_serial", "--port", port])
        assert r.returncode == 0 and "232BAD9: ack" in r.stdout, r.stdout + r.stderr


def test_scanner_test_without_scans_fails_cleanly(tmp_path: Path) -> None:
    with emulator("scanner", "--option", f"link={tmp_path / 's'}") as (_proc, port):
        r = support.run_cli(["ur-kiosk", "devices", "test", "scanner", "--profile",
                             "zebra_ds2208_serial", "--port", port, "--timeout", "0.5"])
        assert r.returncode == 1 and "no_scan" in r.stdout


def test_diagnose_a_device_map_and_health_snapshot(tmp_path: Path) -> None:
    with emulator("printer", "--stdin") as (proc, pport), \
            emulator("scanner", "--option", f"link={tmp_path / 'scn'}") as (_s, sport):
        m = tmp_path / "devices.toml"
        m.write_text(f'kiosk = "T1"\n[devices.printer]\nprofile = "epson_tm_t20ii_80mm"\n'
                     f'port = "{pport}"\n[devices.scanner]\nprofile = "honeywell_1400g_serial"\n'
                     f'port = "{sport}"\n[devices.camera]\nprofile = "usb_camera"\n'
                     f'enabled = false\n[devices.spare_printer]\nprofile = "generic_58mm"\n'
                     f'port = "{tmp_path / "unplugged"}"\n')
        r = support.run_cli(["ur-kiosk", "config", "validate", str(m)])
        assert r.returncode == 0 and "valid device map" in r.stdout
        r = support.run_cli(["ur-kiosk", "devices", "list", "--map", str(m)])
        assert r.returncode == 0 and "Epson TM-T20II" in r.stdout
        _control(proc, "fault paper_near_end")
        snap = device_health.snapshot(m)
        assert snap == {"printer": "paper_near_end", "scanner": "ready", "camera": "disabled",
                        "spare_printer": "no_response"}
        r = support.run_cli(["ur-kiosk", "--json", "devices", "diagnose", "--map", str(m)])
        assert r.returncode == 1  # the spare printer is unplugged
        assert json.loads(r.stdout)["printer"]["state"] == "paper_near_end"


def test_config_validate_errors_are_one_line(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('model="m"\nkind="scanner"\n[serial]\nparity="X"\n')
    r = support.run_cli(["ur-kiosk", "config", "validate", str(f)])
    assert r.returncode == 2 and "p.toml" in r.stderr and "serial.parity" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_terminal_through_the_same_cli() -> None:
    with emulator("terminal") as (_proc, port):
        r = support.run_cli(["ur-kiosk", "devices", "test", "terminal",
                             "--profile", "zvt_terminal_generic", "--port", port])
        assert r.returncode == 0, r.stdout + r.stderr
        r = support.run_cli(["ur-kiosk", "devices", "diagnose",
                             "--profile", "zvt_terminal_generic", "--port", port])
        assert r.returncode == 0, r.stdout + r.stderr


def test_diagnose_uses_the_data_dir_device_map(tmp_path: Path) -> None:
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path), "devices", "diagnose"])
    assert r.returncode == 2 and "no device map" in r.stderr
    (tmp_path / "devices.toml").write_text(
        f'[devices.printer]\nprofile = "generic_58mm"\nport = "{tmp_path / "gone"}"\n')
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path), "devices", "diagnose"])
    assert r.returncode == 1 and "no_response" in r.stdout
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path), "devices", "list"])
    assert r.returncode == 0 and "ZJ-5870" in r.stdout
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path), "devices", "list", "--profiles"])
    assert r.returncode == 0 and "honeywell_1400g_serial" in r.stdout
