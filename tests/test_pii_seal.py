"""The sealing format for personal data on the wire (contract.pii_seal): what
opens, what does not, and that nothing that does not open raises anything but
a SealError naming the fault."""

from __future__ import annotations

import random

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contract import pii_seal
from contract.errors import UrError

PAYLOAD = {"tracking": "1001-000001-3", "service_id": "ordinary-passport", "fee_total": 25000,
           "fields": {"full_name": "زينب قاسم الموسوي", "national_id": "199912345678",
                      "mobile": "07812345678", "birth_date": "1999-03-04"},
           "application": None}
WHERE = ("K1", "applications", "01890a5d-ac96-774b-bcce-b302099a8057")


@pytest.fixture
def central() -> pii_seal.SoftwareRecipient:
    return pii_seal.SoftwareRecipient(X25519PrivateKey.generate())


def _finder(*recipients: pii_seal.SoftwareRecipient):
    by_kid = {pii_seal.key_id(r.public_raw): r for r in recipients}
    return by_kid.get


def test_round_trip_hides_every_personal_value(central: pii_seal.SoftwareRecipient) -> None:
    sealed = pii_seal.seal_payload(PAYLOAD, central.public_raw, *WHERE)
    assert list(sealed) == ["sealed"] and isinstance(sealed["sealed"], bytes)
    wire = cbor2.dumps(sealed)
    for value in ("زينب", "199912345678", "07812345678", "1999-03-04", "1001-000001-3"):
        assert value.encode() not in wire
    assert pii_seal.open_payload(sealed, _finder(central), *WHERE) == PAYLOAD
    # The same payload sealed twice looks different (a fresh salt each time).
    assert pii_seal.seal_payload(PAYLOAD, central.public_raw, *WHERE) != sealed


def test_ephemeral_key_is_reused_for_a_while_but_every_blob_has_its_own_salt(
        central: pii_seal.SoftwareRecipient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pii_seal, "EPHEMERAL_USES", 3)
    eph = slice(1 + pii_seal.KID_BYTES, 1 + pii_seal.KID_BYTES + pii_seal.KEY_BYTES)
    salt = slice(eph.stop, pii_seal.HEADER_BYTES)
    first = pii_seal.seal(central.public_raw, b"x", b"", fresh=True)
    more = [pii_seal.seal(central.public_raw, b"x", b"") for _ in range(3)]
    assert [b[eph] for b in more] == [first[eph], first[eph], more[2][eph]] and more[2][eph] != first[eph]
    assert len({b[salt] for b in [first, *more]}) == 4 and len({b[pii_seal.HEADER_BYTES:] for b in more}) == 3
    for b in [first, *more]:
        assert pii_seal.open_sealed(b, b"", _finder(central)) == b"x"


@pytest.mark.parametrize("other", [("K2", "applications", WHERE[2]), ("K1", "complaints", WHERE[2]),
                                   ("K1", "applications", "01890a5d-ac96-774b-bcce-b302099a8058")])
def test_a_blob_moved_to_another_kiosk_stream_or_message_does_not_open(
        central: pii_seal.SoftwareRecipient, other: tuple[str, str, str]) -> None:
    sealed = pii_seal.seal_payload(PAYLOAD, central.public_raw, *WHERE)
    with pytest.raises(pii_seal.SealError) as e:
        pii_seal.open_payload(sealed, _finder(central), *other)
    assert e.value.code == "open" and "sealed for another message" in str(e.value)


def test_every_single_byte_change_is_refused_with_its_reason(central: pii_seal.SoftwareRecipient) -> None:
    blob = pii_seal.seal_payload(PAYLOAD, central.public_raw, *WHERE)["sealed"]
    codes: dict[str, int] = {}
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(pii_seal.SealError) as e:
            pii_seal.open_payload({"sealed": bytes(bad)}, _finder(central), *WHERE)
        codes[e.value.code] = codes.get(e.value.code, 0) + 1
        if i == 0:
            assert e.value.code == "malformed" and "version" in str(e.value)
        elif i <= pii_seal.KID_BYTES:
            assert e.value.code == "key"
        else:
            assert e.value.code == "open"
    assert codes == {"malformed": 1, "key": pii_seal.KID_BYTES, "open": len(blob) - 1 - pii_seal.KID_BYTES}


