"""systemd's notify protocol (sd_notify(3)) for the long-running processes.

`ur-kiosk run` and `ur-central serve` run under units with `Type=notify` and
`WatchdogSec=` (docs/systemd/): systemd starts the next unit only after READY=1
and restarts a process whose main loop stops sending WATCHDOG=1, which a hung
process (a stuck database call, a deadlock) would never do by itself: it is
alive to `Restart=on-failure`, dead to the kiosk.

The protocol is one datagram of `KEY=VALUE` lines to the unix socket named in
$NOTIFY_SOCKET (a leading `@` means Linux's abstract namespace); written here in
a few lines instead of depending on libsystemd or a binding. Without
$NOTIFY_SOCKET (a terminal, the tests, the demo) every call does nothing.
A failure to notify is logged once and never raised: the service manager being
gone must not stop payments or ingest.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger("ur.systemd")


class Notifier:
    """Tells systemd this process is ready, alive and stopping.

    `tick()` is called from the main loop on every turn; it sends WATCHDOG=1 at
    most every half of $WATCHDOG_USEC (as sd_watchdog_enabled(3) advises), so a
    loop turning every few milliseconds costs one clock read per turn."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.ping_every: float | None = _watchdog_interval(env)
        self.next_ping = 0.0
        self.warned = False
        self.sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send `lines` as one datagram; True if it was sent."""
        if self.address is None:
            return False
        try:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self.sock.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as e:
            if not self.warned:
                self.warned = True
                log.warning("cannot notify the service manager at %r: %s", self.address, e)
            return False

    def ready(self, status: str | None = None) -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))
        self.next_ping = 0.0  # the first watchdog ping goes with the first tick

    def tick(self) -> None:
        """From the main loop: WATCHDOG=1 when half the watchdog interval has passed."""
        if self.ping_every is None:
            return
        now = time.monotonic()
        if now >= self.next_ping:
            self.next_ping = now + self.ping_every
            self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _address(value: str) -> str | bytes | None:
    """$NOTIFY_SOCKET as a socket address: a path, or `@name` for the abstract
    namespace (a leading NUL byte). Anything else (vsock, empty) means off."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value:
        log.warning("NOTIFY_SOCKET=%r is neither a path nor @abstract: not notifying", value)
    return None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between pings (half of $WATCHDOG_USEC), or None when no watchdog is
    set for this process ($WATCHDOG_PID names another one, or the value is bad)."""
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number of microseconds: no watchdog pings", usec)
        return None
    return value / 2e6 if value > 0 else None
