"""DLE EOT status codec: every state both ways, shape checks, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.devices import escpos_status as es

STATES = [s for s in es.PrinterState if s is not es.PrinterState.NO_RESPONSE]


@pytest.mark.parametrize("state", STATES)
def test_every_state_round_trips_through_the_four_bytes(state: es.PrinterState) -> None:
    flags = es.status_for(state)
    replies = bytes(es.encode_reply(n, flags) for n in (1, 2, 3, 4))
    assert es.decode_status(replies).state is state


def test_bits_from_the_manual() -> None:
    # n=4: 0x12|0x60 = paper end, 0x12|0x0C = near end (python-escpos masks 114 and 30)
    assert es.decode_status(bytes([0x12, 0x12, 0x12, 114])).state is es.PrinterState.PAPER_END
    assert es.decode_status(bytes([0x12, 0x12, 0x12, 30])).state is es.PrinterState.PAPER_NEAR_END
    assert es.decode_status(bytes([0x12, 0x16, 0x12, 0x12])).state is es.PrinterState.COVER_OPEN
    assert es.decode_status(bytes([0x12, 0x12, 0x1A, 0x12])).state is es.PrinterState.CUTTER_ERROR
    assert es.decode_status(bytes([0x1A, 0x12, 0x12, 0x12])).state is es.PrinterState.OFFLINE
    assert es.decode_status(bytes([0x12, 0x12, 0x12, 0x12])).state is es.PrinterState.READY


def test_bad_shape_is_a_typed_error_naming_the_byte() -> None:
    with pytest.raises(es.StatusError, match="0x00"):
        es.decode_status(bytes([0x12, 0x00, 0x12, 0x12]))
    with pytest.raises(es.StatusError, match="expected 4"):
        es.decode_status(b"\x12")


def test_realtime_scanner_finds_requests_across_chunks() -> None:
    sc = es.RealtimeScanner()
    assert sc.feed(b"ab\x10") == []
    assert sc.feed(b"\x04") == []
    assert sc.feed(b"\x02xx\x10\x05\x02") == [(1, es.EOT, 2), (6, es.ENQ, 2)]
    assert es.RealtimeScanner().status_requests(es.QUERY_ALL) == 4
    assert es.RealtimeScanner().status_requests(b"\x10\x10\x04\x01\x10\x04\x09") == 1


@given(st.binary(min_size=0, max_size=8))
def test_fuzz_status_bytes_only_typed_errors(data: bytes) -> None:
    try:
        s = es.decode_status(data)
    except es.StatusError:
        return
    assert isinstance(s.state, es.PrinterState)


@given(st.sampled_from(STATES), st.integers(0, 3), st.integers(0, 7))
def test_fuzz_mutated_valid_replies(state: es.PrinterState, idx: int, bit: int) -> None:
    flags = es.status_for(state)
    replies = bytearray(es.encode_reply(n, flags) for n in (1, 2, 3, 4))
    replies[idx] ^= 1 << bit
    try:
        es.decode_status(bytes(replies))
    except es.StatusError:
        assert bit in (0, 1, 4, 7)  # only the fixed bits make the byte invalid


@given(st.lists(st.binary(max_size=20), max_size=10))
def test_fuzz_scanner_chunking_does_not_change_the_count(chunks: list[bytes]) -> None:
    whole = es.RealtimeScanner().status_requests(b"".join(chunks))
    sc = es.RealtimeScanner()
    assert sum(sc.status_requests(c) for c in chunks) == whole
