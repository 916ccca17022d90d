"""Fleet simulator (issue 18): thousands of kiosk sessions against a real broker,
real central workers and a real database; `python -m bench.fleet --kiosks N`.

Why a simulator and not N `ur-kiosk sync` processes: a kiosk process costs ~60 MB
and a Python start-up, so a 2-core machine runs a few dozen, not thousands. Each
simulated session is what central cannot tell apart from a kiosk on the wire: its
own Ed25519 key registered in central's database, its own id, kiosk code, per-stream
sequences and outbox, envelopes sealed and signed by `contract/` exactly as
`kiosk.sync.outbox.enqueue` makes them (personal data sealed to central's key),
an MQTT 5 session with a fixed client id, `clean_start=False` and a session expiry,
acks and feed pages checked against central's downlink key, requests with a
response topic and correlation data. What it leaves out is the kiosk's own
storage (the outbox lives in memory, not in an encrypted SQLite file) and dataset
downloads (manifests are received and verified, bodies are not fetched).

Enrollment: the fleet is registered in bulk in central's database with
`central.kiosks.register`, the call `ur-central kiosks sign` makes after checking
a request (the one-time code and CSR steps take four CLI runs per kiosk; thousands
would take an hour, and they are tested in tests/test_kiosk_identity.py).

Scenarios, each reported on its own: `steady` (every kiosk online, producing a mix
at a per-kiosk rate: ack latency from creation to verified ack) and `storm` (every
kiosk offline with queued work, then all reconnect within a window with uniform
jitter: how long the backlog takes to drain). At the end exactly-once is checked
against central's database: every message the fleet made applied once, none twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench import harness
from bench.table import print_table
from central import db, downlink_key, kiosks, pii_key
from contract import downlink as dl
from contract import envelope, ids, pii_seal, topics, tracking
from contract.hlc import HLC
from kiosk.sync import client as kiosk_sync
from kiosk.sync import outbox as kiosk_outbox
from kiosk.sync import resend
from kiosk.sync.local_broker import LocalBroker

# Realistic mix of one hour at a kiosk, by stream (weights): citizens apply and pay,
# some complain; heartbeats carry the kiosk's telemetry (queue depth, device states:
# central's one telemetry stream) and, like a kiosk's, never pile up while offline.
MIX = (("applications", 45), ("payments", 40), ("complaints", 5), ("heartbeat", 10))
PRIORITY = {"payments": 0, "applications": 1, "complaints": 2, "heartbeat": 9}
# The kiosk's own settings (kiosk/sync/client.py, kiosk/sync/outbox.py).
SESSION_EXPIRY_S = kiosk_sync.SESSION_EXPIRY_S
ACK_TIMEOUT_S = kiosk_sync.SyncConfig.ack_timeout
WINDOW = kiosk_sync.SyncConfig.window
RESEND_CAP_S = kiosk_outbox.RESEND_BACKOFF_CAP
SIM_PREFIX = "sim"
RAW_PREFIX = "raw"  # the fleet-shaped raw baseline's kiosks: as long as SIM_PREFIX, so topics and sizes match


@dataclass
class FleetConfig:
    kiosks: int = 300
    workers: int = 1
    db: str = "auto"  # auto (PostgreSQL when it answers, else SQLite) | sqlite | postgresql
    steady_seconds: float = 10.0
    # Messages per kiosk per second while online: 3 a minute, a busy kiosk (a citizen
    # every ~40 s applying and paying) with its heartbeat.
    steady_rate: float = 0.05
    storm_queue: int = 20  # messages each kiosk queues while offline ("an hour of work")
    reconnect_window: float = 5.0  # all reconnect within this many seconds (a scaled minute)
    drain_timeout: float = 600.0  # then what is left is reported (and is lost to the check)
    flap: float = 0.1  # share of kiosks that drop off for 1-5 s during the steady phase
    lose: int = 0  # for the checker's own test: drop this many messages at the source
    seed: int = 1
    workdir: str | None = None


@dataclass
class Pending:
    stream: str
    seq: int
    mid: str
    wire: bytes
    created: float  # monotonic
    phase: str
    sent: float | None = None
    attempts: int = 0
    conn: int = 0  # the connection (Session.connects) it was first sent on
    conn_sent: float | None = None  # first send on that connection (monotonic)


@dataclass
class ScenarioReport:
    name: str
    messages: int = 0
    seconds: float = 0.0
    applied_per_s: float = 0.0
    ack_p50_ms: float = 0.0
    ack_p99_ms: float = 0.0
    drain_s: float | None = None
    broker_connections_max: int = 0
    broker_rss_mb_max: float = 0.0
    broker_heap_mb_max: float | None = None
    worker_cpu_s: list[float] = field(default_factory=list)
    cpu_s_per_1000: float = 0.0
    cpu_s_per_1000_per_worker: list[float] = field(default_factory=list)
    pg_rows_per_s: float | None = None
    resends: int = 0
    probes: int = 0  # of the resends: probes of a silent central (kiosk/sync/resend.py)
    feed_events: int = 0
    flaps: int = 0  # kiosks that dropped off and came back (steady)
    flappers: int = 0  # kiosks the seed chose to drop off (steady)
    made_ack_p99_ms: float = 0.0  # creation -> ack, the time flapping kiosks were offline included
    unacked: list[str] = field(default_factory=list)  # still not acked after drain_timeout
    broker_cpu_s_per_1000: float = 0.0
    pg_cpu_s_per_1000: float | None = None  # backends serving the fleet's database
    pg_rows_per_message: float | None = None
    simulator_cpu_s: float = 0.0  # this process: it shares the cores with central
    load_avg: float = 0.0  # 1-minute load average at the end (other work on the machine)


@dataclass
class CheckReport:
    made: int
    applied: int
    lost: list[str]  # "kiosk/stream#seq" made but not applied
    duplicated: list[str]  # inbox rows beyond one per (kiosk, stream, seq), business rows twice
    rejected: list[str]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.rejected)


@dataclass
class FleetReport:
    config: FleetConfig
    backend: str
    scenarios: list[ScenarioReport]
    check: CheckReport


@dataclass
class Begun:
    """Counters at the start of a scenario."""

    t0: float
    worker_cpu: list[float]
    rows: int
    sim_cpu: float
    pg_cpu: dict[int, float]
    broker_cpu: float


# --- one simulated kiosk --------------------------------------------------------------------

class Session:
    """One kiosk: key, id, code, sequences, outbox; online or offline."""

    def __init__(self, kiosk_id: str, code: int, key: Ed25519PrivateKey, pii_public: bytes,
                 downlink_key: VerifyKey, rng: random.Random) -> None:
        self.kiosk_id, self.code, self.key = kiosk_id, code, key
        self.pii_public, self.downlink_key, self.rng = pii_public, downlink_key, rng
        self.seqs: dict[str, int] = {}
        self.clock = HLC(0)
        self.app_serial = 0
        self.complaint_serial = 1_000_000
        self.outbox: dict[str, Pending] = {}
        self.made: list[tuple[str, int, str]] = []  # (stream, seq, message id), everything ever made
        self.lost_at_source: list[tuple[str, int, str]] = []
        self.in_flight: dict[str, resend.Flight] = {}  # mid -> when sent, resend deadline (monotonic)
        self.last_ack: float | None = None  # the last ack from central (monotonic)
        self.probe: str | None = None  # chosen to probe a silent central (kiosk/sync/resend.py)
        self.probes = 0
        self.held_max = 0  # most messages held at once (no resend until central acks)
        self.latencies: dict[str, list[float]] = {}  # phase -> created-to-ack ms
        self.send_latencies: dict[str, list[float]] = {}  # phase -> last send-to-ack ms
        # phase -> ms from the first send on the connection that got the ack: central's
        # answer time, resend timeouts included, without the time the kiosk was offline
        # (a message made during a flap waits for the kiosk, not for central)
        self.online_latencies: dict[str, list[float]] = {}
        self.acked_at: float = 0.0
        self.resends = 0
        self.connects = 0
        self.flaps = 0  # times it dropped off and came back during the steady phase
        self.feed_cursor = 0
        self.feed_events = 0
        self.correlations: dict[bytes, str] = {}
        self.dropped: dict[str, int] = {}
        self.client: aiomqtt.Client | None = None
        self.wake = asyncio.Event()
        self.connected = asyncio.Event()
        # A kiosk process reuses its ephemeral sealing key for a while (contract/pii_seal.py):
        # one per kiosk here too, so central does one key exchange per kiosk, as in the field.
        self.ephemeral: dict[bytes, Any] = {}

    # what a kiosk writes -----------------------------------------------------------
    def _payload(self, stream: str, now: datetime) -> dict[str, Any]:
        at = now.isoformat()
        if stream == "applications":
            self.app_serial += 1
            n = self.app_serial
            return {"tracking": tracking.make(self.code, n), "service_id": "non-conviction-certificate",
                    "catalogue_version": 1, "fee_total": 10000,
                    "fields": {"full_name": f"Citizen {self.kiosk_id} {n}", "national_id": f"{self.code:04d}{n:08d}"},
                    "submitted_at": at}
        if stream == "payments":
            n = self.seqs.get("payments", 0) + 1
            return {"collection_id": str(uuid.uuid4()), "event": "paid", "fee_ref": "svc:non-conviction-certificate",
                    "kind": "fee", "amount": 10000, "statutory": 9000, "service": 1000, "catalogue_version": 1,
                    "office": "", "station": self.kiosk_id, "operator": "", "terminal_id": f"T{self.code}",
                    "trace": n, "receipt_no": n, "business_date": now.date().isoformat(), "at": at}
        if stream == "complaints":
            self.complaint_serial -= 1
            return {"tracking": tracking.make(self.code, self.complaint_serial),
                    "category": self.rng.choice(("delay", "conduct", "service-quality", "other")),
                    "text": "The queue display was wrong for an hour.", "application": None, "office": None,
                    "institution": None, "name": None, "mobile": None, "filed_at": at}
        return {"at": time.time(), "version": "sim",
                "queue": {"pending": len(self.outbox), "in_flight": len(self.in_flight), "oldest_pending_age_s": None},
                "devices": {"printer": "ok", "terminal": "ok", "scanner": "ok"}, "alarms": []}

    def make(self, phase: str, stream: str | None = None) -> Pending | None:
        """Seal, sign and queue one message (None: a heartbeat is already waiting)."""
        stream = stream or self.rng.choices([s for s, _ in MIX], [w for _, w in MIX])[0]
        if stream == "heartbeat" and any(p.stream == "heartbeat" for p in self.outbox.values()):
            return None
        now = datetime.now(UTC)
        payload = self._payload(stream, now)
        seq = self.seqs[stream] = self.seqs.get(stream, 0) + 1
        ts = self.clock.now(int(time.time() * 1000))
        mid = ids.new_id()
        if stream in pii_seal.SEALED_STREAMS:
            shared, pii_seal._EPHEMERAL = pii_seal._EPHEMERAL, self.ephemeral  # this kiosk's own
            try:
                payload = pii_seal.seal_payload(payload, self.pii_public, self.kiosk_id, stream, mid)
            finally:
                pii_seal._EPHEMERAL = shared
        wire = envelope.seal(envelope.Envelope(self.kiosk_id, mid, stream, seq, ts, payload), self.key)
        p = Pending(stream, seq, mid, wire, time.monotonic(), phase)
        self.made.append((stream, seq, mid))
        self.outbox[mid] = p
        self.wake.set()
        return p

    def lose_last(self, stream: str) -> None:
        """Fault for the checker's test: the newest queued message of `stream` never leaves."""
        mid = next(m for m in reversed(list(self.outbox)) if self.outbox[m].stream == stream)
        p = self.outbox.pop(mid)
        self.lost_at_source.append((p.stream, p.seq, p.mid))

    # the connection ------------------------------------------------------------------
    async def online(self, host: str, port: int, stop: asyncio.Event) -> None:
        """Connected until `stop`: reconnects with full jitter if the broker refuses."""
        attempt = 0
        while not stop.is_set():
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = 1000
            try:
                async with aiomqtt.Client(host, port, identifier=self.kiosk_id, protocol=aiomqtt.ProtocolVersion.V5,
                                          clean_start=False, properties=props, keepalive=60, timeout=30,
                                          max_inflight_messages=0, max_queued_outgoing_messages=0) as c:
                    self.client = c
                    await c.subscribe([(topics.down(self.kiosk_id, "#"), 1), (topics.MANIFEST_FILTER, 1)])
                    self.in_flight.clear()  # everything unacked is due again after a reconnect
                    self.probe = None
                    self.connected.set()
                    self.connects += 1
                    attempt = 0
                    tasks = [asyncio.create_task(self._reader(c)), asyncio.create_task(self._sender(c))]
                    self._request_events(c)
                    stopper = asyncio.create_task(stop.wait())
                    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
                    for t in [*tasks, stopper]:
                        t.cancel()
                    for t in done:
                        if t is not stopper and t.exception() is not None:
                            raise t.exception()  # type: ignore[misc]  # checked not None on the line above
            except aiomqtt.MqttError:
                attempt += 1
                await asyncio.sleep(self.rng.uniform(0, min(5.0, 0.2 * 2 ** attempt)))
            finally:
                self.client = None
                self.connected.clear()

    async def _sender(self, c: aiomqtt.Client) -> None:
        while True:
            now = time.monotonic()
            # As the kiosk's sync loop: overdue messages go again, but while central has
            # acked nothing since they were sent only the oldest goes, as a probe.
            plan = resend.plan(self.in_flight, self.last_ack, now)
            resend.apply(self.in_flight, plan)
            self.probe = plan.probe or self.probe
            self.held_max = max(self.held_max, sum(1 for f in self.in_flight.values() if f.deadline is None))
            room = WINDOW - len(self.in_flight)
            due = sorted((p for p in self.outbox.values() if p.mid not in self.in_flight),
                         key=lambda p: (PRIORITY[p.stream], p.stream, p.seq))[:max(room, 0)]
            for p in due:
                if p.sent is not None:
                    self.resends += 1
                p.sent = time.monotonic()
                if p.conn != self.connects:
                    p.conn, p.conn_sent = self.connects, p.sent
                # As kiosk.sync.outbox.mark_sent: a first send waits one ack timeout, a
                # resend backs off with full jitter on top (capped), so a slow central
                # is not buried under resends.
                extra = 0.0 if p.attempts == 0 else self.rng.uniform(
                    0, min(RESEND_CAP_S, ACK_TIMEOUT_S * 2 ** min(p.attempts, 16)))
                p.attempts += 1
                probe = p.mid == self.probe
                if probe:
                    self.probe, self.probes = None, self.probes + 1
                self.in_flight[p.mid] = resend.Flight(p.sent, p.sent + ACK_TIMEOUT_S + extra, probe)
                # PUBACK is only the broker's receipt: no need to wait for it here.
                c._client.publish(topics.up(self.kiosk_id, p.stream), p.wire, qos=1)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)

    def _request_events(self, c: aiomqtt.Client) -> None:
        corr = os.urandom(16)
        self.correlations = {corr: "events"}
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.down(self.kiosk_id, "events")
        props.CorrelationData = corr
        c._client.publish(topics.request(self.kiosk_id, "events"), dl.encode("request", cursor=self.feed_cursor),
                          qos=1, properties=props)

    def _drop(self, code: str) -> None:
        self.dropped[code] = self.dropped.get(code, 0) + 1

    async def _reader(self, c: aiomqtt.Client) -> None:
        async for m in c.messages:
            payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
            try:
                msg = dl.open_signed(bytes(payload), self.downlink_key, self.kiosk_id)
            except dl.DownlinkError as e:
                self._drop(e.code)
                continue
            topic = str(m.topic)
            if msg.kind == "manifest":
                continue  # verified; datasets are not fetched by the simulator
            if msg.kind == "ack" and topic == topics.down(self.kiosk_id, "ack"):
                now = time.monotonic()
                for mid in msg.get("acked", []) + [r.get("m") for r in msg.get("rejected", [])]:
                    p = self.outbox.pop(mid, None)
                    if p is None:
                        continue
                    self.in_flight.pop(mid, None)
                    self.latencies.setdefault(p.phase, []).append((now - p.created) * 1000)
                    self.send_latencies.setdefault(p.phase, []).append((now - (p.sent or now)) * 1000)
                    self.online_latencies.setdefault(p.phase, []).append((now - (p.conn_sent or now)) * 1000)
                    self.acked_at = now
                for r in msg.get("rejected", []):
                    self._drop(f"rejected: {r.get('reason')}")
                self.last_ack = now  # central answers: held messages get a fresh timeout
                resend.rearm(self.in_flight, now, ACK_TIMEOUT_S)
                self.wake.set()
            elif msg.kind == "poke":
                self._request_events(c)
            elif msg.kind == "events" and msg.re in self.correlations:
                del self.correlations[msg.re]
                events = [e for e in msg.get("events", []) if isinstance(e, dict) and isinstance(e.get("id"), int)]
                new = [e["id"] for e in events if e["id"] > self.feed_cursor]
                self.feed_events += len(new)
                self.feed_cursor = max([self.feed_cursor, *new])
                if msg.get("more"):
                    self._request_events(c)
            else:
                self._drop("unsolicited")


