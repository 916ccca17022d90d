"""The systemd notify protocol (contract/systemd_notify.py), and the real
long-running processes speaking it: `ur-central serve` and `ur-kiosk run` send
READY=1 when their loop starts, WATCHDOG=1 from the loop while $WATCHDOG_USEC is
set, and STOPPING=1 on SIGTERM, to a datagram socket the test binds where
systemd would (a path, and Linux's abstract namespace)."""

from __future__ import annotations

import signal
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contract.systemd_notify import Notifier
from tests import support


@contextmanager
def notify_socket(address: str) -> Iterator[socket.socket]:
    """A datagram socket bound where $NOTIFY_SOCKET=`address` points (path or @abstract)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(b"\0" + address[1:].encode() if address.startswith("@") else address)
    s.settimeout(60)  # a bound on waiting for the process, not an expected duration
    try:
        yield s
    finally:
        s.close()


def receive_until(s: socket.socket, wanted: str, seen: list[str]) -> None:
    """Read datagrams into `seen` until one has the line `wanted`."""
    while True:
        lines = s.recv(4096).decode().split("\n")
        seen.extend(lines)
        if wanted in lines:
            return


def test_notifier_speaks_the_protocol_on_an_abstract_socket() -> None:
    name = f"@ur-test-{uuid.uuid4().hex}"
    with notify_socket(name) as s:
        # An hour's watchdog: one ping per tick at most every half hour, whatever the load.
        n = Notifier({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": str(3600 * 10**6)})
        assert n.enabled and n.ping_every == 1800
        n.ready("worker w1")
        assert s.recv(4096) == b"READY=1\nSTATUS=worker w1"
        n.tick()
        n.tick()  # within the half interval: nothing sent
        n.stopping()
        assert s.recv(4096) == b"WATCHDOG=1"
        assert s.recv(4096) == b"STOPPING=1"
        n.close()


def test_notifier_is_silent_without_systemd_and_never_raises(tmp_path: Path) -> None:
    off = Notifier({})
    assert not off.enabled and off.ping_every is None and off.notify("READY=1") is False
    # A watchdog meant for another process (WATCHDOG_PID) is not ours to feed.
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).ping_every is None
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "junk"}).ping_every is None
    assert Notifier({"NOTIFY_SOCKET": "vsock:2:1"}).enabled is False
    # The service manager gone: logged, not raised (payments and ingest go on).
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert gone.notify("READY=1") is False
    gone.ready()
    gone.close()


def _run_notified(args: list[str], address: str, env: dict[str, str] | None = None) -> list[str]:
    """Start `args` with $NOTIFY_SOCKET at `address` and a 0.2 s watchdog; wait for
    READY=1 and two WATCHDOG=1, stop it with SIGTERM, wait for STOPPING=1."""
    seen: list[str] = []
    with notify_socket(address) as s:
        p = support.spawn_cli(args, env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000",
                                         **(env or {})})
        try:
            receive_until(s, "READY=1", seen)
            receive_until(s, "WATCHDOG=1", seen)
            receive_until(s, "WATCHDOG=1", seen)
            p.send_signal(signal.SIGTERM)
            receive_until(s, "STOPPING=1", seen)
            assert p.wait(60) == 0
        finally:
            support.kill_proc(p)
    return seen


def test_central_worker_and_kiosk_sync_loop_notify_systemd(tmp_path: Path, mqtt_broker: support.Broker) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", mqtt_broker.url)

    seen = _run_notified(["ur-central", "--db", dep.db_url, "serve", "--broker", mqtt_broker.url,
                          "--worker-id", "w-notify"], str(tmp_path / "notify.sock"))
    assert seen[0] == "READY=1" and "STATUS=worker w-notify" in seen
    assert seen.count("WATCHDOG=1") >= 2 and seen[-1] == "STOPPING=1"

    seen = _run_notified(["ur-kiosk", "--data", str(dep.kiosk_dir("K1")), "run"],
                         f"@ur-test-{uuid.uuid4().hex}", env={"UR_SYNC_FIRST_DELAY": "0"})
    assert seen[0] == "READY=1" and seen.count("WATCHDOG=1") >= 2 and seen[-1] == "STOPPING=1"


def test_kiosk_screens_notify_systemd_from_kivys_main_loop(tmp_path: Path) -> None:
    seen = _run_notified(["ur-kiosk", "--data", str(tmp_path / "data"), "ui", "--windowed", "800x600"],
                         f"@ur-test-{uuid.uuid4().hex}", env=support.kivy_env(tmp_path / "kivy"))
    assert seen[0] == "READY=1" and seen.count("WATCHDOG=1") >= 2 and seen[-1] == "STOPPING=1"


def test_unit_files_in_docs_are_valid_and_watched(tmp_path: Path) -> None:
    """docs/systemd/*.service parse cleanly (systemd-analyze, when the machine has it), and
    every unit whose program notifies is Type=notify with a watchdog and a restart."""
    import shutil
    import subprocess

    units = sorted((support.REPO / "docs" / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {"ur-kiosk-sync.service", "ur-kiosk-ui.service",
                                        "ur-central-worker@.service", "ur-central-web.service"}
    for u in units:
        text = u.read_text()
        if any(f"bin/{cmd}" in text for cmd in ("ur-kiosk run", "ur-kiosk ui", "ur-central serve", "ur-central web")):
            for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart="):
                assert f"\n{line}" in text, f"{u.name}: no {line}"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the parse check needs systemd's tool; the content checks above still ran
    # The units name the install path /opt/ur-kiosk; verify copies that point at this checkout.
    paths = []
    for u in units:
        name = u.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(u.read_text().replace("/opt/ur-kiosk", str(support.REPO)))
        paths.append(str(tmp_path / name))
    r = subprocess.run([analyze, "verify", "--man=no", *paths], capture_output=True, text=True, timeout=120)
    problems = [ln for ln in (r.stdout + r.stderr).splitlines() if "/tmp" in ln or "Unknown" in ln]
    assert not problems, "\n".join(problems)
