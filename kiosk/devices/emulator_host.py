"""What `ur-kiosk emulate ...` shares across device kinds: a pty that stays
usable while the driver opens and closes it, signal handling, and an optional
control channel on stdin (one command per line) for tests and technicians."""

from __future__ import annotations

import os
import pty
import signal
import socket
import sys
import threading
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def pty_master() -> Iterator[tuple[int, str]]:
    """(master fd, slave path); the slave stays open here so the master never sees EIO."""
    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    try:
        yield master, os.ttyname(slave)
    finally:
        for fd in (master, slave):
            try:
                os.close(fd)
            except OSError:
                pass


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def control_from_stdin(handle: Callable[[str], str | None], stop: threading.Event) -> None:
    """Feed stdin lines to `handle` in a daemon thread; its answer goes to stdout."""

    def loop() -> None:
        for line in sys.stdin:
            line = line.rstrip("\n")
            if not line:
                continue
            try:
                out = handle(line)
            except Exception as e:  # noqa: BLE001 - a bad control line must not kill the emulator
                out = f"error: {e}"
            if out:
                print(out, flush=True)
        # stdin closed: keep serving until a signal arrives

    threading.Thread(target=loop, daemon=True, name="emulator-control").start()


def serve_clients(listener: socket.socket, stop: threading.Event, accept_timeout_s: float,
                  serve_one: Callable[[socket.socket], None]) -> None:
    """Accept one client at a time on `listener` until `stop`, as a device with a single
    network port does; `serve_one` talks to the client, the connection is closed after it.
    The accept timeout is what lets `stop` be noticed while nobody connects."""
    listener.settimeout(accept_timeout_s)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return  # the listener was closed: the emulator is shutting down
        with conn:
            serve_one(conn)
