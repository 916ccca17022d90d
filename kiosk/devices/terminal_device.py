"""The card terminal as a device kind: emulate / test / diagnose (called by the CLI).

`emulate` serves a ZVT terminal emulator on a fresh pseudo-terminal until SIGTERM or
SIGINT; `test` runs a registration (06 00), `diagnose` a status enquiry (05 01).
Profiles are dicts with the keys of firmware_config/profiles/zvt_terminal_generic.toml
(`[terminal]` table or the table's contents): port, baudrate, bytesize, parity,
stopbits, password, currency, exponent, timeout_s, card_wait_s; or, for ZVT over
TCP/IP (zvt_terminal_tcp.toml), transport = "tcp", host and port (default 20007).
With `emulate`, option tcp=PORT serves ZVT/TCP on 127.0.0.1:PORT instead of a pty.
"""

from __future__ import annotations

import os
import pty
import signal
import socket
import threading
import tty
from collections.abc import Callable
from typing import Any

from contract.errors import UrError, ValidationError
from kiosk.devices.emulator_host import stop_on_signals
from kiosk.devices.zvt_driver import (
    RESULT_TEXT,
    OutcomeUnknown,
    TerminalBusy,
    TerminalError,
    TerminalUnavailable,
    ZvtDriver,
)
from kiosk.devices.zvt_emulator import Knobs, TerminalEmulator, serve_fd, serve_socket

TCP_PORT = 20007  # ZVT over TCP/IP, the terminals' default

DEFAULTS: dict[str, Any] = {
    "baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 2,
    "password": "000000", "currency": 368, "exponent": 0, "timeout_s": 180.0, "card_wait_s": 60.0,
}


def terminal_settings(profile: dict[str, Any], port: str | None = None) -> dict[str, Any]:
    """Profile (whole or its [terminal] table) + defaults, checked; `port` wins."""
    table = profile.get("terminal", profile) if isinstance(profile, dict) else {}
    if not isinstance(table, dict):
        raise ValidationError("terminal profile: [terminal] must be a table")
    s = dict(DEFAULTS)
    s.update({k: v for k, v in table.items() if k in DEFAULTS or k in ("port", "host", "transport")})
    problems = []
    transport = s.get("transport", "serial")
    if transport == "tcp":
        # ZVT over TCP/IP: host + port (20007 unless the terminal is set up otherwise).
        tcp_port = s.get("port", TCP_PORT)
        if not s.get("host"):
            problems.append("host: missing (the terminal's IP address or name, for transport = \"tcp\")")
        elif not isinstance(tcp_port, int) or isinstance(tcp_port, bool) or not 0 < tcp_port < 65536:
            problems.append(f"port: must be a TCP port number 1..65535 for transport = \"tcp\", got {tcp_port!r}")
        else:
            s["port"] = f"tcp://{s['host']}:{tcp_port}"
    elif transport != "serial":
        problems.append(f"transport: must be \"serial\" or \"tcp\", got {transport!r}")
    if port:
        s["port"] = port
    if not s.get("port") and transport != "tcp":
        problems.append("port: missing (device path, tcp://host:port, socket://host:port or rfc2217://host:port)")
    pw = str(s["password"])
    if len(pw) != 6 or not pw.isdigit():
        problems.append("password: must be exactly 6 digits")
    for key in ("baudrate", "bytesize", "currency", "exponent"):
        if not isinstance(s[key], int) or isinstance(s[key], bool):
            problems.append(f"{key}: must be an integer, got {s[key]!r}")
    if s["parity"] not in ("N", "E", "O", "M", "S"):
        problems.append(f"parity: must be N, E, O, M or S, got {s['parity']!r}")
    if s["stopbits"] not in (1, 1.5, 2):
        problems.append(f"stopbits: must be 1, 1.5 or 2, got {s['stopbits']!r}")
    for key in ("timeout_s", "card_wait_s"):
        try:
            s[key] = float(s[key])
        except (TypeError, ValueError):
            problems.append(f"{key}: must be a number of seconds, got {s[key]!r}")
    if problems:
        raise ValidationError("terminal profile", problems)
    s["password"] = pw
    return s


