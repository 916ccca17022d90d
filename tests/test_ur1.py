"""UR1 codec: round trip, interoperability with pycose, and every bad input of the research list."""

from __future__ import annotations

import types
import zlib

import base45
import cbor2
import pytest
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.messages import Sign1Message

from contract import cbor_strict, cose_sign1, status_list, trust_list, ur1
from contract.verdict import Status
from tests.ur1_support import NOW, Env, claims, raw_pub, text_of


@pytest.fixture
def env() -> Env:
    return Env()


def test_round_trip_valid_and_shows_fields(env: Env) -> None:
    v = env.verify(env.sign())
    assert v.status is Status.VALID, v.reason
    assert v.document["fields"]["name"] == "محمد عبدالله حسن"
    assert v.document["kid"] == env.kid.hex()
    assert v.to_json()["status"] == "VALID"


def test_pycose_verifies_what_we_sign(env: Env) -> None:
    text = env.sign()
    msg = Sign1Message.decode(base45.b45decode(text[4:]))
    msg.key = OKPKey(crv="Ed25519", x=raw_pub(env.signer))
    assert msg.verify_signature()
    assert msg.phdr[KID] == env.kid
    other = Env()
    msg.key = OKPKey(crv="Ed25519", x=raw_pub(other.signer))
    assert not msg.verify_signature()


def test_we_verify_what_pycose_signs(env: Env) -> None:
    from cryptography.hazmat.primitives import serialization

    d = env.signer.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    msg = Sign1Message(phdr={Algorithm: EdDSA, KID: env.kid}, payload=claims().to_cbor())
    msg.key = OKPKey(crv="Ed25519", d=d, x=raw_pub(env.signer))
    assert env.verify(text_of(msg.encode())).status is Status.VALID


def test_structure_accepts_tuples_and_frozen_maps(env: Env) -> None:
    """cbor2 6.x hands back tuples and frozendicts; our structure checks take any sequence/mapping."""
    prot, unprot, payload, sig = cbor2.loads(env.raw_cose()).value
    msg = cose_sign1.from_object(cbor2.CBORTag(18, (prot, types.MappingProxyType(dict(unprot)), payload, sig)))
    assert cose_sign1.signature_ok(msg, raw_pub(env.signer))
    m = cbor2.loads(payload)
    m["f"] = types.MappingProxyType(m["f"])
    assert ur1.claims_from_obj(types.MappingProxyType(m)) == claims()


def test_scanner_line_endings_and_url_forms(env: Env) -> None:
    t = env.sign()
    assert env.verify(t + "\r\n").status is Status.VALID
    assert env.verify("HTTPS://VERIFY.EXAMPLE.IQ/" + t).status is Status.VALID
    assert env.verify("HTTP://VERIFY.EXAMPLE.IQ:8080/D/" + t).status is Status.VALID


# --- bad inputs: each must give the right status and a reason, never an exception -----------

