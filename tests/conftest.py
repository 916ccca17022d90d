"""Shared fixtures; the parts themselves live in tests/support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import support


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
