"""Shared fixtures; the parts themselves live in tests/support.py."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import fault_points
from tests import faults, support

# Central's private keys live in a PKCS#11 token (central/hsm.py): each test process
# gets its own SoftHSM2 token directory, made on first use, and the CLIs a test
# starts inherit it through the environment.
_HSM_DIR = tempfile.mkdtemp(prefix="ur-hsm-")
os.environ["UR_CENTRAL_HSM_DIR"] = _HSM_DIR
for _var in ("SOFTHSM2_CONF", "UR_CENTRAL_PIN_FILE", "UR_CENTRAL_TOKEN", "UR_CENTRAL_PKCS11_MODULE"):
    os.environ.pop(_var, None)
atexit.register(shutil.rmtree, _HSM_DIR, True)

# Cashier PINs: Argon2id at its real cost takes seconds per hash and the suite logs in
# hundreds of times, so tests use tiny parameters, installed in-process here and by the
# launcher for the CLIs tests start (tests/faults.py); the product reads no switch for it.
# tests/test_pin_hash.py checks that the real ones are the default.
faults.use_fast_pin_hash()


# Longest files first: `--dist worksteal` hands each xdist worker a contiguous share of
# the collection and steals from the end of a queue, so long tests collected last
# (tests/test_sync_failures.py, the UI files) would start when the rest is done and run
# alone at the end. Files stay whole (their module-scoped fixtures are made once) and
# keep their tests' order. The seconds come from a measured run (tests/durations.txt:
# pytest's --durations lines pasted as they are); a `slow` test not listed counts as a
# minute, any other as nothing, so unlisted files keep collection order at the end.
DURATIONS = Path(__file__).with_name("durations.txt")


def known_durations(text: str) -> dict[str, float]:
    """nodeid -> seconds (setup + call + teardown) from `--durations` lines."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].endswith("s") and "::" in parts[2]:
            try:
                out[parts[2]] = out.get(parts[2], 0.0) + float(parts[0][:-1])
            except ValueError:
                continue
    return out


def longest_files_first(items: list[pytest.Item], known: dict[str, float]) -> list[pytest.Item]:
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)

    def expected(item: pytest.Item) -> float:
        return known.get(item.nodeid, 60.0 if item.get_closest_marker("slow") else 0.0)
    cost = {f: sum(map(expected, its)) for f, its in files.items()}
    return [it for f in sorted(files, key=cost.__getitem__, reverse=True) for it in files[f]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = known_durations(DURATIONS.read_text()) if DURATIONS.exists() else {}
    items[:] = longest_files_first(items, known)


@pytest.fixture(autouse=True)
def _no_fault_left_installed() -> Iterator[None]:
    """A fault hook a test installs in-process ends with that test."""
    yield
    fault_points.clear()


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """The seed of a random test: $UR_TEST_SEED when set, else a fresh one. Printed (a
    failing test shows it) with the line that replays the run."""
    raw = os.environ.get("UR_TEST_SEED", "").strip()
    try:
        value = int(raw) if raw else random.SystemRandom().randrange(10**6)
    except ValueError:
        raise pytest.UsageError(f"UR_TEST_SEED={raw!r} is not a whole number") from None
    print(f"random seed {value}: UR_TEST_SEED={value} pytest '{request.node.nodeid}' replays it")
    request.node.user_properties.append(("seed", value))
    return value


@pytest.fixture
def rng(seed: int) -> random.Random:
    """A random generator for one test, from `seed` (printed)."""
    return random.Random(seed)


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[support.Broker]:
    """A private Mosquitto for one test."""
    with support.broker(tmp_path) as b:
        yield b


@pytest.fixture
def pty() -> Iterator[support.PtyPair]:
    with support.pty_pair() as p:
        yield p


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = support.postgres_available()
    if reason:
        pytest.skip(reason)
    with support.postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def central_sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Sessions on a fresh central schema, once on SQLite and once on PostgreSQL
    (skipped with the reason when PostgreSQL does not answer)."""
    from central import db

    url = request.getfixturevalue("pg_url") if request.param == "postgres" else support.sqlite_url(tmp_path / "c.db")
    engine = db.make_engine(url)
    db.init_schema(engine)
    try:
        yield db.sessions(engine)
    finally:
        engine.dispose()
