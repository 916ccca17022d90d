"""Status list format 2 (Golomb-Rice coded revoked indexes): round trip, the format-1
lists kiosks still read during a rollout, and a strict parser for anything else."""

from __future__ import annotations

import os
import random

import cbor2
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from contract import cose_sign1, rice_code, status_list
from contract.trust_list import ListError
from tests.ur1_support import Env, raw_pub

ENV = Env()
ROOT = raw_pub(ENV.root)
# Hypothesis runs from a fixed seed ($UR_TEST_SEED replaces it), so a failure replays.
SEED = int(os.environ.get("UR_TEST_SEED", "18"))
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def signed(body: dict[str, object]) -> bytes:
    return cose_sign1.sign(cbor2.dumps(body, canonical=True), ENV.root, ENV.root_kid)


def body_of(sl: status_list.StatusList) -> dict[str, object]:
    return dict(cbor2.loads(cose_sign1.parse(status_list.encode(sl, ENV.root, ENV.root_kid), max_size=1 << 26).payload))


@st.composite
def revoked_sets(draw: st.DrawFn) -> tuple[int, list[int]]:
    size = draw(st.integers(1, 5000))
    density = draw(st.sampled_from([0.0, 0.001, 0.01, 0.1, 0.5, 0.99, 1.0]))
    r = random.Random(draw(st.integers(0, 2**32)))
    revoked = [i for i in range(size) if r.random() < density]
    return size, revoked


@seed(SEED)
@PROPS
@given(revoked_sets())
def test_round_trip_any_density(case: tuple[int, list[int]]) -> None:
    size, revoked = case
    sl = status_list.build(revoked, size, 3, 100, 200)
    got = status_list.decode(status_list.encode(sl, ENV.root, ENV.root_kid), ROOT)
    assert got == sl and (got.seq, got.issued_at, got.next_update, got.size) == (3, 100, 200, size)
    assert got.revoked_count() == len(revoked) and list(got.revoked) == revoked
    want = set(revoked)
    assert [i for i in range(size) if got.is_revoked(i)] == sorted(want)
    with pytest.raises(IndexError):
        got.is_revoked(size)


@seed(SEED)
@PROPS
@given(revoked_sets(), st.integers(0, rice_code.MAX_K))
def test_rice_code_round_trip_any_parameter(case: tuple[int, list[int]], k: int) -> None:
    """Any Rice parameter decodes (the encoder picks one; a reader must not assume it)."""
    size, revoked = case
    rs = rice_code.RiceSet.build(revoked, size, k=k)
    again = rice_code.RiceSet.parse(rs.data, size, len(revoked), k)
    assert list(again) == revoked and all((i in again) == (i in rs) for i in range(0, size, 7))


def test_parameter_follows_density_and_size_near_entropy(rng: random.Random) -> None:
    size = 200_000
    for p, k in ((0.01, 6), (0.1, 3), (0.5, 0)):
        revoked = sorted(rng.sample(range(size), int(size * p)))
        body = body_of(status_list.build(revoked, size, 1, 0, 1))
        assert body["v"] == 2 and body["k"] == k and body["n"] == len(revoked)
        gaps = body["gaps"]
        assert isinstance(gaps, bytes)
        entropy_bytes = size * rice_code.binary_entropy(p) / 8
        assert len(gaps) <= entropy_bytes * 1.05, (p, len(gaps), entropy_bytes)


def test_bounded_memory(rng: random.Random) -> None:
    size = 1_000_000
    revoked = rng.sample(range(size), size // 100)
    sl = status_list.decode(status_list.encode(status_list.build(revoked, size, 1, 0, 1), ENV.root, ENV.root_kid), ROOT)
    assert isinstance(sl.revoked, rice_code.RiceSet)
    rs = sl.revoked
    assert rs.memory_bytes() <= len(rs.data) + 16 * -(-len(revoked) // rice_code.STRIDE)
    assert rs.memory_bytes() < size // 8 // 8  # an eighth of the bitmap it replaces
    want = set(revoked)
    for i in rng.sample(range(size), 2000) + rng.sample(revoked, 200):
        assert sl.is_revoked(i) == (i in want), i


def test_format_1_still_read() -> None:
    sl = status_list.build([0, 9, 99], 100, 4, 10, 20)
    old = status_list.decode(status_list.encode_v1(sl, ENV.root, ENV.root_kid), ROOT)
    assert isinstance(old.revoked, status_list.Bitmap)
    assert old.seq == 4 and old.revoked_count() == 3 and list(old.revoked) == [0, 9, 99]
    assert old.is_revoked(99) and not old.is_revoked(98)
    # re-signing a list read in format 1 writes format 2 with the same content
    again = status_list.decode(status_list.encode(old, ENV.root, ENV.root_kid), ROOT)
    assert again == sl


def test_strict_parser_names_what_is_wrong() -> None:
    good = body_of(status_list.build([1, 5, 70, 71, 999], 1000, 1, 0, 1))
    gaps = good["gaps"]
    assert isinstance(gaps, bytes)
    cases: list[tuple[dict[str, object], str]] = [
        ({"gaps": gaps[:-1]}, "truncated"),
        ({"gaps": gaps + b"\0"}, "trailing data"),
        ({"gaps": gaps[:-1] + bytes([gaps[-1] | 1])}, "padding|trailing|beyond"),
        ({"n": 6}, "truncated"),
        ({"n": 4}, "trailing"),
        ({"n": 2000}, "count 2000 outside"),
        ({"size": 999}, "beyond the size 999"),
        ({"k": 99}, "Rice parameter 99"),
        ({"k": -1}, "'k' must be a non-negative integer"),
        ({"gaps": "text"}, "'gaps' must be a byte string"),
        ({"n": None}, "'n' must be a non-negative integer"),
        ({"v": 3}, "unknown format"),
        ({"gaps": b"\xff" * 400}, "beyond the size"),
    ]
    for change, message in cases:
        with pytest.raises(ListError, match=message):
            status_list.decode(signed({**good, **change}), ROOT)
    for cut in range(len(gaps)):
        with pytest.raises(ListError, match="status list: revoked indexes unreadable"):
            status_list.decode(signed({**good, "gaps": gaps[:cut]}), ROOT)


@seed(SEED)
@PROPS
@given(st.binary(max_size=200), st.integers(0, 300), st.integers(0, 12), st.integers(0, 5000))
def test_garbled_codes_give_a_list_error_or_a_valid_list(gaps: bytes, n: int, k: int, size: int) -> None:
    body = {"v": 2, "seq": 1, "iat": 0, "next": 1, "size": size, "n": n, "k": k, "gaps": gaps}
    try:
        sl = status_list.decode(signed(body), ROOT)
    except ListError as e:
        assert str(e).startswith("status list: ")
        return
    members = list(sl.revoked)
    assert len(members) == n and members == sorted(set(members)) and all(0 <= m < size for m in members)
