"""Cashier and supervisor PIN hashes: Argon2id, sized so that a stolen kiosk.db
does not give up a 6-digit PIN in under a month on one core.

A PIN has at most 10^8 values and usually 10^4-10^6, so no hash makes it strong;
what a hash can do is make every guess expensive. scrypt at N=2^14 (what
stations stored before) costs ~0.1 s a guess here, so all 10^6 six-digit PINs
fall in about half a day on one core (and a 4-digit PIN in minutes). Argon2id
at 512 MiB and 8 passes costs ~4.2 s of one core's CPU a guess here (`python -m
bench pins` measures it; docs/secrets.md), ~48 days for 10^6 PINs: a 1.6x margin
over a month for a faster core. Two lanes let the station use two cores, so a
login waits about half that on an idle station, while an attacker with one core
pays the whole cost per guess. The memory makes GPUs and ASICs
no shortcut. The lockout (five wrong PINs) is what stops guessing at the
station itself; this hash is for the stolen database.

Stored form: the PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) as
bytes in `pin_hash`, so each hash names its own parameters. A scrypt hash from
before (32 raw bytes with the separate salt) still verifies, and
`Verdict.upgrade` tells the caller to store a fresh Argon2id hash after a
successful login; hashes made with older Argon2 parameters are upgraded the
same way.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from typing import NamedTuple

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MEMORY_KIB = 512 * 1024
TIME_COST = 8
LANES = 2
ARGON2 = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=LANES,
                        hash_len=32, salt_len=16, type=Type.ID)
# The hasher new hashes are made with. Only the test suite swaps it (`use_hasher`, from
# tests/faults.py) for tiny parameters, so its hundreds of logins take milliseconds;
# nothing in the environment can, so a station always hashes at the real cost, and
# hashes made cheaper are upgraded at the next login (tests/test_pin_hash.py).
_hasher = ARGON2
PREFIX = b"$argon2"
# What stations stored before: scrypt with a per-user salt column.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


# A PIN just found right is not hashed again for MEMO_S: the staff screen finds the
# user by PIN and then logs that user in, which would pay the cost twice. Kept only
# in this process's memory, keyed by an HMAC under a per-process random key, so a
# stolen database gains nothing from it.
MEMO_S = 30.0
_MEMO_KEY = os.urandom(32)
_memo: dict[bytes, float] = {}


def _memo_id(pin: str, stored: bytes) -> bytes:
    return hmac.new(_MEMO_KEY, stored + b"\0" + pin.encode(), hashlib.sha256).digest()


def _remembered(key: bytes, now: float) -> bool:
    for k in [k for k, until in _memo.items() if until <= now]:
        _memo.pop(k, None)
    return _memo.get(key, 0.0) > now


class Verdict(NamedTuple):
    ok: bool
    upgrade: bool  # the PIN is right and its stored hash is weaker than today's


def hasher() -> PasswordHasher:
    return _hasher


def use_hasher(h: PasswordHasher | None) -> None:
    """Make new hashes with `h` (None: the real parameters). Test suite only."""
    global _hasher
    _hasher = h or ARGON2


def hash_pin(pin: str) -> bytes:
    """A new Argon2id hash of `pin` (salted; the PHC string as bytes)."""
    return hasher().hash(pin).encode("ascii")


def scrypt_pin(pin: str, salt: bytes) -> bytes:
    """The legacy hash; kept to verify (and then upgrade) existing users."""
    return hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)


def verify_pin(pin: str, salt: bytes, stored: bytes) -> Verdict:
    """Whether `pin` matches `stored` (Argon2id, or legacy scrypt with `salt`)."""
    if not isinstance(pin, str):
        return Verdict(False, False)
    if stored.startswith(PREFIX):
        encoded = stored.decode("ascii", "replace")
        key, now_s = _memo_id(pin, stored), time.monotonic()
        try:
            if not _remembered(key, now_s):
                ARGON2.verify(encoded, pin)  # the parameters come from the hash itself
                _memo[key] = now_s + MEMO_S
            old = extract_parameters(encoded)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verdict(False, False)
        now = hasher()
        return Verdict(True, old.memory_cost * old.time_cost < now.memory_cost * now.time_cost)
    ok = hmac.compare_digest(scrypt_pin(pin, salt), stored)
    return Verdict(ok, ok)
