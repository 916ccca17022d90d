"""Hostile files through the real CLIs: one error line naming the problem, exit
2, never a traceback, and nothing published. Size and nesting are capped before
any parser sees the file (contract/input_limits.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract import input_limits
from tests import support

DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_TOML = "a = " + "[" * 50_000 + "]" * 50_000 + "\n"


def _one_line_error(r, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert needle in r.stderr, r.stderr


def _institution(name_en: str = "Ministry") -> dict[str, object]:
    return {"id": "moi", "name": {"ar": "وزارة", "ckb": "وەزارەت", "en": name_en}, "offices": []}


@pytest.mark.parametrize(("name", "body", "needle"), [
    ("institutions-int", json.dumps({"institutions": 5, "services": []}), "institutions: must be a list, not int"),
    ("services-str", json.dumps({"institution": _institution(), "services": "x"}), "services: must be a list"),
    ("deep", DEEP_JSON, "nests more than 32 levels deep"),
    ("deep-in-a-field", json.dumps({"institution": _institution(), "services": []})[:-1]
     + ', "x": ' + DEEP_JSON + "}", "nests more than 32 levels deep"),
    ("long-name", json.dumps({"institution": _institution("M" * 5_000_000), "services": []}),
     "String should have at most 4000 characters"),
    ("not-json", "{oops", "not valid JSON"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_catalogue_import_refuses_hostile_files(tmp_path: Path, name: str, body: str, needle: str) -> None:
    url = support.sqlite_url(tmp_path / "central.db")
    f = tmp_path / f"{name}.json"
    f.write_text(body)
    r = support.run_cli(["ur-central", "--db", url, "catalogue", "import", str(f)])
    _one_line_error(r, needle)
    # Nothing was published: no catalogue version exists.
    r = support.run_cli(["ur-central", "--db", url, "--json", "catalogue", "versions"])
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout


def test_a_60_mb_catalogue_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 60 MB name: the file is over the cap, so it is refused from its size alone."""
    f = tmp_path / "big.json"
    with f.open("w") as out:
        out.write('{"institution": {"id": "moi", "name": {"ar": "و", "ckb": "و", "en": "')
        for _ in range(60):
            out.write("M" * 1_000_000)
        out.write('"}, "offices": []}, "services": []}')
    r = support.run_cli(["ur-central", "--db", support.sqlite_url(tmp_path / "c.db"), "catalogue", "import",
                         str(f)])
    _one_line_error(r, "the limit is 33,554,432")


@pytest.mark.parametrize(("target", "needle"), [
    ("dir", "is a directory, not a file"),
    ("deep", "nests more than 32 levels deep"),
    ("fifo", "is not a regular file"),
    ("missing", "no such file"),
])
def test_config_validate_refuses_what_is_not_a_small_toml_file(tmp_path: Path, target: str, needle: str) -> None:
    path = tmp_path / target
    if target == "dir":
        path.mkdir()
    elif target == "deep":
        path.write_text(DEEP_TOML)
    elif target == "fifo":
        import os

        os.mkfifo(path)  # reading a FIFO would block forever: refused without a read
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path / "k"), "config", "validate", str(path)], timeout=60)
    _one_line_error(r, needle)


def test_depth_scan_ignores_brackets_in_strings_and_comments() -> None:
    assert input_limits.json_depth('{"a": ["[[[[", {"b": "\\"]]]"}]}') == 3
    assert input_limits.json_depth(DEEP_JSON) > input_limits.MAX_DEPTH
    toml = 'x = "[[[["\n# [[[[[[\ny = \'\'\'\n[[[[\n\'\'\'\n[t]\nz = [[1], {a = [2]}]\n[[arr]]\n'
    assert input_limits.toml_depth(toml) == 3


def test_a_data_directory_that_is_a_file_is_one_error_line(tmp_path: Path) -> None:
    f = tmp_path / "a-file"
    f.write_text("x")
    _one_line_error(support.run_cli(["ur-kiosk", "--data", str(f), "queue"]), f"{f} is not a directory")
    _one_line_error(support.run_cli(["ur-central", "--db", support.sqlite_url(f / "central.db"), "init"]),
                    f"{f} is not a directory")