def _bad_texts(env: Env) -> list[tuple[str, str, Status, str]]:
    good = env.sign()
    b45 = good[4:]
    c = claims()
    cases = [
        # 1. prefix
        ("no prefix", b45, Status.INVALID, "missing prefix"),
        ("wrong prefix", "HC1:" + b45, Status.INVALID, "wrong prefix"),
        ("unsupported version", "UR2:" + b45, Status.INVALID, "unsupported code version"),
        ("lowercase prefix", "ur1:" + b45, Status.INVALID, "upper-case"),
        ("no colon", "UR1" + b45, Status.INVALID, "followed by ':'"),
        ("leading spaces", "  " + good, Status.INVALID, "spaces"),
        ("trailing space", good + " ", Status.INVALID, "spaces"),
        ("BOM", "\ufeff" + good, Status.INVALID, "byte-order mark"),
        ("zero-width", good[:20] + "\u200b" + good[20:], Status.INVALID, "invisible"),
        ("lowercase url", "https://verify.example.iq/" + good, Status.INVALID, "upper-case"),
        ("bad url", "HTTPS://VER IFY/" + good, Status.INVALID, "malformed verification address"),
        ("empty", "", Status.INVALID, "empty code"),
        ("only crlf", "\r\n", Status.INVALID, "empty code"),
        # 2. Base45
        ("bad character", "UR1:" + b45[:10] + "a" + b45[11:], Status.INVALID, "Base45 alphabet"),
        ("length mod 3 == 1", "UR1:" + b45 + "0" * ((1 - len(b45)) % 3 or 3), Status.INVALID, "dangling"),
        ("triplet overflow", "UR1:GGW", Status.INVALID, "invalid Base45"),
        ("tail over 255", "UR1:000:Z", Status.INVALID, "invalid Base45"),
        ("empty payload", "UR1:", Status.INVALID, "empty Base45"),
        ("oversize", "UR1:" + "0" * 3000, Status.INVALID, "longer than"),
        # 3. zlib (we never compress): a zlib stream is not CBOR
        ("zlib compressed", text_of(zlib.compress(env.raw_cose())), Status.INVALID, "CBOR"),
        # 4. CBOR / COSE structure
        ("not cbor", text_of(b"\xff\x00\x01"), Status.INVALID, "CBOR"),
        ("wrong tag", text_of(env.raw_cose(tag=98)), Status.INVALID, "tag 98"),
        ("untagged", text_of(env.raw_cose(tag=None)), Status.INVALID, "tag 18 missing"),
        ("array of 3", text_of(cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {}, b""]))), Status.INVALID, "3 elements"),
        ("map not array", text_of(cbor2.dumps(cbor2.CBORTag(18, {1: 2}))), Status.INVALID, "must be an array"),
        ("trailing bytes", text_of(env.raw_cose() + b"\x00"), Status.INVALID, "trailing"),
        ("detached payload", text_of(cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 4: env.kid}), {}, None, b"\0" * 64]))), Status.INVALID, "detached"),
        ("huge declared length", text_of(bytes([0xD2, 0x84, 0x5B]) + (2**40).to_bytes(8, "big") + b"\xa0"), Status.INVALID, "exceeds"),
        ("huge array", text_of(bytes([0xD2, 0x9B]) + (2**40).to_bytes(8, "big")), Status.INVALID, "longer than the input"),
        ("deep nesting", text_of(bytes([0xD2]) + b"\x81" * 40 + b"\x00"), Status.INVALID, "nesting"),
        ("indefinite array", text_of(bytes([0xD2, 0x9F, 0xFF])), Status.INVALID, "indefinite"),
        ("duplicate protected key", text_of(env.raw_cose(protected_raw=b"\xa3\x01\x27\x04\x48" + env.kid + b"\x01\x27")), Status.INVALID, "duplicate"),
        ("duplicate claim key", text_of(env.raw_cose(payload=b"\xa2\x61t\x61a\x61t\x61b")), Status.INVALID, "duplicate"),
        ("unknown crit", text_of(env.raw_cose(protected={1: -8, 4: env.kid, 2: [99]})), Status.INVALID, "crit"),
        ("empty protected", text_of(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, c.to_cbor(), b"\0" * 64]))), Status.INVALID, "non-empty"),
        # 5. algorithm / key
        ("ES256", text_of(env.raw_cose(protected={1: -7, 4: env.kid})), Status.INVALID, "unsupported algorithm"),
        ("no alg", text_of(env.raw_cose(protected={4: env.kid})), Status.INVALID, "algorithm missing"),
        ("alg mismatch unprotected", text_of(env.raw_cose(unprotected={1: -7})), Status.INVALID, "differs"),
        ("kid only unprotected", text_of(env.raw_cose(protected={1: -8}, unprotected={4: env.kid})), Status.INVALID, "only in the unprotected"),
        ("short kid", text_of(env.raw_cose(protected={1: -8, 4: b"abc"})), Status.INVALID, "8-byte"),
        ("unknown kid", text_of(env.raw_cose(protected={1: -8, 4: b"12345678"})), Status.UNKNOWN_KEY, "not in the trust list"),
        ("bad signature", text_of(env.raw_cose(sign_with=Env().signer)), Status.INVALID, "signature does not verify"),
        ("DER ECDSA-length signature", text_of(cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 4: env.kid}), {}, c.to_cbor(), b"\x30\x45" + b"\1" * 69]))), Status.INVALID, "64 bytes"),
        # 7. semantics
        ("several documents", text_of(env.raw_cose(payload=cbor2.dumps([c.to_cbor(), c.to_cbor()]))), Status.INVALID, "several documents"),
        ("unknown type", text_of(env.raw_cose(payload=_with(c, "t", "passport"))), Status.INVALID, "unknown document type"),
        ("missing claim", text_of(env.raw_cose(payload=_without(c, "h"))), Status.INVALID, "missing"),
        ("unknown claim", text_of(env.raw_cose(payload=_with(c, "zz", 1))), Status.INVALID, "unknown claim"),
        ("short hash", text_of(env.raw_cose(payload=_with(c, "h", b"abc"))), Status.INVALID, "32-byte"),
        ("non-NFC", text_of(env.raw_cose(payload=_with(c, 1, "Cafe\u0301"))), Status.INVALID, "NFC"),
        ("oversize field", text_of(env.raw_cose(payload=_with(c, "f", {"name": "x" * 300}))), Status.INVALID, "characters"),
        ("float iat", text_of(env.raw_cose(payload=_with(c, 6, 1.5))), Status.INVALID, "floating-point"),
        ("exp before iat", text_of(env.raw_cose(payload=_with(c, 4, 5))), Status.INVALID, "not after iat"),
        ("bad id", text_of(env.raw_cose(payload=_with(c, "id", "a b"))), Status.INVALID, "claim id"),
    ]
    return cases


