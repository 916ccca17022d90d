"""A silent central is probed, not flooded (kiosk/sync/resend.py): when the ack
timeout fires and central has acked nothing since, the kiosk resends only its
oldest unacked message and holds the rest; once central answers, the rest goes
again and everything is applied once. On a real Mosquitto, a real central worker
and real SQLite files; the rule itself is pure and tested on its own first."""

from __future__ import annotations

import time
from pathlib import Path

from contract import envelope, topics
from kiosk import identity
from kiosk.context import wire_sync_handlers
from kiosk.store import KioskStore
from kiosk.sync import outbox, resend
from kiosk.sync.client import SyncClient, SyncConfig
from tests import support

# sync imports no business module: the capabilities register their feed handlers
wire_sync_handlers()


def test_plan_resends_after_an_ack_and_probes_a_silent_central() -> None:
    f = {"a": resend.Flight(1.0, 11.0), "b": resend.Flight(1.0, 11.0), "c": resend.Flight(5.0, 15.0)}
    # central acked something at 3.0, after a and b were sent: they were lost, resend
    p = resend.plan(f, 3.0, 12.0)
    assert (p.resend, p.hold, p.probe) == (["a", "b"], [], None)
    # nothing acked since they were sent: the oldest probes, the others wait
    p = resend.plan(f, 0.5, 16.0)
    assert (p.resend, p.hold, p.probe) == (["a"], ["b", "c"], "a")
    resend.apply(f, p)
    assert "a" not in f and f["b"].deadline is None and f["c"].deadline is None
    f["a"] = resend.Flight(16.0, 40.0, probe=True)  # the probe, sent again with a longer timer
    assert resend.plan(f, 0.5, 30.0) == resend.Plan()  # held: no deadline, no resend
    p = resend.plan(f, 0.5, 41.0)
    assert (p.resend, p.hold, p.probe) == (["a"], [], "a")  # only the probe goes again
    resend.apply(f, p)
    f["a"] = resend.Flight(41.0, 70.0, probe=True)
    # central answers at 50: the held ones get a fresh timeout from then, then go again
    assert resend.rearm(f, 50.0, 10.0) == 2
    assert not any(x.probe for x in f.values())
    assert resend.plan(f, 50.0, 55.0) == resend.Plan()
    p = resend.plan(f, 50.0, 60.0)
    assert (p.resend, p.hold, p.probe) == (["b", "c"], [], None)


def test_plan_makes_a_held_message_the_probe_when_none_is_out() -> None:
    f = {"b": resend.Flight(1.0, None), "c": resend.Flight(2.0, 12.0)}
    p = resend.plan(f, None, 13.0)
    assert (p.resend, p.hold, p.probe) == (["b"], ["c"], "b")


class Spy:
    """Sees every uplink publish of one kiosk on the broker, in order (message ids)."""

    def __init__(self, broker: support.Broker, kiosk_id: str) -> None:
        self.got: list[str] = []
        self.c = support.listening_client(broker.port, f"{topics.ROOT}/kiosk/{kiosk_id}/up/#", lambda m: self.got.append(
            envelope.open_unverified(m.payload)[0].message_id))

    def stop(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _run(client: SyncClient, until: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():  # type: ignore[operator]  # until is any zero-argument predicate
        assert time.monotonic() < deadline, f"not reached: {what}"
        client.step(0.005)


def test_a_silent_central_gets_probes_of_one_message_then_everything_once(tmp_path: Path) -> None:
    n = 8
    broker = support.Broker(tmp_path / "broker").start()
    dep = support.Deployment(tmp_path)
    spy = None
    try:
        dep.init_central()
        kdir = dep.enroll("K1", broker.url)
        support.fill_outbox(kdir, n)
        store = KioskStore(kdir)
        ident = identity.load(store)
        spy = Spy(broker, ident.kiosk_id)
        # Short timers: the test is about which messages go again, not when.
        client = SyncClient(store, ident, broker.url, SyncConfig(ack_timeout=0.5, resend_cap=0.5, heartbeat_s=0,
                                                                 first_delay_max=0))
        # Central is stopped: nothing is acked. After the first sends only probes go out.
        _run(client, lambda: len(spy.got) >= n + 3, "three sends after the first ones")
        first, again = spy.got[:n], spy.got[n:]
        assert client.probes >= len(again)
        assert len(set(first)) == n, first
        assert again and set(again) == {first[0]}, again  # the oldest, not n resends each time
        held = [m for m, f in client.in_flight.items() if f.deadline is None]
        assert sorted(held) == sorted(first[1:])

        # Central comes back: it acks the probe, the held messages go again, all applied once.
        dep.serve(broker.url)

        def applied() -> bool:
            with store.session() as s:
                st = outbox.stats(s)
            return st.delivered == n and not client.in_flight

        _run(client, applied, "every message delivered")
        assert support.central_counts(dep.db_url) == {"applications": n, "distinct": n, "inbox": n}
        assert set(spy.got) == set(first)
        client.close()
        store.close()
    finally:
        if spy is not None:
            spy.stop()
        dep.stop_all()
        broker.stop()
