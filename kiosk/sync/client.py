"""The kiosk sync loop: the thin MQTT shell around the outbox and the downlink.

Single-threaded: this loop calls paho's `loop()` itself, callbacks only record
what arrived, and all store writes happen here, so no exception can kill a
hidden network thread. The session is persistent (clean_start False, 7-day
expiry) so acks queued while the kiosk was away still arrive; but nothing
depends on that: unacked rows are resent and status events are fetched by
cursor. Reconnects use full jitter with a random first delay, so a hall of
kiosks coming back after a power cut does not storm the broker.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from contract import downlink as dl
from contract import fault_points, mqtt_conn, topics
from contract.errors import UrError
from contract.systemd_notify import Notifier
from kiosk import heartbeat, identity
from kiosk.identity import Identity
from kiosk.store import KioskStore
from kiosk.sync import downlink, outbox, resend

log = logging.getLogger("ur.kiosk.sync")
SESSION_EXPIRY_S = 7 * 86400
MANIFEST_GRACE_S = 0.5
BOOKKEEPING_S = 0.02
# Bookkeeping that falls due while the kiosk holds the write lock (a submission being
# committed) is put off to a later turn of the loop for up to this long, instead of
# the loop waiting for the lock while acks and new rows queue up behind it.
BOOKKEEPING_DEFER_MAX_S = 0.25


class WriteLockProbe:
    """Whether the store's write lock is free right now, without waiting: BEGIN
    IMMEDIATE on a connection of its own with no busy timeout, rolled back at
    once (tens of microseconds). The sync loop asks before its bookkeeping so
    it keeps reading acks and sending while the kiosk commits; the answer can
    be stale by the time the bookkeeping begins, which then just waits as before."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)

    def free(self) -> bool:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False  # busy (or anything else: the real transaction will say)
        self.conn.execute("ROLLBACK")
        return True

    def close(self) -> None:
        self.conn.close()


@dataclass
class SyncConfig:
    window: int = 500
    ack_timeout: float = 10.0
    heartbeat_s: float = 60.0
    catch_up_s: float = 30.0
    first_delay_max: float = field(default_factory=lambda: float(os.environ.get("UR_SYNC_FIRST_DELAY", "2.0")))
    backoff_cap: float = 60.0
    resend_cap: float = outbox.RESEND_BACKOFF_CAP


