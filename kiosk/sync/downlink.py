"""What the kiosk pulls from central: status events by cursor, and datasets
(catalogue, trust list, status list ...) announced by retained manifests.

Requests go out as MQTT 5 request/response (response topic + correlation
data); answers are idempotent, so a lost or duplicated answer only costs a
repeat. A dataset is switched only after its sha256 checks out
(kiosk.datasets.install), whether it came whole or as a delta.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session

from contract import catalogue as cat
from contract import downlink as dl
from contract import mqtt_conn, topics
from contract.errors import UrError
from kiosk import applications, datasets, end_of_day
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
EVENT_HANDLERS: dict[str, EventHandler] = {
    "status": applications.apply_status_events,
    "ledger_check": end_of_day.apply_ledger_checks,
}
# dataset name -> apply(old_body, delta_bytes) -> new_body
DELTA_APPLIERS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "catalogue": cat.apply_delta,
}


def note_success(session: Session) -> None:
    cursor.set_float(session, LAST_SYNC, time.time())


class Downlink:
    def __init__(self, store: KioskStore, kiosk_id: str) -> None:
        self.store, self.kiosk_id = store, kiosk_id
        self.wanted: dict[str, tuple[int, str]] = {}  # name -> (version, sha256)
        self.outstanding: dict[str, float] = {}  # request key -> sent at (monotonic)
        self.events_answered = False
        self.more_events = False

    def reset_outstanding(self) -> None:
        self.outstanding.clear()
        self.events_answered = False

    def caught_up(self) -> bool:
        return self.events_answered and not self.wanted and not self.outstanding

    def _waiting(self, key: str) -> bool:
        """A request is out and not yet overdue: do not ask again (nor read the store)."""
        sent = self.outstanding.get(key)
        return sent is not None and time.monotonic() - sent < REQUEST_TIMEOUT

    def _request(self, client: mqtt.Client, kind: str, key: str, **fields: Any) -> None:
        if self._waiting(key):
            return
        resp = topics.down(self.kiosk_id, kind)
        info = client.publish(topics.request(self.kiosk_id, kind), dl.encode("request", **fields), qos=1,
                              properties=mqtt_conn.publish_props(resp, os.urandom(8)))
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.outstanding[key] = time.monotonic()

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

    def on_manifest(self, payload: bytes) -> None:
        m = dl.decode(payload, "manifest")
        name, version, sha = str(m["name"]), int(m["version"]), str(m["sha256"])
        with self.store.soft_tx() as s:
            have = datasets.current(s, name)
            if have is not None and have.version >= version:
                datasets.mark_checked(s, name)
                self.wanted.pop(name, None)
                return
        self.wanted[name] = (version, sha)

    def on_response(self, kind: str, payload: bytes) -> None:
        m = dl.decode(payload)
        if m["kind"] == "error":
            log.warning("central refused a %s request: %s", kind, m.get("reason"))
            self.outstanding.pop(kind if kind == "events" else f"dataset:{m.get('name')}", None)
            return
        if m["kind"] == "events":
            self._apply_events(m)
        elif m["kind"] == "dataset":
            self._apply_dataset(m)

    def _apply_events(self, m: dict[str, Any]) -> None:
        """Apply a page of feed events, runs of the same kind at once. An event that
        is malformed or of an unknown kind is logged and skipped: central would only
        send it again, and it must not hold up the ones after it."""
        events = m.get("events") or []
        with self.store.soft_tx() as s:
            cur = cursor.get_int(s, EVENTS_CURSOR)
            runs: list[tuple[str, list[tuple[int, dict[str, Any]]]]] = []
            for ev in events:
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
        self.outstanding.pop("events", None)
        # A full page means more are waiting: ask again on the next pump.
        self.events_answered = not m.get("more")
        self.more_events = bool(m.get("more"))

    def _apply_dataset(self, m: dict[str, Any]) -> None:
        name = str(m["name"])
        key = f"dataset:{name}"
        version, sha = int(m["version"]), str(m["sha256"])
        try:
            with self.store.soft_tx() as s:
                have = datasets.current(s, name)
                if m.get("unchanged"):
                    datasets.mark_checked(s, name)
                elif "delta" in m:
                    if have is None or have.version != int(m["delta_from"]) or name not in DELTA_APPLIERS:
                        raise UrError(f"delta for {name} does not apply to what this kiosk has")
                    datasets.install(s, name, version, DELTA_APPLIERS[name](have.body, bytes(m["delta"])), sha)
                else:
                    datasets.install(s, name, version, bytes(m["body"]), sha)
                note_success(s)
            if self.wanted.get(name, (0, ""))[0] <= version:
                self.wanted.pop(name, None)
        except UrError as e:
            log.warning("dataset %s not installed: %s", name, e)
        finally:
            self.outstanding.pop(key, None)
