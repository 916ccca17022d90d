"""An independent verifier of the compact receipt code, written only from docs/payments.md
"Receipt code format": base45, cbor2, cryptography, hashlib and json here, and pycose
beside it. It imports nothing of the project to decode or verify (kiosk modules only
MAKE codes: a real payment through the ZVT emulator, and `sign_compact_receipt` for the
extremes and the documented example), so a code the kiosk prints that disagrees with
the written format, or a format too vague to implement, fails here.

Checked: real codes verify and name their payment; every single flipped byte of the
signed bytes, a changed amount (in the record, or rewritten in the code), another
fee or collection with the same short id, and a wrong or unknown key are refused."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import base45
import cbor2
import pytest
import segno
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.messages import Sign1Message

# ---------------------------------------------------------------- the peer (spec only)

QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
SHORT_ID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}$")
DIGITS = re.compile(r"^(0|[1-9][0-9]*)$")
SKEW_S = 300
MAX_OFFICE = 20


class Refused(Exception):
    """The peer does not accept the code; the message says why."""


@dataclass(frozen=True)
class Record:
    """What the verifier itself holds about a payment."""
    payment_id: str  # the collection UUID
    amount: int  # whole dinars
    fee_ref: str


def kid_of(public_key: bytes) -> bytes:
    return hashlib.sha256(public_key).digest()[:8]


def trust(*public_keys: bytes) -> dict[bytes, bytes]:
    return {kid_of(k): k for k in public_keys}


def _cbor_one(raw: bytes, what: str) -> Any:
    """One CBOR item and nothing after it."""
    buf = io.BytesIO(raw)
    try:
        obj = cbor2.CBORDecoder(buf).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as e:
        raise Refused(f"{what}: not CBOR ({e})") from None
    if buf.tell() != len(raw):
        raise Refused(f"{what}: {len(raw) - buf.tell()} bytes after the CBOR item")
    return obj


def _canonical(obj: Any, raw: bytes, what: str) -> None:
    if cbor2.dumps(obj, canonical=True) != raw:
        raise Refused(f"{what}: not canonical CBOR")


def digest(payment_id: str, amount: str, fee_ref: str) -> bytes:
    text = json.dumps({"amount": amount, "fee": fee_ref, "payment": payment_id.lower(), "v": 2},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).digest()


def signed_bytes(text: str) -> bytes:
    if not text.startswith("UR1:"):
        raise Refused("no UR1: prefix")
    body = text[4:]
    if not body or not set(body) <= QR_ALPHANUMERIC:
        raise Refused("characters outside the QR alphanumeric set")
    try:
        return bytes(base45.b45decode(body))
    except (ValueError, TypeError) as e:
        raise Refused(f"not Base45: {e}") from None


def peer_verify(text: str, keys: Mapping[bytes, bytes], records: Sequence[Record], now: int) -> tuple[dict[Any, Any], Record]:
    """docs/payments.md "Verifying", step by step: the claims and the payment they describe."""
    msg = _cbor_one(signed_bytes(text), "COSE_Sign1")
    if not isinstance(msg, cbor2.CBORTag) or msg.tag != 18:
        raise Refused("not CBOR tag 18 (COSE_Sign1)")
    arr = msg.value
    if not isinstance(arr, (list, tuple)) or len(arr) != 4:
        raise Refused("COSE_Sign1 is not an array of four")
    protected, unprotected, payload, signature = arr
    if not isinstance(protected, bytes) or not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise Refused("protected header, payload and signature must be byte strings")
    if not isinstance(unprotected, Mapping) or len(unprotected) != 0:
        raise Refused("unprotected header must be the empty map")
    ph = _cbor_one(protected, "protected header")
    if not isinstance(ph, Mapping) or set(ph) != {1, 4}:
        raise Refused(f"protected header must be exactly {{1: alg, 4: kid}}, got {ph!r}")
    _canonical(ph, protected, "protected header")
    if ph[1] != -8:
        raise Refused(f"algorithm {ph[1]!r} is not EdDSA (-8)")
    kid = ph[4]
    if not isinstance(kid, bytes) or len(kid) != 8:
        raise Refused("kid must be 8 bytes")
    if len(signature) != 64:
        raise Refused("signature must be 64 bytes")
    public = keys.get(kid)
    if public is None:
        raise Refused(f"no key for kid {kid.hex()}")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            signature, cbor2.dumps(["Signature1", protected, b"", payload]))
    except InvalidSignature:
        raise Refused("signature does not verify") from None
    claims = _cbor_one(payload, "claims")
    if not isinstance(claims, Mapping):
        raise Refused("claims are not a map")
    _canonical(claims, payload, "claims")
    want = {1, 6, "f", "h", "s", "t", "id"}
    if not want <= set(claims) <= want | {"o"}:
        raise Refused(f"claims keys {sorted(map(str, claims))} are not the receipt's")
    if claims[1] != "UR" or claims["t"] != "receipt" or claims["s"] != 0:
        raise Refused("iss, t or s is not a receipt's")
    iat = claims[6]
    if not isinstance(iat, int) or isinstance(iat, bool) or iat < 0:
        raise Refused("iat is not a non-negative integer")
    if iat > now + SKEW_S:
        raise Refused("issued in the future")
    f = claims["f"]
    if not isinstance(f, Mapping) or set(f) != {"a"} or not isinstance(f["a"], str) or not DIGITS.match(f["a"]):
        raise Refused("f must be exactly {a: decimal amount}")
    h = claims["h"]
    if not isinstance(h, bytes) or len(h) != 32:
        raise Refused("h must be 32 bytes")
    short = claims["id"]
    if not isinstance(short, str) or not SHORT_ID.match(short):
        raise Refused("id is not a short receipt id XXXXXXXX-XXXX")
    office = claims.get("o")
    if office is not None and (not isinstance(office, str) or not 1 <= len(office) <= MAX_OFFICE):
        raise Refused("o must be 1..20 characters")
    for r in records:
        if (r.payment_id.lower().startswith(short.lower()) and str(r.amount) == f["a"]
                and digest(r.payment_id, f["a"], r.fee_ref) == h):
            return dict(claims), r
    raise Refused("the code describes no payment here")


def encode(raw: bytes) -> str:
    return "UR1:" + base45.b45encode(raw).decode("ascii")


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# ---------------------------------------------------------------- codes made by the kiosk

NOW = 1795000000  # the documented example's iat
FINE = "fine:F-0001"


def _now() -> int:
    """The verifier's clock for codes the real payment path signed now (iat = its time)."""
    return int(time.time())