# --- measuring the parts ------------------------------------------------------------------------

def _proc_cpu_s(pid: int) -> float:
    """CPU seconds of a process, its living children (the router beside a worker)
    and its reaped ones, from /proc (user + system)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            # fields[11..14] = utime, stime, cutime, cstime (stat fields 14..17)
            total += sum(int(x) for x in fields[11:15]) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo.extend(int(k) for k in kids)
        except (OSError, IndexError, ValueError):
            continue
    return total


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class BrokerWatch:
    """Peak connections ($SYS/broker/clients/connected) and memory (the broker's
    RSS from /proc; its heap from $SYS where Mosquitto reports it)."""

    def __init__(self, host: str, port: int, pid: int) -> None:
        self.host, self.port, self.pid = host, port, pid
        self.connections = 0
        self.heap_mb: float | None = None
        self.max_conn = 0
        self.max_rss = 0.0
        self.max_heap: float | None = None

    def reset(self) -> None:
        self.max_conn, self.max_rss, self.max_heap = self.connections, _rss_mb(self.pid), self.heap_mb

    async def run(self, stop: asyncio.Event) -> None:
        async with aiomqtt.Client(self.host, self.port, identifier=f"fleet-watch-{uuid.uuid4().hex[:6]}",
                                  protocol=aiomqtt.ProtocolVersion.V5) as c:
            await c.subscribe([("$SYS/broker/clients/connected", 0), ("$SYS/broker/heap/current", 0)])
            sampler = asyncio.create_task(self._sample(stop))
            reader = asyncio.create_task(self._read(c))
            await stop.wait()
            sampler.cancel()
            reader.cancel()

    async def _read(self, c: aiomqtt.Client) -> None:
        async for m in c.messages:
            try:
                value = float(bytes(m.payload).decode())
            except (TypeError, ValueError):
                continue
            if str(m.topic).endswith("connected"):
                self.connections = int(value)
                self.max_conn = max(self.max_conn, self.connections)
            else:
                self.heap_mb = value / 2**20
                self.max_heap = max(self.max_heap or 0.0, self.heap_mb)

    async def _sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.max_rss = max(self.max_rss, _rss_mb(self.pid))
            await asyncio.sleep(0.5)


def _pctl(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(len(v) * q + 0.5) - 1))]


# --- central and its database --------------------------------------------------------------------

class PgStats:
    """Rows inserted (pg_stat_database) and the CPU of the backends serving one
    database (/proc of each backend process: PostgreSQL runs on this machine)."""

    def __init__(self, admin_dsn: str, name: str) -> None:
        self.admin, self.name = admin_dsn, name

    def inserted(self) -> int:
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute("SELECT pg_stat_clear_snapshot()")
            row = c.execute("SELECT tup_inserted FROM pg_stat_database WHERE datname = %s", (self.name,)).fetchone()
            return int(row[0]) if row else 0

    def backend_cpu(self) -> dict[int, float]:
        with psycopg.connect(self.admin, autocommit=True) as c:
            pids = [int(r[0]) for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                                                 "AND pid <> pg_backend_pid()", (self.name,))]
        return {p: _proc_cpu_s(p) for p in pids}


@contextlib.contextmanager
def database(kind: str) -> Iterator[tuple[str, str, PgStats | None]]:
    """(backend, SQLAlchemy URL, PostgreSQL counters). PostgreSQL: a database of its
    own, so pg_stat_database counts only this fleet's rows and its backends are
    this fleet's; dropped afterwards."""
    if kind == "auto":
        kind = "postgresql" if harness.postgres_available() is None else "sqlite"
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fleet-db-") as d:
            yield "sqlite", harness.sqlite_url(Path(d) / "central.db"), None
        return

    name = f"ur_fleet_{uuid.uuid4().hex[:8]}"
    admin = harness.PG_DSN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = harness.PG_DSN.rsplit("/", 1)[0]

    try:
        yield "postgresql", f"{base}/{name}", PgStats(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def enroll_fleet(db_url: str, n: int, rng: random.Random) -> tuple[list[tuple[str, int, Ed25519PrivateKey]], bytes, str]:
    """Register n kiosks in central's database in one transaction (what `kiosks sign`
    does after its checks); returns (id, code, key) per kiosk, central's sealing key
    and downlink public key."""
    engine = db.make_engine(db_url)
    db.load_models()
    out = []
    try:
        with db.sessions(engine).begin() as s:
            pii_public = bytes.fromhex(pii_key.public_hex(s))
            downlink_public = downlink_key.signer(s).public_hex
            now = datetime.now(UTC)
            for i in range(n):
                key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
                kid = f"{SIM_PREFIX}-{i:05d}"
                k = kiosks.register(s, kid, envelope.raw_public_hex(key), "", now)
                out.append((kid, k.kiosk_code, key))
    finally:
        engine.dispose()
    return out, pii_public, downlink_public


def start_workers(db_url: str, broker_url: str, n: int, logdir: Path) -> list[subprocess.Popen[bytes]]:
    """`ur-central serve` as deployed (its own entry point), n of them; returns once
    each has subscribed and the partitions are spread over all of them."""
    procs = []
    try:
        for i in range(n):
            log = logdir / f"worker-{i}.log"
            procs.append(harness.spawn([sys.executable, "-m", "central.cli", "--db", db_url, "serve",
                                        "--broker", broker_url, "--worker-id", f"fleet-w{i}"], log=log))
        for i in range(n):
            harness.wait_until(functools.partial(_subscribed, logdir / f"worker-{i}.log"),
                               timeout=120, what=f"fleet worker {i} subscribed")
        harness.wait_until(lambda: _leases_spread(db_url, n), timeout=120, interval=0.3,
                           what=f"partitions spread over {n} workers")
    except BaseException:
        stop_workers(procs)  # a failed start must not leave workers burning the cores of the next run
        raise
    return procs


def _subscribed(log: Path) -> bool:
    return log.exists() and "subscribed" in log.read_text(errors="replace")


def _leases_spread(db_url: str, n: int) -> bool:
    """Every partition leased and each worker holding its fair share (or no lease
    table: central without partitions)."""

    try:
        rows = harness.sql_rows(db_url, "SELECT owner, count(*) FROM partition_leases "
                                        "WHERE owner IS NOT NULL GROUP BY owner")
    except Exception:  # noqa: BLE001 - no lease table on this central
        return True
    held = {o: int(c) for o, c in rows}
    return sum(held.values()) == topics.PARTITIONS and len(held) == n and min(held.values()) >= topics.PARTITIONS // n


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def check_exactly_once(db_url: str, sessions: list[Session]) -> CheckReport:
    """Against central's database: each message the fleet made is in the inbox once,
    applied, at its (kiosk, stream, seq); business rows are one per message."""

    rows = harness.sql_rows(db_url, f"SELECT kiosk_id, stream, seq, message_id, outcome FROM inbox "
                                    f"WHERE kiosk_id LIKE '{SIM_PREFIX}-%'")
    by_seq: dict[tuple[str, str, int], list[tuple[str, str]]] = {}
    for k, s, q, m, o in rows:
        by_seq.setdefault((k, s, int(q)), []).append((str(m), str(o)))
    lost, dup, rejected = [], [], []
    made = applied = 0
    counts: dict[str, int] = {}
    for sess in sessions:
        for stream, seq, mid in sess.made:
            made += 1
            counts[stream] = counts.get(stream, 0) + 1
            got = by_seq.get((sess.kiosk_id, stream, seq), [])
            where = f"{sess.kiosk_id}/{stream}#{seq}"
            if len(got) > 1:
                dup.append(f"{where}: {len(got)} inbox rows")
            mine = [o for m, o in got if m == mid]
            if not mine or mine[0] == "held":
                lost.append(where)
            elif mine[0] == "rejected":
                rejected.append(where)
            else:
                applied += 1
    business = {
        "applications": f"SELECT count(*), count(DISTINCT tracking) FROM applications WHERE kiosk_id LIKE '{SIM_PREFIX}-%'",
        "payments": f"SELECT count(*), count(DISTINCT collection_id) FROM ledger_collections "
                    f"WHERE station LIKE '{SIM_PREFIX}-%'",
        "complaints": f"SELECT count(*), count(DISTINCT tracking) FROM complaints WHERE kiosk_id LIKE '{SIM_PREFIX}-%'",
    }
    for stream, sql in business.items():
        total, distinct = (int(x) for x in harness.sql_rows(db_url, sql)[0])
        if total != distinct:
            dup.append(f"{stream}: {total - distinct} business rows twice")
        expected = counts.get(stream, 0) - sum(1 for w in lost + rejected if f"/{stream}#" in w)
        if distinct > expected:
            dup.append(f"{stream}: {distinct} rows for {expected} messages applied")
    return CheckReport(made, applied, lost, dup, rejected)


# --- the run -----------------------------------------------------------------------------------------

class Fleet:
    def __init__(self, cfg: FleetConfig, sessions: list[Session], broker: LocalBroker,
                 workers: list[subprocess.Popen[bytes]], pg: PgStats | None) -> None:
        self.cfg, self.sessions, self.broker, self.workers = cfg, sessions, broker, workers
        self.pg = pg
        self.stop_online = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        assert broker.proc is not None
        self.watch = BrokerWatch("127.0.0.1", broker.port, broker.proc.pid)

    def _start(self, s: Session, delay: float = 0.0, flap_at: float | None = None,
               flap_for: float = 0.0) -> asyncio.Event:
        """Bring `s` online after `delay`; with `flap_at`, it drops off `flap_at` s
        later (its connection closed, as on a network cut) and is back `flap_for` s after.
        The returned event is set once a flapping kiosk is on its way back (at once
        for one that does not flap), so that a phase can wait for its flaps instead of
        ending before they happen, whatever the machine's speed."""
        stop = self.stop_online  # this phase's: a later phase has its own
        back = asyncio.Event()
        if flap_at is None:
            back.set()

        async def go() -> None:
            if delay:
                await asyncio.sleep(delay)
            if flap_at is not None:
                cut = asyncio.Event()

                async def trip() -> None:
                    await asyncio.sleep(flap_at)
                    cut.set()

                async def follow() -> None:
                    await stop.wait()
                    cut.set()

                helpers = [asyncio.create_task(trip()), asyncio.create_task(follow())]
                await s.online("127.0.0.1", self.broker.port, cut)
                for h in helpers:
                    h.cancel()
                if stop.is_set():
                    return
                await asyncio.sleep(flap_for)
                if stop.is_set():
                    return
                s.flaps += 1  # dropped off and is coming back
                back.set()
            await s.online("127.0.0.1", self.broker.port, stop)
        self.tasks.append(asyncio.create_task(go()))
        return back

    async def _offline(self) -> None:
        self.stop_online.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        self.stop_online = asyncio.Event()

    def _begin(self) -> Begun:
        self.watch.reset()
        return Begun(time.monotonic(), [_proc_cpu_s(p.pid) for p in self.workers],
                     self.pg.inserted() if self.pg else 0, time.process_time(),
                     self.pg.backend_cpu() if self.pg else {}, _proc_cpu_s(self.watch.pid))

    def _end(self, rep: ScenarioReport, begun: Begun, msgs: int, phase: str) -> None:
        t0, cpu0, rows0, sim0 = begun.t0, begun.worker_cpu, begun.rows, begun.sim_cpu
        rep.seconds = time.monotonic() - t0
        per_k = max(msgs, 1) / 1000
        rep.broker_cpu_s_per_1000 = (_proc_cpu_s(self.watch.pid) - begun.broker_cpu) / per_k
        if self.pg is not None:
            now_cpu = self.pg.backend_cpu()
            rep.pg_cpu_s_per_1000 = sum(c - begun.pg_cpu.get(p, 0.0) for p, c in now_cpu.items()) / per_k
        rep.simulator_cpu_s = time.process_time() - sim0
        rep.load_avg = os.getloadavg()[0]
        rep.messages = msgs
        rep.worker_cpu_s = [_proc_cpu_s(p.pid) - c for p, c in zip(self.workers, cpu0, strict=True)]
        rep.cpu_s_per_1000 = sum(rep.worker_cpu_s) / per_k
        rep.cpu_s_per_1000_per_worker = [c / per_k for c in rep.worker_cpu_s]
        lat = [x for s in self.sessions for x in s.online_latencies.get(phase, [])]
        rep.ack_p50_ms, rep.ack_p99_ms = _pctl(lat, 0.5), _pctl(lat, 0.99)
        made_lat = [x for s in self.sessions for x in s.latencies.get(phase, [])]
        rep.made_ack_p99_ms = _pctl(made_lat, 0.99)
        rep.broker_connections_max = self.watch.max_conn
        rep.broker_rss_mb_max = self.watch.max_rss
        rep.broker_heap_mb_max = self.watch.max_heap
        if self.pg is not None:
            time.sleep(1.1)  # PostgreSQL flushes its counters at most once a second
            rows = self.pg.inserted() - rows0
            rep.pg_rows_per_s = rows / max(rep.seconds, 1e-3)
            rep.pg_rows_per_message = rows / max(msgs, 1)

    def _unacked(self) -> list[str]:
        return [f"{s.kiosk_id}/{p.stream}#{p.seq}" for s in self.sessions for p in s.outbox.values()]

    async def _all_acked(self, timeout: float, what: str) -> bool:
        start = time.monotonic()
        deadline, next_note = start + timeout, start + 10.0
        while any(s.outbox for s in self.sessions):
            now = time.monotonic()
            if now > deadline:
                return False
            if now >= next_note:  # long runs say how far they are
                next_note = now + 10.0
                left = sum(len(s.outbox) for s in self.sessions)
                online = sum(s.connected.is_set() for s in self.sessions)
                print(f"  {what}: {left:,} messages not acked yet, {online} kiosks online, "
                      f"{now - start:.0f} s", file=sys.stderr, flush=True)
            await asyncio.sleep(0.05)
        return True

    async def steady(self) -> ScenarioReport:
        """Everyone online, producing the mix at steady_rate each (Poisson arrivals)."""
        rep = ScenarioReport("steady")
        flapped: list[asyncio.Event] = []
        for s in self.sessions:
            flap = s.rng.random() < self.cfg.flap
            rep.flappers += flap
            flapped.append(self._start(s, s.rng.uniform(0, 1.0),
                                       flap_at=s.rng.uniform(1.0, 1.0 + self.cfg.steady_seconds) if flap else None,
                                       flap_for=s.rng.uniform(1.0, 5.0)))
        await asyncio.gather(*(s.connected.wait() for s in self.sessions))
        resends0 = sum(s.resends for s in self.sessions)
        probes0 = sum(s.probes for s in self.sessions)
        begun = self._begin()
        made = 0
        t_end = time.monotonic() + self.cfg.steady_seconds
        if self.cfg.steady_rate > 0:
            rate = self.cfg.steady_rate * len(self.sessions)
            rng = self.sessions[0].rng
            nxt = time.monotonic()
            while nxt < t_end:
                nxt += rng.expovariate(rate)
                await asyncio.sleep(max(0.0, nxt - time.monotonic()))
                if rng.choice(self.sessions).make("steady") is not None:
                    made += 1
        # the phase lasts until every kiosk chosen to flap has dropped off and come
        # back (at most 1 + steady_seconds + 5 s): on a slow or a fast machine alike
        await asyncio.gather(*(e.wait() for e in flapped))
        if not await self._all_acked(self.cfg.drain_timeout, "steady"):
            rep.unacked = self._unacked()  # reported, and the check calls them lost
        rep.applied_per_s = made / max(time.monotonic() - begun.t0, 1e-3)
        rep.resends = sum(s.resends for s in self.sessions) - resends0
        rep.probes = sum(s.probes for s in self.sessions) - probes0
        rep.flaps = sum(s.flaps for s in self.sessions)
        self._end(rep, begun, made, "steady")
        return rep

    async def storm(self) -> ScenarioReport:
        """All offline with queued work, then all back within reconnect_window."""
        rep = ScenarioReport("storm")
        await self._offline()
        made = 0
        for s in self.sessions:
            for _ in range(self.cfg.storm_queue):
                made += s.make("storm") is not None
        for s in self.sessions[:self.cfg.lose]:
            s.make("storm", "applications")
            s.lose_last("applications")  # made, never sent: the check must call it lost
        resends0 = sum(s.resends for s in self.sessions)
        probes0 = sum(s.probes for s in self.sessions)
        begun = self._begin()
        for s in self.sessions:
            self._start(s, s.rng.uniform(0, self.cfg.reconnect_window))
        if await self._all_acked(self.cfg.drain_timeout, "storm"):
            rep.drain_s = max(s.acked_at for s in self.sessions) - begun.t0
        else:
            rep.unacked = self._unacked()  # reported, and the check calls them lost
            rep.drain_s = time.monotonic() - begun.t0
        acked = made - len(rep.unacked)  # rates and costs per message acked
        rep.applied_per_s = acked / max(rep.drain_s, 1e-3)
        rep.resends = sum(s.resends for s in self.sessions) - resends0
        rep.probes = sum(s.probes for s in self.sessions) - probes0
        for s in self.sessions:
            if s.client is not None:
                s._request_events(s.client)  # catch up on the status feed
        self._end(rep, begun, acked, "storm")
        rep.ack_p50_ms = _pctl([x for s in self.sessions for x in s.send_latencies.get("storm", [])], 0.5)
        rep.ack_p99_ms = _pctl([x for s in self.sessions for x in s.send_latencies.get("storm", [])], 0.99)
        rep.feed_events = sum(s.feed_events for s in self.sessions)
        return rep

    async def run(self, scenarios: tuple[str, ...]) -> list[ScenarioReport]:
        stop_watch = asyncio.Event()
        watch = asyncio.create_task(self.watch.run(stop_watch))
        try:
            out = []
            if "steady" in scenarios:
                out.append(await self.steady())
            if "storm" in scenarios:
                out.append(await self.storm())
            await asyncio.sleep(0.5)  # feed answers to the catch-up requests
            return out
        finally:
            await self._offline()
            stop_watch.set()
            await asyncio.gather(watch, return_exceptions=True)


def run(cfg: FleetConfig, scenarios: tuple[str, ...] = ("steady", "storm"), broker: LocalBroker | None = None,
        sessions_out: list[Session] | None = None) -> FleetReport:
    """Start what is needed (broker unless given, database, workers), run the
    scenarios, check exactly-once, stop everything; returns the figures (and the
    sessions in `sessions_out`, for tests)."""
    _raise_nofile(cfg.kiosks)
    rng = random.Random(cfg.seed)
    with contextlib.ExitStack() as stack:
        root = Path(cfg.workdir) if cfg.workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-")))
        root.mkdir(parents=True, exist_ok=True)
        own_broker = broker is None
        if broker is None:
            # $SYS every second: connections and heap are read from the broker itself.
            broker = LocalBroker(root / "broker", extra="sys_interval 1").start()
        try:
            backend, url, pg = stack.enter_context(database(cfg.db))
            code, out = harness.run_cli_in_process(["ur-central", "--db", url, "init"])
            if code != 0:
                raise RuntimeError(f"ur-central init failed: {out}")
            fleet, pii_public, downlink_public = enroll_fleet(url, cfg.kiosks, rng)
            vk = dl.verify_key_from_hex(downlink_public)
            sessions = [Session(kid, code_, key, pii_public, vk, random.Random(rng.random()))
                        for kid, code_, key in fleet]
            if sessions_out is not None:
                sessions_out.extend(sessions)
            workers = start_workers(url, broker.url, cfg.workers, root)
            try:
                reports = asyncio.run(Fleet(cfg, sessions, broker, workers, pg).run(scenarios))
            finally:
                stop_workers(workers)
            check = check_exactly_once(url, sessions)
        finally:
            if own_broker:
                broker.stop()
    return FleetReport(cfg, backend, reports, check)


def _raise_nofile(kiosks: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, kiosks * 2 + 1024))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the broker inherits it too


