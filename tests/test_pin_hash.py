"""Cashier PINs are Argon2id at the real parameters by default (through the real
CLI as deployed, with the old test switch UR_INSECURE_FAST_PIN_HASH set and ignored), stations' old scrypt hashes still
log in and are upgraded at that login, and a hash is never weakened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from kiosk import pin_hash
from kiosk.payments.cashier import AuditEntry, AuthError, CashierStation, CashierUser
from tests import faults
from tests.payment_fixtures import enrolled_store
from tests.support import run_cli

REAL = f"$argon2id$v=19$m={pin_hash.MEMORY_KIB},t={pin_hash.TIME_COST},p={pin_hash.LANES}$"


def _stored(data: Path, user: str) -> bytes:
    with sqlite3.connect(data / "kiosk.db") as c:
        return bytes(c.execute("SELECT pin_hash FROM cashier_users WHERE user_id=?", (user,)).fetchone()[0])


def test_cli_stores_argon2id_at_the_real_parameters(tmp_path: Path) -> None:
    data = tmp_path / "k"
    enrolled_store(data, kiosk_id="cashier-1")[0].close()
    env = {"UR_NEW_PIN": "482913", "UR_CASHIER_PIN": "482913",
           "UR_INSECURE_FAST_PIN_HASH": "1"}  # the old test switch: ignored by the product now
    base = ["ur-kiosk", "--data", str(data), "cashier"]
    real = None  # the product's own entry point, without the test launcher
    r = run_cli([*base, "user-add", "--user", "x", "--new-user", "sup", "--role", "supervisor"], env=env,
                faults=real)
    assert r.returncode == 0, r.stderr
    stored = _stored(data, "sup")
    assert stored.startswith(REAL.encode()), stored
    assert b"482913" not in stored
    # The real-cost hash logs in through the deployed CLI. (A wrong PIN's refusal is the
    # same comparison: tested at the suite's cheap cost below and in the cashier tests,
    # each real-cost hash or check being seconds of both cores.)
    assert run_cli([*base, "login", "--user", "sup"], env=env, faults=real).returncode == 0


def _legacy_user(store, user_id: str, pin: str) -> None:
    """A user as stations stored them before: scrypt N=2^14 with a salt column."""
    salt = b"0123456789abcdef"
    with store.tx() as s:
        s.add(CashierUser(user_id=user_id, name=user_id, role="supervisor", salt=salt,
                          pin_hash=pin_hash.scrypt_pin(pin, salt), failures=0, locked_until=0.0))


def test_old_scrypt_hash_logs_in_and_is_upgraded(tmp_path: Path) -> None:
    store, _ = enrolled_store(tmp_path / "k")
    _legacy_user(store, "sup", "1234")
    st = CashierStation(store)
    with pytest.raises(AuthError):
        st.login("sup", "4321")
    with store.session() as s:  # a wrong PIN changes nothing but the failure count
        assert not s.get(CashierUser, "sup").pin_hash.startswith(pin_hash.PREFIX)
    assert st.login("sup", "1234").role == "supervisor"
    with store.session() as s:
        u = s.get(CashierUser, "sup")
        assert u.pin_hash.startswith(b"$argon2id$") and u.salt == b""
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last is not None and last.action == "login" and "pin_hash_upgraded" in last.detail
    assert st.login("sup", "1234").user_id == "sup"  # the new hash verifies
    with pytest.raises(AuthError):
        st.login("sup", "1235")
    store.close()


def test_weaker_argon2_is_upgraded_and_stronger_is_never_weakened(tmp_path: Path) -> None:
    store, _ = enrolled_store(tmp_path / "k")
    st = CashierStation(store)
    st.add_user("sup", "Sup", "supervisor", "1234")  # the suite's fast parameters
    fast = _stored(tmp_path / "k", "sup")
    assert fast.startswith(b"$argon2id$v=19$m=8192,t=1,p=1$")
    pin_hash.use_hasher(None)  # the station as deployed hashes at the real parameters ...
    try:
        assert pin_hash.hasher() is pin_hash.ARGON2
    finally:
        faults.use_fast_pin_hash()
    # ... and a hash weaker than the configured one is upgraded to it at login. Shown with
    # a configured hasher one step above the suite's cost: the real one is seconds of both
    # cores per hash, and test_cli_stores_argon2id_at_the_real_parameters hashes at it.
    configured = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1, hash_len=32, salt_len=16)
    pin_hash.use_hasher(configured)
    try:
        st.login("sup", "1234")
        assert _stored(tmp_path / "k", "sup").startswith(b"$argon2id$v=19$m=16384,t=2,p=1$")
    finally:
        faults.use_fast_pin_hash()
    # Never weakened: a hash stronger than the configured one (the suite's again) stays as it is.
    before = _stored(tmp_path / "k", "sup")
    assert st.login("sup", "1234").user_id == "sup"
    assert _stored(tmp_path / "k", "sup") == before
    with pytest.raises(AuthError):
        st.login("sup", "4321")
    store.close()


def test_verify_refuses_garbage_and_non_strings() -> None:
    assert pin_hash.verify_pin("1234", b"", b"$argon2id$garbage") == pin_hash.Verdict(False, False)
    assert pin_hash.verify_pin(1234, b"", pin_hash.hash_pin("1234")) == pin_hash.Verdict(False, False)  # type: ignore[arg-type]  # a non-string PIN on purpose: it must be refused
    assert pin_hash.verify_pin("1234", b"s", b"\x00" * 32) == pin_hash.Verdict(False, False)


def test_a_right_pin_is_remembered_briefly_in_memory_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The staff screen finds the user by PIN, then logs in: the second check of the same
    PIN against the same hash within MEMO_S is not hashed again; a wrong PIN never is."""
    stored = pin_hash.hash_pin("1234")
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 - argon2's names
            calls.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(pin_hash, "ARGON2", Counting())
    clock = [1000.0]
    monkeypatch.setattr(pin_hash.time, "monotonic", lambda: clock[0])
    assert pin_hash.verify_pin("1234", b"", stored).ok
    assert pin_hash.verify_pin("1234", b"", stored).ok
    assert not pin_hash.verify_pin("1235", b"", stored).ok
    assert not pin_hash.verify_pin("1235", b"", stored).ok
    assert calls == ["1234", "1235", "1235"]
    clock[0] += pin_hash.MEMO_S + 1
    assert pin_hash.verify_pin("1234", b"", stored).ok
    assert calls == ["1234", "1235", "1235", "1234"]
    assert not pin_hash.verify_pin("1234", b"", pin_hash.hash_pin("1234x")).ok  # another hash: no memo
