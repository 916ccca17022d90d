"""Test-free helpers the benches and the test suite share: the local PostgreSQL,
SQLite URLs, waiting for a condition, reading rows, running the CLIs.

Here rather than in tests/support.py so a bench needs nothing of tests/ (the
fleet simulator runs from a checkout without the suite); tests/support.py
re-exports them, so each is written once."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent

PG_DSN = os.environ.get("UR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason (shown in the skip message)."""
    try:
        import psycopg

        dsn = PG_DSN.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means "skip with the reason"
        return f"PostgreSQL not reachable at {PG_DSN}: {e}"


def wait_until(pred: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll `pred` until it returns a truthy value; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def sql_rows(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one query, read straight from a database by URL (a fresh engine)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql))]
    finally:
        engine.dispose()


def spawn(argv: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running process of this checkout (its packages first on the
    path, output unbuffered into `log`), in a session of its own."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env["PYTHONUNBUFFERED"] = "1"
    if env:
        full_env.update(env)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    return subprocess.Popen(argv, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `grace` s: a bench's helper
    process (server, load maker) never outlives the bench, whatever went wrong."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_cli_in_process(args: list[str]) -> tuple[int, str]:
    """Run `ur-kiosk ...` / `ur-central ...` through the real CLI's `main` in this
    process: the same code as a CLI process without a Python start-up (~1-2 s each)
    and without the test launcher (a test process has the suite's hooks already).
    Returns (exit code, stdout + stderr)."""
    import contextlib
    import io

    from central import cli as central_cli
    from central import hsm
    from kiosk import cli as kiosk_cli

    prog, *rest = args
    main = {"ur-kiosk": kiosk_cli.main, "ur-central": central_cli.main}[prog]
    out = io.StringIO()
    # Central's CLIs in other processes change the token (keys of each test's `init`):
    # open it afresh, as a new process would, and close it again afterwards.
    hsm.reset()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(rest)
        except SystemExit as e:  # argparse refusals
            code = e.code if isinstance(e.code, int) else 2
        finally:
            hsm.reset()
    return code, out.getvalue()
