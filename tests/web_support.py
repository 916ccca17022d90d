"""A real `ur-central web` process on a free port, and the Playwright browser that
drives Debian's chromium (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests import support

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class WebServer:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def web_server(db_url: str, work: Path, *extra: str) -> Iterator[WebServer]:
    port = support.free_port()
    log = work / f"web-{port}.log"
    proc = support.spawn_cli(["ur-central", "--db", db_url, "web", "--listen", f"127.0.0.1:{port}",
                              "--secret-file", str(work / "web-secret"), *extra], log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        support.wait_until(lambda: _healthy(url) or proc.poll() is not None, 60, what="web server up")
        if proc.poll() is not None:
            raise AssertionError(f"web server exited {proc.returncode}: {log.read_text()}")
        yield WebServer(url, proc, log)
    finally:
        support.kill_proc(proc)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