def test_framing_faults_name_what_is_wrong(central: pii_seal.SoftwareRecipient) -> None:
    blob = pii_seal.seal_payload(PAYLOAD, central.public_raw, *WHERE)["sealed"]
    find = _finder(central)
    cases = [
        ({"sealed": blob[:40]}, "malformed", "shorter than"),
        ({"sealed": b""}, "malformed", "shorter than"),
        ({"sealed": "text"}, "malformed", "must be bytes"),
        ({"sealed": bytes([1]) + bytes(pii_seal.MAX_BLOB_BYTES)}, "malformed", "maximum"),
        ({"sealed": blob, "fee_total": 1}, "malformed", "holds only 'sealed'"),
        # An all-zero ephemeral key is a low-order point: no shared secret, refused, not a crash.
        ({"sealed": blob[:9] + bytes(32) + blob[41:]}, "open", "not a usable"),
    ]
    for payload, code, words in cases:
        with pytest.raises(pii_seal.SealError) as e:
            pii_seal.open_payload(payload, find, *WHERE)
        assert e.value.code == code and words in str(e.value), (payload.keys(), str(e.value))
    other = pii_seal.SoftwareRecipient(X25519PrivateKey.generate())
    with pytest.raises(pii_seal.SealError) as e:
        pii_seal.open_payload({"sealed": blob}, _finder(other), *WHERE)
    assert e.value.code == "key" and pii_seal.key_id(central.public_raw).hex() in str(e.value)


def test_opened_content_must_be_a_strict_cbor_map(central: pii_seal.SoftwareRecipient) -> None:
    bound = pii_seal.context(*WHERE)
    for plain, words in [(cbor2.dumps([1, 2]), "not a map"), (cbor2.dumps({1: "x"}), "text keys"),
                         (cbor2.dumps({"a": 1.5}), "floating-point"), (cbor2.dumps({"a": 1}) + b"\x00", "trailing"),
                         (b"\x5a\xff\xff\xff\xff", "declared length")]:
        blob = pii_seal.seal(central.public_raw, plain, bound)
        with pytest.raises(pii_seal.SealError) as e:
            pii_seal.open_payload({"sealed": blob}, _finder(central), *WHERE)
        assert e.value.code == "content" and words in str(e.value)
    with pytest.raises(UrError, match="cannot be sealed"):  # the kiosk refuses what central would
        pii_seal.seal_payload({"amount": 1.5}, central.public_raw, *WHERE)


def test_random_bytes_only_ever_give_seal_errors(central: pii_seal.SoftwareRecipient, rng: random.Random) -> None:
    rnd = rng
    blob = pii_seal.seal_payload(PAYLOAD, central.public_raw, *WHERE)["sealed"]
    kid = pii_seal.key_id(central.public_raw)
    find = _finder(central)
    for _ in range(500):
        n = rnd.choice([0, 1, 9, 41, 56, 57, 58, 100, rnd.randrange(300)])
        junk = bytes(rnd.randrange(256) for _ in range(n))
        if rnd.random() < 0.5 and n > 9:  # right version and key id: reaches the exchange and the tag
            junk = bytes([1]) + kid + junk[9:]
        if rnd.random() < 0.2:  # a genuine blob, cut or extended
            junk = blob[:rnd.randrange(len(blob))] if rnd.random() < 0.5 else blob + (junk or b"\x00")
        with pytest.raises(pii_seal.SealError):
            pii_seal.open_payload({"sealed": junk}, find, *WHERE)


