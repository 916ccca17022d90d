"""ZVT against peers nobody here wrote the codec for: the spec-only peer in
tests/zvt_peer.py (which imports nothing from kiosk/devices) and byte traces of real
terminals from public sources (tests/zvt_traces.py), over real ptys and real TCP
sockets, and `ur-kiosk emulate terminal --tcp` as a real process.

Each interop failure the field found is one test here: ZVT/TCP with bare APDUs, an
LLLVAR field (92) in an approval, an approval in another currency, a registration
without a currency, and the typed result keeping 3C / 17 and never the expiry (0E).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from kiosk.devices import zvt_apdu as ap
from kiosk.devices.zvt_driver import OutcomeUnknown, TerminalUnavailable, ZvtDriver
from kiosk.devices.zvt_emulator import Knobs, run_in_thread, run_tcp_in_thread
from kiosk.devices.zvt_frames import ApduLink, FrameReceived
from kiosk.payments import journal as pj
from tests import zvt_peer as peer
from tests.support import REPO, PtyPair
from tests.zvt_traces import TRACES

EXPIRY_RAW = "2512"  # the expiry (YYMM) in the captured Portalum approvals


@contextmanager
def peer_terminal(transport: str, script: peer.Script, pty: PtyPair) -> Iterator[tuple[str, peer.PeerTerminal]]:
    """The spec-only peer terminal, on the pty (serial frames) or a TCP port (bare APDUs)."""
    term = peer.PeerTerminal(script)
    if transport == "tcp":
        listener = socket.create_server(("127.0.0.1", 0))
        t = threading.Thread(target=term.serve_tcp, args=(listener,), daemon=True)
        url = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    else:
        listener = None
        t = threading.Thread(target=term.serve, args=(peer._Wire(serial_fd=pty.fd),), daemon=True)
        url = pty.device
    t.start()
    try:
        yield url, term
    finally:
        term.stop.set()
        t.join(5)
        if listener is not None:
            listener.close()


def approve(currency: int, extra: bytes = b"", amount: int | None = None) -> peer.Script:
    def script(cmd: bytes) -> list[bytes]:
        data = peer.apdu_data(cmd)
        if cmd[:2] == b"\x06\x01":
            f = peer.read_fields(data)
            amt = int(f[0x04].hex()) if amount is None else amount
            return [peer.apdu(0x04, 0xFF, b"\x0a"),
                    peer.apdu(0x04, 0x0F, peer.approval_fields(amt, currency, extra)),
                    peer.apdu(0x06, 0x0F)]
        return [peer.apdu(0x06, 0x0F, b"\x19\x00\x29" + peer.bcd(52500999, 4) + b"\x49" + peer.bcd(currency, 2))]
    return script


def replay(*frames: bytes) -> peer.Script:
    return lambda cmd: list(frames)


# -- our driver against the peer terminal --------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "serial"])
def test_driver_pays_a_peer_terminal_whose_approval_carries_lllvar_field_92(transport: str, pty: PtyPair) -> None:
    f92 = peer.llvar(0x92, bytes.fromhex("9f2701809f3602001a"), 3)
    with peer_terminal(transport, approve(368, f92), pty) as (url, term), \
            ZvtDriver(url, timeout=5, ack_timeout=1) as drv:
        r = drv.authorize(2500)
    assert r.approved and not r.amount_mismatch and r.receipt_no == 42 and r.unknown_fields == []
    sent = term.commands[0]
    # Over TCP the command is the bare APDU; the peer's own parser reads our fields.
    assert sent[:2] == b"\x06\x01" and peer.read_fields(peer.apdu_data(sent))[0x49] == b"\x03\x68"


def test_tcp_driver_sends_bare_apdus_never_dle_framing(pty: PtyPair) -> None:
    with peer_terminal("tcp", approve(368), pty) as (url, term), ZvtDriver(url, timeout=5, ack_timeout=1) as drv:
        drv.register()
    # The peer's TCP reader only accepts whole bare APDUs: a DLE STX frame would have
    # arrived as class 10 instr 02.
    assert term.commands[0][:2] == b"\x06\x00"


@pytest.mark.parametrize("transport", ["tcp", "serial"])
def test_approval_in_another_currency_must_be_reversed(transport: str, pty: PtyPair) -> None:
    with peer_terminal(transport, approve(978), pty) as (url, _), ZvtDriver(url, timeout=5, ack_timeout=1) as drv:
        r = drv.authorize(2500, currency=368)
    assert r.currency == 978 and r.currency_mismatch and r.amount_mismatch
    # The journal takes it as an approval that must be reversed, never as paid.
    e = pj.mark_pending(pj.create("p1", "fee", 2500, 368, _now()), _now())
    e = pj.record_outcome(e, pj.TerminalOutcome(True, 0, r.amount, r.receipt_no, r.trace, currency=r.currency), _now())
    assert e.must_reverse and "978" in e.must_reverse
    with pytest.raises(pj.PaymentStateError):
        pj.mark_paid(e, _now())


def test_same_currency_is_not_a_mismatch(pty: PtyPair) -> None:
    with peer_terminal("tcp", approve(978), pty) as (url, _), ZvtDriver(url, timeout=5, ack_timeout=1) as drv:
        r = drv.authorize(2040, currency=978)
    assert r.approved and not r.currency_mismatch and not r.amount_mismatch


def test_captured_real_approval_keeps_text_and_card_sequence_never_expiry(pty: PtyPair) -> None:
    good = next(t[1] for t in TRACES if t[0].startswith("status approved Debit Mastercard EUR 20.40 (1)"))
    with peer_terminal("tcp", replay(good, peer.apdu(0x06, 0x0F)), pty) as (url, _), \
            ZvtDriver(url, timeout=5, ack_timeout=1, currency=978) as drv:
        r = drv.authorize(2040)
    assert r.approved and not r.amount_mismatch
    assert (r.additional_text, r.card_seq_no, r.card_type, r.card_name) == ("GEN.NR.:611804", 1, 0x2E, "Debit Mastercard")
    d = r.as_dict()
    assert not any("expir" in k for k in d)
    assert EXPIRY_RAW not in repr(d)


def test_captured_real_decline_keeps_the_terminals_reason(pty: PtyPair) -> None:
    rejected = next(t[1] for t in TRACES if t[0] == "status card rejected")
    with peer_terminal("serial", replay(rejected, bytes.fromhex("061e0105")), pty) as (url, _), \
            ZvtDriver(url, timeout=5, ack_timeout=1) as drv:
        r = drv.authorize(2040)
    assert not r.approved and r.result_code == 0x05 and r.additional_text == "Abgelehnt"


def test_tcp_terminal_that_never_answers_leaves_the_payment_unknown(pty: PtyPair) -> None:
    with peer_terminal("tcp", replay(), pty) as (url, term):
        term.stop.set()  # the peer accepts nothing more: the connection is silent
        listener_url = url
        with ZvtDriver(listener_url, timeout=3, ack_timeout=0.5) as drv:
            with pytest.raises((OutcomeUnknown, TerminalUnavailable)):
                drv.authorize(100)


def test_tcp_connection_refused_is_unavailable() -> None:
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TerminalUnavailable, match="tcp://127.0.0.1"):
        ZvtDriver(f"tcp://127.0.0.1:{port}", timeout=2, ack_timeout=0.5)


def test_tcp_terminal_closing_mid_payment_is_unknown_never_not_sent(pty: PtyPair) -> None:
    def close_after_ack(cmd: bytes) -> list[bytes]:
        raise ConnectionError("terminal reboots")  # 80 00 00 went out, then the socket closes
    with peer_terminal("tcp", close_after_ack, pty) as (url, _), ZvtDriver(url, timeout=3, ack_timeout=1) as drv:
        with pytest.raises(OutcomeUnknown):
            drv.authorize(100)


# -- the peer ECR against our emulator -----------------------------------------------------------


@contextmanager
def emulator_for_peer(transport: str, pty: PtyPair, knobs: Knobs) -> Iterator[peer.PeerEcr]:
    if transport == "tcp":
        with run_tcp_in_thread(knobs) as (_, port), socket.create_connection(("127.0.0.1", port)) as s:
            yield peer.PeerEcr(sock=s)
    else:
        fd = os.open(pty.device, os.O_RDWR | os.O_NOCTTY)
        try:
            with run_in_thread(pty.fd, knobs):
                yield peer.PeerEcr(serial_fd=fd)
        finally:
            os.close(fd)


@pytest.mark.parametrize("transport", ["tcp", "serial"])
def test_emulator_reads_a_registration_without_currency_as_none(transport: str, pty: PtyPair) -> None:
    with emulator_for_peer(transport, pty, Knobs(card_delay_s=0)) as ecr:
        got = ecr.run(peer.registration(0x8E, currency=None, service=0x00))  # 06 00 ... 8E 03 00
        assert got[0] == b"\x80\x00\x00" and got[-1][:2] == b"\x06\x0f"
        assert peer.read_fields(peer.apdu_data(got[-1]))[0x49] == b"\x03\x68"  # its own IQD, not 300
        got = ecr.run(peer.registration(0x8E, currency=978, service=0x00))
        assert peer.read_fields(peer.apdu_data(got[-1]))[0x49] == b"\x09\x78"


def test_registration_tail_rules() -> None:
    assert ap._registration_tail(bytes.fromhex("0300")) == (None, ((0x03, b"\x00"),))
    assert ap._registration_tail(bytes.fromhex("0368")) == (368, ())
    assert ap._registration_tail(bytes.fromhex("03680300")) == (368, ((0x03, b"\x00"),))
    assert ap._registration_tail(bytes.fromhex("0978")) == (978, ())


@pytest.mark.parametrize("transport", ["tcp", "serial"])
def test_peer_ecr_pays_on_our_emulator(transport: str, pty: PtyPair) -> None:
    with emulator_for_peer(transport, pty, Knobs(card_delay_s=0, field_92=True)) as ecr:
        got = ecr.run(peer.authorization(2500, 368))
    status = [a for a in got if a[:2] == b"\x04\x0f"]
    assert got[-1][:2] == b"\x06\x0f" and len(status) == 1
    f = peer.read_fields(peer.apdu_data(status[0]))  # the peer's own reading of our 04 0F
    assert f[0x27] == b"\x00" and f[0x04] == peer.bcd(2500, 6) and f[0x49] == b"\x03\x68"
    assert 0x92 in f and 0x17 in f


# -- captured frames ------------------------------------------------------------------------------


@pytest.mark.parametrize("name,raw,source,want", TRACES, ids=[t[0] for t in TRACES])
def test_real_terminal_frames_decode(name: str, raw: bytes, source: str, want: dict[str, object]) -> None:
    assert source
    msg = ap.decode_message_bytes(raw)
    if isinstance(msg, ap.StatusInformation):
        f = ap.read_fields(msg.fields)
        assert f.unknown == ()
        for k, v in want.items():
            assert getattr(f, k) == v, k
    elif isinstance(msg, ap.IntermediateStatus):
        assert (msg.code, msg.timeout) == (want["code"], want["timeout"])
        texts = ap.find_tlv(msg.tlv, 0x24)
        assert texts is not None and [c.value.decode() for c in texts.children] == want["texts"]
    elif isinstance(msg, ap.TerminalAbort):
        assert msg.code == want["code"]
    elif isinstance(msg, ap.Command):
        assert ap.read_fields(msg.fields).amount == want["amount"]
    else:
        assert isinstance(msg, ap.Completion)
    # The TCP link cuts the same frames out of one byte stream, split anywhere.
    link = ApduLink()
    stream = raw + raw
    got = [ev.apdu for i in range(0, len(stream), 5) for ev in link.receive_data(stream[i:i + 5])
           if isinstance(ev, FrameReceived)]
    assert got == [raw, raw]


def test_at_least_ten_real_result_frames() -> None:
    kinds = [raw[:2] for _, raw, _, _ in TRACES]
    assert sum(k in (b"\x04\x0f", b"\x06\x0f", b"\x06\x1e", b"\x04\xff") for k in kinds) >= 10


def test_peer_crc_agrees_with_the_spec_check_value() -> None:
    # CRC-16/KERMIT check value for "123456789" is 0x2189 (public CRC catalogue).
    assert peer.crc_kermit(b"123456789") == 0x2189


# -- the real CLI process ----------------------------------------------------------------------------


def test_cli_emulate_terminal_tcp_then_devices_test_and_diagnose(tmp_path: object) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "emulate", "terminal", "--tcp", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("tcp://127.0.0.1:"), url
        for cmd in (["devices", "test", "terminal"], ["devices", "diagnose"]):
            out = subprocess.run([sys.executable, "-m", "kiosk.cli", *cmd, "--profile", "zvt_terminal_tcp",
                                  "--port", url], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
            assert "OK (ready)" in out.stdout and "52500123" in out.stdout
    finally:
        proc.terminate()
        proc.wait(10)


def _now() -> dt.datetime:
    return dt.datetime(2026, 12, 2, 12, 0, 0)
