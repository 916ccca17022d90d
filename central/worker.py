"""The ingest worker: the thin MQTT shell around central.ingest and central.downlink.

Any number of workers may run (on SQLite or PostgreSQL). Uplink is split into
partitions by kiosk (contract/topics.py); each worker leases its fair share of
them in the database (central/partitions.py), subscribes to those only, and
applies a batch only while its leases hold (the fencing check in the apply
transaction), so one kiosk's ordered streams go to one worker and a worker that
lost a lease (paused, cut off) can never commit. Every worker sees every
request and answers its own partitions' kiosks. Workers are infrastructure: a fixed client id
and a persistent session (clean_start False, a session expiry), so the broker
keeps their uplink while they reconnect, and a reconnect within half a second
of the broker answering (kiosks keep their jittered backoff). Acks go out only
after the batch commits. Every few seconds the worker republishes
retained dataset manifests that changed and pokes kiosks with new status
events (the poke is a hint; kiosks catch up by cursor anyway).

Everything published to kiosks is signed with central's downlink key
(contract/downlink.py, central/downlink_key.py): one ack per kiosk per batch,
answers bound to the asking kiosk and its correlation data, manifests as
broadcasts. Requests that cannot be answered that way are dropped and counted.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from concurrent.futures import Future
from typing import Any

import paho.mqtt.client as mqtt

from central import (
    applications,
    audit,
    casework,
    db,
    downlink,
    downlink_key,
    ingest,
    partitions,
    registry,
)
from central.router import BUSY_EVERY_S, SLICE, WorkerNotes
from contract import downlink as dl
from contract import fault_points, mqtt_conn, topics
from contract.errors import UrError
from contract.long_lived import freeze_startup_objects
from contract.systemd_notify import Notifier

log = logging.getLogger("ur.central.worker")
# While uplink keeps coming (none missed for this long), routing gets one slice per
# router.BUSY_EVERY_S, so ingest and acks keep the CPU and a steady trickle of
# messages does not pay a routing transaction after every batch; when it is quiet,
# routing runs in 20 ms budgets until the backlog is done.
QUIET_S = 0.1
# A batch is sized to apply within this share of the lease TTL (1 s of 6 s), never
# below BATCH_MIN messages: heartbeats (every TTL/3) run between batches.
BATCH_SHARE_OF_TTL = 1 / 6
BATCH_MIN = 32
# Uplink handed to the verifier thread in chunks of this many as it arrives.
PRECHECK_CHUNK = 32
# Retained manifests are signed again and republished this often even when
# unchanged: on a plain broker anyone can overwrite a retained message, and a
# kiosk that connects after that would see only the (refused) forgery.
MANIFEST_REFRESH_S = 60.0
# The broker keeps a worker's session (its partition subscriptions and what arrives
# for them) this long after it drops: a broker restart or a network blip loses no
# uplink. A worker away longer has lost its leases anyway (TTL), and the living
# workers took its partitions.
SESSION_EXPIRY_S = 300
# Reconnect delay cap: workers are few and infrastructure, so they come back at
# once (kiosks, thousands of them, keep a jittered backoff of up to a minute).
RECONNECT_CAP_S = 0.5


def default_worker_id() -> str:
    """Fixed across restarts (the persistent session and the leases are found
    again): one worker per host by default; give more than one `--worker-id`."""
    return f"central-{socket.gethostname()}"[:64]


def lease_ttl_from_env() -> float:
    raw = os.environ.get("UR_CENTRAL_LEASE_TTL_S", "").strip()
    if not raw:
        return partitions.DEFAULT_TTL_S
    try:
        return float(raw)
    except ValueError:
        raise UrError(f"UR_CENTRAL_LEASE_TTL_S={raw!r} is not a number of seconds") from None


class Worker:
    def __init__(self, db_url: str | None, broker_url: str, worker_id: str | None = None,
                 batch_max: int = 500, route_inline: bool = True,
                 router_notes: WorkerNotes | None = None, lease_ttl: float | None = None) -> None:
        self.engine = db.make_engine(db_url)
        db.load_models()
        self.sessions = db.sessions(self.engine)
        self.readers = db.read_sessions(self.engine)
        with self.sessions.begin() as s:
            self.signer = downlink_key.signer(s)  # signs every message sent to kiosks
        self.addr = mqtt_conn.parse_url(broker_url)
        self.worker_id = worker_id or default_worker_id()
        self.batch_max = batch_max
        # Messages taken into the next batch: batch_max, less when batches run slow
        # (see _fit_batch), so the heartbeat between them keeps its rhythm.
        self.batch_cap = batch_max
        self.leases = partitions.Leases(self.sessions, self.worker_id,
                                        lease_ttl if lease_ttl is not None else lease_ttl_from_env())
        self.next_beat = 0.0
        self.broker_down_since: float | None = None
        self.not_mine = 0  # uplink of partitions we do not lease: left to their owner
        self.client = mqtt_conn.make_client(self.worker_id, self.addr, session_expiry_s=SESSION_EXPIRY_S)
        self.link = mqtt_conn.Link(self.client, self.addr, clean_start=False, backoff_cap=RECONNECT_CAP_S)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.inbox: list[tuple[str, bytes, Any]] = []  # requests
        self.refused: list[tuple[str, str]] = []  # (code, detail) dropped outside ingest: counted
        # Uplink of the batch being received: chunks already handed to the
        # verifier thread, and what has not been handed over yet.
        self.prechecks: list[Future[list[ingest.Arrived]]] = []
        self.unchecked: list[tuple[str, bytes]] = []
        self.received = 0
        self.key_cache: dict[str, str] = {}
        self.published_manifests: dict[str, int] = {}
        self.next_manifest_refresh = 0.0
        self.poke_cursor = -1
        self.next_housekeeping = 0.0
        self.next_escalation = 0.0
        self.next_list_refresh = 0.0
        self.stopping = False
        self.applied = 0
        # Without a router process beside it, the worker starts workflows itself,
        # between batches (checked once at start: a previous worker may have died mid-way).
        self.route_inline = route_inline
        self.router_notes = router_notes  # tells a router process beside us that uplink floods in
        self.routing_backlog = route_inline
        self.last_uplink = 0.0
        self.next_busy_route = 0.0

    # --- paho callbacks: record only, never raise -------------------------------
    def _on_up(self) -> None:
        # The session may hold subscriptions from before (persistent): drop the
        # partitions we no longer lease, (re)subscribe the ones we do.
        self._subscriptions(gained=set(self.leases.held), lost=set(range(topics.PARTITIONS)) - set(self.leases.held))
        self.client.subscribe([(topics.UP_LEGACY_FILTER, 1), (topics.UP_BARE_FILTER_SHARED, 1),
                               (topics.REQUEST_FILTER, 1)])
        self.published_manifests.clear()
        self.next_housekeeping = 0.0
        log.info("worker %s connected", self.worker_id)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any = None) -> None:
        if all(mqtt_conn.reason_ok(c) for c in codes):
            log.info("worker %s subscribed", self.worker_id)
        else:
            log.error("subscription refused: %s", codes)

    def _subscriptions(self, gained: set[int], lost: set[int]) -> None:
        try:
            if lost:
                self.client.unsubscribe([topics.up_filter(p) for p in sorted(lost)])
            if gained:
                self.client.subscribe([(topics.up_filter(p), 1) for p in sorted(gained)])
        except Exception as e:  # noqa: BLE001 - not connected: _on_up does it again
            log.warning("could not change subscriptions: %s", e)

    def beat(self) -> None:
        """Renew the leases, follow the fair share; subscribe to what we gained and
        drop what we lost (its owner gets that uplink from now on)."""
        now = time.monotonic()
        if self.connected:
            self.broker_down_since = None
        elif self.broker_down_since is None:
            self.broker_down_since = now
        # Cut off from the broker for longer than a lease: let a worker that reaches
        # it have our partitions (Leases.beat keeps them if nobody does).
        broker_ok = self.broker_down_since is None or now - self.broker_down_since < self.leases.ttl_ms / 1000
        try:
            change = self.leases.beat(broker_ok)
        except Exception as e:  # noqa: BLE001 - DB down: the fence refuses commits on lost leases
            log.warning("lease heartbeat failed: %s", e)
            self.next_beat = time.monotonic() + 0.5
            return
        self.next_beat = time.monotonic() + self.leases.beat_every_s
        if self.connected and (change.gained or change.lost):
            self._subscriptions(change.gained, change.lost)

    def _owns_kiosk_of(self, topic: str) -> bool:
        """Whether the kiosk a request topic names is in a partition we lease
        (True for a topic naming no kiosk: it is refused and counted here)."""
        parts = topic.split("/", 4)
        if len(parts) < 4 or not parts[3]:
            return True
        return topics.partition_of(parts[3]) in self.leases.held

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        if not _is_uplink(msg.topic):
            if not self._owns_kiosk_of(msg.topic):
                self.received -= 1  # another worker's kiosk: that worker answers
                return
            self.inbox.append((msg.topic, bytes(msg.payload), msg.properties))
            return
        try:
            part = topics.parse_uplink(msg.topic).partition
        except UrError:
            part = None  # junk topic: ingest counts it
        if part is not None and part not in self.leases.held:
            # Legacy uplink of another worker's partition, or a partition we lost
            # while it was queued: its owner applies it (or the kiosk resends).
            self.received -= 1
            self.not_mine += 1
            return
        self.unchecked.append((msg.topic, bytes(msg.payload)))
        if len(self.unchecked) >= PRECHECK_CHUNK:
            # Signatures are checked on the helper thread while this one receives on.
            chunk, self.unchecked = self.unchecked, []
            try:
                self.prechecks.append(ingest.precheck(chunk, self.key_cache))
            except Exception as e:  # noqa: BLE001 - never raise in a callback; checked at apply time
                log.warning("precheck hand-over failed: %s", e)
                self.unchecked = chunk + self.unchecked

    # --- the loop ---------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.link.connected

    def step(self, timeout: float = 0.01) -> None:
        now = time.monotonic()
        if now >= self.next_beat:
            self.beat()
        if self.link.poll(timeout):
            self._on_up()
        self._drain()
        if self.received:
            self._process()
        if self.routing_backlog:
            # Uplink that came while this batch was applied is applied and acked
            # before any routing: a routing slice (tens of ms on a busy machine) and
            # the next select's timeout used to sit between its arrival and its ack.
            self._drain()
            if self.received:
                self._process()
            now = time.monotonic()
            if not self.received and now - self.last_uplink >= QUIET_S:
                self.route_pending()
            elif now >= self.next_busy_route:
                # Busy: one slice now and then, so it never starves; as often as a
                # router process takes one (routing was ~16% of this thread at QUIET_S).
                self.next_busy_route = now + BUSY_EVERY_S
                self.route_pending(budget_s=0.0)
        if now >= self.next_housekeeping and self.connected:
            self.next_housekeeping = now + 1.0
            self._housekeeping()

    def _drain(self) -> None:
        """Read everything the socket already has, up to the batch cap (paho reads
        one packet per loop call): one commit per few hundred messages in a flood,
        and nothing read is left for a later step."""
        for _ in range(self.batch_max):
            if self.received >= self.batch_cap or not self.connected:
                break
            before = self.received
            try:
                # loop_read, not loop: no select() and housekeeping per packet
                # (link.poll does those once per step).
                if self.client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    break
            except Exception:  # noqa: BLE001 - the next poll reports it
                break
            if self.received == before:
                break

    def _process(self) -> None:
        uplink = [a for f in self.prechecks for a in self._arrived(f)] + ingest.arrive(self.unchecked)
        requests = self.inbox
        self.prechecks, self.unchecked, self.inbox, self.received = [], [], [], 0
        if uplink:
            self.last_uplink = time.monotonic()
            if self.router_notes is not None:
                self.router_notes.busy(self.last_uplink)
            fault_points.reached(fault_points.WORKER_APPLY, self.worker_id)  # failure tests only (a pause)
            started = time.monotonic()
            try:
                outcomes = self._apply(uplink)
            except Exception as e:  # noqa: BLE001 - DB down: nothing acked, kiosks resend
                log.error("ingest batch failed, nothing acked: %s", e)
                return
            self._fit_batch(len(uplink), time.monotonic() - started)
            self.applied += sum(1 for o in outcomes if o.result == "applied")
            acks = ingest.acks_for(outcomes)
            for kiosk_id in set(acks.acked) | set(acks.rejected):
                if fault_points.reached(fault_points.WORKER_ACK, kiosk_id):  # failure tests only
                    continue
                # One signed ack per kiosk per batch (not per message).
                try:
                    self.client.publish(topics.down(kiosk_id, "ack"), dl.seal(
                        self.signer.sign, "ack", kiosk_id,
                        dl.ack_fields(acks.acked.get(kiosk_id, []), acks.rejected.get(kiosk_id, []))), qos=1)
                except Exception as e:  # noqa: BLE001 - token down: unacked, the kiosk resends (inbox dedups)
                    log.error("could not sign the ack for %s, it will resend: %s", kiosk_id, e)
        for topic, payload, props in requests:
            self._answer(topic, payload, props)
        if self.refused:
            refused, self.refused = self.refused, []
            try:
                ingest.count_refusals(self.sessions, refused)
            except Exception as e:  # noqa: BLE001 - a count lost to a DB outage is logged, not fatal
                log.warning("could not count %d dropped requests: %s", len(refused), e)
        if uplink and self.route_inline:
            self.routing_backlog = True

    def _fit_batch(self, n: int, seconds: float) -> None:
        """Size the next batch so it applies within BATCH_SHARE_OF_TTL of the lease TTL.
        The heartbeat runs between batches: with 500-message batches taking seconds
        (4 workers sharing 2 cores in a storm), a worker missed its beats, the others
        counted it dead and took its partitions mid-batch (issue 18). A batch of a
        few hundred costs little more per message than one of 500."""
        if n <= 0 or seconds <= 0:
            return
        fits = int(n * self.leases.ttl_ms / 1000 * BATCH_SHARE_OF_TTL / seconds)
        self.batch_cap = max(BATCH_MIN, min(self.batch_max, fits))

    def _apply(self, uplink: list[ingest.Arrived]) -> list[ingest.Outcome]:
        """One batch under the fencing check. If a lease was taken meanwhile
        (we were paused or cut off past the TTL), nothing is committed: the
        leases are read again and only what is still ours is applied; the rest
        stays unacked for its new owner (the kiosk resends it there)."""
        for attempt in (1, 2):
            mine = [a for a in uplink if a.partition is None or a.partition in self.leases.held]
            self.not_mine += len(uplink) - len(mine)
            token = applications.DEFER_ROUTING.set(True)
            try:
                return ingest.process_batch(self.sessions, mine, key_cache=self.key_cache, fence=self.leases.fence)
            except partitions.LeaseLost as e:
                log.warning("batch of %d not committed, lease lost (fenced): %s", len(mine), e)
                ingest.count_refusals(self.sessions, [("fenced", str(e))])
                if attempt == 2:
                    return []
                self.beat()
                uplink = mine
            finally:
                applications.DEFER_ROUTING.reset(token)
        return []

    @staticmethod
    def _arrived(f: Future[list[ingest.Arrived]]) -> list[ingest.Arrived]:
        try:
            return f.result()
        except Exception as e:  # noqa: BLE001 - cannot happen short of a bug; nothing acked, kiosks resend
            log.error("precheck failed, its messages are dropped unacked: %s", e)
            return []

    def route_pending(self, budget_s: float = 0.02, slice_: int = SLICE) -> int:
        """Start workflows for what was stored, a slice at a time so the network
        loop stays responsive: ingest and acks come first, routing fills the gaps
        (and gets a small slice even under a flood, so it never starves)."""
        done = 0
        deadline = time.monotonic() + budget_s
        while True:
            try:
                with self.sessions.begin() as s:
                    n = applications.route_pending(s, slice_)
            except Exception as e:  # noqa: BLE001 - retried on the next step
                log.warning("routing failed: %s", e)
                return done
            done += n
            if n < slice_:
                self.routing_backlog = False
                return done
            if time.monotonic() >= deadline:
                self.routing_backlog = True
                return done

    def _answer(self, topic: str, payload: bytes, props: Any) -> None:
        """Answer one request, signed for the asking kiosk with its correlation
        data inside the signature; a request that cannot be answered is dropped
        and counted by reason (`ur-central stats`)."""
        try:
            try:
                kiosk_id, direction, kind = topics.parse_kiosk_topic(topic)
                if direction != "req":
                    raise UrError(f"not a request topic: {topic}")
            except UrError as e:
                self.refused.append(("topic", str(e)))
                return
            resp_topic = getattr(props, "ResponseTopic", None)
            if not resp_topic or resp_topic != topics.down(kiosk_id, kind):
                self.refused.append(("request_no_response_topic",
                                     f"{topic}: response topic {resp_topic!r} is not {topics.down(kiosk_id, kind)}"))
                return
            corr = getattr(props, "CorrelationData", None)
            if not corr or len(corr) > 64:
                self.refused.append(("request_no_correlation", f"{topic}: correlation data missing or over 64 bytes"))
                return
            with self.readers() as s:
                reply_kind, fields = downlink.answer(s, kiosk_id, kind, payload)
            self.client.publish(resp_topic, dl.seal(self.signer.sign, reply_kind, kiosk_id, fields, re=bytes(corr)),
                                qos=1, properties=mqtt_conn.publish_props(resp_topic, corr))
        except Exception as e:  # noqa: BLE001 - one bad request must not stop the worker
            log.warning("request on %s failed: %s", topic, e)

    def _housekeeping(self) -> None:
        if self.route_inline:
            self.routing_backlog = True  # leftovers of a worker that died between commit and routing
        now = time.monotonic()
        if now >= self.next_list_refresh:
            self.next_list_refresh = now + 600.0
            try:
                with self.sessions.begin() as s:
                    registry.refresh_lists_if_due(s, int(time.time()))
                    audit.checkpoint_if_due(s, int(time.time()))  # signed anchor of the audit chains, hourly
            except Exception as e:  # noqa: BLE001
                log.warning("list refresh failed: %s", e)
        if now >= self.next_escalation:
            # SLA breaches escalate without a clerk having to look (every 30 s).
            self.next_escalation = now + 30.0
            try:
                with self.sessions.begin() as s:
                    casework.escalate_due(s)
            except Exception as e:  # noqa: BLE001 - escalation must not stop ingest
                log.warning("escalation pass failed: %s", e)
        try:
            with self.readers() as s:
                manifests = downlink.manifest_fields(s)
                top, kiosks = downlink.pending_pokes(s, max(self.poke_cursor, 0))
                if self.poke_cursor < 0:
                    kiosks = set()  # at start, kiosks catch up on connect anyway
                self.poke_cursor = top
            # Only our partitions' kiosks: every worker reads the same events, and a
            # poke from each made each kiosk ask once per worker, and each request
            # reaches every worker: N workers cost N^2 (issue 18). A kiosk whose
            # partition moves meanwhile may miss one poke:
            # a hint only, it catches up by cursor anyway.
            kiosks = {k for k in kiosks if topics.partition_of(k) in self.leases.held}
        except Exception as e:  # noqa: BLE001
            log.warning("housekeeping failed: %s", e)
            return
        if now >= self.next_manifest_refresh:
            self.next_manifest_refresh = now + MANIFEST_REFRESH_S
            self.published_manifests.clear()
        try:
            for name, (version, fields) in manifests.items():
                if self.published_manifests.get(name) != version:
                    # Retained and shared by every kiosk: signed as a broadcast.
                    self.client.publish(topics.manifest(name),
                                        dl.seal(self.signer.sign, "manifest", dl.BROADCAST, fields),
                                        qos=1, retain=True)
                    self.published_manifests[name] = version
            for k in kiosks:
                self.client.publish(topics.down(k, "poke"), dl.seal(self.signer.sign, "poke", k), qos=1)
        except Exception as e:  # noqa: BLE001 - token down: tried again at the next housekeeping
            log.warning("could not sign manifests or pokes: %s", e)

    def run(self) -> None:
        def _stop(*_: Any) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        # Under systemd (docs/operations.md): READY=1 now, WATCHDOG=1 from every turn
        # of this loop, so a worker hung in a batch is restarted; nothing without $NOTIFY_SOCKET.
        notifier = Notifier()
        notifier.ready(f"worker {self.worker_id}")
        freeze_startup_objects()  # no full collection walks start-up's objects mid-batch
        while not self.stopping:
            notifier.tick()
            self.step(0.02 if self.connected else 0.1)
        notifier.stopping()
        notifier.close()
        self.stop()

    def stop(self) -> None:
        """Clean stop: hand the leases back at once (the others take them on their
        next heartbeat instead of after the TTL) and leave no partition
        subscription in our persistent session to hoard uplink meanwhile."""
        try:
            self.leases.release_all()
        except Exception as e:  # noqa: BLE001 - they expire after the TTL anyway
            log.warning("could not release the leases: %s", e)
        try:
            if self.connected:
                self.client.unsubscribe([topics.up_filter(p) for p in range(topics.PARTITIONS)]
                                        + [topics.UP_LEGACY_FILTER, topics.UP_BARE_FILTER_SHARED,
                                           topics.REQUEST_FILTER])
                self.client.loop(timeout=0.05)
            self.client.disconnect()
        except Exception:  # noqa: BLE001
            pass


def _is_uplink(topic: str) -> bool:
    """`ur/v1/kiosk/K/up/...` and also `ur/v1/kiosk/K/up` itself (the shared
    filter's `#` matches the parent level): junk there goes to ingest, which
    counts it, instead of vanishing among the requests."""
    parts = topic.split("/", 5)
    return len(parts) >= 5 and parts[4] == "up"
