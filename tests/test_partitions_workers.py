"""Partitioned workers as separate processes over a real Mosquitto and a real database.

- two workers, one fleet of four kiosks: every message applied exactly once; one
  worker SIGKILLed, more sent at once: its partitions move to the other and the
  rest is applied (SQLite and PostgreSQL);
- a worker SIGSTOPped with a batch in hand (it stops itself just before the
  apply, through a fault hook this module installs when run as its launcher)
  whose leases expired and were taken cannot commit after SIGCONT: the batch
  is fenced off (counted), the new owner applied it exactly once;
- broker restart while the worker is away, and a worker cut off from the broker
  by a network partition: its persistent session keeps what the kiosk sent
  meanwhile (the kiosk's ack timeout is too long to resend), and the worker
  applies it when it is back.
Every wait is on an event (a count, a lease owner, a process state); no timing asserts.
"""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from contract import fault_points, topics
from tests import support

pytestmark = pytest.mark.slow
KIOSKS = ["K1", "K2", "K3", "K4"]
FAST_LEASES = {"UR_CENTRAL_LEASE_TTL_S": "2"}


def _sync(dep: support.Deployment, kiosk_id: str, broker_url: str, ack_timeout: float) -> subprocess.Popen[bytes]:
    p = support.spawn_cli(["ur-kiosk", "--data", str(dep.kiosk_dir(kiosk_id)), "sync", "--until-idle",
                           "--ack-timeout", str(ack_timeout), "--resend-cap", "2", "--heartbeat", "0",
                           "--broker", broker_url, "--timeout", "240"],
                          env={"UR_SYNC_FIRST_DELAY": "0"}, log=dep.root / f"sync-{kiosk_id}.log")
    dep.procs.append(p)
    return p


def _owners(db_url: str) -> dict[int, str | None]:
    return {int(p): o for p, o in support.sql_rows(db_url, "SELECT partition, owner FROM partition_leases")}


def _owner_of(db_url: str, kiosk_id: str) -> str | None:
    return _owners(db_url).get(topics.partition_of(kiosk_id))


def _held_by(db_url: str, prefix: str) -> int:
    return sum(1 for o in _owners(db_url).values() if o and o.startswith(prefix + "-"))


def _exactly_once(dep: support.Deployment, per_kiosk: dict[str, int]) -> None:
    total = sum(per_kiosk.values())
    c = support.central_counts(dep.db_url)
    assert c == {"applications": total, "distinct": total, "inbox": total}, c
    for k, n in per_kiosk.items():
        assert support.queue_stats(dep.kiosk_dir(k)) == {"pending": 0, "delivered": n, "rejected": 0}
        assert support.sql_count(dep.db_url, f"SELECT count(*) FROM inbox WHERE kiosk_id = '{k}'") == n


def _wait_synced(procs: list[subprocess.Popen[bytes]], dep: support.Deployment) -> None:
    for p in procs:
        support.wait_until(lambda p=p: p.poll() is not None, timeout=240, interval=0.2, what="kiosk sync to finish")
        assert p.returncode == 0, [f.read_text(errors="replace")[-2000:] for f in dep.root.glob("sync-*.log")]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_workers_exactly_once_then_one_sigkilled(tmp_path: Path, backend: str,
                                                    request: pytest.FixtureRequest) -> None:
    db_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    n = 60
    with support.broker(tmp_path) as broker:
        dep = support.Deployment(tmp_path / "dep", db_url)
        try:
            dep.init_central()
            for k in KIOSKS:
                dep.enroll(k, broker.url)
                support.fill_outbox(dep.kiosk_dir(k), n)
            a = dep.serve(broker.url, "wa", env=FAST_LEASES)
            b = dep.serve(broker.url, "wb", env=FAST_LEASES)
            half = topics.PARTITIONS // 2
            support.wait_until(lambda: _held_by(dep.db_url, "wa") == half and _held_by(dep.db_url, "wb") == half,
                               timeout=60, what="the partitions split evenly between the two workers")
            _wait_synced([_sync(dep, k, broker.url, ack_timeout=3) for k in KIOSKS], dep)
            _exactly_once(dep, {k: n for k in KIOSKS})

            # SIGKILL the worker that owns K1's partition and send more at once: what
            # reaches its partitions before they move is resent by the kiosks (ack
            # timeout) and applied by the other worker once it leases them.
            victim, survivor = (a, "wb") if (_owner_of(dep.db_url, "K1") or "").startswith("wa-") else (b, "wa")
            support.kill_proc(victim)
            for k in KIOSKS:
                support.fill_outbox(dep.kiosk_dir(k), n, start=n + 1)
            procs = [_sync(dep, k, broker.url, ack_timeout=3) for k in KIOSKS]
            support.wait_until(lambda: _held_by(dep.db_url, survivor) == topics.PARTITIONS, timeout=60,
                               what=f"every partition moved to {survivor}")
            _wait_synced(procs, dep)
            _exactly_once(dep, {k: 2 * n for k in KIOSKS})
        finally:
            dep.stop_all()


