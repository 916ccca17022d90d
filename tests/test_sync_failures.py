"""Failure injection for the sync engine, with real processes and a real broker.

Each scenario ends with: every accepted message applied exactly once at
central, and the kiosk outbox drained. Random choices (when to kill, which acks
to drop) come from the test's printed seed (UR_TEST_SEED replays a run); faults
are installed by the test launcher (tests/faults.py), never by the environment.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import kiosk_writer, support

pytestmark = pytest.mark.slow
SYNC = ["sync", "--ack-timeout", "2", "--heartbeat", "0"]


def _deploy(tmp: Path, broker_url: str, db_url: str | None = None) -> support.Deployment:
    dep = support.Deployment(tmp, db_url)
    dep.init_central()
    dep.enroll("K1", broker_url)
    return dep


def _spawn_kiosk_sync(dep: support.Deployment, broker_url: str, name: str = "kiosk",
                      env: dict[str, str] | None = None, prefix: list[str] | None = None,
                      sync: list[str] = SYNC, faults: list[str] | None = None) -> subprocess.Popen[bytes]:
    full_env = {"UR_SYNC_FIRST_DELAY": "0", **(env or {})}
    p = support.spawn_cli(["ur-kiosk", "--data", str(dep.kiosk_dir("K1")), *sync, "--broker", broker_url],
                          env=full_env, log=dep.root / f"{name}.log", prefix=prefix, faults=faults or [])
    dep.procs.append(p)
    return p


def _wait_all_applied(dep: support.Deployment, n: int, timeout: float = 120) -> None:
    def done() -> bool:
        c = support.central_counts(dep.db_url)
        q = support.queue_stats(dep.kiosk_dir("K1"))
        return c["applications"] >= n and q["pending"] == 0
    support.wait_until(done, timeout=timeout, interval=0.5, what=f"{n} applications applied and outbox drained")
    c = support.central_counts(dep.db_url)
    assert c == {"applications": n, "distinct": n, "inbox": n}, c


def test_broker_sigkilled_repeatedly_while_2000_flow(tmp_path: Path, rng: random.Random) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = _deploy(tmp_path, broker.url)
    try:
        support.fill_outbox(dep.kiosk_dir("K1"), 2000)
        dep.serve(broker.url)
        _spawn_kiosk_sync(dep, broker.url)
        for _ in range(4):
            time.sleep(rng.uniform(0.3, 1.0))
            broker.kill()
            time.sleep(rng.uniform(0.2, 1.0))
            broker.start()
        _wait_all_applied(dep, 2000)
    finally:
        dep.stop_all()
        broker.stop()


def _writer_processes() -> Any:
    """Processes forked from a server that imported tests.kiosk_writer (and with it the
    kiosk) once; each is still its own process, opened, killed and reaped like any."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.kiosk_writer"])
    return ctx


def _confirmed(out: Path) -> list[str]:
    """Tracking numbers the writer has confirmed so far: each is one write() of a short
    line, made after its commit, so a kill cannot leave half of one."""
    return out.read_text().split() if out.exists() else []


def test_kiosk_sigkilled_50_times_in_write_sync_loop(tmp_path: Path, rng: random.Random) -> None:
    """Each writer is killed after a drawn number (1-25) of applications it has confirmed,
    plus a drawn delay of up to 20 ms, so the kill lands anywhere in its write or sync
    step; counted in confirmations, not seconds, so a slow machine kills at the same
    points as a fast one."""
    broker = support.Broker(tmp_path / "broker").start()
    dep = _deploy(tmp_path, broker.url)
    kdir = dep.kiosk_dir("K1")
    accepted: list[str] = []
    ctx = _writer_processes()
    try:
        dep.serve(broker.url)
        next_serial = 1
        for n in range(50):
            out = tmp_path / f"writer-{n}.txt"
            p = ctx.Process(target=kiosk_writer.run, args=(kdir, broker.url, next_serial, rng.randrange(2**32), out))
            p.start()
            want = rng.randint(1, 25)
            support.wait_until(lambda p=p, out=out, want=want: len(_confirmed(out)) >= want or not p.is_alive(),
                               timeout=120, interval=0.005, what=f"writer {n} confirming {want}")
            time.sleep(rng.uniform(0.0, 0.02))
            p.kill()
            p.join()
            assert p.exitcode == -signal.SIGKILL, f"writer {n} ended by itself ({p.exitcode}) before its kill"
            out_now = _confirmed(out)
            assert len(out_now) >= want, f"the writer confirmed {len(out_now)} of {want} before it was killed"
            accepted += out_now
            next_serial += len(out_now) + 1000  # national ids stay unique; serials come from the store
            with sqlite3.connect(kdir / "kiosk.db") as c:
                assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "90", "--heartbeat", "0", "--ack-timeout", "2",
                  "--broker", broker.url)
        with sqlite3.connect(kdir / "kiosk.db") as c:
            local = {r[0] for r in c.execute("SELECT tracking FROM applications")}
        assert set(accepted) <= local  # nothing acknowledged to a citizen is missing
        _wait_all_applied(dep, len(local))
        central = {r[0] for r in support.sql_rows(dep.db_url, "SELECT tracking FROM applications")}
        assert central == local
    finally:
        dep.stop_all()
        broker.stop()