def open_driver(profile: dict[str, Any], port: str | None = None, **overrides: Any) -> ZvtDriver:
    s = terminal_settings(profile, port)
    kw: dict[str, Any] = dict(
        baudrate=s["baudrate"], password=s["password"], timeout=s["timeout_s"],
        currency=s["currency"], exponent=s["exponent"], bytesize=s["bytesize"],
        parity=s["parity"], stopbits=s["stopbits"],
    )
    kw.update(overrides)
    return ZvtDriver(s["port"], **kw)


def _failure(state: str, e: Exception) -> dict[str, Any]:
    return {"ok": False, "state": state, "details": {"error": str(e)}}


def _ask(profile: dict[str, Any], port: str, call: Callable[[ZvtDriver], Any]) -> Any:
    """One request on a freshly opened driver; a failure comes back as the report dict."""
    try:
        drv = open_driver(profile, port, timeout=min(terminal_settings(profile, port)["timeout_s"], 30.0))
    except TerminalUnavailable as e:
        return _failure("unavailable", e)
    with drv:
        try:
            return call(drv)
        except TerminalUnavailable as e:
            return _failure("unavailable", e)
        except TerminalBusy as e:
            return _failure("busy", e)
        except OutcomeUnknown as e:
            return _failure("no_answer", e)
        except TerminalError as e:
            return _failure("refused", e)


def test(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Registration (06 00): does the terminal answer and accept us as its ECR?"""
    r = _ask(profile, port, lambda drv: drv.register())
    if isinstance(r, dict):
        return r
    return {
        "ok": r.approved,
        "state": "ready" if r.approved else "refused",
        "details": {
            "terminal_id": r.terminal_id, "currency": r.currency, "result_code": f"{r.result_code:02X}",
            "message": r.message, "port": port,
        },
    }


def diagnose(profile: dict[str, Any], port: str) -> dict[str, Any]:
    """Status enquiry (05 01): ready or busy, and the terminal id."""
    st = _ask(profile, port, lambda drv: drv.status())
    if isinstance(st, dict):
        return st
    return {
        "ok": st.ready,
        "state": "ready" if st.ready else "busy",
        "details": {
            "terminal_id": st.terminal_id, "status_code": f"{st.status_code:02X}",
            "message": st.message if st.ready else RESULT_TEXT.get(st.status_code, st.message), "port": port,
        },
    }


def emulate(options: dict[str, str], ready: Callable[[str], None]) -> None:
    """Serve an emulated terminal on a new pty (or, with option tcp=PORT, ZVT/TCP on
    127.0.0.1:PORT, 0 = any free port); ready(device path or tcp://host:port); run
    until SIGTERM/SIGINT."""
    options = dict(options or {})
    tcp = options.pop("tcp", None)
    try:
        knobs = Knobs.from_options(options)
    except ValidationError:
        raise
    except Exception as e:  # noqa: BLE001 - any bad option becomes one clear message
        raise UrError(f"bad terminal emulator options: {e}") from None
    if tcp is not None:
        _emulate_tcp(knobs, tcp, ready)
        return
    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        ready(os.ttyname(slave))
        serve_fd(master, TerminalEmulator(knobs), stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for fd in (master, slave):
            try:
                os.close(fd)
            except OSError:
                pass


def _emulate_tcp(knobs: Knobs, tcp: str, ready: Callable[[str], None]) -> None:
    try:
        port = int(tcp)
    except ValueError:
        raise UrError(f"--tcp {tcp!r}: a TCP port number (0 = any free port)") from None
    try:
        listener = socket.create_server(("127.0.0.1", port))
    except OSError as e:
        raise UrError(f"cannot listen on 127.0.0.1:{port}: {e}") from None
    with listener, stop_on_signals() as stop:
        ready(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        serve_socket(listener, TerminalEmulator(knobs, transport="tcp"), stop)
