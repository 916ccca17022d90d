"""The one test-support module: real brokers, real serial ports, real databases.

Everything here starts or opens a real part (Mosquitto process, pseudo-terminal,
SQLite file, PostgreSQL database, offscreen Kivy window environment); nothing is
faked. Tests import from here so each part is set up one way only.
"""

from __future__ import annotations

import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tty
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
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


class Broker:
    """A private Mosquitto on a free loopback port with its own config and data dir.

    `stop()` is a clean SIGTERM (the broker saves its state), `kill()` a SIGKILL
    (power loss for the broker), `start()` again reuses the port and the
    persistence directory, so queued sessions survive exactly as they would in
    the field. `extra` lines go into mosquitto.conf (e.g. max_queued_messages 5).
    """

    def __init__(self, workdir: Path, extra: str = "", persistence: bool = True) -> None:
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
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        conf = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.data}/",
            "autosave_on_changes true",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "persistent_client_expiration 7d",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            self.extra,
        ]
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> Broker:
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

    def restart(self) -> Broker:
        self.stop()
        return self.start()

    def wipe_persistence(self) -> None:
        """Lose the broker's persistence file (it must be stopped)."""
        for f in self.data.glob("*"):
            f.unlink()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def broker(tmp: Path, extra: str = "") -> Iterator[Broker]:
    b = Broker(tmp / f"broker-{uuid.uuid4().hex[:6]}", extra=extra)
    b.start()
    try:
        yield b
    finally:
        b.stop()


class PtyPair:
    """A real pseudo-terminal: `device` is the path a driver opens with pyserial,
    `fd` is the other end, where an emulator reads and writes raw bytes."""

    def __init__(self) -> None:
        self.fd, self._slave_fd = pty.openpty()
        tty.setraw(self._slave_fd)
        tty.setraw(self.fd)
        self.device = os.ttyname(self._slave_fd)

    def close(self) -> None:
        for fd in (self.fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass


@contextmanager
def pty_pair() -> Iterator[PtyPair]:
    p = PtyPair()
    try:
        yield p
    finally:
        p.close()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


PG_DSN = os.environ.get("UR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason (shown in the skip message)."""
    try:
        import psycopg

        dsn = PG_DSN.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means "skip with the reason"
        return f"PostgreSQL not reachable at {PG_DSN}: {e}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; yields an SQLAlchemy URL using it."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    dsn = PG_DSN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in PG_DSN else "?"
    try:
        yield f"{PG_DSN}{sep}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{name}" CASCADE')


def kivy_env(home: Path | None = None) -> dict[str, str]:
    """Environment for real offscreen Kivy rendering (see FIELD_NOTES: no mock GL)."""
    home = home or Path(tempfile.mkdtemp(prefix="kivy-home-"))
    return {
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_NO_ARGS": "1",
        "KIVY_HOME": str(home),
        "KIVY_TEXT": "pil",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_LOG_MODE": "PYTHON",
    }


def apply_kivy_env(home: Path | None = None) -> None:
    os.environ.update(kivy_env(home))


def run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `ur-kiosk ...` / `ur-central ...` as a real process (python -m, same venv)."""
    prog, *rest = args
    module = {"ur-kiosk": "kiosk.cli", "ur-central": "central.cli"}[prog]
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", module, *rest],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def spawn_cli(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running `ur-kiosk`/`ur-central` process (killed by the test)."""
    prog, *rest = args
    module = {"ur-kiosk": "kiosk.cli", "ur-central": "central.cli"}[prog]
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env["PYTHONUNBUFFERED"] = "1"
    if env:
        full_env.update(env)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    return subprocess.Popen(
        [sys.executable, "-m", module, *rest], env=full_env, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until(pred, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `pred` until it returns a truthy value; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextmanager
def printer_emulator(width_dots: int = 576, out_dir: Path | None = None) -> Iterator[tuple[object, PtyPair]]:
    """A PrinterEmulator serving a real pty in a thread; yields (emulator, pty)."""
    from kiosk.devices.printer_emulator import PrinterEmulator

    p = PtyPair()
    emu = PrinterEmulator(width_dots, out_dir)
    thread, stop = emu.start_thread(p.fd)
    try:
        yield emu, p
    finally:
        stop.set()
        thread.join(5)
        p.close()


@contextmanager
def scanner_emulator(tmp: Path, **options: object) -> Iterator[object]:
    """A ScannerEmulator plugged in behind `tmp/scanner` (a stable link path)."""
    from kiosk.devices.scanner_emulator import ScannerEmulator

    emu = ScannerEmulator(tmp / "scanner", **options)  # type: ignore[arg-type]
    emu.plug()
    thread, stop = emu.start_thread()
    try:
        yield emu
    finally:
        stop.set()
        thread.join(5)
        emu.unplug()