def test_dropped_acks_and_duplicate_deliveries(tmp_path: Path, seed: int) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = _deploy(tmp_path, broker.url)
    try:
        support.fill_outbox(dep.kiosk_dir("K1"), 1000)
        dep.serve(broker.url, faults=["--drop-acks", "0.3", "--seed", str(seed)])
        # Every lost ack costs a resend round with growing jittered waits (up to 30 s by
        # default; one run took 91 s). The test is about the outcome, not the waiting.
        _spawn_kiosk_sync(dep, broker.url, faults=["--duplicate-sends", "0.3", "--seed", str(seed)],
                          sync=["sync", "--ack-timeout", "1", "--resend-cap", "2", "--heartbeat", "0"])
        _wait_all_applied(dep, 1000, timeout=300)
    finally:
        dep.stop_all()
        broker.stop()


def test_network_partition_across_reconnect_attempts_then_heal(tmp_path: Path) -> None:
    """The kiosk loses the broker mid-stream, keeps what it takes, retries with backoff
    (three refused reconnects: its backoff has grown past the first steps) and delivers
    everything exactly once after the network heals. Counted in refused reconnects, not
    seconds (it was a fixed 31 s wait): a loaded machine reaches the same point later."""
    broker = support.Broker(tmp_path / "broker").start()
    proxy = support.TcpProxy(broker.port)
    dep = _deploy(tmp_path, proxy.url)
    try:
        support.fill_outbox(dep.kiosk_dir("K1"), 200)  # enough to be mid-stream at the cut
        dep.serve(broker.url)  # central talks to the broker directly
        _spawn_kiosk_sync(dep, proxy.url)
        support.wait_until(lambda: support.central_counts(dep.db_url)["applications"] > 0, timeout=60)
        proxy.partition()
        support.fill_outbox(dep.kiosk_dir("K1"), 200, start=201)  # taken during the partition
        support.wait_until(lambda: proxy.refused >= 3, timeout=120, interval=0.2,
                           what="three reconnects refused during the partition")
        assert support.queue_stats(dep.kiosk_dir("K1"))["pending"] > 0
        proxy.heal()
        _wait_all_applied(dep, 400, timeout=300)
    finally:
        dep.stop_all()
        proxy.close()
        broker.stop()


