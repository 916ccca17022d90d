"""Central ingest of a storm-shaped batch (many kiosks, one or two messages each)
on SQLite and PostgreSQL: the batched path's one dedup lookup, one cursor read and
one inbox insert for the whole batch must apply every message exactly once, in
order, each under its own kiosk and stream."""

from __future__ import annotations

import logging
import os
import random
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from central import applications, db, ingest, kiosks, ledger
from central.inbox import HeldMessage, InboxEntry, StreamCursor
from contract import envelope, ids, topics, tracking

FALLBACK = "applied one message at a time"


class _Kiosk:
    """Signs real envelopes as a kiosk does: applications and payments, own sequences."""

    def __init__(self, sessions: db.sessionmaker, kiosk_id: str) -> None:
        self.key = Ed25519PrivateKey.generate()
        with sessions.begin() as s:
            self.code = kiosks.register(s, kiosk_id, envelope.raw_public_hex(self.key), "", datetime.now(UTC)).kiosk_code
        self.kiosk_id = kiosk_id
        self.seqs: dict[str, int] = {}
        self.mids: dict[tuple[str, int], str] = {}

    def make(self, stream: str, amount: int = 10000) -> tuple[int, tuple[str, bytes]]:
        seq = self.seqs[stream] = self.seqs.get(stream, 0) + 1
        payload: dict[str, object]
        if stream == "applications":
            payload = {"tracking": tracking.make(self.code, seq), "service_id": "svc", "catalogue_version": 1,
                       "fee_total": 5000, "fields": {"n": str(seq)}, "submitted_at": datetime.now(UTC).isoformat()}
        else:
            payload = {"collection_id": str(uuid.uuid4()), "event": "paid", "fee_ref": f"svc:{self.kiosk_id}:{seq}",
                       "kind": "fee", "amount": amount, "statutory": amount - 1000, "service": 1000,
                       "business_date": "2026-12-03", "office": "", "terminal_id": "T1"}
        mid = ids.new_id()
        self.mids[(stream, seq)] = mid
        env = envelope.Envelope(self.kiosk_id, mid, stream, seq, (seq << 16) + len(self.mids), payload)
        return seq, (topics.up(self.kiosk_id, stream), envelope.seal(env, self.key))


def _seed() -> int:
    seed = int(os.environ.get("UR_TEST_SEED") or random.randrange(1 << 30))
    print(f"seed {seed}")
    return seed


def test_storm_batch_is_applied_once_in_order_under_each_kiosk(
        central_sessions: db.sessionmaker, caplog: pytest.LogCaptureFixture) -> None:
    sessions = central_sessions
    rng = random.Random(_seed())
    fleet = [_Kiosk(sessions, f"K{n:03d}") for n in range(40)]
    # Every kiosk's first application and payment, applied before the storm.
    ingest.process_batch(sessions, [k.make(s)[1] for k in fleet for s in ("applications", "payments")])
    batch: list[tuple[str, bytes]] = []
    gap: dict[str, tuple[str, bytes]] = {}  # kiosk -> its withheld payment (the gap)
    for n, k in enumerate(fleet):
        batch.append(k.make(rng.choice(("applications", "payments")))[1])  # the storm: one message each
        if n % 5 == 0:  # some send two of one stream, one of them twice (a resend)
            _seq, again = k.make("applications")
            batch += [again, again]
        if n % 7 == 3:  # a gap: the next payment is missing, the one after it arrives
            gap[k.kiosk_id] = k.make("payments")[1]
            batch.append(k.make("payments")[1])
    rng.shuffle(batch)
    with caplog.at_level(logging.WARNING, logger="ur.central.ingest"):
        out = ingest.process_batch(sessions, batch)
    assert FALLBACK not in caplog.text  # the batched path did it, not the fallback
    results = sorted(o.result for o in out)
    assert results.count("duplicate") == sum(1 for n in range(40) if n % 5 == 0)
    assert results.count("held") == len(gap) and "rejected" not in results and "dropped" not in results
    assert set(ingest.acks_for(out).acked) == {k.kiosk_id for k in fleet}

    # The same batch again (every message a resend): nothing applied twice.
    again = ingest.process_batch(sessions, batch)
    assert {o.result for o in again} == {"duplicate"}
    # The gaps filled: the held payments follow, in order.
    filled = ingest.process_batch(sessions, list(gap.values()))
    assert {o.result for o in filled} == {"applied"}

    with sessions() as s:
        inbox = list(s.execute(select(InboxEntry.kiosk_id, InboxEntry.stream, InboxEntry.seq,
                                      InboxEntry.message_id, InboxEntry.outcome)))
        cursors = {(c.kiosk_id, c.stream): c.applied_seq for c in s.scalars(select(StreamCursor))}
        apps = {(a.kiosk_id, a.message_id) for a in s.scalars(select(applications.Application))}
        pays = {(c.station, c.fee_ref) for c in s.scalars(select(ledger.Collection))}
        assert s.scalars(select(HeldMessage)).first() is None
    made = {(k.kiosk_id, stream, seq): mid for k in fleet for (stream, seq), mid in k.mids.items()}
    # One inbox row per message made, under its own kiosk, stream and sequence, applied.
    assert sorted((k, st, sq, m) for k, st, sq, m, _o in inbox) == sorted((k, st, sq, m) for (k, st, sq), m in made.items())
    assert {o for *_r, o in inbox} == {"applied"}
    for k in fleet:
        for stream in ("applications", "payments"):
            assert cursors[(k.kiosk_id, stream)] == k.seqs.get(stream, 0), (k.kiosk_id, stream)
    assert apps == {(k, m) for (k, st, _sq), m in made.items() if st == "applications"}
    assert pays == {(k, f"svc:{k}:{sq}") for (k, st, sq) in made if st == "payments"}


