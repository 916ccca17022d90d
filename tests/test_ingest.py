"""Central ingest on SQLite and PostgreSQL with the same code: dedup, order, gaps, rejects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from central import applications, db, ingest, kiosks
from central.inbox import HeldMessage
from contract import envelope, ids, topics, tracking
from contract.errors import UrError


@pytest.fixture
def sessions(central_sessions: db.sessionmaker) -> db.sessionmaker:
    return central_sessions


class FakeKioskSigner:
    """Builds real signed envelopes the way a kiosk does (no network involved)."""

    def __init__(self, sessions: db.sessionmaker, kiosk_id: str = "K1") -> None:
        self.key = Ed25519PrivateKey.generate()  # the kiosk's own key (CSR-style enrollment)
        with sessions.begin() as s:
            kiosk = kiosks.register(s, kiosk_id, envelope.raw_public_hex(self.key), "", datetime.now(UTC))
            self.code = kiosk.kiosk_code
        self.kiosk_id = kiosk_id

    def app(self, seq: int, key: Ed25519PrivateKey | None = None) -> tuple[str, bytes]:
        env = envelope.Envelope(self.kiosk_id, ids.new_id(), "applications", seq, seq << 16, {
            "tracking": tracking.make(self.code, seq), "service_id": "svc", "catalogue_version": 1,
            "fee_total": 5000, "fields": {"n": str(seq)}, "submitted_at": datetime.now(UTC).isoformat()})
        return topics.up(self.kiosk_id, "applications"), envelope.seal(env, key or self.key)


def _count(sessions: db.sessionmaker) -> int:
    with sessions() as s:
        return applications.count(s)


def test_out_of_order_is_held_until_gap_filled_and_replays_are_harmless(sessions) -> None:
    k = FakeKioskSigner(sessions)
    m1, m2, m3 = k.app(1), k.app(2), k.app(3)
    out = ingest.process_batch(sessions, [m3, m2])
    assert [o.result for o in out] == ["held", "held"]
    assert _count(sessions) == 0
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(HeldMessage)) == 2
    out = ingest.process_batch(sessions, [m1])
    assert [o.result for o in out] == ["applied"]
    assert _count(sessions) == 3
    with sessions() as s:
        order = [a.tracking for a in s.scalars(select(applications.Application).order_by(applications.Application.received_at, applications.Application.tracking))]
        assert s.scalar(select(func.count()).select_from(HeldMessage)) == 0
    assert len(order) == 3
    out = ingest.process_batch(sessions, [m1, m2, m3, m3])
    assert {o.result for o in out} == {"duplicate"}
    assert _count(sessions) == 3
    acks = ingest.acks_for(out)
    assert len(acks.acked["K1"]) == 4


def test_bad_payload_is_rejected_for_good_and_does_not_block_the_stream(sessions) -> None:
    k = FakeKioskSigner(sessions)
    bad_env = envelope.Envelope("K1", ids.new_id(), "applications", 1, 1 << 16, {"tracking": "nonsense"})
    bad = (topics.up("K1", "applications"), envelope.seal(bad_env, k.key))
    out = ingest.process_batch(sessions, [bad, k.app(2)])
    assert [o.result for o in out] == ["rejected", "applied"]
    assert "tracking" in out[0].reason
    again = ingest.process_batch(sessions, [bad])
    assert again[0].result == "rejected"  # told again, not re-applied
    assert ingest.acks_for(again).rejected["K1"][0][0] == bad_env.message_id


def test_forgeries_and_strangers_are_dropped_not_acked(sessions) -> None:
    k = FakeKioskSigner(sessions)
    forged = k.app(1, key=Ed25519PrivateKey.generate())
    wrong_topic = (topics.up("K2", "applications"), k.app(1)[1])
    out = ingest.process_batch(sessions, [forged, wrong_topic, ("ur/v1/other", b"x")])
    assert [o.result for o in out] == ["dropped"] * 3
    assert not ingest.acks_for(out).acked
    assert _count(sessions) == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_any_bytes_never_raise(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    # Fuzz the pure parser; process_batch on SQLite for a sample is covered above.
    try:
        envelope.open_unverified(data)
    except envelope.EnvelopeError as e:
        assert e.code in {"malformed", "version", "oversize", "field", "signature"}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_mutated_real_envelopes_never_crash_the_parser(data: st.DataObject) -> None:
    key = Ed25519PrivateKey.generate()
    env = envelope.Envelope("K1", ids.new_id(), "applications", 1, 1, {"a": "b"})
    raw = bytearray(envelope.seal(env, key))
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        got, body, sig = envelope.open_unverified(bytes(raw))
        envelope.verify(body, sig, envelope.public_key_from_hex(envelope.raw_public_hex(key)))
    except envelope.EnvelopeError:
        return
    assert got.kiosk_id  # survived mutation only if still well-formed and signed


def test_deferred_routing_runs_hooks_once_after_commit(sessions) -> None:
    calls: list[str] = []
    applications.SUBMISSION_HOOKS.append(lambda _s, ns: calls.extend(ns))
    try:
        k = FakeKioskSigner(sessions)
        token = applications.DEFER_ROUTING.set(True)
        try:
            ingest.process_batch(sessions, [k.app(1), k.app(2), k.app(3)])
        finally:
            applications.DEFER_ROUTING.reset(token)
        assert calls == []
        with sessions.begin() as s:
            assert applications.route_pending(s, 2) == 2
        with sessions.begin() as s:
            assert applications.route_pending(s, 10) == 1
            assert applications.route_pending(s, 10) == 0
        assert sorted(calls) == sorted(set(calls)) and len(calls) == 3
        ingest.process_batch(sessions, [k.app(4)])  # not deferred: the hook runs inline
        assert len(calls) == 4
        with sessions.begin() as s:
            assert applications.route_pending(s, 10) == 0
    finally:
        applications.SUBMISSION_HOOKS.pop()


def test_libsodium_verifier_accepts_what_the_kiosk_signer_signs_and_nothing_else() -> None:
    """Kiosks sign with cryptography (OpenSSL), central verifies with PyNaCl
    (libsodium): the two must agree on every good signature and refuse others."""
    key = Ed25519PrivateKey.generate()
    pub = envelope.public_key_from_hex(envelope.raw_public_hex(key))
    for i in range(50):
        body = bytes([i]) * (i * 7 + 1)
        sig = key.sign(body)
        envelope.verify(body, sig, pub)
        with pytest.raises(envelope.EnvelopeError, match="does not verify"):
            envelope.verify(body + b"x", sig, pub)
        with pytest.raises(envelope.EnvelopeError, match="does not verify"):
            envelope.verify(body, sig[:-1] + bytes([sig[-1] ^ 1]), pub)
        with pytest.raises(envelope.EnvelopeError, match="does not verify"):
            envelope.verify(body, sig[:40], pub)  # wrong length: refused, not a crash
    other = envelope.public_key_from_hex(envelope.raw_public_hex(Ed25519PrivateKey.generate()))
    with pytest.raises(envelope.EnvelopeError, match="does not verify"):
        envelope.verify(b"body", key.sign(b"body"), other)
    for bad in ("", "zz" * 32, "00" * 31, "00" * 33):
        with pytest.raises(UrError, match="not an Ed25519 public key"):
            envelope.public_key_from_hex(bad)


def test_checked_on_arrival_counts_only_with_the_key_in_the_database_when_applied(sessions) -> None:
    """The worker checks signatures as messages arrive, against its cache of kiosk
    keys; when the batch is applied, the key in the database decides."""
    k = FakeKioskSigner(sessions)
    with sessions() as s:
        real = s.get(kiosks.Kiosk, "K1").public_key
    stale = Ed25519PrivateKey.generate()
    stale_hex = envelope.raw_public_hex(stale)
    # Checked on arrival with a stale key: a good message looked forged, a forgery looked good.
    good, forged = k.app(1), k.app(2, key=stale)
    cache = {"K1": stale_hex}
    arrived = ingest.precheck([good, forged], cache).result()
    assert [a.verdict is None for a in arrived] == [False, True]
    out = ingest.process_batch(sessions, arrived, key_cache=cache)
    assert sorted(o.result for o in out) == ["applied", "dropped"] and _count(sessions) == 1
    assert cache == {"K1": real}  # the database's key, for the next arrivals
    # Checked on arrival with the current key: the verdict is used as it is.
    arrived = ingest.precheck([k.app(2), k.app(3, key=stale)], cache).result()
    assert [a.key for a in arrived] == [real, real]
    out = ingest.process_batch(sessions, arrived, key_cache=cache)
    assert sorted(o.result for o in out) == ["applied", "dropped"] and _count(sessions) == 2
    # A kiosk removed since its messages arrived: refused, and dropped from the cache.
    with sessions.begin() as s:
        s.delete(s.get(kiosks.Kiosk, "K1"))
    out = ingest.process_batch(sessions, ingest.precheck([k.app(3)], cache).result(), key_cache=cache)
    assert [o.result for o in out] == ["dropped"] and cache == {}
    assert _count(sessions) == 2