def test_uplink_on_the_legacy_topic_is_applied_once_by_the_partitions_owner(tmp_path: Path) -> None:
    """Kiosks of the previous release publish on ur/v1/kiosk/K/up/stream: every worker
    receives it (a plain subscription), only the owner of K's partition applies it."""
    from kiosk import identity
    from kiosk.store import KioskStore
    from kiosk.sync import outbox

    n = 20
    with support.broker(tmp_path) as broker:
        dep = support.Deployment(tmp_path / "dep")
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="old-kiosk", protocol=mqtt.MQTTv5)
        try:
            dep.init_central()
            kdir = dep.enroll("K1", broker.url)
            support.fill_outbox(kdir, n)
            store = KioskStore(kdir)
            ident = identity.load(store)
            with store.session() as s:
                wires = [outbox.wire_bytes(r, ident) for r in s.query(outbox.OutboxRow).order_by(outbox.OutboxRow.id)]
            store.close()
            dep.serve(broker.url, "wa", env=FAST_LEASES)
            dep.serve(broker.url, "wb", env=FAST_LEASES)
            half = topics.PARTITIONS // 2
            support.wait_until(lambda: _held_by(dep.db_url, "wa") == half and _held_by(dep.db_url, "wb") == half,
                               timeout=60, what="the partitions split evenly between the two workers")
            pub.connect("127.0.0.1", broker.port)
            pub.loop_start()
            for w in wires:
                pub.publish(topics.up_legacy("K1", "applications"), w, qos=1).wait_for_publish(10)
            support.wait_until(lambda: support.central_counts(dep.db_url)["inbox"] >= n, timeout=60,
                               what="the legacy uplink applied")
            assert support.central_counts(dep.db_url) == {"applications": n, "distinct": n, "inbox": n}
            assert support.sql_count(dep.db_url, "SELECT count(*) FROM reject_counts") == 0  # nothing refused
        finally:
            pub.loop_stop()
            dep.stop_all()


# --- the launcher that pauses a worker just before it applies a batch ---------------------

_paused = False


def _pause_once(_worker_id: str) -> bool:
    """SIGSTOP this process the first time a batch is about to be applied."""
    global _paused
    if not _paused:
        _paused = True
        os.kill(os.getpid(), signal.SIGSTOP)
    return False


def _spawn_pausing_worker(dep: support.Deployment, broker_url: str, worker_id: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **FAST_LEASES, "PYTHONPATH": str(support.REPO), "PYTHONUNBUFFERED": "1"}
    log = open(dep.root / f"{worker_id}.log", "ab")  # noqa: SIM115 - lives with the process
    p = subprocess.Popen([sys.executable, "-m", "tests.test_partitions_workers", "--db", dep.db_url, "serve",
                          "--broker", broker_url, "--worker-id", worker_id],
                         env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    dep.procs.append(p)
    return p


def _stopped(p: subprocess.Popen[bytes]) -> bool:
    """The process is in state T (stopped by a signal), read from /proc."""
    stat = Path(f"/proc/{p.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_paused_worker_whose_lease_was_taken_cannot_commit(tmp_path: Path, backend: str,
                                                           request: pytest.FixtureRequest) -> None:
    db_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    n = 40
    with support.broker(tmp_path) as broker:
        dep = support.Deployment(tmp_path / "dep", db_url)
        try:
            dep.init_central()
            dep.enroll("K1", broker.url)
            support.fill_outbox(dep.kiosk_dir("K1"), n)
            wid = f"wpause-{uuid.uuid4().hex[:6]}"
            paused = _spawn_pausing_worker(dep, broker.url, wid)
            support.wait_until(lambda: _held_by(dep.db_url, "wpause") == topics.PARTITIONS, timeout=60,
                               what="the first worker leasing every partition")
            sync = _sync(dep, "K1", broker.url, ack_timeout=2)
            support.wait_until(lambda: _stopped(paused), timeout=60, what="the worker to stop before its apply")
            dep.serve(broker.url, "wnew", env=FAST_LEASES)
            support.wait_until(lambda: _held_by(dep.db_url, "wnew") == topics.PARTITIONS, timeout=60,
                               what="the leases of the paused worker moving to the new one")
            _wait_synced([sync], dep)
            _exactly_once(dep, {"K1": n})
            assert support.sql_count(dep.db_url, "SELECT count(*) FROM reject_counts WHERE code = 'fenced'") == 0

            paused.send_signal(signal.SIGCONT)  # it goes on with the batch it holds, and its old tokens
            support.wait_until(
                lambda: support.sql_count(dep.db_url, "SELECT coalesce(sum(count), 0) FROM reject_counts "
                                                      "WHERE code = 'fenced'") >= 1,
                timeout=60, what="the resumed worker's commit to be fenced off")
            _exactly_once(dep, {"K1": n})
            # It rejoins as a living worker: the partitions are shared again.
            half = topics.PARTITIONS // 2
            support.wait_until(lambda: _held_by(dep.db_url, "wpause") == half, timeout=60,
                               what="the resumed worker getting its fair share back")
        finally:
            for p in dep.procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGCONT)
            dep.stop_all()