# --- the fleet-shaped raw baseline ---------------------------------------------------------------

def ack_only_main() -> None:
    """A consumer that only acks (the fleet-shaped raw baseline): takes every uplink
    message, reads its kiosk and message id (no signature check, no database) and
    acks per kiosk per turn of its loop, signed in process with a throwaway key so
    the kiosks accept the acks as they accept central's (central signs in the token).
    Run as its own process, as central's workers are: `run_raw_storm` starts it."""
    import paho.mqtt.client as mqtt

    port = int(os.environ["UR_FLEET_ACK_PORT"])
    key = SigningKey(bytes.fromhex(os.environ.pop("UR_FLEET_ACK_KEY")))
    pending: dict[str, list[str]] = {}
    stop = [False]

    def on_message(_c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        try:
            env, _body, _sig = envelope.open_unverified(bytes(m.payload))
        except Exception:  # noqa: BLE001 - not an envelope: nothing to ack
            return
        pending.setdefault(env.kiosk_id, []).append(env.message_id)

    def on_subscribe(*_a: Any) -> None:
        print("subscribed", flush=True)

    def on_term(*_a: Any) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-ack-only-{uuid.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(0)  # no limit: acks never wait behind paho's window
    c.on_message, c.on_subscribe = on_message, on_subscribe
    c.connect("127.0.0.1", port)
    c.subscribe(f"{topics.ROOT}/kiosk/+/up/#", qos=1)
    while not stop[0]:
        c.loop(0.01)
        batch, pending = pending, {}
        for kid, mids in batch.items():
            c.publish(topics.down(kid, "ack"), dl.seal(lambda b: key.sign(b).signature, "ack", kid,
                                                       dl.ack_fields(mids, [])), qos=1)
    c.disconnect()


def run_raw_storm(cfg: FleetConfig, broker: LocalBroker, root: Path) -> ScenarioReport:
    """The storm of `cfg` (as many kiosks, messages of the same streams and sizes
    sealed and signed the same way, the same reconnect window and resend rule)
    through `broker` to `ack_only_main` instead of central: what the broker and this
    simulator can drain at most, so the gap to central's drain is central's own."""
    _raise_nofile(cfg.kiosks)
    rng = random.Random(cfg.seed)
    signing = SigningKey(rng.randbytes(32))
    pii_public = X25519PrivateKey.from_private_bytes(rng.randbytes(32)).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    sessions = [Session(f"{RAW_PREFIX}-{i:05d}", 1001 + i, Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)),
                        pii_public, signing.verify_key, random.Random(rng.random())) for i in range(cfg.kiosks)]
    root.mkdir(parents=True, exist_ok=True)
    log = root / "ack-only.log"
    proc = harness.spawn([sys.executable, "-c", "from bench.fleet import ack_only_main; ack_only_main()"],
                         env={"UR_FLEET_ACK_PORT": str(broker.port), "UR_FLEET_ACK_KEY": bytes(signing).hex()},
                         log=log)
    try:
        harness.wait_until(functools.partial(_subscribed, log), timeout=120, what="ack-only consumer subscribed")
        return asyncio.run(Fleet(cfg, sessions, broker, [proc], None).run(("storm",)))[0]
    finally:
        harness.stop(proc)


