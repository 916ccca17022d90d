"""Type hints are checked: mypy with the settings in pyproject.toml ([tool.mypy]:
strict on contract/ and kiosk/devices/, default elsewhere) reports no error.

CI runs `make test`, not `make lint`, so this is where a type error turns CI red.
Cost: about 20-40 s of one core with a cold cache (a fresh clone), under 2 s when
the incremental cache in .mypy_cache/ (shared with `make lint`) is warm.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tokenize
from collections.abc import Iterable
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


# A silenced check names what it silences and says why: `# type: ignore[code]  # reason`.
# mypy itself (enable_error_code = ignore-without-code) only sees the packages it checks,
# and never the reason; this covers tests/ too.
PACKAGES = ("contract", "kiosk", "central", "firmware_config", "bench", "tests")
_IGNORE = re.compile(r"type:\s*ignore")
_WELL_FORMED = re.compile(r"type: ignore\[[a-z-]+(, [a-z-]+)*\]\s+#\s*\S.{3,}")


def ignores_without_code_or_reason(paths: Iterable[Path], root: Path = ROOT) -> list[str]:
    """`file:line: comment` of every type-ignore comment that lacks its [code] or a reason.
    Comments are read with tokenize, so the words in a string are not a comment."""
    bad = []
    for path in paths:
        with tokenize.open(path) as f:
            for tok in tokenize.generate_tokens(f.readline):
                if tok.type == tokenize.COMMENT and _IGNORE.search(tok.string):
                    if not _WELL_FORMED.search(tok.string):
                        bad.append(f"{path.relative_to(root)}:{tok.start[0]}: {tok.string}")
    return bad


def test_checker_tells_a_well_formed_ignore_from_the_others(tmp_path: Path) -> None:
    src = tmp_path / "x.py"
    good = 'a = f()  # type: ignore[attr-defined]  # f comes from a C extension\n'
    src.write_text(good + 's = "# type: ignore"  # the words in a string are not a comment\n'
                   'b = g()  # type: ignore\n'
                   'c = g()  # type: ignore[arg-type]\n'
                   'd = g()  # type: ignore  # no code\n'
                   'e = g()  # type:ignore[misc]  # odd spacing\n')
    bad = ignores_without_code_or_reason([src], root=tmp_path)
    assert [b.split(":")[1] for b in bad] == ["3", "4", "5", "6"], bad


def test_every_type_ignore_names_its_code_and_a_reason() -> None:
    files = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
    assert len(files) > 100  # the walk found the code
    bad = ignores_without_code_or_reason(files)
    assert not bad, ("write `# type: ignore[code]  # why`, or better fix the type:\n"
                     + "\n".join(bad))
