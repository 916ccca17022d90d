"""Type hints are checked: mypy with the settings in pyproject.toml ([tool.mypy]:
strict on contract/ and kiosk/devices/, default elsewhere) reports no error.

CI runs `make test`, not `make lint`, so this is where a type error turns CI red.
Cost: about 20-40 s of one core with a cold cache (a fresh clone), under 2 s when
the incremental cache in .mypy_cache/ (shared with `make lint`) is warm.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_mypy_reports_no_errors() -> None:
    # the packages to check come from [tool.mypy] files = [...], the same as `make lint`
    run = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache")],
                         cwd=ROOT, capture_output=True, text=True, timeout=590)
    out = (run.stdout + run.stderr).strip()
    # exit 1 is "found errors"; 2 is a crash or a bad config: both fail with what mypy said
    assert run.returncode == 0, f"mypy exit {run.returncode}:\n{out}"
    assert out.startswith("Success: no issues found"), out
