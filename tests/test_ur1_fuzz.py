"""Hypothesis fuzzing of the UR1 decoder: any text, any bytes, any mutation gives a verdict."""

from __future__ import annotations

import base45
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import cbor_strict, status_list, trust_list, ur1
from contract.verdict import Status, Verdict
from tests.ur1_support import Env, raw_pub, text_of

ENV = Env()
GOOD = ENV.sign()
GOOD_RAW = base45.b45decode(GOOD[4:])
TRUST, STATUS = ENV.trust(), ENV.status()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(text: str) -> Verdict:
    v = ur1.verify(text, TRUST, STATUS, 1_800_000_000)
    assert isinstance(v, Verdict) and v.reason
    return v


@FAST
@given(st.text(max_size=400))
def test_any_text(text: str) -> None:
    _check(text)


@FAST
@given(st.text(alphabet=sorted(ur1.BASE45_ALPHABET), max_size=600))
def test_any_base45_text(payload: str) -> None:
    _check("UR1:" + payload)


@FAST
@given(st.binary(max_size=400))
def test_any_bytes(raw: bytes) -> None:
    assert _check(text_of(raw)).status is not Status.VALID


@FAST
@given(st.data())
def test_mutated_valid_code_is_never_valid(data: st.DataObject) -> None:
    raw = bytearray(GOOD_RAW)
    positions = data.draw(st.sets(st.integers(0, len(raw) - 1), min_size=1, max_size=4))
    for i in positions:  # distinct positions, so two flips never cancel out
        raw[i] ^= data.draw(st.integers(1, 255))
    assert _check(text_of(bytes(raw))).status is not Status.VALID


@FAST
@given(st.data())
def test_truncated_or_extended(data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(GOOD_RAW) - 1))
    extra = data.draw(st.binary(max_size=8))
    assert _check(text_of(GOOD_RAW[:cut] + extra)).status is not Status.VALID


@FAST
@given(st.binary(max_size=300))
def test_strict_cbor_raises_only_cbor_error(raw: bytes) -> None:
    try:
        cbor_strict.loads(raw)
    except cbor_strict.CborError:
        pass


def test_valid_code_stays_valid() -> None:
    assert _check(GOOD).status is Status.VALID


ROOT_PUB = raw_pub(ENV.root)
GOOD_STATUS = status_list.encode(STATUS, ENV.root, ENV.root_kid)


@FAST
@given(st.binary(max_size=400))
def test_list_decoders_raise_only_list_error(raw: bytes) -> None:
    for decode in (trust_list.decode, status_list.decode):
        try:
            decode(raw, ROOT_PUB)
        except trust_list.ListError:
            pass


@FAST
@given(st.data())
def test_mutated_status_list_refused(data: st.DataObject) -> None:
    raw = bytearray(GOOD_STATUS)
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    try:
        status_list.decode(bytes(raw), ROOT_PUB)
    except trust_list.ListError:
        return
    raise AssertionError(f"flipped byte {i} still accepted")
