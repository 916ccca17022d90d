"""Kiosk-affine partitions and worker leases, on SQLite and PostgreSQL (real databases).

- the partition is a stable hash of the kiosk id, in the topic; a wrong one is refused;
  the topic of older kiosks maps to the same partition;
- leases: one worker takes all, a second one gets its fair share on the next
  heartbeats, never two owners at once; a clean stop hands them back;
- fencing: a worker whose lease expired and was taken cannot commit (the batch
  rolls back, nothing applied), the new owner applies it exactly once.
The processes, SIGKILL/SIGSTOP and broker restarts are in test_partitions_workers.py.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from central import applications, ingest, partitions
from central.inbox import InboxEntry, RejectCount
from contract import topics
from contract.errors import UrError
from tests import support
from tests.test_ingest import FakeKioskSigner


@pytest.fixture
def sessions(central_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    return central_sessions


def test_partition_is_a_stable_hash_of_the_kiosk_id_and_is_in_the_topic() -> None:
    # Fixed for ever: a change would move kiosks between workers mid-stream.
    assert topics.partition_of("K1") == 3
    assert topics.up("K1", "applications") == "ur/v1/kiosk/K1/up/03/applications"
    spread = Counter(topics.partition_of(f"kiosk-{i}") for i in range(6400))
    assert set(spread) == set(range(topics.PARTITIONS))  # every partition gets kiosks
    assert max(spread.values()) < 2 * 6400 / topics.PARTITIONS
    up = topics.parse_uplink(topics.up("K1", "payments"))
    assert (up.kiosk_id, up.partition, up.stream, up.legacy) == ("K1", 3, "payments", False)
    legacy = topics.parse_uplink(topics.up_legacy("K1", "payments"))
    assert (legacy.partition, legacy.legacy) == (3, True)
    with pytest.raises(UrError, match="partition '07' is not kiosk K1's"):
        topics.parse_uplink("ur/v1/kiosk/K1/up/07/payments")
    with pytest.raises(UrError, match="not an uplink topic"):
        topics.parse_uplink("ur/v1/kiosk/K1/down/ack")
    with pytest.raises(UrError, match="not in 0..63"):
        topics.up_filter(64)


def test_ingest_refuses_a_wrong_partition_and_accepts_the_legacy_topic(sessions: sessionmaker[Session]) -> None:
    k = FakeKioskSigner(sessions)
    _t, m1 = k.app(1)
    _t, m2 = k.app(2)
    wrong = f"ur/v1/kiosk/K1/up/{(topics.partition_of('K1') + 1) % topics.PARTITIONS:02d}/applications"
    assert [o.result for o in ingest.process_batch(sessions, [(wrong, m1)])] == ["dropped"]
    out = ingest.process_batch(sessions, [(topics.up_legacy("K1", "applications"), m1),
                                          (topics.up("K1", "applications"), m2)])
    assert [o.result for o in out] == ["applied", "applied"]
    with sessions() as s:
        assert s.get_one(RejectCount, "topic").count == 1
        assert applications.count(s) == 2


def _owners(sessions: sessionmaker[Session]) -> dict[int, str | None]:
    with sessions() as s:
        return {p: o for p, o, _t, _left in partitions.lease_table(s)}


def test_second_worker_gets_its_fair_share_and_a_clean_stop_hands_leases_back(sessions: sessionmaker[Session]) -> None:
    a = partitions.Leases(sessions, "wa", ttl_s=30)
    b = partitions.Leases(sessions, "wb", ttl_s=30)
    assert a.beat().gained == set(range(topics.PARTITIONS))
    assert b.beat().gained == set()  # a's leases are valid: b waits for a to release
    assert b.living == 2
    lost = a.beat().lost  # a sees two living workers and gives up its extras
    assert len(lost) == topics.PARTITIONS // 2
    assert b.beat().gained == lost
    assert set(a.held).isdisjoint(b.held) and set(a.held) | set(b.held) == set(range(topics.PARTITIONS))
    assert _owners(sessions) == {**{p: "wa" for p in a.held}, **{p: "wb" for p in b.held}}
    assert not a.beat().gained and not a.beat().lost  # stable
    a.release_all()
    assert b.beat().gained == set(range(topics.PARTITIONS)) - lost
    assert set(_owners(sessions).values()) == {"wb"}


def test_a_worker_whose_lease_was_taken_cannot_commit(sessions: sessionmaker[Session]) -> None:
    k = FakeKioskSigner(sessions)
    batch = [k.app(1), k.app(2)]
    a = partitions.Leases(sessions, "wa", ttl_s=0.5)
    b = partitions.Leases(sessions, "wb", ttl_s=30)
    a.beat()
    mine = topics.partition_of("K1")
    assert mine in a.held
    old_token = a.held[mine]

    def expired() -> bool:
        with sessions() as s:
            return partitions.db_now_ms(s) > s.get_one(partitions.PartitionLease, mine).expires_ms
    support.wait_until(expired, timeout=60, what="a's lease to expire")
    assert mine in b.beat().gained  # a was "paused": b takes the expired lease, token + 1
    with pytest.raises(partitions.LeaseLost, match="another worker took"):
        ingest.process_batch(sessions, batch, fence=a.fence)
    assert a.held[mine] == old_token  # a still believes it holds it: only the database knows better
    with sessions() as s:
        assert applications.count(s) == 0
        assert s.scalar(select(func.count()).select_from(InboxEntry)) == 0
    out = ingest.process_batch(sessions, batch, fence=b.fence)
    assert [o.result for o in out] == ["applied", "applied"]
    assert mine in a.beat().lost  # a's next heartbeat finds out
    with pytest.raises(partitions.LeaseLost, match="holds no lease"):
        ingest.process_batch(sessions, batch, fence=a.fence)
    with sessions() as s:
        assert applications.count(s) == 2


def test_a_lease_lost_and_taken_back_in_one_heartbeat_stays_subscribed(sessions: sessionmaker[Session]) -> None:
    """Seen in the fleet bench with 4 workers: a lease found lost and retaken in the
    same heartbeat was reported only as lost, so the worker unsubscribed from a
    partition the database still gave it, and its kiosks' uplink was never applied."""
    a = partitions.Leases(sessions, "wa", ttl_s=30, partitions=1)
    assert a.beat().gained == {0}
    first = a.held[0]
    with sessions.begin() as s:  # another worker took it and died: its lease has expired
        s.execute(update(partitions.PartitionLease).where(partitions.PartitionLease.partition == 0)
                  .values(owner="wgone", token=partitions.PartitionLease.token + 1, expires_ms=0))
    change = a.beat()
    assert (change.gained, change.lost) == (set(), set())  # same partition before and after
    assert a.held[0] == first + 2  # but under a new token: the fence checks that one
    assert _owners(sessions) == {0: "wa"}


