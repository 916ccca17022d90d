"""`ur-central web` speaks systemd's notify protocol like the worker and the sync loop:
READY=1 once its own /health answers, WATCHDOG=1 while it keeps answering, STOPPING=1
and exit status 0 on SIGTERM (to a datagram socket the test binds where systemd would)."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

from central.web.service_notify import WebNotifier, health_url
from contract.systemd_notify import Notifier
from tests import support
from tests.test_systemd_notify import notify_socket, receive_until
from tests.web_support import _healthy


def test_web_server_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    address = f"@ur-test-{uuid.uuid4().hex}"
    port = support.free_port()
    seen: list[str] = []
    with notify_socket(address) as s:
        p = support.spawn_cli(["ur-central", "--db", support.sqlite_url(tmp_path / "c.db"), "web", "--listen",
                               f"127.0.0.1:{port}", "--secret-file", str(tmp_path / "secret")],
                              env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}, log=tmp_path / "web.log")
        try:
            receive_until(s, "READY=1", seen)
            assert _healthy(f"http://127.0.0.1:{port}")  # ready means it answers
            receive_until(s, "WATCHDOG=1", seen)
            receive_until(s, "WATCHDOG=1", seen)
            p.send_signal(signal.SIGTERM)
            receive_until(s, "STOPPING=1", seen)
            assert p.wait(60) == 0, (tmp_path / "web.log").read_text()
        finally:
            support.kill_proc(p)
    assert seen[0] == "READY=1" and f"STATUS=serving on 127.0.0.1:{port}" in seen
    assert seen.count("WATCHDOG=1") >= 2 and seen[-1] == "STOPPING=1"


def test_no_watchdog_ping_while_health_does_not_answer() -> None:
    """A server that stops answering gets no WATCHDOG=1 (systemd then restarts it)."""
    address = f"@ur-test-{uuid.uuid4().hex}"
    answers = [True, True]  # ready, then one good probe; then it hangs
    failed: list[str] = []

    def probe(url: str) -> bool:
        if answers:
            return answers.pop(0)
        failed.append(url)
        return False

    with notify_socket(address) as s:
        n = WebNotifier("http://unused/health", "test", Notifier({"NOTIFY_SOCKET": address,
                                                                  "WATCHDOG_USEC": "100000"}), probe=probe)
        n.start()
        assert s.recv(4096) == b"READY=1\nSTATUS=test"
        assert s.recv(4096) == b"WATCHDOG=1"
        support.wait_until(lambda: len(failed) >= 3, 30, what="three unanswered probes")
        n.stop()
        assert s.recv(4096) == b"STOPPING=1"  # the next datagram: no ping for the unanswered probes


def test_health_url_probes_wildcards_on_loopback() -> None:
    assert health_url("0.0.0.0", 80) == "http://127.0.0.1:80/health"
    assert health_url("::", 8080) == "http://[::1]:8080/health"
    assert health_url("10.0.0.5", 8080) == "http://10.0.0.5:8080/health"
