"""Uplink that reaches the worker while it applies a batch is applied and acked
in the same turn of its loop, before any routing slice (issue 18: at a steady
200 msg/s a message read after the batch waited behind a routing slice, tens of
milliseconds under load, and then the next select's timeout before its batch)."""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from central import ingest
from central.worker import Worker
from contract import downlink as dl
from contract import topics
from kiosk import identity
from kiosk.applications import applications
from kiosk.store import KioskStore
from kiosk.sync import outbox
from tests import support

FORM = {"full_name": "Zainab Ali", "mobile": "07701234567"}


class TracedWorker(Worker):
    """The real worker, recording the order of its batches and routing slices; its
    first batch waits (inside the apply) until the kiosk's second message is on its
    socket, so that message arrives while a batch is being applied, every run."""

    def __init__(self, *a: Any, during_first: Callable[[], None], **k: Any) -> None:
        super().__init__(*a, **k)
        self.events: list[tuple[str, int]] = []
        self.during_first = during_first
        self.held_first = False
        self.subacks = 0

    def _on_subscribe(self, *a: Any) -> None:
        super()._on_subscribe(*a)
        self.subacks += 1  # _on_up subscribes twice: its partitions, then the other filters

    def _apply(self, uplink: list[ingest.Arrived]) -> list[ingest.Outcome]:
        if not self.held_first:
            self.held_first = True
            self.events.clear()  # start-up routing (and housekeeping's) is not what is looked at
            self.during_first()
            sock = self.client.socket()
            assert sock is not None
            readable, _w, _x = select.select([sock], [], [], 30)
            assert readable, "the second message never reached the worker's socket"
        outcomes = super()._apply(uplink)
        self.events.append(("batch", len(uplink)))
        return outcomes

    def route_pending(self, budget_s: float = 0.02, slice_: int = 50) -> int:
        self.events.append(("route", 0))
        return super().route_pending(budget_s, slice_)


def test_uplink_arriving_during_a_batch_is_acked_before_routing(tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = support.Deployment(tmp_path)
    dep.init_central()
    kdir = dep.enroll("K1", broker.url)
    store = KioskStore(kdir)
    ident = identity.load(store)
    for i in range(2):
        applications.submit(store, ident, "non-conviction-certificate", {**FORM, "national_id": f"{i + 1:012d}"})
    with store.session() as s:
        rows = outbox.due(s, 10)
    assert len(rows) == 2, rows
    wires = [(topics.up(ident.kiosk_id, r.stream), outbox.wire_bytes(r, ident), r.message_id) for r in rows]

    acked: list[str] = []
    got_both = threading.Event()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        m = dl.open_signed(bytes(msg.payload), dl.verify_key_from_hex(ident.downlink_public_key), ident.kiosk_id)
        acked.extend(m.get("acked", []))
        if len(acked) >= 2:
            got_both.set()

    kiosk_subscribed = threading.Event()
    kiosk = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    kiosk.on_message = on_message
    kiosk.on_subscribe = lambda *_a: kiosk_subscribed.set()
    kiosk.connect("127.0.0.1", broker.port)
    kiosk.loop_start()
    def send_second() -> None:
        kiosk.publish(wires[1][0], wires[1][1], qos=1).wait_for_publish(30)

    worker = TracedWorker(dep.db_url, broker.url, "w-latency", during_first=send_second)
    try:
        kiosk.subscribe(topics.down(ident.kiosk_id, "ack"), qos=1)
        assert kiosk_subscribed.wait(30), "the kiosk's ack subscription was not confirmed"
        support.wait_until(lambda: worker.step(0.05) or worker.subacks >= 2 and worker.leases.held,
                           what="worker subscribed to its partitions")
        kiosk.publish(wires[0][0], wires[0][1], qos=1).wait_for_publish(10)
        # the turn of the loop that applies the first batch (and, meanwhile, receives the second)
        support.wait_until(lambda: worker.step(0.05) or worker.held_first, what="first batch applied")
        assert worker.events[0] == ("batch", 1), worker.events
        routed_at = [i for i, e in enumerate(worker.events) if e[0] == "route"]
        batches = [e[1] for e in worker.events if e[0] == "batch"]
        assert sum(batches) == 2 and worker.applied == 2, worker.events
        # both batches came before the first routing slice of that turn
        assert not routed_at or routed_at[0] > 1, worker.events
        assert got_both.wait(30) or support.wait_until(lambda: worker.step(0.05) or got_both.is_set(),
                                                       what="both acks at the kiosk")
        assert sorted(acked) == sorted(m for _t, _w, m in wires)
    finally:
        kiosk.loop_stop()
        kiosk.disconnect()
        worker.client.disconnect()
        worker.engine.dispose()
        store.close()
        broker.stop()
