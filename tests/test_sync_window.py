"""The kiosk's send window and its SQLite write lock, against a real Mosquitto
and real SQLite files: at most `window` messages unacknowledged, payments
first, a central ack frees room, an ack timeout resends; a writer that holds
the lock delays but never fails the sync loop's bookkeeping."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from contract import downlink as dl
from contract import envelope, sqlite_pragmas, topics
from kiosk import identity
from kiosk.context import wire_sync_handlers
from kiosk.store import KioskStore
from kiosk.sync import outbox
from kiosk.sync.client import SyncClient, SyncConfig
from tests import support

# sync imports no business module: the capabilities register their feed handlers
wire_sync_handlers()


class Listener:
    """Stands where central's worker would: records what the kiosk publishes,
    and acks with central's downlink key (read from the deployment's database)."""

    def __init__(self, broker: support.Broker, kiosk_id: str, db_url: str) -> None:
        from central import db, downlink_key

        engine = db.make_engine(db_url)
        with db.sessions(engine).begin() as s:
            self.signer = downlink_key.signer(s)
        engine.dispose()
        self.got: list[tuple[str, str]] = []  # (stream, message id)
        self.c = support.listening_client(broker.port, f"{topics.ROOT}/kiosk/{kiosk_id}/up/#", lambda m: self.got.append(
            (m.topic.rsplit("/", 1)[1], envelope.open_unverified(m.payload)[0].message_id)))

    def ids(self) -> list[str]:
        """Message ids in first-seen order (a resend is not a new message)."""
        return list(dict.fromkeys(m for _s, m in self.got))

    def times_seen(self, mid: str) -> int:
        return sum(1 for _s, m in self.got if m == mid)

    def ack(self, kiosk_id: str, ids: list[str]) -> None:
        self.c.publish(topics.down(kiosk_id, "ack"), dl.seal(self.signer.sign, "ack", kiosk_id, dl.ack_fields(ids, [])),
                       qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _run(client: SyncClient, until: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():  # type: ignore[operator]  # until is any zero-argument predicate
        assert time.monotonic() < deadline, "condition not reached"
        client.step(0.005)


def test_window_priority_ack_frees_room_and_timeout_resends(tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    listener = None
    try:
        dep = support.Deployment(tmp_path)
        dep.init_central()
        kdir = dep.enroll("K1", broker.url)
        support.fill_outbox(kdir, 30)
        store = KioskStore(kdir)
        ident = identity.load(store)
        with store.tx() as s:  # queued last, sent first
            pay = outbox.enqueue(s, ident, "payments", {"collection_id": "c1", "amount": 25000}).message_id
        listener = Listener(broker, ident.kiosk_id, dep.db_url)
        client = SyncClient(store, ident, broker.url, SyncConfig(window=10, ack_timeout=2.0, heartbeat_s=0,
                                                                 first_delay_max=0))
        # Counted in distinct messages: on a loaded machine the 2 s ack timeout can pass
        # before the test acks, and a resend of a message in the window is not a new one.
        _run(client, lambda: len(listener.ids()) >= 10)
        for _ in range(40):  # a while longer: nothing beyond the window goes out
            client.step(0.005)
        assert len(listener.ids()) == 10
        assert listener.got[0] == ("payments", pay)
        with store.session() as s:
            st = outbox.stats(s)
        assert (st.pending, st.in_flight, st.delivered) == (31, 10, 0)

        first_four = listener.ids()[:4]
        listener.ack(ident.kiosk_id, first_four)
        _run(client, lambda: len(listener.ids()) >= 14)
        for _ in range(40):
            client.step(0.005)
        assert len(listener.ids()) == 14
        with store.session() as s:
            st = outbox.stats(s)
        assert (st.pending, st.in_flight, st.delivered) == (27, 10, 4)

        # No acks for the other ten: the six sent before that ack go out again after the
        # ack timeout, and nothing new goes out while the ten fill the window. (The four
        # sent after it, central silent since, are probed one at a time: kiosk/sync/resend.py,
        # tests/test_sync_probe.py.)
        unacked = listener.ids()[4:]
        _run(client, lambda: all(listener.times_seen(m) >= 2 for m in unacked[:6]))
        assert listener.ids()[4:] == unacked
        client.close()
    finally:
        if listener is not None:
            listener.stop()
        broker.stop()


def test_write_lock_is_polled_until_free_and_other_errors_are_not_retried(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    waiter = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    released = threading.Event()

    def release() -> None:
        time.sleep(0.3)
        holder.execute("COMMIT")
        released.set()

    threading.Thread(target=release).start()
    sqlite_pragmas.begin_immediate(waiter)  # waits for the holder, then has the lock
    assert released.is_set()
    waiter.execute("INSERT INTO t VALUES (2)")
    waiter.execute("COMMIT")
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == int(sqlite_pragmas.BUSY_TIMEOUT_S * 1000)

    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite_pragmas.begin_immediate(waiter, timeout=0.2)  # never freed: gives up at its timeout
    holder.execute("ROLLBACK")
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == int(sqlite_pragmas.BUSY_TIMEOUT_S * 1000)
    waiter.execute("BEGIN")
    with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
        sqlite_pragmas.begin_immediate(waiter)  # not a lock problem: raised at once
    waiter.execute("ROLLBACK")
    assert [r[0] for r in waiter.execute("SELECT x FROM t ORDER BY x")] == [1, 2]


def test_change_watch_sees_other_connections_commits(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    store = KioskStore(dep.enroll("K1", "mqtt://127.0.0.1:1"))
    watch = store.watch()
    watch.changed()  # first look
    assert not watch.changed()
    support.fill_outbox(store.dir, 1)  # another connection commits
    assert watch.changed()
    assert not watch.changed()
    watch.close()


def test_an_unreachable_broker_is_waited_for_not_spun_on(tmp_path: Path) -> None:
    """Between connection attempts paho's loop returns at once (there is no
    socket): the sync loop must sleep out the backoff, not burn a core beside the
    kiosk's screens. Measured as this thread's CPU time over 3 s of run()."""
    dep = support.Deployment(tmp_path)
    dep.init_central()
    closed = f"mqtt://127.0.0.1:{support.free_port()}"  # nobody listens there
    kdir = dep.enroll("K1", closed)
    support.fill_outbox(kdir, 5)
    store = KioskStore(kdir)
    client = SyncClient(store, identity.load(store), closed,
                        SyncConfig(heartbeat_s=0, first_delay_max=1.0, backoff_cap=2.0))
    cpu0, wall0 = time.thread_time(), time.monotonic()
    assert client.run(until_idle=True, timeout=3.0) is False
    cpu, wall = time.thread_time() - cpu0, time.monotonic() - wall0
    client.close()
    assert wall >= 3.0
    assert client.link.failures >= 1  # it did try, and went on trying
    assert cpu < 0.25 * wall, f"sync loop used {cpu:.2f} s of CPU in {wall:.2f} s with no broker"
