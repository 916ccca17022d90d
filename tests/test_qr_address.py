"""The QR address form (`HTTPS://HOST/UR1/` + Base32) next to the printed older form
(`HTTPS://HOST/UR1:` + Base45): both verify offline to the same verdict; the new one
holds nothing a phone camera refuses or a browser re-encodes, and reads back strictly."""

from __future__ import annotations

import base45
import pytest

from contract import qr_text, ur1
from contract.verdict import Status
from tests.ur1_support import Env

BASE = "HTTPS://VERIFY.EXAMPLE.IQ/"


@pytest.fixture
def env() -> Env:
    return Env()


def test_address_form_is_a_clean_link_and_verifies_like_the_old_form(env: Env) -> None:
    t = env.sign()
    new, old = qr_text.verification_text(t, BASE), qr_text.legacy_text(t, BASE)
    assert new.startswith(BASE + "UR1/") and old == BASE + t
    tail = new[len(BASE):]
    # What made cameras refuse the old link: spaces and %; what browsers rewrite: . and / runs.
    assert set(tail[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert " " in t or "%" in t or "/" in t[4:] or "." in t[4:]  # this old code would not open
    assert qr_text.make_qr(new).mode == "alphanumeric"
    for text in (new, old, t, "UR1/" + tail[4:], "HTTP://127.0.0.1:8080/X/UR1/" + tail[4:]):
        v = env.verify(text)
        assert v.status is Status.VALID, (text[:40], v.reason)
        assert v.document == env.verify(t).document
    # Revocation reaches both forms the same way.
    revoked = env.status(revoked=(7,))
    assert env.verify(new, status=revoked).status is Status.REVOKED
    assert env.verify(old, status=revoked).status is Status.REVOKED


def test_address_form_reads_back_strictly(env: Env) -> None:
    t = env.sign()
    payload = ur1.b32encode(base45.b45decode(t[4:]))
    assert ur1.b32decode(payload) == base45.b45decode(t[4:])
    cut = next(k for k in range(1, 9) if (len(payload) - k) % 8 in (1, 3, 6))
    cases = [
        (BASE + "UR1/" + payload.lower(), "outside the Base32 alphabet"),  # the QR holds upper case only
        ("ur1/" + payload, "upper-case"),
        ("UR1/" + payload[:-1] + "1", "outside the Base32 alphabet"),
        ("UR1/" + payload + "=", "outside the Base32 alphabet"),
        ("UR1/" + payload[:-cut], "not a whole number of bytes"),
        ("UR1/", "empty Base32"),
        (BASE + "UR1/" + payload + " ", "spaces or line breaks"),
        ("UR2/" + payload, "unsupported code version UR2"),
    ]
    for text, needle in cases:
        v = env.verify(text)
        assert v.status is Status.INVALID and needle in v.reason, (text[:30], v.reason)
    # Two texts for one code would be ambiguous: a changed padding bit is refused, not folded.
    last = payload[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    sibling = alphabet[alphabet.index(last) ^ 1]
    v = env.verify("UR1/" + payload[:-1] + sibling)
    assert v.status is Status.INVALID
    # A flipped character in the signature is caught.
    flipped = payload[:-10] + ("A" if payload[-10] != "A" else "B") + payload[-9:]
    assert env.verify("UR1/" + flipped).status is Status.INVALID


def test_address_costs_few_more_modules(env: Env) -> None:
    t = env.sign()
    new, old = qr_text.make_qr(qr_text.verification_text(t, BASE)), qr_text.make_qr(qr_text.legacy_text(t, BASE))
    print(f"QR version new {new.version} old {old.version}")
    assert new.version <= old.version + 1
