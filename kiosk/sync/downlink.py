"""What the kiosk pulls from central: status events by cursor, and datasets
(catalogue, trust list, status list ...) announced by retained manifests.

Requests go out as MQTT 5 request/response (response topic + correlation
data); answers are idempotent, so a lost or duplicated answer only costs a
repeat. Everything is signed by central's downlink key (contract/downlink.py)
and dropped, counted by reason, when it does not verify, is meant for another
kiosk, or answers no request of ours. A dataset is switched only to the
version and sha256 a signed manifest announced, and only after the body's
sha256 checks out (kiosk.datasets.install), whether it came whole or as a
delta. The event cursor moves only by verified pages.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session

from contract import catalogue as cat
from contract import downlink as dl
from contract import mqtt_conn, topics
from contract.errors import UrError
from kiosk import datasets, identity
from kiosk.store import KioskStore
from kiosk.sync import cursor

log = logging.getLogger("ur.kiosk.downlink")
EVENTS_CURSOR = "events_cursor"
LAST_SYNC = "last_successful_sync"
REQUEST_TIMEOUT = 5.0  # a request or answer lost (e.g. no worker yet) is asked again

# kind -> handler(session, [(event_id, payload), ...]) -> problems with skipped events.
# Handlers take a run of same-kind events at once: a catch-up after a day offline
# is thousands of events, and one statement per event made it the slowest part of sync.
EventHandler = Callable[[Session, list[tuple[int, dict[str, Any]]]], list[str]]
# Sync sits below the business capabilities and imports none of them: a capability that
# must act on a kind registers its handler (kiosk.context.wire_sync_handlers does it for
# applications' "status" and the end of day's "ledger_check").
EVENT_HANDLERS: dict[str, EventHandler] = {
    "service": identity.apply_service_events,  # central revoked this kiosk: out of service
}
# Kinds central sends: a feed page is applied only when each has its handler, because the
# cursor moves past what it applies; a kind without one would be skipped for ever.
FEED_KINDS = ("status", "ledger_check", "service")


def register_event_handler(kind: str, handler: EventHandler) -> None:
    """Give a feed event kind its handler; registering the same one again is harmless."""
    known = EVENT_HANDLERS.get(kind)
    if known is not None and known is not handler:
        raise ValueError(f"feed event kind {kind!r} already has a handler ({known.__qualname__})")
    EVENT_HANDLERS[kind] = handler
# dataset name -> apply(old_body, delta_bytes) -> new_body
DELTA_APPLIERS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "catalogue": cat.apply_delta,
}


# Downlink messages the kiosk refused, counted per reason in sync_state under
# this prefix (shown by `ur-kiosk queue`), and central's clock as last seen.
DROPPED_PREFIX = "downlink_dropped:"
CLOCK_SKEW = "clock_skew_ms"
MAX_CORRELATIONS = 256  # requests of ours whose answers are still welcome
# Which message kinds may arrive on which downlink topic.
TOPIC_KINDS: dict[str, tuple[str, ...]] = {
    "ack": ("ack",), "poke": ("poke",), "events": ("events", "error"), "dataset": ("dataset", "error"),
}


def note_success(session: Session) -> None:
    cursor.set_float(session, LAST_SYNC, time.time())


def dropped_counts(session: Session) -> dict[str, int]:
    rows = session.scalars(select(cursor.SyncState).where(cursor.SyncState.key.startswith(DROPPED_PREFIX)))
    return {r.key[len(DROPPED_PREFIX):]: r.int_value for r in rows}


def clock_skew(session: Session) -> tuple[int, float] | None:
    """(this kiosk's clock minus central's, in ms; when it was seen), or None."""
    row = session.get(cursor.SyncState, CLOCK_SKEW)
    return (row.int_value, row.float_value) if row else None


class Verified(NamedTuple):
    msg: dl.Message
    request: str | None  # key of the request of ours it answers ("events", "dataset:NAME")


class Downlink:
    """Verifies, counts and applies what central sends. Nothing is acted on
    unless central's downlink key signed it for this kiosk; answers only when
    they answer a request of ours (correlation data inside the signature); a
    dataset only at the version and sha256 a signed manifest announced."""

    def __init__(self, store: KioskStore, kiosk_id: str, downlink_public_key: str) -> None:
        if not downlink_public_key:
            raise UrError("this kiosk has no pinned downlink key (enroll it again with a current bundle)")
        missing = [k for k in FEED_KINDS if k not in EVENT_HANDLERS]
        if missing:
            raise UrError(f"no handler for feed events {', '.join(missing)}: call "
                          "kiosk.context.wire_sync_handlers() before syncing")
        self.store, self.kiosk_id = store, kiosk_id
        self.key = dl.verify_key_from_hex(downlink_public_key)
        self.wanted: dict[str, tuple[int, str]] = {}  # name -> (version, sha256) announced, not installed
        self.announced: dict[str, tuple[int, str]] = {}  # name -> newest signed manifest seen
        self.outstanding: dict[str, float] = {}  # request key -> sent at (monotonic)
        self.correlations: OrderedDict[bytes, str] = OrderedDict()  # ours, unanswered -> request key
        self.dropped: Counter[str] = Counter()  # not yet written to the store
        self.skew_ms: int | None = None  # not yet written to the store
        self.events_answered = False
        self.more_events = False

    def reset_outstanding(self) -> None:
        self.outstanding.clear()
        self.events_answered = False

    def caught_up(self) -> bool:
        return self.events_answered and not self.wanted and not self.outstanding

    # --- verification ---------------------------------------------------------------
    def drop(self, code: str, detail: str) -> None:
        if code not in self.dropped:  # once per reason until the counts are written
            log.warning("downlink message dropped (%s): %s", code, detail)
        self.dropped[code] += 1

    def accept(self, topic: str, payload: bytes, correlation: bytes | None = None) -> Verified | None:
        """The verified message with the key of the request it answers (None for
        acks, pokes, manifests), or None: dropped and counted. `correlation` is
        the MQTT 5 property, if any: when present it must match the signed one."""
        try:
            msg = dl.open_signed(payload, self.key, self.kiosk_id)
        except dl.DownlinkError as e:
            self.drop(e.code, f"{topic}: {e}")
            return None
        if topic.startswith(topics.ROOT + "/manifest/"):
            if msg.kind != "manifest" or msg.get("name") != topic.rsplit("/", 1)[1]:
                self.drop("topic", f"{msg.kind} {msg.get('name')!r} on {topic}")
                return None
            return Verified(msg, None)
        try:
            k, direction, kind = topics.parse_kiosk_topic(topic)
        except UrError as e:
            self.drop("topic", str(e))
            return None
        if k != self.kiosk_id or direction != "down" or msg.kind not in TOPIC_KINDS.get(kind, ()):
            self.drop("topic", f"{msg.kind} message on {topic}")
            return None
        key = None
        if kind in ("events", "dataset"):
            key = self.correlations.get(msg.re) if msg.re is not None else None
            if key is None or (correlation is not None and correlation != msg.re):
                self.drop("unsolicited", f"{msg.kind} on {topic} answers no request of this kiosk")
                return None
            if msg.kind != "error" and key != ("events" if kind == "events" else f"dataset:{msg.get('name')}"):
                self.drop("unsolicited", f"{msg.kind} answer does not fit request {key!r}")
                return None
            del self.correlations[msg.re]  # type: ignore[arg-type]  # answered: a replay is refused
            self.skew_ms = int(time.time() * 1000) - msg.at  # central's clock, shown, never used
        return Verified(msg, key)

    def flush(self, session: Session | None = None) -> None:
        """Write drop counts and the clock skew seen (in the caller's transaction, or one of its own)."""
        if not self.dropped and self.skew_ms is None:
            return
        if session is None:
            with self.store.soft_tx() as s:
                self.flush(s)
            return
        for code, n in self.dropped.items():
            cursor.set_int(session, DROPPED_PREFIX + code, cursor.get_int(session, DROPPED_PREFIX + code) + n)
        if self.skew_ms is not None:
            cursor.set_int(session, CLOCK_SKEW, self.skew_ms)
            cursor.set_float(session, CLOCK_SKEW, time.time())
        self.dropped.clear()
        self.skew_ms = None

    # --- requests ---------------------------------------------------------------------
    def _waiting(self, key: str) -> bool:
        """A request is out and not yet overdue: do not ask again (nor read the store)."""
        sent = self.outstanding.get(key)
        return sent is not None and time.monotonic() - sent < REQUEST_TIMEOUT

    def _request(self, client: mqtt.Client, kind: str, key: str, **fields: Any) -> None:
        if self._waiting(key):
            return
        resp = topics.down(self.kiosk_id, kind)
        corr = self.expect(key)
        info = client.publish(topics.request(self.kiosk_id, kind), dl.encode("request", **fields), qos=1,
                              properties=mqtt_conn.publish_props(resp, corr))
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.outstanding[key] = time.monotonic()
        else:
            self.correlations.pop(corr, None)

    def expect(self, key: str) -> bytes:
        """New correlation data for a request `key`: its answer will be welcome
        (once). Random, so no one can answer a request before it is made."""
        corr = os.urandom(16)
        self.correlations[corr] = key
        while len(self.correlations) > MAX_CORRELATIONS:
            self.correlations.popitem(last=False)
        return corr

    def request_events(self, client: mqtt.Client) -> None:
        if self._waiting("events"):
            return
        with self.store.session() as s:
            cur = cursor.get_int(s, EVENTS_CURSOR)
        self._request(client, "events", "events", cursor=cur)

    def pump(self, client: mqtt.Client) -> None:
        if self.more_events or "events" in self.outstanding:
            self.more_events = False
            self.request_events(client)  # no-op while a recent request is outstanding
        for name, (_version, _sha) in list(self.wanted.items()):
            if self._waiting(f"dataset:{name}"):
                continue
            with self.store.session() as s:
                have = datasets.current(s, name)
            self._request(client, "dataset", f"dataset:{name}", name=name, have=have.version if have else 0)

    # --- verified messages ------------------------------------------------------------------
    def on_manifest(self, m: dl.Message) -> None:
        try:
            name, version, sha = str(m.get("name")), int(m.get("version")), str(m.get("sha256"))
        except (TypeError, ValueError):
            self.drop("malformed", f"manifest fields {m.fields!r:.200}")
            return
        seen = self.announced.get(name)
        if seen is not None and seen[0] > version:
            return  # an older genuine manifest (replayed): the newer one stands
        if seen != (version, sha):
            self.outstanding.pop(f"dataset:{name}", None)  # news: ask at once
        self.announced[name] = (version, sha)
        with self.store.soft_tx() as s:
            have = datasets.current(s, name)
            if have is not None and have.version >= version:
                datasets.mark_checked(s, name)
                self.wanted.pop(name, None)
                return
        self.wanted[name] = (version, sha)

    def on_response(self, v: Verified) -> None:
        m = v.msg
        if m.kind == "error":
            log.warning("central refused request %s: %s", v.request, m.get("reason"))
            self.outstanding.pop(v.request or "", None)
            return
        if m.kind == "events":
            self._apply_events(m)
        elif m.kind == "dataset":
            self._apply_dataset(m)

    def _apply_events(self, m: dl.Message) -> None:
        """Apply a page of feed events, runs of the same kind at once. An event that
        is malformed or of an unknown kind is logged and skipped: central would only
        send it again, and it must not hold up the ones after it."""
        events = m.get("events") or []
        if not isinstance(events, list):
            self.drop("malformed", "events page without a list of events")
            return
        with self.store.soft_tx() as s:
            cur = cursor.get_int(s, EVENTS_CURSOR)
            runs: list[tuple[str, list[tuple[int, dict[str, Any]]]]] = []
            for ev in sorted((e for e in events if isinstance(e, dict) and isinstance(e.get("id"), int)),
                             key=lambda e: e["id"]):
                try:
                    eid, kind, payload = int(ev["id"]), str(ev.get("kind")), dict(ev.get("payload") or {})
                except (KeyError, TypeError, ValueError, AttributeError):
                    log.warning("malformed feed event skipped: %.200r", ev)
                    continue
                if eid <= cur:
                    continue
                cur = eid
                if runs and runs[-1][0] == kind:
                    runs[-1][1].append((eid, payload))
                else:
                    runs.append((kind, [(eid, payload)]))
            for kind, run in runs:
                handler = EVENT_HANDLERS.get(kind)
                if handler is None:
                    log.warning("no handler for feed event kind %r; %d skipped", kind, len(run))
                    continue
                for problem in handler(s, run):
                    log.warning("feed event skipped: %s", problem)
            cursor.set_int(s, EVENTS_CURSOR, cur)
            note_success(s)
            self.flush(s)
        self.outstanding.pop("events", None)
        # A full page means more are waiting: ask again on the next pump.
        self.events_answered = not m.get("more")
        self.more_events = bool(m.get("more"))

    def _apply_dataset(self, m: dl.Message) -> None:
        name = str(m.get("name"))
        key = f"dataset:{name}"
        try:
            version, sha = int(m.get("version")), str(m.get("sha256"))
        except (TypeError, ValueError):
            self.drop("malformed", f"dataset answer fields {m.fields!r:.200}")
            self.outstanding.pop(key, None)
            return
        announced = self.announced.get(name)
        if not m.get("unchanged") and announced != (version, sha):
            # Central's answer is ahead of (or beside) its manifest: wait for the
            # manifest (it pops the request) or the request timeout, then ask again.
            self.drop("not_announced", f"{name} v{version} is not what the signed manifest announced ({announced})")
            return
        try:
            with self.store.soft_tx() as s:
                have = datasets.current(s, name)
                if m.get("unchanged"):
                    datasets.mark_checked(s, name)
                elif "delta" in m.fields:
                    if have is None or have.version != m.get("delta_from") or name not in DELTA_APPLIERS:
                        raise UrError(f"delta for {name} does not apply to what this kiosk has")
                    datasets.install(s, name, version, DELTA_APPLIERS[name](have.body, bytes(m.get("delta"))), sha)
                else:
                    datasets.install(s, name, version, bytes(m.get("body")), sha)
                note_success(s)
                self.flush(s)
            if self.wanted.get(name, (0, ""))[0] <= version:
                self.wanted.pop(name, None)
        except (UrError, TypeError, ValueError) as e:
            log.warning("dataset %s not installed: %s", name, e)
        finally:
            self.outstanding.pop(key, None)
