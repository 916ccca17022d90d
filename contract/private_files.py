"""Files that hold secrets (databases, keys, enrollment bundles) are 0600 from
their first byte, and the directories we make for them 0700.

Writing a file and chmodding it afterwards leaves a moment in which any local
user can open it (and an open descriptor stays readable after the chmod), so
every secret file is created by `os.open` with the mode. SQLite creates a
database with 0644 and gives its -wal/-shm files the database file's mode, so
`private_db` creates the (empty) database file itself before SQLite opens it:
an empty file is a new database to SQLite, and the journal files follow its
0600. Files left wider by an older version are tightened when opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from contract.errors import UrError

FILE_MODE = 0o600
DIR_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path | str) -> Path:
    """`path` as a directory; created 0700 if it does not exist (existing ones
    are left alone: a parent may be shared, such as /tmp)."""
    p = Path(path)
    if not p.is_dir():
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                p.mkdir(mode=DIR_MODE)
        except OSError as e:
            raise UrError(f"cannot make directory {p}: {e.strerror}") from None
        if not p.is_dir():
            raise UrError(f"{p} is not a directory")
    return p


def tighten(path: Path) -> None:
    """Drop group and other permissions from an existing file (no-op if absent)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def private_db(path: Path | str) -> Path:
    """Make sure the SQLite file at `path` exists with mode 0600 before SQLite
    opens it (see the module docstring); tighten it and its journals if older
    code left them wider."""
    p = Path(path)
    private_dir(p.parent)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as e:
        raise UrError(f"cannot create database {p}: {e.strerror}") from None
    for suffix in ("", *SQLITE_COMPANIONS):
        tighten(p.with_name(p.name + suffix))
    return p


def write_private(path: Path | str, data: bytes | str) -> Path:
    """Write `data` to `path` atomically, the file 0600 from its first byte."""
    return write_atomic(path, data, FILE_MODE)


def write_atomic(path: Path | str, data: bytes | str, mode: int) -> Path:
    """Write `data` to `path` with `mode` from the first byte: a temporary file made
    with O_EXCL and the mode, fsynced, then renamed over, so a reader (a broker
    reloading on SIGHUP, a crash mid-write) never sees half a file."""
    p = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return p
