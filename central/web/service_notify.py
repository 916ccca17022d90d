"""systemd's notify protocol for `ur-central web` (contract/systemd_notify.py).

uvicorn owns the main loop (and, with --workers, the serving processes), so the
main process learns that the service works the way a client would: it asks the
server's own /health route. READY=1 goes once the first answer comes (socket
bound, app built, database reached at start-up); WATCHDOG=1 goes only while
/health keeps answering, so a server that stops answering (every worker stuck)
is restarted by systemd instead of staying up and useless; STOPPING=1 when
uvicorn returns. Without $NOTIFY_SOCKET nothing runs.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable

from contract.systemd_notify import Notifier

POLL_S = 0.2  # between readiness probes while the server starts
PROBE_TIMEOUT_S = 5.0


def health_url(host: str, port: int) -> str:
    """Where this machine reaches the server: a wildcard address is probed on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/health" if ":" in host else f"http://{host}:{port}/health"


def answers(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


class WebNotifier:
    """Runs beside `uvicorn.run` in a daemon thread; `stop()` when it returns."""

    def __init__(self, url: str, status: str, notifier: Notifier | None = None,
                 probe: Callable[[str], bool] = answers) -> None:
        self.url, self.status, self.probe = url, status, probe
        self.notifier = notifier or Notifier()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.notifier.enabled:
            return
        self.thread = threading.Thread(target=self._run, name="systemd-notify", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set() and not self.probe(self.url):
            self.done.wait(POLL_S)
        if self.done.is_set():
            return
        self.notifier.ready(self.status)
        every = self.notifier.ping_every
        if every is None:
            return
        while not self.done.wait(every):
            if self.probe(self.url):
                self.notifier.notify("WATCHDOG=1")

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join(PROBE_TIMEOUT_S + 1)
        self.notifier.stopping()
        self.notifier.close()
