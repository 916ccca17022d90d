"""Size and nesting caps checked BEFORE a file is parsed.

Python's JSON decoder and tomllib recurse once per nesting level: a file nested
100,000 deep ends in RecursionError (a traceback, or worse a crash of a
long-running process), and a 60 MB field is parsed, validated and stored. So
every file a person hands us is read through `read_capped` (a regular file, at
most `max_bytes`), and its nesting is counted by a linear scan that skips
strings and comments (`json_depth`, `toml_depth`) before the parser sees it.
Both raise UrError with one line naming the file and the limit.
"""

from __future__ import annotations

import os
import re
import stat
from itertools import accumulate
from pathlib import Path

from contract.errors import UrError

MAX_DEPTH = 32  # our catalogue and device files nest 5-6 deep

# JSON: escapes first (so \\" ends no string), then only quotes and brackets are kept
# (bytes.translate runs at memory speed), then whole strings go.
_JSON_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_JSON_KEEP = bytes(i for i in range(256) if i not in b'"[]{}')
_JSON_STRING = re.compile(rb'"[^"]*"')
# TOML: multi-line and single-line strings, both quote kinds, and comments.
_TOML_SKIP = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"|\'[^\'\n]*\'|#[^\n]*')
_NOT_BRACKET = bytes(i for i in range(256) if i not in b"[]{}")
_LEAF = re.compile(rb"\[\]|\{\}|\[\}|\{\]")
_OPEN = frozenset(b"[{")


def read_capped(path: Path | str, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `max_bytes`; UrError otherwise
    (a directory, a device or FIFO such as /dev/zero, a file too large)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UrError(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise UrError(f"{what} {p} is a directory, not a file") from None
    except OSError as e:
        raise UrError(f"cannot read {what} {p}: {e.strerror}") from None
    st = os.fstat(fd)
    problem = (f"{what} {p} is a directory, not a file" if stat.S_ISDIR(st.st_mode)
               else f"{what} {p} is not a regular file" if not stat.S_ISREG(st.st_mode)
               else f"{what} {p} is {st.st_size:,} bytes; the limit is {max_bytes:,}" if st.st_size > max_bytes
               else None)
    if problem:
        os.close(fd)
        raise UrError(problem)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we read it
        raise UrError(f"{what} {p} is over the limit of {max_bytes:,} bytes")
    return data


def _depth(brackets: bytes, max_depth: int = MAX_DEPTH) -> int:
    """Nesting depth of a string of brackets. Each pass drops the innermost pairs
    (a C-speed regex pass), so a file within the cap is done in a few passes; what
    is left after `max_depth` passes is counted exactly."""
    passes = 0
    while brackets and passes < max_depth:
        shorter = _LEAF.sub(b"", brackets)
        if len(shorter) == len(brackets):
            break  # unbalanced: count the rest
        brackets, passes = shorter, passes + 1
    rest = max(accumulate(1 if c in _OPEN else -1 for c in brackets), default=0)
    return passes + max(rest, 0)


def json_depth(data: bytes | str, max_depth: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in `data` (brackets in strings ignored);
    exact up to `max_depth`, and more than `max_depth` when deeper."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    kept = _JSON_ESCAPE.sub(b"", raw).translate(None, _JSON_KEEP)
    return _depth(_JSON_STRING.sub(b"", kept).translate(None, _NOT_BRACKET), max_depth)


def toml_depth(text: str, max_depth: int = MAX_DEPTH) -> int:
    """How deep arrays and inline tables nest in TOML `text` (strings and
    comments ignored; a [table] header counts as one level, [[array]] as two)."""
    raw = _TOML_SKIP.sub("", text).encode("utf-8", "surrogatepass")
    return _depth(raw.translate(None, _NOT_BRACKET), max_depth)


def check_json(data: bytes | str, what: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> None:
    """UrError unless `data` is within `max_bytes` and nests at most `max_depth`."""
    if len(data) > max_bytes:
        raise UrError(f"{what} is {len(data):,} bytes; the limit is {max_bytes:,}")
    if json_depth(data, max_depth) > max_depth:
        raise UrError(f"{what} nests more than {max_depth} levels deep (the limit)")


def check_toml(text: str, what: str, max_depth: int = MAX_DEPTH) -> None:
    if toml_depth(text, max_depth) > max_depth:
        raise UrError(f"{what} nests more than {max_depth} levels deep (the limit)")