def test_queue_overflow_and_lost_broker_persistence_catch_up(tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker")
    broker.extra = "max_queued_messages 5"
    broker.start()
    dep = _deploy(tmp_path, broker.url)
    try:
        numbers = support.fill_outbox(dep.kiosk_dir("K1"), 60)
        dep.serve(broker.url)
        dep.kiosk("K1", *SYNC, "--until-idle", "--timeout", "60", "--broker", broker.url)
        # Kiosk offline; central changes every status (60 pokes queue up for a 5-slot queue).
        from central import applications, db
        engine = db.make_engine(dep.db_url)
        with db.sessions(engine).begin() as s:
            for n in numbers:
                applications.set_status(s, n, "approved", step="issue", agency="MOI")
        engine.dispose()
        time.sleep(2.5)  # worker pokes the offline kiosk's persistent session
        broker.stop()
        broker.wipe_persistence()
        broker.start()
        dep.kiosk("K1", *SYNC, "--until-idle", "--timeout", "60", "--broker", broker.url)
        for n in numbers:
            st = json.loads(dep.kiosk("K1", "--json", "status", n).stdout) if n == numbers[-1] else None
            if st:
                assert st["status"] == "approved"
        with sqlite3.connect(dep.kiosk_dir("K1") / "kiosk.db") as c:
            approved = c.execute(
                "SELECT count(DISTINCT tracking) FROM application_status_history WHERE status='approved'").fetchone()[0]
        assert approved == 60
    finally:
        dep.stop_all()
        broker.stop()


def _two_workers_one_killed(tmp_path: Path, db_url: str | None, n: int) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = _deploy(tmp_path, broker.url, db_url=db_url)
    try:
        support.fill_outbox(dep.kiosk_dir("K1"), n)
        a = dep.serve(broker.url, "worker-a")
        dep.serve(broker.url, "worker-b")
        _spawn_kiosk_sync(dep, broker.url)
        support.wait_until(lambda: support.central_counts(dep.db_url)["applications"] > n // 10, timeout=60)
        support.kill_proc(a)
        _wait_all_applied(dep, n, timeout=180)
        # Every application also gets its workflow started (by the surviving worker's
        # router on PostgreSQL, inline on SQLite), including what the killed one left.
        support.wait_until(lambda: support.sql_count(dep.db_url, "SELECT count(*) FROM cases") == n,
                           timeout=300, interval=1.0, what="all workflows started")
        assert support.sql_count(dep.db_url, "SELECT count(*) FROM applications WHERE NOT routed") == 0
    finally:
        dep.stop_all()
        broker.stop()


def test_two_workers_one_sigkilled_mid_stream(tmp_path: Path) -> None:
    _two_workers_one_killed(tmp_path, None, 2000)


def test_two_workers_on_postgres_one_sigkilled(tmp_path: Path, pg_url: str) -> None:
    _two_workers_one_killed(tmp_path, pg_url, 1500)


def test_kiosk_clock_hours_wrong_order_by_sequence_and_skew_flagged(tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = _deploy(tmp_path, broker.url)
    try:
        dep.serve(broker.url)
        skewed = ["faketime", "-f", "-5h"]
        env = {"FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        for i in range(5):
            dep_args = ["apply", "--service", "non-conviction-certificate", "--field", f"full_name=Skew {i}",
                        "--field", f"national_id={i + 1:012d}", "--field", "mobile=07701234567"]
            r = support.run_cli(["ur-kiosk", "--data", str(dep.kiosk_dir("K1")), *dep_args], env=env, prefix=skewed)
            assert r.returncode == 0, r.stderr
        r = support.run_cli(["ur-kiosk", "--data", str(dep.kiosk_dir("K1")), *SYNC, "--until-idle",
                             "--timeout", "60", "--broker", broker.url], env={**env, "UR_SYNC_FIRST_DELAY": "0"},
                            prefix=skewed)
        assert r.returncode == 0, r.stderr
        _wait_all_applied(dep, 5)
        seqs = [r[0] for r in support.sql_rows(
            dep.db_url, "SELECT seq FROM inbox WHERE stream='applications' ORDER BY id")]
        assert seqs == sorted(seqs) == [1, 2, 3, 4, 5]
        kiosks = json.loads(dep.central("--json", "kiosks", "list").stdout)
        assert kiosks[0]["skew_alarm"] is True and kiosks[0]["clock_skew_s"] < -3 * 3600
    finally:
        dep.stop_all()
        broker.stop()


def test_junk_truncated_replayed_forged_envelopes_rejected_and_counted(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from contract import envelope, topics
    from kiosk import identity
    from kiosk.store import KioskStore
    from kiosk.sync import outbox

    broker = support.Broker(tmp_path / "broker").start()
    dep = _deploy(tmp_path, broker.url)
    try:
        support.fill_outbox(dep.kiosk_dir("K1"), 20)
        store = KioskStore(dep.kiosk_dir("K1"))
        ident = identity.load(store)
        with store.session() as s:
            first = s.query(outbox.OutboxRow).order_by(outbox.OutboxRow.id).first()
            assert first is not None
            real = outbox.wire_bytes(first, ident)
        store.close()
        env, _body, _sig = envelope.open_unverified(real)
        forged_payload = envelope.Envelope(env.kiosk_id, env.message_id, env.stream, env.seq, env.hlc,
                                           {**env.payload, "fee_total": 1})
        forged = envelope.seal(forged_payload, Ed25519PrivateKey.generate())
        ghost = envelope.seal(envelope.Envelope("GHOST", env.message_id, env.stream, 1, env.hlc, env.payload),
                              Ed25519PrivateKey.generate())
        dep.serve(broker.url)
        t = topics.up("K1", "applications")
        junk = [b"", b"\x00\xff garbage", real[: len(real) // 2], forged, os.urandom(300),
                b"\x83\x02\x40\x40"]
        for payload in junk:
            mode = ["-s"] if payload else ["-n"]  # -n: a zero-length message
            subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", t, *mode],
                           input=payload, check=True, timeout=10)
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topics.up("GHOST", "applications"),
                        "-s"], input=ghost, check=True, timeout=10)
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topics.up("K1", "applications"),
                        "-s"], input=real, check=True, timeout=10)  # replayed by a stranger: harmless
        dep.kiosk("K1", *SYNC, "--until-idle", "--timeout", "60", "--broker", broker.url)
        _wait_all_applied(dep, 20)
        rejected = dep.stats()["rejected"]
        assert rejected.get("signature", 0) >= 1  # forged
        assert rejected.get("unknown_kiosk", 0) >= 1
        assert rejected.get("malformed", 0) >= 3  # empty, garbage, truncated, random
        assert rejected.get("version", 0) >= 1
        for p in dep.procs:
            assert p.poll() is None, "central worker crashed on junk"
    finally:
        dep.stop_all()
        broker.stop()