def _with(c: ur1.Claims, key: object, value: object) -> bytes:
    m = cbor2.loads(c.to_cbor())
    m[key] = value
    return cbor2.dumps(m)


def _without(c: ur1.Claims, key: object) -> bytes:
    m = cbor2.loads(c.to_cbor())
    del m[key]
    return cbor2.dumps(m)


def test_bad_inputs_each_rejected_with_reason(env: Env) -> None:
    failures = []
    for name, text, status, needle in _bad_texts(env):
        v = env.verify(text)
        if v.status is not status or needle.lower() not in v.reason.lower():
            failures.append(f"{name}: got {v.status} {v.reason!r}, wanted {status} ~ {needle!r}")
    assert not failures, "\n".join(failures)


def test_kid_mismatch_protected_wins(env: Env) -> None:
    t = text_of(env.raw_cose(unprotected={4: b"otherkid"}))
    assert env.verify(t).status is Status.VALID


def test_key_rights_window_and_withdrawal(env: Env) -> None:
    t = env.sign()
    assert env.verify(t, trust=env.trust(env.key(types=("receipt",)))).status is Status.INVALID
    assert env.verify(t, trust=env.trust(env.key(agency="MOH"))).status is Status.INVALID
    assert env.verify(t, trust=env.trust(env.key(agency="MOI", types=("certificate",)))).status is Status.VALID
    # Rotation: retired after issuance keeps the document valid; retired before refuses it.
    assert env.verify(t, trust=env.trust(env.key(not_after=NOW - 60))).status is Status.VALID
    v = env.verify(t, trust=env.trust(env.key(not_after=NOW - 7200)))
    assert v.status is Status.INVALID and "retired" in v.reason
    assert env.verify(t, trust=env.trust(env.key(not_before=NOW))).status is Status.INVALID
    # Compromise cut-off: earlier documents stay valid, later ones are refused.
    assert env.verify(t, trust=env.trust(env.key(withdrawn_at=NOW - 1800))).status is Status.VALID
    v = env.verify(t, trust=env.trust(env.key(withdrawn_at=NOW - 7200)))
    assert v.status is Status.INVALID and "withdrawn" in v.reason


def test_two_keys_share_a_kid_each_tried(env: Env) -> None:
    impostor = trust_list.TrustedKey(env.kid, raw_pub(Env().signer))
    assert env.verify(env.sign(), trust=env.trust(impostor, env.key())).status is Status.VALID
    assert env.verify(env.sign(), trust=env.trust(impostor)).status is Status.INVALID


def test_times(env: Env) -> None:
    assert env.verify(env.sign(claims(issued_at=NOW + 3600))).status is Status.NOT_YET_VALID
    assert env.verify(env.sign(claims(issued_at=NOW + 60))).status is Status.VALID  # within skew
    assert env.verify(env.sign(claims(expires_at=NOW - 1))).status is Status.EXPIRED
    assert env.verify(env.sign(claims(expires_at=None))).status is Status.VALID


