"""ZVT framing and APDU codec: known vectors, round trips, and fuzzing of every decoder."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.errors import ValidationError
from kiosk.devices import zvt_apdu as ap
from kiosk.devices.zvt_ecr import EcrConnection
from kiosk.devices.zvt_frames import (
    ACK,
    DLE,
    NAK,
    FrameAcked,
    FrameCorrupt,
    FrameReceived,
    FrameResent,
    LinkFailed,
    ZvtLink,
    ZvtProtocolError,
    crc16,
    encode_frame,
)


def test_crc_is_the_reflected_ccitt_variant() -> None:
    # CRC-16/KERMIT check value (poly 0x1021 reflected, init 0): 0x2189 for "123456789".
    assert crc16(b"123456789") == 0x2189


def test_frame_layout_and_dle_doubling() -> None:
    apdu = bytes([0x06, 0x01, 0x03, 0x10, 0x02, 0x10])
    frame = encode_frame(apdu)
    assert frame[:2] == b"\x10\x02"
    assert frame[2:-4] == bytes([0x06, 0x01, 0x03, 0x10, 0x10, 0x02, 0x10, 0x10])
    assert frame[-4:-2] == b"\x10\x03"
    c = crc16(apdu + b"\x03")
    assert frame[-2:] == bytes([c & 0xFF, c >> 8])


def test_link_receives_byte_by_byte_and_acks() -> None:
    apdu = ap.authorization(25000).to_apdu().encode()
    link = ZvtLink()
    events = []
    for b in encode_frame(apdu):
        events += link.receive_data(bytes([b]))
    assert events == [FrameReceived(apdu)]
    assert link.data_to_send() == bytes([ACK])


def test_link_naks_a_bad_crc_and_the_sender_repeats_at_most_three_times() -> None:
    frame = bytearray(encode_frame(b"\x80\x00\x00"))
    frame[-1] ^= 0xFF
    rx = ZvtLink()
    (ev,) = rx.receive_data(bytes(frame))
    assert isinstance(ev, FrameCorrupt) and "CRC" in ev.reason
    assert rx.data_to_send() == bytes([NAK])

    tx = ZvtLink()
    tx.send_apdu(b"\x05\x01\x03\x00\x00\x00")
    first = tx.data_to_send()
    assert tx.awaiting_ack
    (ev1,) = tx.receive_data(bytes([NAK]))
    assert isinstance(ev1, FrameResent) and ev1.tries == 2
    assert tx.data_to_send() == first
    (ev2,) = tx.ack_timeout()
    assert isinstance(ev2, FrameResent) and ev2.tries == 3
    (ev3,) = tx.receive_data(bytes([NAK]))
    assert isinstance(ev3, LinkFailed)
    assert not tx.awaiting_ack and tx.data_to_send() == first  # 3 transmissions, no 4th


def test_link_sends_queued_frames_one_at_a_time() -> None:
    tx = ZvtLink()
    tx.send_apdu(b"\x80\x00\x00")
    tx.send_apdu(b"\x06\x0f\x00")
    assert tx.data_to_send() == encode_frame(b"\x80\x00\x00")
    (ev,) = tx.receive_data(bytes([ACK]))
    assert ev == FrameAcked(b"\x80\x00\x00")
    assert tx.data_to_send() == encode_frame(b"\x06\x0f\x00")


def test_dle_followed_by_junk_is_rejected_with_a_reason() -> None:
    link = ZvtLink()
    (ev,) = link.receive_data(bytes([DLE, 0x02, 0x06, DLE, 0x41]))
    assert isinstance(ev, FrameCorrupt) and "DLE followed by 0x41" in ev.reason


def test_receive_buffer_is_bounded() -> None:
    link = ZvtLink(max_buffer=64)
    events = link.receive_data(bytes([DLE, 0x02]) + b"\x01" * 100)
    assert any(isinstance(e, FrameCorrupt) and "longer than 64" in e.reason for e in events)


def test_apdu_long_length_is_ff_plus_two_bytes_little_endian() -> None:
    data = bytes(300)
    raw = ap.Apdu(0x06, 0xD3, data).encode()
    assert raw[:5] == bytes([0x06, 0xD3, 0xFF, 300 & 0xFF, 300 >> 8])
    assert ap.decode_apdu(raw) == ap.Apdu(0x06, 0xD3, data)
    with pytest.raises(ZvtProtocolError, match="says 300 data bytes but carries 299"):
        ap.decode_apdu(raw[:-1])


def test_bcd_amount_currency_and_exponent_neutral_minor_units() -> None:
    assert ap.amount_encode(25000) == bytes.fromhex("000000025000")
    assert ap.bcd_encode(368, 2) == b"\x03\x68"
    assert ap.bcd_decode(b"\x03\x68") == 368
    with pytest.raises(ZvtProtocolError, match="not packed BCD"):
        ap.bcd_decode(b"\x1a")
    with pytest.raises(ZvtProtocolError, match="outside"):
        ap.amount_encode(10**12)


def test_authorization_apdu_bytes() -> None:
    raw = ap.authorization(25000, 368).to_apdu().encode()
    assert raw.hex(" ") == "06 01 0a 04 00 00 00 02 50 00 49 03 68"


def test_command_round_trips() -> None:
    cmds = [
        ap.registration("123456", 368),
        ap.authorization(1, 368),
        ap.reversal("000000", 17),
        ap.refund("000000", 5000),
        ap.simple(ap.STATUS_ENQUIRY, "000000"),
        ap.simple(ap.END_OF_DAY, "000000"),
        ap.simple(ap.TOTALS, "000000"),
        ap.simple(ap.REPEAT_RECEIPT, "000000"),
        ap.abort(),
    ]
    for c in cmds:
        assert ap.decode_message_bytes(c.to_apdu().encode()) == c


def test_terminal_messages_round_trip() -> None:
    info = ap.StatusInformation((
        (0x27, b"\x00"), (0x04, ap.amount_encode(25000)), (0x0B, ap.bcd_encode(12, 3)),
        (0x22, ap.pan_encode("411111******1111")), (0x29, bytes.fromhex("52500123")),
        (0x87, ap.bcd_encode(5, 2)), (0x8B, b"VISA\x00"),
        (0x60, ap.totals_encode(1, 2, {"visa": ap.GroupTotal(2, 3000)})),
    ))
    msgs = [
        ap.Ack(), ap.Nack(0xA0), info, ap.IntermediateStatus(0x0F), ap.PrintLine(0x81, "TOTAL"),
        ap.PrintTextBlock(2, ("A", "B")), ap.Completion(((0x29, bytes.fromhex("52500123")),)),
        ap.TerminalAbort(0x6C),
    ]
    for m in msgs:
        assert ap.decode_message_bytes(m.to_apdu().encode()) == m
    f = ap.read_fields(info.fields)
    assert (f.amount, f.trace, f.pan, f.terminal_id, f.receipt_no, f.card_name) == (
        25000, 12, "411111******1111", "52500123", 5, "VISA")
    assert f.totals is not None and f.totals[2]["visa"] == ap.GroupTotal(2, 3000)


def test_tlv_multibyte_tags_and_long_lengths() -> None:
    items = (ap.Tlv(0x25, children=(ap.Tlv(0x1F07, b"\x01"), ap.Tlv(0x07, b"x" * 200))),)
    raw = ap.encode_tlv(items)
    assert raw[:3] == bytes([0x25, 0x81, len(raw) - 3])
    assert ap.decode_tlv(raw) == items


def test_unknown_bmp_is_kept_raw_and_length_errors_name_the_tag() -> None:
    # A tag outside the table has no known length: it and the rest are kept raw.
    assert ap.decode_bmps(b"\x27\x00\x7f\x00\x01") == [(0x27, b"\x00"), (0x7F, b"\x00\x01")]
    assert ap.read_fields(((0x7F, b"\x00"),)).unknown == ((0x7F, b"\x00"),)
    with pytest.raises(ZvtProtocolError, match="BMP 3C needs 20 bytes"):
        ap.decode_bmps(b"\x3c\xf0\xf2\xf0AB")
    with pytest.raises(ZvtProtocolError, match="BMP 04 needs 6 bytes"):
        ap.decode_bmps(b"\x04\x00\x00")
    with pytest.raises(ZvtProtocolError, match="length byte 12"):
        ap.decode_bmps(b"\x22\x12\x34")


# -- fuzzing: only typed errors, never a crash or a hang ---------------------------------

VALID_APDUS = [
    ap.authorization(25000).to_apdu().encode(),
    ap.registration("000000").to_apdu().encode(),
    ap.StatusInformation(((0x27, b"\x00"), (0x22, ap.pan_encode("411111******1111")))).to_apdu().encode(),
    ap.PrintTextBlock(1, ("LINE",)).to_apdu().encode(),
    ap.IntermediateStatus(0x0A).to_apdu().encode(),
]


@st.composite
def mutated(draw: st.DrawFn, base: list[bytes]) -> bytes:
    raw = bytearray(draw(st.sampled_from(base)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, max(0, len(raw) - 1)))
        if op == 0 and raw:
            raw[pos] = draw(st.integers(0, 255))
        elif op == 1:
            raw.insert(pos, draw(st.integers(0, 255)))
        elif raw:
            del raw[pos]
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), mutated(VALID_APDUS)))
def test_fuzz_apdu_decoder_raises_only_typed_errors(raw: bytes) -> None:
    try:
        msg = ap.decode_message_bytes(raw)
    except ValidationError:
        return
    if isinstance(msg, ap.StatusInformation):
        try:
            ap.read_fields(msg.fields)
        except ValidationError:
            pass


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=400), mutated([encode_frame(a) for a in VALID_APDUS])), st.integers(1, 17))
def test_fuzz_link_and_ecr_never_crash(raw: bytes, chunk: int) -> None:
    link = ZvtLink(max_buffer=256)
    conn = EcrConnection()
    conn.send(ap.authorization(100))
    conn.data_to_send()
    for i in range(0, len(raw), chunk):
        link.receive_data(raw[i : i + chunk])
        try:
            conn.receive_data(raw[i : i + chunk])
        except ValidationError:
            conn.reset()
            conn.send(ap.authorization(100))
        conn.data_to_send()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=40),
    mutated([encode_frame(a) for a in VALID_APDUS]),
    st.sampled_from([encode_frame(ap.authorization(5).to_apdu().encode()), bytes([ACK]), bytes([NAK])]),
    mutated([ap.authorization(5).to_apdu().encode(), ap.reversal("000000", 1).to_apdu().encode()]).map(encode_frame),
), max_size=8))
def test_fuzz_emulator_never_crashes(chunks: list[bytes]) -> None:
    from kiosk.devices.zvt_emulator import Knobs, TerminalEmulator

    clock = [0.0]
    emu = TerminalEmulator(Knobs(card_delay_s=0.0), clock=lambda: clock[0])
    for c in chunks:
        emu.receive_data(c)
        clock[0] += 0.5
        emu.tick()
        emu.data_to_send()
