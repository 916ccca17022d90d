"""Worker figure (issue 18): time from a broker restart to the first ack a kiosk gets.

Restart: a real worker (SQLite) and a stand-in kiosk, a paho client signing real
heartbeat envelopes with an enrolled kiosk's key, which reconnects every 20 ms
(so the figure is central's, not the kiosk's jittered backoff) and publishes one
message as soon as it is connected (again every 2 s without an ack). The broker
is stopped cleanly and started again; the clock starts when it accepts TCP
again. Before this change workers had clean sessions and a 30 s backoff cap:
5-20 s (issue 18).

Worker scaling (1, 2, 4 workers over one fleet) is measured by bench_fleet.

    python -m bench.bench_workers [--restarts N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.table import print_table
from contract import downlink as dl
from contract import envelope, ids, mqtt_conn, topics
from kiosk import identity
from kiosk.store import KioskStore
from tests import support


class StandInKiosk:
    """A kiosk's uplink and acks, nothing else: real signed envelopes, verified acks.
    Its own thread drives the project's Link with a 20 ms reconnect cap."""

    def __init__(self, kdir: Path, broker_url: str) -> None:
        store = KioskStore(kdir)
        self.ident = identity.load(store)
        store.close()
        self.key = dl.verify_key_from_hex(self.ident.downlink_public_key)
        self.acked: dict[str, float] = {}
        self.seq = 0
        addr = mqtt_conn.parse_url(broker_url)
        self.c = mqtt_conn.make_client(f"bench-{self.ident.kiosk_id}", addr, 3600)
        self.link = mqtt_conn.Link(self.c, addr, clean_start=False, backoff_cap=0.02)
        self.c.on_message = self._on_message
        self.subscribed = threading.Event()
        self.c.on_subscribe = lambda *_a: self.subscribed.set()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            if self.link.poll(0.005):
                self.c.subscribe(topics.down(self.ident.kiosk_id, "#"), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        try:
            msg = dl.open_signed(bytes(m.payload), self.key, self.ident.kiosk_id)
        except dl.DownlinkError:
            return
        if msg.kind == "ack":
            for mid in msg.get("acked", []):
                self.acked.setdefault(str(mid), time.perf_counter())

    def send(self) -> str:
        self.seq += 1
        mid = ids.new_id()
        env = envelope.Envelope(self.ident.kiosk_id, mid, "heartbeat", self.seq, int(time.time() * 1000) << 16,
                                {"bench": self.seq})
        self.c.publish(topics.up(self.ident.kiosk_id, "heartbeat"), envelope.seal(env, self.ident.key), qos=1)
        return mid

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.c.disconnect()


def _first_ack_after_restart(root: Path, restarts: int) -> list[float]:
    with support.broker(root) as broker:
        dep = support.Deployment(root / "dep")
        dep.init_central()
        kdir = dep.enroll("KB", broker.url)
        dep.serve(broker.url, "bench-worker")
        k = StandInKiosk(kdir, broker.url)
        times = []
        try:
            support.wait_until(k.subscribed.is_set, timeout=30)
            mid = k.send()
            support.wait_until(lambda: mid in k.acked, timeout=60, what="a first ack before any restart")
            for _ in range(restarts):
                broker.stop()
                k.subscribed.clear()
                broker.start()  # returns once the broker accepts TCP
                t0 = time.perf_counter()
                support.wait_until(k.subscribed.is_set, timeout=30, interval=0.002, what="the kiosk back")
                sent = [k.send()]
                while not any(m in k.acked for m in sent):
                    if time.perf_counter() - t0 > 120:
                        raise RuntimeError("no ack within 120 s of the broker restart")
                    time.sleep(0.002)
                    if time.perf_counter() - t0 > 2 * len(sent):
                        sent.append(k.send())  # a kiosk resends after its ack timeout (2 s here)
                times.append(min(k.acked[m] for m in sent if m in k.acked) - t0)
        finally:
            k.close()
            dep.stop_all()
    return times


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_workers")
    p.add_argument("--restarts", type=int, default=5)
    a = p.parse_args(sys.argv[1:] if argv is None and __name__ == "__main__" else (argv or []))
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        times = _first_ack_after_restart(Path(tmp) / "restart", a.restarts)
        rows: list[list[object]] = [
            ["broker restart -> first ack, median", statistics.median(times), "s", "<= 1", f"{len(times)} clean restarts"],
            ["broker restart -> first ack, worst", max(times), "s", "<= 1", "was 5-20 s (issue 18)"],
        ]
        print_table("Partitioned workers (bench_workers)", rows)


if __name__ == "__main__":
    main()
