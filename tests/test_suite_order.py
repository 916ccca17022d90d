"""The suite's own scheduling (tests/conftest.py): longest files first, read from a
--durations listing, so the xdist workers do not end with one long test running alone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.conftest import DURATIONS, known_durations, longest_files_first


def item(nodeid: str, slow: bool = False) -> Any:
    return SimpleNamespace(nodeid=nodeid, get_closest_marker=lambda name: object() if slow and name == "slow" else None)


def test_durations_lines_are_summed_per_test_and_other_lines_ignored() -> None:
    text = """============================= slowest 25 durations =============================
200.87s call     tests/test_a.py::test_long
1.50s setup    tests/test_a.py::test_long
0.20s teardown tests/test_b.py::test_x[sqlite]
(3 durations < 0.005s hidden.  Use -vv to show these durations.)
garbage line
xs call tests/test_c.py::test_bad
"""
    assert known_durations(text) == {"tests/test_a.py::test_long": 202.37, "tests/test_b.py::test_x[sqlite]": 0.2}


def test_longest_files_come_first_whole_and_in_their_own_order() -> None:
    items = [item("tests/test_a.py::one"), item("tests/test_a.py::two"),
             item("tests/test_b.py::quick"), item("tests/test_b.py::long"),
             item("tests/test_c.py::unlisted_slow", slow=True), item("tests/test_d.py::unlisted")]
    known = {"tests/test_a.py::one": 5.0, "tests/test_b.py::long": 300.0, "tests/test_b.py::quick": 0.1}
    order = [i.nodeid for i in longest_files_first(items, known)]
    assert order == ["tests/test_b.py::quick", "tests/test_b.py::long", "tests/test_c.py::unlisted_slow",
                     "tests/test_a.py::one", "tests/test_a.py::two", "tests/test_d.py::unlisted"]


def test_the_durations_file_names_tests_that_exist() -> None:
    """A renamed or removed test would silently lose its place at the front."""
    listed = known_durations(DURATIONS.read_text())
    assert listed, "tests/durations.txt lists no test"
    missing = []
    for nodeid in listed:
        path, name = nodeid.split("::")[0], nodeid.split("::")[1].split("[")[0]
        src = DURATIONS.parent.parent / path
        if not src.exists() or f"def {name}(" not in src.read_text():
            missing.append(nodeid)
    assert not missing, ("tests/durations.txt names tests that are gone (paste a new --durations listing):\n"
                         + "\n".join(missing))
