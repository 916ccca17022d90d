"""The real PC/SC stack for card reader tests: Debian's pcscd with vsmartcard's virtual
reader (vsmartcard-vpcd), and a virtual ICAO chip from vsmartcard-vpicc
(tests/icao_vicc_card.py) plugged into it.

Decision (issue 17): these tests never skip. A machine without pcscd, vpcd, vicc or
the rights to start pcscd fails them with a message that says what to install
(`make setup` installs all of it from the Makefile's APT_PKGS). pcscd is used when
it already runs with the virtual reader; otherwise it is started as
`pcscd --foreground --auto-exit` (root needed), which ends by itself 60 s after its
last client, so no test has to stop a daemon other tests may still use. The two
virtual reader slots are serialised between pytest workers with a file lock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kiosk.devices import pcsc_reader
from kiosk.devices.card_errors import ReaderUnavailable

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VICC_PACKAGE = Path("/usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard")
DEBIAN_PYTHON = "/usr/bin/python3"
VICC_CARD = Path(__file__).with_name("icao_vicc_card.py")
READER = "Virtual PCD 00 00"  # /etc/reader.conf.d/vpcd: slot 0 listens on port 0x8C7B
VPCD_PORT = 0x8C7B
LOCK_DIR = Path("/tmp")
INSTALL = "install pcscd vsmartcard-vpcd vsmartcard-vpicc python3-pycryptodome (make setup)"


def _missing() -> str | None:
    if not shutil.which("pcscd"):
        return "pcscd is not installed"
    if not VPCD_DRIVER.exists():
        return f"vsmartcard-vpcd's driver {VPCD_DRIVER} is missing"
    if not VICC_PACKAGE.exists():
        return f"vsmartcard-vpicc's package {VICC_PACKAGE} is missing"
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import Cryptodome"], capture_output=True)
    if probe.returncode:
        return "Debian's python3-pycryptodome (vicc's cipher library) is missing"
    return None


@contextmanager
def _lock(name: str) -> Iterator[None]:
    with open(LOCK_DIR / f"ur-test-{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _readers() -> list[str]:
    try:
        return pcsc_reader.reader_names()
    except ReaderUnavailable:
        return []


def ensure_pcscd(timeout_s: float = 20.0) -> None:
    """pcscd answering with the virtual reader, or pytest.fail saying why not."""
    missing = _missing()
    if missing:
        pytest.fail(f"card reader tests need the PC/SC stack: {missing}; {INSTALL}")
    with _lock("pcscd"):
        if any(READER in r for r in _readers()):
            return
        running = subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode == 0
        if running:
            pytest.fail(f"pcscd runs but lists no {READER!r}: it was started before "
                        "vsmartcard-vpcd was installed; restart pcscd")
        if os.geteuid() != 0:
            pytest.fail("pcscd is not running and only root can start it: start pcscd "
                        "(systemctl start pcscd) or run the tests as root")
        log = open(LOCK_DIR / "ur-test-pcscd.log", "ab")
        subprocess.Popen(["pcscd", "--foreground", "--auto-exit"], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(READER in r for r in _readers()):
                return
            time.sleep(0.05)  # pcscd offers no "ready" signal: its socket answering is it
        pytest.fail(f"pcscd started but listed no {READER!r} within {timeout_s:.0f} s "
                    f"(log: {LOCK_DIR / 'ur-test-pcscd.log'})")


def _wait_card(present: bool, timeout_s: float) -> bool:
    """Block on pcscd's reader state change (SCardGetStatusChange), not on a timer."""
    from smartcard.scard import (
        SCARD_S_SUCCESS,
        SCARD_SCOPE_USER,
        SCARD_STATE_PRESENT,
        SCARD_STATE_UNAWARE,
        SCardEstablishContext,
        SCardGetStatusChange,
        SCardReleaseContext,
    )

    rc, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if rc != SCARD_S_SUCCESS:
        return False
    try:
        name = next((r for r in _readers() if READER in r), READER)
        states = [(name, SCARD_STATE_UNAWARE)]
        deadline = time.monotonic() + timeout_s
        while True:
            left = int(max(0.0, deadline - time.monotonic()) * 1000)
            rc, states = SCardGetStatusChange(ctx, left, states)
            if rc != SCARD_S_SUCCESS:
                return False
            state = states[0][1]
            if bool(state & SCARD_STATE_PRESENT) == present:
                return True
            if left == 0:
                return False
            states = [(name, state)]
    finally:
        SCardReleaseContext(ctx)


class VirtualCard:
    """A running vicc ePass process holding one document."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def pull(self) -> None:
        """Take the card out of the reader: vicc ends, vpcd reports the card gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        _wait_card(False, 10)


@contextmanager
def virtual_card(mrz: str, photo: Path | None) -> Iterator[VirtualCard]:
    """vsmartcard's ePass chip with this MRZ (and DG2 photo) in the virtual reader."""
    ensure_pcscd()
    with _lock(f"vpcd-{VPCD_PORT}"):
        _wait_card(False, 10)  # an earlier card is gone before this one goes in
        for attempt in range(3):
            proc = subprocess.Popen([DEBIAN_PYTHON, str(VICC_CARD), mrz, str(photo or ""), str(VPCD_PORT)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    stdin=subprocess.DEVNULL)
            assert proc.stdout is not None
            line = proc.stdout.readline()  # vicc prints this once its card is built
            if "card ready" in line:
                break
            rest = proc.stdout.read() if proc.poll() is not None else ""
            proc.stdout.close()
            proc.kill()  # it may linger after its error line
            proc.wait(10)
            # pcscd runs with --auto-exit: on a slow machine it may have ended its idle
            # minute between our check and vicc's connect (seen under make test-loaded);
            # start it again and put the card in once more.
            if "Connection refused" not in line + rest or attempt == 2:
                pytest.fail(f"vicc did not start: {line}{rest}")
            ensure_pcscd()
        card = VirtualCard(proc)
        try:
            if not _wait_card(True, 15):
                pytest.fail(f"vicc runs but pcscd shows no card in {READER!r}")
            yield card
        finally:
            card.pull()
            if proc.stdout is not None:
                proc.stdout.close()