def test_status_list_verdicts(env: Env) -> None:
    t = env.sign()
    v = env.verify(t, status=env.status(revoked=(7,)))
    assert v.status is Status.REVOKED and v.document["id"] == "D7K2M9Q4X8"
    assert env.verify(t, status=env.status(revoked=(6, 8))).status is Status.VALID
    assert env.verify(t, status=env.status(next_update=NOW - 1)).status is Status.STALE
    assert env.verify(t, trust=env.trust(next_update=NOW - 1)).status is Status.STALE
    assert env.verify(t, status=env.status(issued_at=NOW + 3600)).status is Status.STALE
    assert env.verify(t, trust=env.trust(issued_at=NOW + 3600)).status is Status.STALE
    assert env.verify(t, status=None).status is Status.STALE
    assert env.verify(t, trust=None).status is Status.STALE
    # Index beyond a list made after issuance: forged index. Beyond a list made before: newer doc.
    assert env.verify(t, status=env.status(size=5)).status is Status.INVALID
    assert env.verify(t, status=env.status(size=5, issued_at=NOW - 7200)).status is Status.VALID


def test_lists_signed_and_checked(env: Env) -> None:
    tl = env.trust(env.key(agency="MOI", types=("certificate", "letter"), not_after=NOW))
    body = trust_list.encode(tl, env.root, env.root_kid)
    assert trust_list.decode(body, raw_pub(env.root)) == tl
    with pytest.raises(trust_list.ListError, match="not the pinned root"):
        trust_list.decode(body, raw_pub(Env().root))
    forged = trust_list.encode(tl, env.signer, env.root_kid)  # right kid, wrong key
    with pytest.raises(trust_list.ListError, match="bad signature"):
        trust_list.decode(forged, raw_pub(env.root))
    sl = env.status(revoked=(0, 9, 99), size=100)
    sb = status_list.encode(sl, env.root, env.root_kid)
    got = status_list.decode(sb, raw_pub(env.root))
    assert got == sl and got.revoked_count() == 3 and got.is_revoked(99) and not got.is_revoked(98)
    with pytest.raises(trust_list.ListError):
        status_list.decode(sb[:-1], raw_pub(env.root))
    with pytest.raises(trust_list.ListError):
        status_list.decode(body, raw_pub(env.root))  # a trust list is not a status list


def test_status_list_bomb_and_size_mismatch(env: Env) -> None:
    def signed(body: dict) -> bytes:
        return cose_sign1.sign(cbor2.dumps(body), env.root, env.root_kid)

    bomb = {"v": 1, "seq": 1, "iat": NOW, "next": NOW + 1, "size": 80, "bits": zlib.compress(b"\0" * 10_000_000)}
    with pytest.raises(trust_list.ListError, match="does not match size"):
        status_list.decode(signed(bomb), raw_pub(env.root))
    broken = dict(bomb, bits=b"not zlib")
    with pytest.raises(trust_list.ListError, match="broken zlib"):
        status_list.decode(signed(broken), raw_pub(env.root))


def test_strict_cbor_reader() -> None:
    assert cbor_strict.loads(cbor2.dumps({"a": [1, -2, b"x", "y", None, True]})) == {"a": [1, -2, b"x", "y", None, True]}
    for bad, needle in [(b"", "end"), (b"\x61\xff", "UTF-8"), (b"\xa1\x80\x01", "integer or text"),
                        (b"\x1c", "reserved"), (b"\xf8\x20", "simple"), (b"\x01\x02", "trailing")]:
        with pytest.raises(cbor_strict.CborError, match=needle):
            cbor_strict.loads(bad)


def test_qr_text_wrapping_and_qr_options(env: Env) -> None:
    from contract import qr_text
    from contract.errors import UrError

    t = env.sign()
    assert qr_text.verification_text(t, "HTTPS://VERIFY.EXAMPLE.IQ") == (
        "HTTPS://VERIFY.EXAMPLE.IQ/UR1/" + ur1.b32encode(base45.b45decode(t[4:])))
    assert qr_text.legacy_text(t, "HTTPS://VERIFY.EXAMPLE.IQ") == "HTTPS://VERIFY.EXAMPLE.IQ/" + t
    assert qr_text.verification_text(t, "") == t
    for bad in ("https://verify.example.iq/", "FTP://X/", "HTTPS://VERIFY.EXAMPLE.IQ/?Q=1/"):
        with pytest.raises(UrError):
            qr_text.verification_text(t, bad)
    m, q = qr_text.make_qr(t), qr_text.make_qr(t, thermal=True)
    assert (m.error, q.error) == ("M", "Q") and q.version > m.version
    assert m.mode == "alphanumeric"
    short = qr_text.make_qr("UR1:AB")
    assert not short.is_micro  # segno.make would pick Micro QR here, which zbar cannot read
    with pytest.raises(UrError, match="alphanumeric"):
        qr_text.make_qr("UR1:lower case")