@dataclass(frozen=True)
class Paid:
    code: str
    record: Record
    public_key: bytes
    office: str


@pytest.fixture(scope="module")
def paid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paid]:
    """A fine paid through the kiosk's real payment path (PaymentService on the ZVT
    emulator over a pty): the code is what the kiosk stored and prints."""
    from kiosk.devices.zvt_emulator import Knobs
    from kiosk.payments.service import PaymentService
    from tests.payment_fixtures import FINES, enrolled_store, terminal

    store, ident = enrolled_store(Path(tmp_path_factory.mktemp("kiosk")))
    with terminal(Knobs(card_delay_s=0)) as (_h, factory):
        r = PaymentService(store, ident, factory).pay(FINE)
    assert r.paid and r.receipt_code, r
    # The record comes from the test's own fine list, not from the kiosk's journal.
    yield Paid(r.receipt_code, Record(r.payment_id, FINES[0]["amount"], FINE), raw_public(ident.key), ident.office)


def _qr_fits(code: str) -> None:
    qr = segno.make_qr(code, error="m", boost_error=False)
    assert qr.version <= 10 and qr.mode == "alphanumeric", (qr.version, qr.mode, len(code))


def _identity(key: Ed25519PrivateKey, office: str) -> Any:
    import base64

    from kiosk.at_rest import DataKey
    from kiosk.identity import Identity

    return Identity("BGD-K07", 7, office, "mqtt://127.0.0.1:1", key, DataKey(base64.urlsafe_b64encode(bytes(32))))


def test_a_real_payments_code_verifies_and_names_its_payment(paid: Paid) -> None:
    other = Record("00000000-0000-4000-8000-000000000000", paid.record.amount, FINE)
    claims, found = peer_verify(paid.code, trust(paid.public_key), [other, paid.record], _now())
    assert found == paid.record
    assert claims["id"] == paid.record.payment_id.replace("-", "").upper()[:8] + "-" + \
        paid.record.payment_id.replace("-", "").upper()[8:12]
    assert (claims["f"], claims["o"], claims["t"], claims[1]) == ({"a": str(paid.record.amount)}, paid.office,
                                                                   "receipt", "UR")
    _qr_fits(paid.code)


