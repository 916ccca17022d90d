"""How both sides open an MQTT 5 connection (paho-mqtt 2.x), with the known traps
handled in one place: the v2 callback API, explicit clean_start and
session expiry, TLS with a client certificate when the URL is `mqtts://`.

The caller drives `client.loop()` itself (no paho thread, no paho auto
reconnect), so callbacks run in the caller's thread, reconnects follow our
full-jitter backoff, and an exception cannot kill a hidden loop thread.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, SupportsInt
from urllib.parse import parse_qs, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.errors import UrError

log = logging.getLogger("ur.mqtt")


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


def parse_url(url: str) -> BrokerAddress:
    """`mqtt://host:1883` or `mqtts://host:8883?ca=..&cert=..&key=..`."""
    u = urlparse(url)
    if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        raise UrError(f"broker URL {url!r} must look like mqtt://HOST:PORT or mqtts://HOST:PORT")
    try:
        port = u.port or (8883 if u.scheme == "mqtts" else 1883)
    except ValueError:
        raise UrError(f"broker URL {url!r} has a bad port") from None
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    return BrokerAddress(u.hostname, port, u.scheme == "mqtts", q.get("ca"), q.get("cert"), q.get("key"))


def make_client(client_id: str, addr: BrokerAddress, session_expiry_s: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    # No paho-side limit: the kiosk's own window bounds what is in flight, and with a
    # limit paho walks every in-flight message on each PUBACK (`_update_inflight`),
    # ~10% of the kiosk's CPU with a window of 1,000.
    c.max_inflight_messages_set(0)
    c.max_queued_messages_set(0)
    if addr.tls:
        c.tls_set(ca_certs=addr.ca, certfile=addr.cert, keyfile=addr.key,
                  cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    # kept on the client for connect(): paho has no field for it before CONNECT
    c._ur_session_expiry = session_expiry_s  # type: ignore[attr-defined]  # our field on paho's Client
    return c


def connect(c: mqtt.Client, addr: BrokerAddress, clean_start: bool, keepalive: int = 30) -> None:
    """Blocking TCP connect + CONNECT send; CONNACK arrives through loop()."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = int(c._ur_session_expiry)  # type: ignore[attr-defined]  # set by make_client
    props.ReceiveMaximum = 1000
    c.connect(addr.host, addr.port, keepalive=keepalive, clean_start=clean_start, properties=props)


def publish_props(response_topic: str | None = None, correlation: bytes | None = None) -> Properties | None:
    if response_topic is None:
        return None
    p = Properties(PacketTypes.PUBLISH)
    p.ResponseTopic = response_topic
    if correlation is not None:
        p.CorrelationData = correlation
    return p


def reason_ok(rc: object) -> bool:
    """PUBACK/SUBACK success is 0 (or 16 'no matching subscribers'); >= 128 is failure
    (e.g. 135 not authorised, which paho still reports as published)."""
    value = getattr(rc, "value", rc)
    if not isinstance(value, str | bytes | SupportsInt):
        return False
    try:
        return int(value) < 128
    except (TypeError, ValueError):
        return False


def revoked_alert(text: str) -> bool:
    """Whether an OpenSSL error is the peer's `certificate_revoked` alert (TLS alert 44)."""
    return "CERTIFICATE_REVOKED" in text.upper().replace(" ", "_")


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """Full-jitter backoff (AWS architecture blog): uniform in [0, min(cap, base*2^n)],
    so many kiosks coming back at once spread out instead of storming the broker."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 16))))


class Link:
    """One MQTT connection driven from the owner's loop: connects and reconnects
    with full jitter (and a random first delay), calls paho's `loop()`, and never
    lets an exception escape. `poll()` returns True right after a (re)connect, so
    the owner can resubscribe and resend."""

    def __init__(self, client: mqtt.Client, addr: BrokerAddress, clean_start: bool,
                 backoff_cap: float = 60.0, first_delay: float = 0.0) -> None:
        self.client, self.addr, self.clean_start = client, addr, clean_start
        self.backoff_cap = backoff_cap
        self.connected = False
        self._just_connected = False
        self.failures = 0
        self.next_connect = time.monotonic() + random.uniform(0, first_delay)
        # Set once the broker refused our certificate as revoked (TLS alert 44):
        # the kiosk is out of service, not offline. Kept until the process ends.
        self.certificate_revoked = False
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        if addr.tls:  # only TLS brings a revocation alert; paho formats every log line for on_log
            client.on_log = self._on_log

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection: %s", rc)
            return
        self.connected = self._just_connected = True
        self.failures = 0

    def _on_disconnect(self, *_a: Any) -> None:
        self.connected = False

    def _on_log(self, _c: mqtt.Client, _u: Any, level: int, text: str) -> None:
        # With TLS 1.3 the client finishes its handshake before the broker checks the
        # certificate, so the broker's "certificate revoked" alert arrives on the first
        # read, which paho reports only here (as a lost connection otherwise).
        if level == mqtt.MQTT_LOG_ERR:
            self._note_refusal(text)

    def _note_refusal(self, text: str) -> None:
        if revoked_alert(text):
            if not self.certificate_revoked:
                log.error("the broker refused this client's certificate as revoked: %s", text)
            self.certificate_revoked = True

    def _schedule_retry(self, now: float) -> None:
        self.failures += 1
        self.next_connect = now + full_jitter(self.failures, 0.5, self.backoff_cap)

    def poll(self, timeout: float) -> bool:
        now = time.monotonic()
        if not self.connected and now >= self.next_connect:
            try:
                connect(self.client, self.addr, self.clean_start)
                self.next_connect = now + 5.0  # the CONNACK should come well before this
            except (OSError, mqtt.WebsocketConnectionError) as e:
                self._note_refusal(str(e))  # TLS 1.2: the alert ends the handshake itself
                self._schedule_retry(now)
                log.info("broker unreachable (%s); retry in %.1fs", e, self.next_connect - now)
        try:
            rc = self.client.loop(timeout=timeout)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                self.connected = False
        except Exception as e:  # noqa: BLE001 - the network loop must survive anything
            log.warning("network loop error: %s", e)
            self.connected = False
            rc = mqtt.MQTT_ERR_UNKNOWN
        if not self.connected and (self.next_connect < now or (
                rc != mqtt.MQTT_ERR_SUCCESS and self.next_connect - now > self.backoff_cap)):
            # Also when an attempt died before its CONNACK (e.g. a broker still shutting
            # down took the TCP connection): a short cap (workers) must not wait 5 s.
            self._schedule_retry(now)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            # No socket (waiting out the backoff or the first delay): paho returns at
            # once then, and the owner's loop would spin a core until the next try.
            time.sleep(max(0.0, min(timeout, self.next_connect - time.monotonic())))
        up, self._just_connected = self._just_connected, False
        return up and self.connected