class SyncClient:
    def __init__(self, store: KioskStore, ident: Identity, broker_url: str | None = None,
                 config: SyncConfig | None = None) -> None:
        self.store, self.ident = store, ident
        self.cfg = config or SyncConfig()
        self.addr = identity.broker_address(store, broker_url or ident.broker_url)
        self.client = mqtt_conn.make_client(ident.kiosk_id, self.addr, SESSION_EXPIRY_S)
        self.link = mqtt_conn.Link(self.client, self.addr, clean_start=False,
                                   backoff_cap=self.cfg.backoff_cap, first_delay=self.cfg.first_delay_max)
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.subscribed_at: float | None = None
        self.received: list[tuple[str, bytes, bytes | None]] = []  # topic, payload, correlation data
        self.next_heartbeat = 0.0
        self.next_catch_up = 0.0
        self.downlink = downlink.Downlink(store, ident.kiosk_id, ident.downlink_public_key)
        self.publish_failures = 0
        self.in_flight: dict[str, resend.Flight] = {}  # message id -> when sent, resend deadline (wall clock)
        self.last_ack: float | None = None  # the last ack from central (wall clock): is it answering?
        self.probe: str | None = None  # chosen to probe a silent central, sent by the next _publish_due
        self.probes = 0  # probes sent (a silent central: only the oldest unacked message goes again)
        self.watch = store.watch()
        self.lock_probe = WriteLockProbe(store.path)
        self.maybe_due = True
        self.next_due_check = 0.0
        # Written every BOOKKEEPING_S by _write_bookkeeping: (received at, acked, rejected).
        self.ack_groups: list[tuple[float, list[str], list[tuple[str, str]]]] = []
        self.next_bookkeeping = 0.0
        self.sent: list[outbox.DueRow] = []
        self.stopping = False
        self.revocation_noted = False
        self.heartbeat_extra: dict[str, Any] = {}

    # --- paho callbacks: record only ------------------------------------------------
    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any = None) -> None:
        if all(mqtt_conn.reason_ok(c) for c in codes):
            self.subscribed_at = time.monotonic()
        else:
            log.error("subscription refused by the broker: %s", codes)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None) if msg.properties is not None else None
        self.received.append((msg.topic, bytes(msg.payload), bytes(corr) if corr else None))

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, rc: Any, _p: Any = None) -> None:
        if not mqtt_conn.reason_ok(rc):
            # e.g. 135 not authorised: paho calls it published; we count it and the
            # row stays pending (resent after the ack timeout).
            self.publish_failures += 1
            log.error("broker refused a publish: %s", rc)

    # --- the loop ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.link.connected

    def _on_connected(self) -> None:
        self.subscribed_at = None
        base = topics.down(self.ident.kiosk_id, "#")
        self.client.subscribe([(base, 1), (topics.MANIFEST_FILTER, 1)])
        with self.store.soft_tx() as s:
            outbox.reset_in_flight(s)
        self.in_flight.clear()  # a reconnect resends everything unacked once (kiosk/sync/resend.py)
        self.probe = None
        self.sent.clear()  # their rows were just made due again
        self.maybe_due = True
        self.next_catch_up = 0.0
        self.downlink.reset_outstanding()

    def _publish_due(self) -> int:
        """Send what is due, up to the window. The window is counted in memory (this
        loop is the only sender); the outbox is queried only when something may be
        due (a commit by anyone, an ack deadline passed, room freed, or once a
        second), without the write lock; the sent marks are written at the end of
        the step, so a citizen's submission never waits for a round of publishes."""
        now = time.time()
        plan = resend.plan(self.in_flight, self.last_ack, now)
        if plan.resend or plan.hold:
            # Ack overdue: due again (its row says so too), unless central has not acked
            # anything since it was sent: then only the probe goes and the rest is held.
            resend.apply(self.in_flight, plan)
            self.probe = plan.probe or self.probe
            self.maybe_due = self.maybe_due or bool(plan.resend)
        if self.watch.changed() or time.monotonic() >= self.next_due_check:
            self.maybe_due = True
        room = self.cfg.window - len(self.in_flight)
        if not self.maybe_due or room <= 0:
            return 0
        held = sum(1 for f in self.in_flight.values() if f.deadline is None)  # due in the outbox, not sent
        # Acks of this step are not written yet: their rows still look pending.
        settled = {m for _t, acked, _r in self.ack_groups for m in acked} | {
            m for _t, _a, rejected in self.ack_groups for m, _r in rejected}
        with self.store.session() as s:
            rows = [r for r in outbox.due(s, room + len(settled) + held, now)
                    if r.message_id not in self.in_flight and r.message_id not in settled][:room]
        self.next_due_check = time.monotonic() + 1.0
        self.maybe_due = len(rows) >= room  # a full window: more may be waiting
        sent = []
        for r in rows:
            wire = outbox.wire_bytes(r, self.ident)
            info = self.client.publish(topics.up(self.ident.kiosk_id, r.stream), wire, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # connection went away; the rest waits for the reconnect
            if fault_points.reached(fault_points.SYNC_PUBLISH, r.message_id):  # failure tests only
                self.client.publish(topics.up(self.ident.kiosk_id, r.stream), wire, qos=1)
            sent.append(r)
            probe = r.message_id == self.probe
            if probe:
                self.probe, self.probes = None, self.probes + 1
            self.in_flight[r.message_id] = resend.Flight(now, now + self.cfg.ack_timeout, probe)  # refined by mark_sent
        self.sent.extend(sent)
        return len(sent)

    def _write_bookkeeping(self, force: bool = False) -> None:
        """Acks and sent marks in one fsync-free transaction at most every
        BOOKKEEPING_S: beside a kiosk that commits every few milliseconds, each
        write lock is a wait, so few are taken. An ack is recorded with the time
        it arrived. Lost on a crash, they only cause a resend, which central's
        inbox absorbs."""
        if not (self.ack_groups or self.sent or self.downlink.dropped):
            return
        if not force:
            late = time.monotonic() - self.next_bookkeeping
            if late < 0 or (late < BOOKKEEPING_DEFER_MAX_S and not self.lock_probe.free()):
                return
        self.next_bookkeeping = time.monotonic() + BOOKKEEPING_S
        groups, sent = self.ack_groups, self.sent
        self.ack_groups, self.sent = [], []
        with self.store.soft_tx() as s:
            for at, acked, rejected in groups:
                outbox.mark_acked(s, acked, rejected, now=at)
            if groups:
                downlink.note_success(s)
            self.downlink.flush(s)
            if sent:
                deadlines = outbox.mark_sent(s, sent, self.cfg.ack_timeout, resend_cap=self.cfg.resend_cap)
        if sent:
            for mid, deadline in deadlines.items():
                f = self.in_flight.get(mid)
                if f is not None and f.deadline is not None:
                    self.in_flight[mid] = resend.Flight(f.sent_at, deadline, f.probe)

    def _handle_received(self) -> None:
        batch, self.received = self.received, []
        acked: list[str] = []
        rejected: list[tuple[str, str]] = []
        for topic, payload, corr in batch:
            try:
                # Verified (central's signature, this kiosk, the right topic, an
                # answer to our own request) or dropped and counted.
                v = self.downlink.accept(topic, payload, corr)
                if v is None:
                    continue
                m = v.msg
                if m.kind == "manifest":
                    self.downlink.on_manifest(m)
                elif m.kind == "ack":
                    a, r = _ack_ids(m)
                    if a is None or r is None:
                        self.downlink.drop("malformed", f"ack fields {m.fields!r:.200}")
                        continue
                    # Honoured only for rows of our own outbox (outbox.mark_acked
                    # updates pending rows by message id; others match nothing).
                    acked += a
                    rejected += r
                elif m.kind == "poke":
                    self.next_catch_up = 0.0
                else:
                    self.downlink.on_response(v)
            except UrError as e:
                log.warning("ignored downlink message on %s: %s", topic, e)
            except Exception as e:  # noqa: BLE001 - never let one message stop sync
                log.warning("failed to handle downlink on %s: %s", topic, e)
        for mid in acked:
            self.in_flight.pop(mid, None)
        for mid, _reason in rejected:
            self.in_flight.pop(mid, None)
        if acked or rejected:
            self.maybe_due = True  # room in the window again
            at = time.time()
            self.ack_groups.append((at, acked, rejected))
            self.last_ack = at  # central answers: held messages get a fresh timeout
            resend.rearm(self.in_flight, at, self.cfg.ack_timeout)

    def step(self, timeout: float = 0.01) -> None:
        now = time.monotonic()
        if self.link.poll(timeout):
            self._on_connected()
        if self.link.certificate_revoked and not self.revocation_noted:
            self.revocation_noted = True  # the broker said our certificate is revoked
            with self.store.soft_tx() as s:
                identity.set_out_of_service(s, "certificate_refused")
        if self.received:
            self._handle_received()
        if not self.connected:
            self._write_bookkeeping(force=True)  # acks that came before the link went
            return
        self._publish_due()
        self._write_bookkeeping()
        if now >= self.next_catch_up:
            self.next_catch_up = now + self.cfg.catch_up_s
            self.downlink.request_events(self.client)
        self.downlink.pump(self.client)
        if self.cfg.heartbeat_s > 0 and now >= self.next_heartbeat:
            self.next_heartbeat = now + self.cfg.heartbeat_s
            self.enqueue_heartbeat()

    def enqueue_heartbeat(self) -> None:
        with self.store.soft_tx() as s:
            heartbeat.enqueue(s, self.ident, self.heartbeat_extra)

    def idle(self) -> bool:
        """Nothing left to send or fetch (used by `ur-kiosk sync --until-idle`)."""
        if self.in_flight or self.sent or self.ack_groups:
            return False  # known without asking the database (a replay asks often)
        with self.store.session() as s:
            pending = outbox.has_pending(s)
        # Retained manifests arrive right after the SUBACK; give them a moment so
        # "idle" also means "has every dataset central announced".
        settled = self.subscribed_at is not None and time.monotonic() - self.subscribed_at > MANIFEST_GRACE_S
        return not pending and self.connected and settled and self.downlink.caught_up()

    def run(self, until_idle: bool = False, timeout: float | None = None) -> bool:
        """Loop until stopped (SIGTERM/SIGINT), or until idle / timeout. True if idle."""
        def _stop(*_: Any) -> None:
            self.stopping = True

        try:
            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
        except ValueError:
            pass  # not the main thread (tests): stop via .stopping
        deadline = None if timeout is None else time.monotonic() + timeout
        idle_checks = 0
        # Under systemd (docs/operations.md): READY=1 now, WATCHDOG=1 from every turn
        # of this loop, so a hung loop is restarted; nothing without $NOTIFY_SOCKET.
        notifier = Notifier()
        notifier.ready()
        try:
            while not self.stopping:
                notifier.tick()
                # Short waits: the socket wakes us at once, new outbox rows are seen by the
                # data_version probe within ~5 ms (cheap when nothing changed).
                self.step(0.005 if self.connected else 0.1)
                if until_idle:
                    idle_checks += 1
                    if idle_checks % 10 == 0 and self.idle():
                        return True
                if deadline is not None and time.monotonic() > deadline:
                    break
            return False
        finally:
            notifier.stopping()
            notifier.close()

    def close(self) -> None:
        try:
            self._write_bookkeeping(force=True)
        except Exception as e:  # noqa: BLE001 - losing them only repeats sends
            log.warning("could not record the last acks: %s", e)
        self.watch.close()
        self.lock_probe.close()
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001
            pass


def _ack_ids(m: dl.Message) -> tuple[list[str] | None, list[tuple[str, str]] | None]:
    """The ack's message ids and rejections, or (None, None) if malformed."""
    acked, rejected = m.get("acked", []), m.get("rejected", [])
    if not isinstance(acked, list) or not isinstance(rejected, list):
        return None, None
    if not all(isinstance(x, str) for x in acked) or not all(
            isinstance(r, dict) and isinstance(r.get("m"), str) for r in rejected):
        return None, None
    return acked, [(r["m"], str(r.get("reason", ""))) for r in rejected]
