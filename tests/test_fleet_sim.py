"""The fleet simulator's own correctness (bench/fleet.py): a small fleet through a
real broker, a real central worker and a real SQLite database passes the
exactly-once check, and the check fails when a message is lost on its way.
Figures are bench_fleet's business; here only what happened is asserted."""

from __future__ import annotations

import random
from pathlib import Path

from bench import fleet
from contract import pii_seal


def _config(tmp_path: Path, rng: random.Random, lose: int = 0) -> fleet.FleetConfig:
    return fleet.FleetConfig(kiosks=20, workers=1, db="sqlite", steady_seconds=2.0, steady_rate=0.5,
                             storm_queue=4, reconnect_window=1.0, drain_timeout=180.0, lose=lose, flap=0.5,
                             seed=rng.randrange(10**6), workdir=str(tmp_path / "fleet"))


def test_small_fleet_storm_is_applied_exactly_once(tmp_path: Path, rng: random.Random) -> None:
    cfg = _config(tmp_path, rng)
    sessions: list[fleet.Session] = []
    rep = fleet.run(cfg, sessions_out=sessions)
    check = rep.check
    assert check.ok, (check.lost[:5], check.duplicated[:5], check.rejected[:5])
    steady, storm = (next(s for s in rep.scenarios if s.name == name) for name in ("steady", "storm"))
    # kiosks dropped off and came back while the fleet was busy: every one the seed
    # chose (20 kiosks at 0.5 each: none chosen is a one-in-a-million seed)
    assert steady.flappers >= 1 and steady.flaps == steady.flappers, (steady.flappers, steady.flaps)
    assert not steady.unacked and not storm.unacked
    assert storm.messages >= 20 * 3  # every kiosk queued work (heartbeats do not pile up)
    assert check.made == check.applied >= storm.messages
    # every kiosk connected for the steady phase, for its flap and after the storm
    assert len(sessions) == 20 and all(s.connects >= 2 for s in sessions)
    assert storm.broker_connections_max >= 1  # read from the broker's $SYS topics
    assert storm.feed_events > 0  # status events of the applied applications came down the feed
    assert len(storm.worker_cpu_s) == 1 and storm.worker_cpu_s[0] > 0


def test_a_message_lost_at_the_source_is_reported_lost(tmp_path: Path, rng: random.Random) -> None:
    rep = fleet.run(_config(tmp_path, rng, lose=1))
    check = rep.check
    assert not check.ok
    assert len(check.lost) == 1 and check.lost[0].startswith("sim-00000/applications#"), check.lost
    assert not check.duplicated and not check.rejected
    assert check.applied == check.made - 1


def test_each_simulated_kiosk_seals_with_its_own_ephemeral_key() -> None:
    """Central does one key exchange per kiosk, as with real kiosk processes."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from contract import downlink as dl
    from contract import envelope

    pub = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    vk = dl.verify_key_from_hex("00" * 32)
    sessions = [fleet.Session(f"sim-{i:05d}", 1001 + i, envelope.private_key_from_hex(f"{i + 1:064x}"), pub, vk,
                              random.Random(i)) for i in range(2)]
    ephemerals = set()
    for s in sessions:
        for _ in range(2):
            p = s.make("t", "applications")
            assert p is not None
            env, _b, _s = envelope.open_unverified(p.wire)
            blob = env.payload[pii_seal.SEALED_FIELD]
            ephemerals.add(blob[1 + pii_seal.KID_BYTES:1 + pii_seal.KID_BYTES + pii_seal.KEY_BYTES])
    assert len(ephemerals) == 2  # two kiosks, two messages each: one ephemeral key per kiosk


def test_a_second_inbox_row_for_one_sequence_is_reported_duplicated(tmp_path: Path) -> None:
    """The duplicate side of the check, on central's real schema (SQLite): one
    message applied twice under two message ids at the same (kiosk, stream, seq)."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from sqlalchemy import insert

    from central import db
    from central.inbox import InboxEntry
    from contract import downlink as dl
    from contract import envelope, ids

    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = db.make_engine(url)
    db.load_models()
    db.init_schema(engine)
    pub = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    s = fleet.Session("sim-00000", 1001, envelope.private_key_from_hex("11" * 32), pub,
                      dl.verify_key_from_hex("00" * 32), random.Random(1))
    p = s.make("t", "heartbeat")
    assert p is not None
    now = datetime.now(UTC)
    row = {"kiosk_id": s.kiosk_id, "stream": p.stream, "seq": p.seq, "hlc": 1, "received_at": now,
           "outcome": "applied", "reason": ""}
    with db.sessions(engine).begin() as ses:
        ses.execute(insert(InboxEntry).values(message_id=p.mid, **row))
    engine.dispose()
    assert fleet.check_exactly_once(url, [s]).ok  # one row: fine
    engine = db.make_engine(url)
    with db.sessions(engine).begin() as ses:
        ses.execute(insert(InboxEntry).values(message_id=ids.new_id(), **row))
    engine.dispose()
    check = fleet.check_exactly_once(url, [s])
    assert not check.ok and check.duplicated == ["sim-00000/heartbeat#1: 2 inbox rows"], check
    assert not check.lost


def test_the_fleet_shaped_raw_baseline_drains_a_storm_through_an_ack_only_consumer(tmp_path: Path,
                                                                                 rng: random.Random) -> None:
    """bench_fleet's second raw baseline: the same storm to a consumer that only acks
    (no central, no database); every message is acked, as the kiosks check the acks."""
    from kiosk.sync.local_broker import LocalBroker

    cfg = fleet.FleetConfig(kiosks=20, storm_queue=4, reconnect_window=1.0, drain_timeout=180.0,
                            seed=rng.randrange(10**6))
    broker = LocalBroker(tmp_path / "broker", extra="sys_interval 1").start()
    try:
        rep = fleet.run_raw_storm(cfg, broker, tmp_path / "raw")
    finally:
        broker.stop()
    assert not rep.unacked, rep.unacked[:5]
    assert rep.messages >= 20 * 3 and rep.drain_s is not None  # every kiosk queued work, all of it acked
    assert len(rep.worker_cpu_s) == 1 and rep.worker_cpu_s[0] > 0  # the consumer's, measured like a worker's