def test_broker_restart_persistent_session_keeps_uplink_for_the_worker(tmp_path: Path) -> None:
    n = 30
    with support.broker(tmp_path) as broker:
        dep = support.Deployment(tmp_path / "dep")
        seen: list[str] = []
        watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="uplink-watcher", protocol=mqtt.MQTTv5)
        try:
            dep.init_central()
            dep.enroll("K1", broker.url)
            support.fill_outbox(dep.kiosk_dir("K1"), n)
            w = dep.serve(broker.url, "wsess", env=FAST_LEASES)
            support.wait_until(lambda: _held_by(dep.db_url, "wsess") == topics.PARTITIONS, timeout=60,
                               what="the worker leasing every partition")
            w.send_signal(signal.SIGSTOP)  # away: it cannot reconnect before the kiosk sends
            support.wait_until(lambda: _stopped(w), timeout=60, what="the worker stopped")
            broker.restart()  # clean stop: the broker keeps the worker's session on disk

            watcher.on_message = lambda _c, _u, m: seen.append(m.topic)
            watcher.connect("127.0.0.1", broker.port)
            watcher.subscribe(topics.up("K1", "applications"), qos=1)
            watcher.loop_start()
            # An ack timeout far beyond the test: only the broker's copy can be applied.
            sync = _sync(dep, "K1", broker.url, ack_timeout=3600)
            support.wait_until(lambda: len(seen) >= n, timeout=60, what="the kiosk's uplink reaching the broker")
            assert support.central_counts(dep.db_url)["applications"] == 0
            w.send_signal(signal.SIGCONT)
            _wait_synced([sync], dep)
            _exactly_once(dep, {"K1": n})
        finally:
            watcher.loop_stop()
            for p in dep.procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGCONT)
            dep.stop_all()


def test_worker_cut_off_from_the_broker_gets_what_was_sent_meanwhile(tmp_path: Path) -> None:
    """The session expiry at work: the broker keeps the worker's subscriptions and
    queues for it while its connection is down (expiry 0 would drop them at once)."""
    n = 30
    with support.broker(tmp_path) as broker:
        dep = support.Deployment(tmp_path / "dep")
        proxy = support.TcpProxy(broker.port)  # only the worker goes through it
        seen: list[str] = []
        watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="uplink-watcher", protocol=mqtt.MQTTv5)
        try:
            dep.init_central()
            dep.enroll("K1", broker.url)
            support.fill_outbox(dep.kiosk_dir("K1"), n)
            dep.serve(proxy.url, "wcut", env=FAST_LEASES)
            support.wait_until(lambda: _held_by(dep.db_url, "wcut") == topics.PARTITIONS, timeout=60,
                               what="the worker leasing every partition")
            proxy.partition()
            support.wait_until(lambda: proxy.refused >= 1, timeout=30, what="the worker trying to reconnect")
            watcher.on_message = lambda _c, _u, m: seen.append(m.topic)
            watcher.connect("127.0.0.1", broker.port)
            watcher.subscribe(topics.up("K1", "applications"), qos=1)
            watcher.loop_start()
            sync = _sync(dep, "K1", broker.url, ack_timeout=3600)  # no resend within the test
            support.wait_until(lambda: len(seen) >= n, timeout=60, what="the kiosk's uplink reaching the broker")
            assert support.central_counts(dep.db_url)["applications"] == 0
            # Alone and cut off, it keeps its leases (nobody else reaches the broker either).
            assert _held_by(dep.db_url, "wcut") == topics.PARTITIONS
            proxy.heal()
            _wait_synced([sync], dep)
            _exactly_once(dep, {"K1": n})
        finally:
            watcher.loop_stop()
            proxy.close()
            dep.stop_all()


if __name__ == "__main__":  # the launcher: `python -m tests.test_partitions_workers ARGS` = ur-central ARGS
    fault_points.install(fault_points.WORKER_APPLY, _pause_once)
    sys.argv = ["central.cli", *sys.argv[1:]]
    runpy.run_module("central.cli", run_name="__main__", alter_sys=True)