def print_report(rep: FleetReport, raw_rate: float | None = None) -> None:
    rows: list[tuple[object, ...]] = []
    for s in rep.scenarios:
        tag = f"[{rep.backend}, {rep.config.workers} worker{'s' if rep.config.workers > 1 else ''}, {s.name}]"
        rows.append((f"{tag} messages applied/s", s.applied_per_s, "msg/s",
                     f">= {raw_rate / 2:,.0f}" if raw_rate and s.name == "storm" else "",
                     f"{s.messages:,} msgs" + (f", {100 * s.applied_per_s / raw_rate:.0f}% of raw" if raw_rate else "")))
        if s.unacked:
            rows.append((f"{tag} NOT DRAINED: messages never acked", len(s.unacked), "msgs", "0",
                         f"after {rep.config.drain_timeout:g} s: " + ", ".join(s.unacked[:4])))
        if s.drain_s is not None:
            rows.append((f"{tag} backlog drain", s.drain_s, "s", "", f"reconnect window {rep.config.reconnect_window} s"))
        rows.append((f"{tag} ack p50 / p99", f"{s.ack_p50_ms:.0f} / {s.ack_p99_ms:.0f}", "ms",
                     "p99 < 250" if s.name == "steady" else "",
                     f"first send on the acking connection -> verified ack; from creation (offline "
                     f"time of flapping kiosks incl.) p99 {s.made_ack_p99_ms:.0f} ms"
                     if s.name == "steady" else "last send -> verified ack"))
        rows.append((f"{tag} broker connections (max) / RSS", f"{s.broker_connections_max} / {s.broker_rss_mb_max:.1f}",
                     "- / MB", "", f"heap {s.broker_heap_mb_max:.1f} MB" if s.broker_heap_mb_max else ""))
        rows.append((f"{tag} central CPU per 1,000 msgs", s.cpu_s_per_1000, "CPU-s",
                     "", "per worker: " + ", ".join(f"{c:.2f}" for c in s.cpu_s_per_1000_per_worker)))
        rows.append((f"{tag} broker CPU per 1,000 msgs", s.broker_cpu_s_per_1000, "CPU-s", "", ""))
        if s.pg_rows_per_s is not None:
            rows.append((f"{tag} PostgreSQL rows inserted/s", s.pg_rows_per_s, "rows/s", "",
                         f"{s.pg_rows_per_message:.1f} rows per message"))
            rows.append((f"{tag} PostgreSQL CPU per 1,000 msgs", s.pg_cpu_s_per_1000, "CPU-s", "", "its backends"))
        rows.append((f"{tag} resends (probes) / feed events fetched / flaps",
                     f"{s.resends} ({s.probes}) / {s.feed_events} / {s.flaps}", "", "",
                     "probes: resends to a central silent since the send; flaps: kiosks that dropped off and came back"))
        rows.append((f"{tag} simulator CPU / machine load", f"{s.simulator_cpu_s:.1f} / {s.load_avg:.1f}",
                     "CPU-s / 1-min load", "", "same 2 cores as central"))
    c = rep.check
    rows.append(("exactly-once: made / applied / lost / duplicated / rejected",
                 f"{c.made} / {c.applied} / {len(c.lost)} / {len(c.duplicated)} / {len(c.rejected)}", "",
                 "0 lost, 0 dup", "; ".join((c.lost + c.duplicated + c.rejected)[:3])))
    print_table(f"Fleet: {rep.config.kiosks} kiosks, {rep.config.workers} worker(s), {rep.backend}", rows)


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the workers, the broker and the database
    this run made are stopped and dropped."""
    def _exit(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _exit)


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    ap = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n\n")[0])
    d = FleetConfig()
    ap.add_argument("--kiosks", type=int, default=d.kiosks)
    ap.add_argument("--workers", type=int, default=d.workers)
    ap.add_argument("--db", choices=("auto", "sqlite", "postgresql"), default=d.db)
    ap.add_argument("--steady-seconds", type=float, default=d.steady_seconds)
    ap.add_argument("--steady-rate", type=float, default=d.steady_rate, help="messages per kiosk per second")
    ap.add_argument("--storm-queue", type=int, default=d.storm_queue, help="messages each kiosk queues offline")
    ap.add_argument("--reconnect-window", type=float, default=d.reconnect_window,
                    help="seconds within which every kiosk reconnects (uniform jitter)")
    ap.add_argument("--drain-timeout", type=float, default=d.drain_timeout,
                    help="seconds to wait for the last ack of a scenario before reporting what is left")
    ap.add_argument("--flap", type=float, default=d.flap,
                    help="share of kiosks that drop off for 1-5 s during the steady phase")
    ap.add_argument("--scenarios", default="steady,storm")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("UR_TEST_SEED", d.seed)))
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    a = ap.parse_args(argv)
    if a.kiosks < 1 or a.workers < 1 or a.storm_queue < 1:
        ap.error("--kiosks, --workers and --storm-queue must be at least 1")
    if a.kiosks > 8999:
        ap.error("--kiosks: central has 8,999 kiosk codes (1001..9999)")
    cfg = FleetConfig(kiosks=a.kiosks, workers=a.workers, db=a.db, steady_seconds=a.steady_seconds,
                      steady_rate=a.steady_rate, storm_queue=a.storm_queue, reconnect_window=a.reconnect_window,
                      drain_timeout=a.drain_timeout, flap=a.flap, seed=a.seed)
    print(f"seed {cfg.seed}", flush=True)
    rep = run(cfg, tuple(x.strip() for x in a.scenarios.split(",") if x.strip()))
    if a.json:
        print(json.dumps(asdict(rep), indent=1, default=str))
    else:
        print_report(rep)
    return 0 if rep.check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
