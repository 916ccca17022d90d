"""The one test-support module: real brokers, real serial ports, real databases.

Everything here starts or opens a real part (Mosquitto process, pseudo-terminal,
SQLite file, PostgreSQL database, offscreen Kivy window environment); nothing is
faked. Tests import from here so each part is set up one way only.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import tempfile
import threading
import tty
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt

# Test-free helpers live in bench/harness.py (the benches need them without tests/).
from bench.harness import (  # noqa: F401 - re-exported for the tests
    PG_DSN,
    postgres_available,
    run_cli_in_process,
    spawn,
    sql_rows,
    sqlite_url,
    wait_until,
)
from kiosk.sync.local_broker import LocalBroker as Broker
from kiosk.sync.local_broker import free_port, wait_port

__all__ = ["Broker", "free_port", "wait_port"]

REPO = Path(__file__).resolve().parent.parent


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
    """Environment for real offscreen Kivy rendering (Mesa's software GL: no mock of the GL context)."""
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


def launch(module: str, args: Sequence[str], faults: Sequence[str] | None = ()) -> list[str]:
    """argv running `python -m module args` through the test launcher (tests/faults.py);
    `faults=None`: the product's own entry point, as deployed, without the launcher."""
    if faults is None:
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-m", "tests.faults", *faults, "--", module, *args]


def run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120, input: str | None = None,
    prefix: list[str] | None = None, faults: Sequence[str] | None = (),
) -> subprocess.CompletedProcess[str]:
    """Run `ur-kiosk ...` / `ur-central ...` as a real process (the real CLI's main,
    same venv), through the test launcher that installs `faults` and the suite's
    cheap PIN hash (tests/faults.py); `faults=None` runs the product's entry point as
    deployed."""
    prog, *rest = args
    module = {"ur-kiosk": "kiosk.cli", "ur-central": "central.cli"}[prog]
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run(
        [*(prefix or []), *launch(module, rest, faults)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def spawn_cli(args: list[str], env: dict[str, str] | None = None, log: Path | None = None,
              prefix: list[str] | None = None, faults: Sequence[str] | None = ()) -> subprocess.Popen[bytes]:
    """Start a long-running `ur-kiosk`/`ur-central` process (killed by the test);
    launched like `run_cli`."""
    prog, *rest = args
    module = {"ur-kiosk": "kiosk.cli", "ur-central": "central.cli"}[prog]
    return spawn([*(prefix or []), *launch(module, rest, faults)], env, log)


def cli_in_process(args: list[str], input: str | None = None,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`run_cli_in_process` with stdout and stderr apart, `input` as stdin and `env` set
    for the call, answered as `run_cli` answers: for tests of what a command prints or
    refuses (one error line, no traceback) where the process itself is not what is
    tested. Not for commands that install signal handlers or loop (`sync`, `run`,
    `serve`), nor beside threads that print: those run as processes."""
    import contextlib
    import io

    from central import cli as central_cli
    from central import hsm
    from kiosk import cli as kiosk_cli

    prog, *rest = args
    main = {"ur-kiosk": kiosk_cli.main, "ur-central": central_cli.main}[prog]
    out, err = io.StringIO(), io.StringIO()
    saved_env = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    stdin, sys.stdin = sys.stdin, io.StringIO(input or "")
    hsm.reset()  # as in run_cli_in_process: the token afresh, as a new process opens it
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(rest)
            except SystemExit as e:  # argparse refusals
                code = e.code if isinstance(e.code, int) else 2
    finally:
        sys.stdin = stdin
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        hsm.reset()
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def enroll_kiosk(db_url: str, kiosk_id: str, kiosk_dir: Path, broker_url: str, work: Path,
                 office: str = "", processes: bool = False) -> Path:
    """Enroll a kiosk the way a technician does, through the real CLIs: central
    issues a one-time code, the kiosk makes its keys and a request, central signs
    it, the kiosk installs the bundle. Returns the kiosk's data directory.
    The CLIs' `main` runs in this process (four Python start-ups less per kiosk,
    most of an enrollment's time); `processes=True` runs them as separate processes,
    for the tests of enrollment itself."""
    work.mkdir(parents=True, exist_ok=True)
    code, req, bundle = (work / f"{kiosk_id}.{x}" for x in ("code", "request.json", "bundle.json"))
    steps = [
        ["ur-central", "--db", db_url, "kiosks", "enroll", kiosk_id, "--broker", broker_url, "--office", office,
         "--code-out", str(code)],
        ["ur-kiosk", "--data", str(kiosk_dir), "enroll-request", "--kiosk", kiosk_id, "--out", str(req),
         "--code-file", str(code)],
        ["ur-central", "--db", db_url, "kiosks", "sign", str(req), "--out", str(bundle)],
        ["ur-kiosk", "--data", str(kiosk_dir), "init", "--bundle", str(bundle)],
    ]
    for args in steps:
        if processes:
            r = run_cli(args)
            rc, out = r.returncode, r.stderr + r.stdout
        else:
            rc, out = run_cli_in_process(args)
        if rc != 0:
            raise AssertionError(f"{' '.join(args)} failed ({rc}): {out}")
    return kiosk_dir


class Deployment:
    """A central database and enrolled kiosks in a temp dir, driven through the
    real CLIs (`ur-central`, `ur-kiosk`) as separate processes."""

    def __init__(self, root: Path, db_url: str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_url = db_url or sqlite_url(self.root / "central.db")
        self.procs: list[subprocess.Popen[bytes]] = []

    def central(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = run_cli(["ur-central", "--db", self.db_url, *args])
        if check and r.returncode != 0:
            raise AssertionError(f"ur-central {' '.join(args)} failed: {r.stderr}")
        return r

    def kiosk_dir(self, kiosk_id: str) -> Path:
        return self.root / f"kiosk-{kiosk_id}"

    def kiosk(self, kiosk_id: str, *args: str, check: bool = True, timeout: float = 120,
              env: dict[str, str] | None = None, faults: Sequence[str] | None = ()) -> subprocess.CompletedProcess[str]:
        r = run_cli(["ur-kiosk", "--data", str(self.kiosk_dir(kiosk_id)), *args], timeout=timeout,
                    env={"UR_SYNC_FIRST_DELAY": "0", **(env or {})}, faults=faults)
        if check and r.returncode != 0:
            raise AssertionError(f"ur-kiosk {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
        return r

    def init_central(self, processes: bool = False) -> None:
        """`ur-central init`; in this process unless `processes` (see `enroll_kiosk`)."""
        if processes:
            self.central("init")
            return
        code, out = run_cli_in_process(["ur-central", "--db", self.db_url, "init"])
        if code != 0:
            raise AssertionError(f"ur-central init failed ({code}): {out}")

    def enroll(self, kiosk_id: str, broker_url: str, office: str = "", processes: bool = False) -> Path:
        """Enroll through the real CLIs, CSR-style (see `enroll_kiosk`)."""
        return enroll_kiosk(self.db_url, kiosk_id, self.kiosk_dir(kiosk_id), broker_url, self.root, office,
                            processes)

    def serve(self, broker_url: str, name: str = "worker", wait: bool = True,
              env: dict[str, str] | None = None, faults: Sequence[str] | None = ()) -> subprocess.Popen[bytes]:
        """Start a central worker; with `wait`, return once it has subscribed."""
        log = self.root / f"{name}.log"
        p = spawn_cli(["ur-central", "--db", self.db_url, "serve", "--broker", broker_url,
                       "--worker-id", f"{name}-{uuid.uuid4().hex[:6]}"], log=log, env=env, faults=faults)
        self.procs.append(p)
        if wait:
            wait_until(lambda: log.exists() and "subscribed" in log.read_text(errors="replace"),
                       timeout=60, what=f"central worker {name} subscribed")
        return p

    def stats(self) -> dict:
        import json

        return json.loads(self.central("--json", "stats").stdout)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.procs.clear()


def kill_proc(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait(10)


class TcpProxy:
    """A loopback TCP proxy that can cut the network: `partition()` closes every
    connection and refuses new ones until `heal()`. Used to put a real network
    partition between a kiosk and its broker."""

    def __init__(self, target_port: int) -> None:
        import socket
        import threading

        self.target = target_port
        self.port = free_port()
        self.cut = threading.Event()
        self.stopped = threading.Event()
        self.refused = 0  # connections turned away while cut: the client's retries
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", self.port))
        self._srv.listen(64)
        self._srv.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        import socket
        import threading

        while not self.stopped.is_set():
            try:
                client, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                self.refused += 1
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a, b) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data or self.cut.is_set():
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def partition(self) -> None:
        import socket

        self.cut.set()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._socks.clear()

    def heal(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.stopped.set()
        self.partition()
        self._srv.close()


def queue_stats(kiosk_dir: Path) -> dict[str, int]:
    """Outbox counts read straight from the kiosk's SQLite file."""
    import sqlite3

    with sqlite3.connect(kiosk_dir / "kiosk.db", timeout=30) as c:
        rows = dict(c.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    return {"pending": rows.get("pending", 0), "delivered": rows.get("delivered", 0),
            "rejected": rows.get("rejected", 0)}


def sql_count(db_url: str, sql: str) -> int:
    return int(sql_rows(db_url, sql)[0][0] or 0)


def central_counts(db_url: str) -> dict[str, int]:
    """Applications held and duplicate check, read straight from central's database."""
    apps = sql_rows(db_url, "SELECT count(*), count(DISTINCT tracking) FROM applications")[0]
    inbox = sql_count(db_url, "SELECT count(*) FROM inbox WHERE stream='applications'")
    return {"applications": int(apps[0]), "distinct": int(apps[1]), "inbox": inbox}


def fill_outbox(kiosk_dir: Path, n: int, start: int = 1) -> list[str]:
    """Queue `n` real applications in one transaction (fast set-up for volume tests)."""
    from datetime import UTC, datetime

    from contract import tracking
    from kiosk import identity
    from kiosk.store import KioskStore
    from kiosk.sync import outbox

    store = KioskStore(kiosk_dir)
    ident = identity.load(store)
    numbers = []
    with store.tx() as s:
        for i in range(start, start + n):
            number = tracking.make(ident.kiosk_code, i)
            numbers.append(number)
            outbox.enqueue(s, ident, "applications", {
                "tracking": number, "service_id": "non-conviction-certificate", "catalogue_version": 1,
                "fee_total": 10000, "fields": {"full_name": f"Citizen {i}", "national_id": f"{i:012d}"},
                "submitted_at": datetime.now(UTC).isoformat()})
    store.close()
    return numbers
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

    emu = ScannerEmulator(tmp / "scanner", **options)  # type: ignore[arg-type]  # emulator options pass through untyped from each test
    emu.plug()
    thread, stop = emu.start_thread()
    try:
        yield emu
    finally:
        stop.set()
        thread.join(5)
        emu.unplug()


def listening_client(port: int, topic: str, on_message: Callable[[mqtt.MQTTMessage], None]) -> mqtt.Client:
    """A paho client subscribed to `topic` on the local broker, returned once the
    broker's SUBACK came: what is published before that would be lost to the test,
    and a pause instead of the SUBACK is a race on a loaded machine."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda _c, _u, m: on_message(m)
    subscribed = threading.Event()
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    assert subscribed.wait(30), f"the subscription to {topic} was not confirmed"
    return c