def test_lease_settings_are_checked() -> None:
    with pytest.raises(UrError, match="lease TTL 0.1 s"):
        partitions.Leases(None, "w", ttl_s=0.1)  # type: ignore[arg-type]  # never used: the bad ttl is refused first
    with pytest.raises(UrError, match="longer than 64"):
        partitions.Leases(None, "w" * 65)  # type: ignore[arg-type]  # never used: the bad worker id is refused first


def test_a_worker_cut_off_from_the_broker_hands_its_leases_to_one_that_reaches_it(
        sessions: sessionmaker[Session]) -> None:
    a = partitions.Leases(sessions, "wa", ttl_s=30)
    b = partitions.Leases(sessions, "wb", ttl_s=30)
    a.beat()
    # The broker is down for everyone: a keeps its leases (its persistent session
    # collects the uplink meanwhile), b, cut off as well, takes nothing.
    assert not b.beat(broker_ok=False).gained
    change = a.beat(broker_ok=False)
    assert not change.lost and len(a.held) == topics.PARTITIONS
    # b reaches the broker again, a still does not: a gives everything back, b takes it.
    b.beat()
    assert a.beat(broker_ok=False).lost == set(range(topics.PARTITIONS))
    assert b.beat().gained == set(range(topics.PARTITIONS))
    assert set(_owners(sessions).values()) == {"wb"}


@pytest.mark.postgres
def test_a_take_over_skips_a_lease_its_owner_is_applying_a_batch_under(pg_url: str) -> None:
    """Seen in the fleet bench with 4 workers (issue 18): a heartbeat taking over an
    expired lease waited for the row its owner's batch had locked (the fence), holding
    the heartbeat lock meanwhile, so every other worker's beat timed out behind it,
    their leases lapsed and the partitions churned for the whole storm. The owner is
    mid-batch, so alive: the take-over skips that row and takes it on a later beat."""
    from central import db

    engine = db.make_engine(pg_url)
    db.init_schema(engine)
    sessions = db.sessions(engine)
    try:
        a = partitions.Leases(sessions, "wa", ttl_s=0.5, partitions=4)
        b = partitions.Leases(sessions, "wb", ttl_s=30, partitions=4)
        assert a.beat().gained == {0, 1, 2, 3}

        def expired() -> bool:
            with sessions() as s:
                now = partitions.db_now_ms(s)
                return all(left < 0 for _p, _o, _t, left in partitions.lease_table(s)) and now > 0
        support.wait_until(expired, timeout=60, what="a's leases to expire")
        batch = sessions()
        batch.begin()
        a.fence(batch, {2})  # a's batch is past its check: row 2 locked until it commits
        result: list[partitions.Change] = []
        beat = threading.Thread(target=lambda: result.append(b.beat()), daemon=True)
        beat.start()
        beat.join(timeout=60)
        blocked = beat.is_alive()
        batch.commit()  # a's batch commits, before anything else can fail
        batch.close()
        beat.join(timeout=60)
        assert not blocked, "the take-over waited for a's batch"
        assert result[0].gained == {0, 1, 3}
        assert b.beat().gained == {2}  # next beat: a's batch is done, its lease still expired
        assert set(_owners(sessions).values()) == {"wb"}
    finally:
        engine.dispose()


def test_under_the_fence_held_messages_are_drained_across_batches(sessions: sessionmaker[Session]) -> None:
    """Under a lease the batch looks up once which streams have held messages and
    skips the per-message lookup for the others: a message held in one batch
    (or two in one, out of order) must still be applied when its gap is filled."""
    k = FakeKioskSigner(sessions)
    a = partitions.Leases(sessions, "wa", ttl_s=30)
    a.beat()
    m1, m2, m3, m4 = k.app(1), k.app(2), k.app(3), k.app(4)
    assert [o.result for o in ingest.process_batch(sessions, [m3], fence=a.fence)] == ["held"]
    assert [o.result for o in ingest.process_batch(sessions, [m2, m1], fence=a.fence)] == ["applied", "applied"]
    with sessions() as s:
        assert applications.count(s) == 3  # 3 was drained when 1 and 2 filled the gap
    assert [o.result for o in ingest.process_batch(sessions, [m4], fence=a.fence)] == ["applied"]
    with sessions() as s:
        assert applications.count(s) == 4
        assert s.scalar(select(func.count()).select_from(InboxEntry).where(InboxEntry.outcome == "held")) == 0