def test_the_documented_example_and_the_extremes_verify() -> None:
    from kiosk.payments import receipt_code

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pub = raw_public(key)
    assert (pub.hex(), kid_of(pub).hex()) == (
        "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8", "56475aa75463474c")
    rec = Record("3f2a9c1b-0d7e-4c55-9a41-6b7e2d1f0a93", 10000, "app:1001-000013-9")
    code = receipt_code.sign_compact_receipt(_identity(key, "BGD-01"), rec.payment_id, NOW, rec.amount, rec.fee_ref)
    claims, found = peer_verify(code, trust(pub), [rec], NOW)
    assert found == rec and claims["id"] == "3F2A9C1B-0D7E"
    assert claims["h"].hex() == "6b0065cee0a889d1255cfb4ca16d383a8e84c5d21b57a639538a85bcb6334ccd"
    assert (len(signed_bytes(code)), len(code)) == (182, 277)
    assert signed_bytes(code)[3:16] == bytes.fromhex("a20127044856475aa75463474c")  # protected header
    _qr_fits(code)
    # The extremes: a 9-digit amount, a 64-character office (cut to 20), a long fee reference.
    worst = Record("ffffffff-ffff-4fff-bfff-ffffffffffff", 999_999_999, "item:" + "s" * 91)
    code = receipt_code.sign_compact_receipt(_identity(key, "X" * 64), worst.payment_id, NOW, worst.amount,
                                             worst.fee_ref)
    claims, found = peer_verify(code, trust(pub), [worst], NOW)
    assert found == worst and claims["o"] == "X" * 20
    _qr_fits(code)


def test_every_flipped_byte_is_refused(paid: Paid, rng: random.Random) -> None:
    raw = signed_bytes(paid.code)
    keys = trust(paid.public_key)
    peer_verify(paid.code, keys, [paid.record], _now())  # as made, accepted: each refusal below is the flip's
    accepted = []
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= rng.randrange(1, 256)
        try:
            peer_verify(encode(bytes(bad)), keys, [paid.record], _now())
        except Refused:
            continue
        accepted.append(i)
    assert accepted == []
    # One character of the printed text changed: refused as well (Base45 or signature).
    for i in rng.sample(range(4, len(paid.code)), 40):
        c = rng.choice(sorted(QR_ALPHANUMERIC - {paid.code[i]}))
        with pytest.raises(Refused):
            peer_verify(paid.code[:i] + c + paid.code[i + 1:], keys, [paid.record], _now())


def _rewritten(code: str, change: dict[Any, Any]) -> str:
    """The same signed message with its claims changed and the old signature kept."""
    msg = cbor2.loads(signed_bytes(code))
    protected, unprotected, payload, signature = msg.value
    claims = {**cbor2.loads(payload), **change}
    return encode(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims, canonical=True),
                                                 signature])))


def test_a_changed_amount_fee_or_collection_is_refused(paid: Paid) -> None:
    keys, rec, now = trust(paid.public_key), paid.record, _now()
    for wrong in (Record(rec.payment_id, rec.amount + 1, rec.fee_ref), Record(rec.payment_id, rec.amount, "fine:F-0002"),
                  Record(rec.payment_id[:14] + "ffff" + rec.payment_id[18:], rec.amount, rec.fee_ref)):
        with pytest.raises(Refused, match="describes no payment"):
            peer_verify(paid.code, keys, [wrong], now)
    # The amount rewritten in the code, its digest recomputed to match: the signature refuses it.
    forged = _rewritten(paid.code, {"f": {"a": "1000"}, "h": digest(rec.payment_id, "1000", rec.fee_ref)})
    with pytest.raises(Refused, match="signature does not verify"):
        peer_verify(forged, keys, [Record(rec.payment_id, 1000, rec.fee_ref)], now)
    assert _rewritten(paid.code, {}) == paid.code  # the rewriting itself changes nothing else


def test_a_wrong_key_is_refused(paid: Paid) -> None:
    other = raw_public(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
    with pytest.raises(Refused, match="no key for kid"):
        peer_verify(paid.code, trust(other), [paid.record], _now())
    with pytest.raises(Refused, match="signature does not verify"):  # the right kid, a wrong key behind it
        peer_verify(paid.code, {kid_of(paid.public_key): other}, [paid.record], _now())


def test_pycose_agrees(paid: Paid) -> None:
    raw = signed_bytes(paid.code)
    msg = Sign1Message.decode(raw)
    assert msg.phdr[Algorithm] is EdDSA and msg.phdr[KID] == kid_of(paid.public_key)
    assert msg.payload == cbor2.loads(raw).value[2]
    msg.key = OKPKey(crv="Ed25519", x=paid.public_key)
    assert msg.verify_signature()
    msg.key = OKPKey(crv="Ed25519", x=raw_public(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))))
    assert not msg.verify_signature()
    forged = Sign1Message.decode(signed_bytes(_rewritten(paid.code, {"f": {"a": "1"}})))
    forged.key = OKPKey(crv="Ed25519", x=paid.public_key)
    assert not forged.verify_signature()


def test_the_peer_imports_nothing_of_the_project_at_module_level() -> None:
    """The peer's independence is the point: only the kiosk's code MAKES codes here, and
    only inside the fixtures and tests that make them."""
    import ast

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names] + \
        [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m.split(".")[0] in {"contract", "kiosk", "central", "tests"}], names
    assert ("receipt_" + "claims") not in Path(__file__).read_text(encoding="utf-8")  # not even lazily
