"""Secrets at rest and in process listings: every file central and a kiosk
create (databases and their -wal/-shm, enrollment bundles, keys) is 0600 from
its first byte, and the database password never reaches argv or CLI output.

The first-byte check runs the real CLIs under strace: every open() that creates
a file in the data directories must itself carry a mode without group/other
bits (a file written 0644 and chmodded afterwards fails it, although its final
mode would look right)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests import support

STRACE = shutil.which("strace")
# openat(AT_FDCWD, "/path", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 3
CREATE = re.compile(r'open(?:at)?\((?:[A-Z_]+|\d+), "([^"]+)", ([A-Z_|]+)(?:, (0\d+))?\) = \d+')
MKDIR = re.compile(r'mkdir(?:at)?\((?:[A-Z_]+, )?"([^"]+)", (0\d+)\) = 0')


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _final(path: str) -> str:
    """The name a file ends up with (private_files writes `.NAME.PID.tmp`, then renames)."""
    name = Path(path).name
    return m.group(1) if (m := re.fullmatch(r"\.(.+)\.\d+\.tmp", name)) else name


def _created(trace: Path, roots: list[Path]) -> tuple[dict[str, int], dict[str, int]]:
    """Files and directories created under `roots`, with the mode each was created with."""
    files: dict[str, int] = {}
    dirs: dict[str, int] = {}
    under = tuple(str(r) for r in roots)
    for line in trace.read_text().splitlines():
        if (m := CREATE.search(line)) and "O_CREAT" in m.group(2) and m.group(1).startswith(under):
            files.setdefault(m.group(1), int(m.group(3), 8))
        elif (m := MKDIR.search(line)) and m.group(1).startswith(under):
            dirs.setdefault(m.group(1), int(m.group(2), 8))
    return files, dirs


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (Makefile APT_PKGS)")
def test_databases_bundles_and_keys_are_private_from_their_first_byte(tmp_path: Path) -> None:
    central_dir, kiosk_dir, out_dir = tmp_path / "central", tmp_path / "kiosk", tmp_path / "out"
    out_dir.mkdir()
    url = support.sqlite_url(central_dir / "central.db")
    bundle, code, req = out_dir / "K1.bundle.json", out_dir / "K1.code", out_dir / "K1.request.json"
    trace = tmp_path / "strace.log"
    prefix = [str(STRACE), "-f", "-qq", "-s", "512", "-o", str(trace), "-A",
              "-e", "trace=open,openat,creat,mkdir,mkdirat"]
    with umask(0o022):  # the usual umask: SQLite alone would make 0644 files under it
        for args in (["ur-central", "--db", url, "init"],
                     ["ur-central", "--db", url, "kiosks", "enroll", "K1", "--code-out", str(code)],
                     ["ur-kiosk", "--data", str(kiosk_dir), "enroll-request", "--kiosk", "K1", "--out", str(req),
                      "--code-file", str(code)],
                     ["ur-central", "--db", url, "kiosks", "sign", str(req), "--out", str(bundle)],
                     ["ur-central", "--db", url, "broker-tls", "--out", str(out_dir / "tls")],
                     ["ur-kiosk", "--data", str(kiosk_dir), "init", "--bundle", str(bundle)],
                     ["ur-kiosk", "--data", str(kiosk_dir), "apply", "--service", "non-conviction-certificate",
                      "--field", "full_name=Ali Hassan", "--field", "national_id=199012345678",
                      "--field", "mobile=07701234567"]):
            r = support.run_cli(args, prefix=prefix)
            assert r.returncode == 0, (args, r.stderr)
    files, dirs = _created(trace, [central_dir, kiosk_dir, bundle.parent])
    secret = {p: m for p, m in files.items()
              if p.startswith((str(central_dir), str(kiosk_dir))) or _final(p).endswith((".json", ".key", ".code"))
              and not p.endswith("server.key")}  # the broker's own key: see docs/secrets.md
    names = {_final(p) for p in secret}
    assert {"central.db", "central.db-wal", "central.db-shm", "kiosk.db", "kiosk.db-wal", "kiosk.db-shm",
            "central.key", "K1.code", "K1.bundle.json"} <= names, names
    wide = {p: oct(m) for p, m in secret.items() if m & 0o077}
    assert not wide, f"created readable by others: {wide}"
    wide_dirs = {p: oct(m) for p, m in dirs.items() if m & 0o077 and p in (str(central_dir), str(kiosk_dir))}
    assert not wide_dirs, wide_dirs
    # And as they stand now: every file under the data directories, and the bundle.
    for root in (central_dir, kiosk_dir):
        assert stat.S_IMODE(root.stat().st_mode) == 0o700, root
        for p in root.rglob("*"):
            mode = stat.S_IMODE(p.stat().st_mode)
            assert not mode & 0o077, f"{p} is {oct(mode)}"
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert stat.S_IMODE((out_dir / "tls" / "central.key").stat().st_mode) == 0o600


def test_old_wide_database_files_are_tightened_when_opened(tmp_path: Path) -> None:
    """A kiosk.db left 0644 by an older version (and its -wal) is 0600 after the next command."""
    kdir = tmp_path / "kiosk"
    assert support.run_cli(["ur-kiosk", "--data", str(kdir), "queue"]).returncode in (0, 2)
    db = kdir / "kiosk.db"
    assert db.exists()
    for p in (db, kdir / "kiosk.db-wal"):
        if p.exists():
            os.chmod(p, 0o644)
    r = support.run_cli(["ur-kiosk", "--data", str(kdir), "queue"])
    assert r.returncode in (0, 2), r.stderr
    for p in kdir.glob("kiosk.db*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def _with_password(url: str, password: str) -> str:
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


@pytest.mark.skipif(support.postgres_available() is not None, reason="PostgreSQL not reachable")
def test_database_password_is_not_in_argv_or_output(tmp_path: Path) -> None:
    """`serve` on PostgreSQL starts a router child: neither process shows the URL's
    password in /proc/<pid>/cmdline, and `init` prints the URL masked."""
    password = "hunter2-Sekret"  # trust auth on the test server: never checked, only carried
    with support.postgres_schema() as base, support.broker(tmp_path) as b:
        url = _with_password(base, password)
        env = {"UR_CENTRAL_DB": url}
        r = support.run_cli(["ur-central", "init"], env=env)
        assert r.returncode == 0, r.stderr
        assert password not in r.stdout + r.stderr and "***" in r.stdout, r.stdout
        r = support.run_cli(["ur-central", "--json", "init"], env=env)
        assert r.returncode == 0 and password not in r.stdout + r.stderr, r.stdout
        log = tmp_path / "serve.log"
        serve = support.spawn_cli(["ur-central", "serve", "--broker", b.url], env=env, log=log)
        try:
            def router() -> int | None:
                for c in _children(serve.pid):
                    if b"route" in Path(f"/proc/{c}/cmdline").read_bytes():
                        return c
                return None

            pid = support.wait_until(router, timeout=60, what="the router child of serve")
            for p in (serve.pid, pid):
                argv = Path(f"/proc/{p}/cmdline").read_bytes()
                assert password.encode() not in argv, argv
            # The router really got the database: it is still running and routing.
            assert (Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]) in "RSD"
        finally:
            support.kill_proc(serve)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(serve.pid, signal.SIGKILL)  # the router too, if it outlived serve
        assert password not in log.read_text(errors="replace")