def test_a_refusal_in_a_storm_batch_falls_back_with_a_log_line_and_spoils_nothing(
        central_sessions: db.sessionmaker, caplog: pytest.LogCaptureFixture) -> None:
    sessions = central_sessions
    fleet = [_Kiosk(sessions, f"K{n:03d}") for n in range(6)]
    bad_seq, bad = fleet[2].make("payments", amount=0)  # amount 0: the ledger refuses it
    batch = [k.make("payments")[1] for k in fleet[:2]] + [bad] + [k.make("applications")[1] for k in fleet[2:]]
    with caplog.at_level(logging.WARNING, logger="ur.central.ingest"):
        out = ingest.process_batch(sessions, batch)
    assert FALLBACK in caplog.text  # the reference path refused the one at fault
    by_mid = {o.message_id: o.result for o in out}
    assert by_mid.pop(fleet[2].mids[("payments", bad_seq)]) == "rejected"
    assert set(by_mid.values()) == {"applied"} and len(by_mid) == len(batch) - 1
    with sessions() as s:
        assert len(list(s.scalars(select(ledger.Collection)))) == 2
        assert len(list(s.scalars(select(applications.Application)))) == 4
        assert len(list(s.scalars(select(InboxEntry)))) == len(batch)


@pytest.mark.parametrize("fenced", [False, True])
def test_a_gap_filled_by_a_message_held_earlier_lets_the_rest_of_the_batch_through(
        central_sessions: db.sessionmaker, fenced: bool) -> None:
    """Held 3 from an earlier batch; then 2 and 4 in one batch: 2 fills the gap,
    3 is drained, and 4 must be applied then, not held behind a gap that is gone
    (found with two workers, one killed: the rest of the stream stayed held)."""
    sessions = central_sessions
    fence = (lambda _s, _parts: None) if fenced else None
    k = _Kiosk(sessions, "K001")
    m = [k.make("applications")[1] for _ in range(5)]
    assert [o.result for o in ingest.process_batch(sessions, [m[0]], fence=fence)] == ["applied"]
    assert [o.result for o in ingest.process_batch(sessions, [m[2]], fence=fence)] == ["held"]
    out = ingest.process_batch(sessions, [m[1], m[3], m[2], m[4]], fence=fence)
    assert sorted(o.result for o in out) == ["applied", "applied", "applied", "duplicate"]
    with sessions() as s:
        assert s.get(StreamCursor, ("K001", "applications")).applied_seq == 5
        assert s.scalars(select(HeldMessage)).first() is None
        assert sorted(s.execute(select(InboxEntry.seq, InboxEntry.outcome))) == [(n, "applied") for n in range(1, 6)]
