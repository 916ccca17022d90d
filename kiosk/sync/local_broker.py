"""A private Mosquitto process: for `make demo`, technicians' offline labs and tests.

Its own config and persistence directory on a free loopback port (persistence
saved on a clean stop and every 60 s: why not on every change is said below). `stop()` is a clean SIGTERM, `kill()` a
SIGKILL (power loss), `start()` again reuses port and data.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class LocalBroker:
    """A private Mosquitto on a free loopback port with its own config and data dir.

    `stop()` is a clean SIGTERM (the broker saves its state), `kill()` a SIGKILL
    (power loss for the broker), `start()` again reuses the port and the
    persistence directory, so queued sessions survive exactly as they would in
    the field. `extra` lines go into mosquitto.conf (e.g. max_queued_messages 5).
    """

    def __init__(self, workdir: Path, extra: str = "", persistence: bool = True, plain: bool = True) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.data.mkdir(exist_ok=True)
        # Root mosquitto drops to user `mosquitto`: its data dir must be writable.
        os.chmod(self.data, 0o777)
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.extra = extra
        self.persistence = persistence
        # plain=False: no plain-TCP listener and no anonymous clients; `extra` then
        # holds the TLS listener on `port` (`ur-central broker-tls --port PORT`).
        self.plain = plain
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"{'mqtt' if self.plain else 'mqtts'}://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        conf = self.dir / "mosquitto.conf"
        lines = [
            *([f"listener {self.port} 127.0.0.1", "allow_anonymous true"] if self.plain
              else ["allow_anonymous false"]),
            # Run as the invoking user (root drops to `mosquitto` otherwise, which
            # cannot reach a private temp directory: persistence would silently fail).
            f"user {getpass.getuser()}",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.data}/",
            # Saved on a clean stop and every 60 s. Nothing of ours depends on the
            # broker's store (the kiosk outbox resends, status comes by cursor), and
            # saving on every change (what a SIGKILLed broker needs to keep every QoS 1 message)
            # cut QoS 1 throughput here from thousands to ~260 msg/s.
            "autosave_interval 60",
            "max_queued_messages 100000",
            "persistent_client_expiration 7d",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            self.extra,
        ]
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> LocalBroker:
        if self.proc and self.proc.poll() is None:
            return self
        conf = self.write_config()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log, start_new_session=True
            )
        try:
            wait_port(self.port)
        except TimeoutError:
            raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its config, ACL, certificates and CRL again."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def restart(self) -> LocalBroker:
        self.stop()
        return self.start()

    def wipe_persistence(self) -> None:
        """Lose the broker's persistence file (it must be stopped)."""
        for f in self.data.glob("*"):
            f.unlink()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
