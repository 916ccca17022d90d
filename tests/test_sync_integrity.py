"""Sync integrity under attack, against a real Mosquitto: anyone on a plain
broker can publish under a kiosk's `down/` topics and the retained manifests.

Each attack is run as an attacker would (forged or replayed MQTT messages,
retained where that hurts most) while genuine traffic flows, and shows: the
kiosk refuses it, counts it by reason, and nothing genuine is lost (every
application stored exactly once at central, every status change arrives,
genuine datasets still install). Central's worker and the kiosk's sync
client run as the real classes over the real broker (a pump drives both, so
the test waits on events, not sleeps); the clock-skew and junk tests use the
real `ur-central` / `ur-kiosk` processes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central import catalogue as central_catalogue
from central import db, keys
from central import fines as central_fines
from central.worker import Worker
from contract import catalogue as cat
from contract import downlink as dl
from contract import envelope, ids, topics
from contract import fines as fines_codec
from contract.errors import UrError
from kiosk import datasets, identity
from kiosk.applications import applications
from kiosk.context import wire_sync_handlers
from kiosk.payments import payables
from kiosk.store import KioskStore
from kiosk.sync import cursor, downlink, outbox
from kiosk.sync.client import SyncClient, SyncConfig
from tests import support

# sync imports no business module: the capabilities register their feed handlers
wire_sync_handlers()

FORM = {"full_name": "Zainab Ali", "national_id": "199001234567", "mobile": "07701234567"}


# --- the wire format ------------------------------------------------------------------

def test_downlink_envelope_is_strict_and_bound_to_its_kiosk() -> None:
    central, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    pub = dl.verify_key_from_hex(envelope.raw_public_hex(central))
    wire = dl.seal(central.sign, "ack", "K1", dl.ack_fields(["m1"], []))
    m = dl.open_signed(wire, pub, "K1")
    assert (m.kind, m.to, m.get("acked")) == ("ack", "K1", ["m1"])
    manifest = dl.seal(central.sign, "manifest", dl.BROADCAST, dl.manifest_fields("catalogue", 2, "ab" * 32, 10))
    assert dl.open_signed(manifest, pub, "K7").get("version") == 2  # a broadcast fits every kiosk

    def code(data: bytes, kiosk: str = "K1") -> str:
        with pytest.raises(dl.DownlinkError) as e:
            dl.open_signed(data, pub, kiosk)
        return e.value.code

    assert code(wire + b"\x00\xff") == "malformed"  # trailing bytes after a genuine envelope
    assert code(wire[:-1]) == "malformed"
    assert code(b"") == "malformed"
    assert code(dl.seal(stranger.sign, "ack", "K1", dl.ack_fields(["m1"], []))) == "signature"
    assert code(wire, "K2") == "wrong_kiosk"  # K1's ack replayed to K2
    assert code(dl.seal(central.sign, "ack", dl.BROADCAST, dl.ack_fields(["m1"], []))) == "wrong_kiosk"
    assert code(b"\x83\x02\x40\x40") == "version"
    assert code(b"\x00" * (dl.MAX_DOWNLINK_BYTES + 1)) == "oversize"


def test_trailing_bytes_make_an_uplink_envelope_junk() -> None:
    key = Ed25519PrivateKey.generate()
    wire = envelope.seal(envelope.Envelope("K1", ids.new_id(), "applications", 1, 1, {"a": 1}), key)
    assert envelope.open_unverified(wire)[0].kiosk_id == "K1"
    for junk in (wire + b"\x00\xff", wire + b"\x00"):
        with pytest.raises(envelope.EnvelopeError) as e:
            envelope.open_unverified(junk)
        assert e.value.code == "malformed" and "trailing" in str(e.value)


# --- attacks over a real broker ------------------------------------------------------------

class Rig:
    """Central's worker and kiosks K1 (the victim) and K2 (whose traffic the
    attacker captures), real classes over one real broker."""

    def __init__(self, tmp: Path, broker: support.Broker) -> None:
        self.broker = broker
        self.dep = support.Deployment(tmp)
        self.dep.init_central()
        self.engine = db.make_engine(self.dep.db_url)
        self.S = db.sessions(self.engine)
        with self.S.begin() as s:  # a genuine fines list, as the traffic police publish it
            central_fines.add(s, "11 A 12345", 50000, "speeding", fine_id="F-REAL")
            central_fines.publish(s)
        self.stores: dict[str, KioskStore] = {}
        self.idents: dict[str, identity.Identity] = {}
        self.clients: dict[str, SyncClient] = {}
        for k in ("K1", "K2"):
            kdir = self.dep.enroll(k, broker.url)
            self.stores[k] = KioskStore(kdir)
            self.idents[k] = identity.load(self.stores[k])
            self.clients[k] = SyncClient(self.stores[k], self.idents[k], broker.url, SyncConfig(
                heartbeat_s=0, catch_up_s=1.0, first_delay_max=0.0, ack_timeout=3.0, resend_cap=1.0))
        self.worker = Worker(self.dep.db_url, broker.url, "w-integrity")

    def pump(self, pred: Callable[[], Any], what: str, kiosks: tuple[str, ...] = ("K1",),
             timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.worker.step(0.005)
            for k in kiosks:
                self.clients[k].step(0.005)
            got = pred()
            if got:
                return got
        raise AssertionError(f"timed out waiting for {what}")

    def submit(self, k: str, n: int, start: int) -> list[str]:
        return [applications.submit(self.stores[k], self.idents[k], "non-conviction-certificate",
                                    {**FORM, "national_id": f"{start + i:012d}"}).tracking for i in range(n)]

    def outbox(self, k: str) -> dict[str, int]:
        return support.queue_stats(self.stores[k].dir)

    def kiosk_status(self, k: str, number: str) -> str:
        with self.stores[k].session() as s:
            app = s.get(applications.KioskApplication, number)
            return app.status if app else "missing"

    def dataset_version(self, k: str, name: str) -> int:
        with self.stores[k].session() as s:
            ds = datasets.current(s, name)
            return ds.version if ds else 0

    def dropped(self, k: str) -> dict[str, int]:
        self.clients[k].downlink.flush()
        with self.stores[k].session() as s:
            return downlink.dropped_counts(s)

    def central_apps(self) -> dict[str, int]:
        return support.central_counts(self.dep.db_url)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.worker.client.disconnect()
        for st in self.stores.values():
            st.close()
        self.engine.dispose()


class Attacker:
    """An anonymous client on the plain broker: captures everyone's downlink
    and publishes whatever it likes, retained or not."""

    def __init__(self, broker: support.Broker) -> None:
        self.key = Ed25519PrivateKey.generate()  # its own key: it has no other
        self.captured: list[tuple[str, bytes]] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.c.on_message = lambda _c, _u, m: self.captured.append((m.topic, bytes(m.payload)))
        self.c.connect("127.0.0.1", broker.port)
        self.c.subscribe(f"{topics.ROOT}/kiosk/+/down/#", qos=1)
        self.c.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def forge(self, kind: str, to: str, fields: dict[str, Any], re: bytes | None = None) -> bytes:
        return dl.seal(self.key.sign, kind, to, fields, re=re)

    def captured_on(self, topic: str) -> list[bytes]:
        return [p for t, p in self.captured if t == topic]

    def stop(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_forged_and_replayed_downlink_refused_counted_and_genuine_traffic_flows(tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    rig = attacker = None
    try:
        rig = Rig(tmp_path, broker)
        attacker = Attacker(broker)
        # K2 works normally; the attacker captures its signed ack and events page.
        (k2_app,) = rig.submit("K2", 1, 900)
        rig.pump(lambda: rig.kiosk_status("K2", k2_app) == "received"
                 and attacker.captured_on(topics.down("K2", "ack"))
                 and attacker.captured_on(topics.down("K2", "events")), "K2 served", kiosks=("K2",))
        # K1 syncs its datasets; the attacker keeps K1's genuine dataset answers.
        rig.pump(lambda: rig.dataset_version("K1", "fines") == 1 and rig.clients["K1"].idle(), "K1 caught up")
        genuine_trust = rig.dataset_version("K1", "trust_list")
        old_answers = attacker.captured_on(topics.down("K1", "dataset"))
        assert old_answers and genuine_trust >= 1

        first = rig.submit("K1", 10, 1)
        victim = rig.submit("K1", 1, 100)[0]
        with rig.stores["K1"].session() as s:
            victim_mid = s.query(outbox.OutboxRow.message_id).order_by(outbox.OutboxRow.id.desc()).first()[0]
        # --- the attack, retained where it lasts, while K1's uplink flows -------------
        evil_fines = fines_codec.dump([{"id": "F-EVIL", "plate": "11 A 12345", "amount": 9_999_999}])
        evil_sha = hashlib.sha256(evil_fines).hexdigest()
        evil_cat = b'{"version": 1000000000}'
        huge = 2**62
        a = attacker
        a.publish(topics.down("K1", "ack"), a.forge("ack", "K1", dl.ack_fields([victim_mid], [])), retain=True)
        a.publish(topics.down("K1", "dataset"), a.forge("dataset", "K1", {
            "name": "fines", "version": 10**9, "sha256": evil_sha, "body": evil_fines}), retain=True)
        a.publish(topics.down("K1", "events"), a.forge("events", "K1", {"events": [
            {"id": 10**15, "kind": "status", "payload": {"tracking": victim, "status": "rejected"}}],
            "more": False}), retain=True)
        for name, version, body in (("catalogue", 10**9, evil_cat), ("trust_list", huge, b"evil"),
                                    ("fines", 10**9, evil_fines)):
            sha = hashlib.sha256(body).hexdigest()
            a.publish(topics.manifest(name), a.forge("manifest", dl.BROADCAST, dl.manifest_fields(
                name, version, sha, len(body))), retain=True)
            a.publish(topics.down("K1", "dataset"), a.forge("dataset", "K1", {
                "name": name, "version": version, "sha256": sha, "body": body}))
        # Genuine central signatures, replayed: K2's ack and page, K1's own old answers.
        a.publish(topics.down("K1", "ack"), a.captured_on(topics.down("K2", "ack"))[0])
        a.publish(topics.down("K1", "events"), a.captured_on(topics.down("K2", "events"))[-1])
        for old in old_answers:
            a.publish(topics.down("K1", "dataset"), old)
        # Garbage and a genuine envelope with trailing bytes.
        a.publish(topics.down("K1", "ack"), b"\x00\xff garbage")
        a.publish(topics.down("K1", "ack"), a.captured_on(topics.down("K2", "ack"))[0] + b"\x00\xff")

        later = rig.submit("K1", 10, 200)  # the kiosk keeps taking applications
        everyone = [*first, victim, *later]
        rig.pump(lambda: rig.outbox("K1")["pending"] == 0 and rig.central_apps()["applications"] == 22,
                 "K1's 21 applications stored at central", timeout=90)
        rig.pump(lambda: all(rig.kiosk_status("K1", n) == "received" for n in everyone), "statuses at K1")
        # Central publishes new genuine lists: they still win after the forged huge versions.
        with rig.S.begin() as s:
            keys.rotate(s, int(time.time()))
            c1 = central_catalogue.current(s)
            svcs = [x.model_copy(update={"fees": cat.Fees(statutory=30000, service=66000)})
                    if x.id == "ordinary-passport" else x for x in c1.services]
            assert central_catalogue.publish(s, c1.model_copy(update={"services": svcs})) == 2
        rig.pump(lambda: rig.dataset_version("K1", "trust_list") > genuine_trust
                 and rig.dataset_version("K1", "catalogue") == 2, "genuine new lists installed", timeout=60)

        # Nothing lost: each application once at central, none held, none rejected.
        assert rig.central_apps() == {"applications": 22, "distinct": 22, "inbox": 22}
        assert support.sql_count(rig.dep.db_url, "SELECT count(*) FROM held_messages") == 0
        assert rig.outbox("K1") == {"pending": 0, "delivered": 21, "rejected": 0}
        # The forged ack marked nothing: the victim was delivered by central's own ack.
        assert support.sql_count(rig.dep.db_url,
                                 f"SELECT count(*) FROM applications WHERE tracking = '{victim}'") == 1
        with rig.stores["K1"].session() as s:
            assert cursor.get_int(s, downlink.EVENTS_CURSOR) < 10**6  # the forged id 10^15 did not move it
            fines_now = datasets.current(s, "fines")
            assert fines_now is not None and fines_now.version == 1 and b"F-REAL" in fines_now.body
            with pytest.raises(UrError, match="F-EVIL"):
                payables.resolve(s, "fine:F-EVIL")  # so `ur-kiosk pay fine:F-EVIL` cannot charge
            assert datasets.current(s, "trust_list").version < huge  # type: ignore[union-attr]  # init published a trust list
        dropped = rig.dropped("K1")
        assert dropped.get("signature", 0) >= 9, dropped  # 3 retained + 3 manifests + 3 dataset replies
        assert dropped.get("wrong_kiosk", 0) >= 2, dropped  # K2's ack and page
        assert dropped.get("unsolicited", 0) >= len(old_answers), dropped
        assert dropped.get("malformed", 0) >= 2, dropped
        # Shown to the technician.
        r = rig.dep.kiosk("K1", "--json", "queue")
        shown = json.loads(r.stdout)
        assert shown["downlink_dropped"] == dropped and shown["clock_skew_alarm"] is False
    finally:
        if attacker is not None:
            attacker.stop()
        if rig is not None:
            rig.close()
        broker.stop()


# --- real processes ---------------------------------------------------------------------------

SYNC = ["sync", "--until-idle", "--timeout", "90", "--heartbeat", "0", "--ack-timeout", "2"]


def test_kiosk_clock_3h_ahead_or_behind_gets_every_status_and_corrects_a_returned_application(
        tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = support.Deployment(tmp_path)
    try:
        dep.init_central()
        skews = {"K1": "+3h", "K2": "-3h"}
        for k in skews:
            dep.enroll(k, broker.url)
        dep.serve(broker.url)
        env = {"FAKETIME_DONT_FAKE_MONOTONIC": "1", "UR_SYNC_FIRST_DELAY": "0"}

        def kiosk(k: str, *args: str) -> subprocess.CompletedProcess[str]:
            r = support.run_cli(["ur-kiosk", "--data", str(dep.kiosk_dir(k)), *args], env=env,
                                prefix=["faketime", "-f", skews[k]])
            assert r.returncode == 0, f"ur-kiosk {' '.join(args)} on {k}: {r.stderr}{r.stdout}"
            return r

        numbers = {}
        for i, k in enumerate(skews):
            numbers[k] = json.loads(kiosk(k, "--json", "apply", "--service", "non-conviction-certificate",
                                          "--field", "full_name=Skewed Citizen", "--field",
                                          f"national_id={i + 1:012d}", "--field", "mobile=07701234567").stdout
                                    )["tracking"]
            kiosk(k, *SYNC, "--broker", broker.url)
        support.wait_until(lambda: support.sql_count(dep.db_url, "SELECT count(*) FROM cases") == 2,
                           timeout=60, what="both workflows started")
        for n in numbers.values():
            dep.central("apps", "act", n, "return", "--note", "photo is unclear")
        for k, n in numbers.items():
            kiosk(k, *SYNC, "--broker", broker.url)
            st = json.loads(kiosk(k, "--json", "status", n).stdout)
            assert st["status"] == "returned", (k, st)
            kiosk(k, "resubmit", n, "--field", "full_name=Skewed Citizen Corrected")
            kiosk(k, *SYNC, "--broker", broker.url)
            st = json.loads(kiosk(k, "--json", "status", n).stdout)
            assert st["status"] == "in_review" and [h["status"] for h in st["history"]][-2:] == [
                "returned", "in_review"], (k, st)
            q = json.loads(kiosk(k, "--json", "queue").stdout)
            # Shown to the technician: this kiosk's clock against central's, and the alarm.
            expect = 3 * 3600 if skews[k] == "+3h" else -3 * 3600
            assert abs(q["clock_skew_s"] - expect) < 600 and q["clock_skew_alarm"] is True, q
            assert q["pending"] == 0 and q["downlink_dropped"] == {}, q
        assert support.central_counts(dep.db_url) == {"applications": 2, "distinct": 2, "inbox": 2}
    finally:
        dep.stop_all()
        broker.stop()


def test_trailing_bytes_junk_topics_and_bad_requests_counted_by_central(tmp_path: Path) -> None:
    broker = support.Broker(tmp_path / "broker").start()
    dep = support.Deployment(tmp_path)
    spy = None
    try:
        dep.init_central()
        kdir = dep.enroll("K1", broker.url)
        support.fill_outbox(kdir, 5)
        store = KioskStore(kdir)
        ident = identity.load(store)
        with store.session() as s:
            row = s.query(outbox.OutboxRow).order_by(outbox.OutboxRow.id).first()
            assert row is not None
            genuine = outbox.wire_bytes(row, ident)
        store.close()
        dep.serve(broker.url)
        spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        answers: list[str] = []
        spy.on_message = lambda _c, _u, m: answers.append(m.topic)
        spy.connect("127.0.0.1", broker.port)
        spy.subscribe(topics.down("K1", "#"), qos=1)
        spy.loop_start()

        def pub(topic: str, payload: bytes, props: Properties | None = None) -> None:
            assert spy is not None
            spy.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)

        pub(topics.up("K1", "applications"), genuine + b"\x00\xff")  # a genuine envelope + 2 bytes
        pub(f"{topics.ROOT}/kiosk/K1/up", b"junk without a stream")
        pub(topics.request("K1", "events"), dl.encode("request", cursor=0))  # no response topic
        no_corr = Properties(PacketTypes.PUBLISH)
        no_corr.ResponseTopic = topics.down("K1", "events")
        pub(topics.request("K1", "events"), dl.encode("request", cursor=0), no_corr)
        elsewhere = Properties(PacketTypes.PUBLISH)
        elsewhere.ResponseTopic = topics.down("K2", "events")  # answers sent to another kiosk's topic
        elsewhere.CorrelationData = b"c"
        pub(topics.request("K1", "events"), dl.encode("request", cursor=0), elsewhere)
        want = {"malformed": 1, "topic": 1, "request_no_response_topic": 2, "request_no_correlation": 1}
        support.wait_until(lambda: all(dep.stats()["rejected"].get(c, 0) >= n for c, n in want.items()),
                           timeout=60, what=f"central counts {want}")
        assert support.central_counts(dep.db_url)["applications"] == 0  # the padded envelope was not applied
        assert answers == []  # and no request was answered
        # The genuine messages then go through, each once.
        dep.kiosk("K1", *SYNC, "--broker", broker.url)
        assert support.central_counts(dep.db_url) == {"applications": 5, "distinct": 5, "inbox": 5}
        for p in dep.procs:
            assert p.poll() is None, "central worker died on junk"
    finally:
        if spy is not None:
            spy.loop_stop()
            spy.disconnect()
        dep.stop_all()
        broker.stop()