def test_pinned_key_text_is_checked() -> None:
    key = pii_seal.SoftwareRecipient(X25519PrivateKey.generate()).public_raw
    assert pii_seal.public_key_from_hex(key.hex().upper() + "\n") == key
    for text, words in [("zz", "must be hex"), ("00" * 31, "must be 32 bytes")]:
        with pytest.raises(UrError, match=words):
            pii_seal.public_key_from_hex(text)
    with pytest.raises(UrError, match="not a usable"):
        pii_seal.seal(bytes(32), b"x", b"")  # an all-zero key would give a known secret


def test_central_opens_with_its_token_key_and_a_missing_key_is_no_crash(tmp_path) -> None:
    """Central's side (central/pii_key.py) with its key in the real SoftHSM2 token:
    it opens what a kiosk sealed to the pinned public key; when the token cannot
    do the exchange (key gone) the message is a SealError `key` (not acked, so
    kept by the kiosk), never another exception."""
    from central import db, hsm, pii_key

    engine = db.make_engine(f"sqlite:///{tmp_path / 'central.db'}")
    db.init_schema(engine)
    with db.sessions(engine).begin() as s:
        pinned = bytes.fromhex(pii_key.public_hex(s))
        assert pii_key.public_hex(s) == pinned.hex()  # one active key, made once
        kid = pii_seal.key_id(pinned)
        assert hsm.token().attributes(kid) == {"sensitive": True, "extractable": False, "never_extractable": True}
        sealed = pii_seal.seal_payload(PAYLOAD, pinned, *WHERE)
        assert pii_key.clear_payload(s, *WHERE, sealed) == PAYLOAD
        assert pii_key.clear_payload(s, *WHERE, {"tracking": "clear form"}) == {"tracking": "clear form"}
        hsm.token().destroy(kid)
        later = pii_seal.seal(pinned, cbor2.dumps(PAYLOAD), pii_seal.context(*WHERE), fresh=True)
        with pytest.raises(pii_seal.SealError) as e:
            pii_key.clear_payload(s, *WHERE, {"sealed": later})
        assert e.value.code == "key" and "token" in str(e.value)
    engine.dispose()


def test_clear_personal_data_is_accepted_until_central_requires_it_sealed(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration: a clear payload (queued before the kiosk had central's key) is
    taken as it is; with UR_CENTRAL_REQUIRE_SEALED=1 it is refused on the sealed
    streams only, and through ingest it is rejected for good and counted."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from central import db, ingest, kiosks, pii_key
    from central.inbox import RejectCount
    from contract import envelope, ids, topics

    engine = db.make_engine(f"sqlite:///{tmp_path / 'central.db'}")
    db.init_schema(engine)
    sessions = db.sessions(engine)
    key = Ed25519PrivateKey.generate()
    with sessions.begin() as s:
        kiosks.register(s, "K1", envelope.raw_public_hex(key), "", datetime.now(UTC))
        assert pii_key.clear_payload(s, *WHERE, {"tracking": "x"}) == {"tracking": "x"}
        monkeypatch.setenv(pii_key.REQUIRE_SEALED, "1")
        with pytest.raises(pii_seal.SealError) as e:
            pii_key.clear_payload(s, *WHERE, {"tracking": "x"})
        assert e.value.code == "clear" and "requires it sealed" in str(e.value)
        assert pii_key.clear_payload(s, "K1", "payments", WHERE[2], {"amount": 1}) == {"amount": 1}
    env = envelope.Envelope("K1", ids.new_id(), "applications", 1, 1, {**PAYLOAD, "tracking": "1001-000001-7"})
    [out] = ingest.process_batch(sessions, [(topics.up("K1", "applications"), envelope.seal(env, key))])
    assert (out.result, out.reason) == ("rejected", str(e.value))
    with sessions() as s:
        assert s.get(RejectCount, "pii_clear").count == 1
    engine.dispose()
