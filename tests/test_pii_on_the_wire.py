"""Personal data on a plain broker, watched by whoever runs it: a real
Mosquitto, an anonymous subscriber on `#` keeping every byte, a central worker
and a kiosk driven through the real CLIs. The citizens' names, national ids,
mobiles, birth dates and complaint texts must never be in what the subscriber
saw, and central must hold them exactly as typed. Sealed blobs that were
tampered with or moved into another message (a rogue kiosk signing with its
own genuine key) are refused and counted, and the genuine traffic beside them
still arrives."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from central import db, kiosks
from contract import envelope, ids, pii_seal, topics
from kiosk import identity
from kiosk.applications import applications
from kiosk.store import KioskStore
from kiosk.sync import outbox
from tests import support

SYNC = ["sync", "--until-idle", "--timeout", "60", "--ack-timeout", "2", "--heartbeat", "0"]
RUN = ["sync", "--ack-timeout", "2", "--heartbeat", "0"]  # runs until stopped
WAIT = 120  # generous: every wait ends as soon as what it waits for has happened

PASSPORT = {"full_name": "زينب قاسم الموسوي", "national_id": "198712340987", "mobile": "07719283746",
            "passport_type": "new", "birth_date": "1987-06-05"}
TAX = {"full_name": "Qaswara Tulaytila Bint Harun", "national_id": "196502468013", "mobile": "07825364758"}
CORRECTED = "Qaswara Tulaytila Bint Haroun Al-Corrected"
COMPLAINT = {"text": "Clerk Abdulwahid Zubaydi demanded a bribe for my file", "name": "Hamdiyya Jasimiyya",
             "mobile": "07901928374"}
LEGACY = {"full_name": "Legacy Clearform Citizen", "national_id": "200001010101", "mobile": "07700000017"}


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Central with kiosk K1 enrolled through the real CLIs, and K2 (the rogue
    kiosk, whose key the test holds) registered at central, once per module;
    each test works on a copy (enrolling takes several CLI runs). K1 gets the
    broker's address on the command line."""
    root = tmp_path_factory.mktemp("enrolled")
    dep = support.Deployment(root)
    dep.init_central()
    dep.enroll("K1", "mqtt://127.0.0.1:1")
    rogue = Ed25519PrivateKey.generate()
    engine = db.make_engine(dep.db_url)
    with db.sessions(engine).begin() as s:
        kiosks.register(s, "K2", envelope.raw_public_hex(rogue), "", datetime.now(UTC))
    engine.dispose()
    (root / "K2.key").write_text(envelope.raw_private_hex(rogue))
    return root


def _deployment(enrolled: Path, tmp: Path) -> support.Deployment:
    shutil.copytree(enrolled, tmp / "dep")
    return support.Deployment(tmp / "dep")


def _capture(url: str, sink: list[tuple[str, bytes]]) -> mqtt.Client:
    """The broker operator: anonymous, subscribed to everything, keeps every payload."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator-tap", protocol=mqtt.MQTTv5)
    c.on_message = lambda _c, _u, m: sink.append((m.topic, bytes(m.payload)))
    subscribed = threading.Event()
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect("127.0.0.1", int(url.rsplit(":", 1)[1]))
    c.subscribe("#", qos=1)
    c.loop_start()
    assert subscribed.wait(30), "the tap's subscription was not confirmed"
    return c


def _pub(port: int, topic: str, data: bytes) -> None:
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-s"], input=data, check=True,
                   timeout=10)


def _field_rows(dep: support.Deployment) -> dict[str, dict[str, str]]:
    return {t: json.loads(f) for t, f in support.sql_rows(dep.db_url, "SELECT tracking, fields FROM applications")}


def _kiosk_status(kdir: Path, number: str) -> str:
    store = KioskStore(kdir)
    try:
        with store.session() as s:
            return str(applications.status(s, number)["status"])
    finally:
        store.close()


def _queue_legacy_application(kdir: Path) -> str:
    """What an outbox holds from before sealing: the same message, clear payload
    (the kiosk's identity without central's sealing key)."""
    store = KioskStore(kdir)
    try:
        ident = dataclasses.replace(identity.load(store), pii_public_key=None)
        return applications.submit(store, ident, "non-conviction-certificate", LEGACY).tracking
    finally:
        store.close()


def here(dep: support.Deployment, kiosk_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`ur-kiosk` at `kiosk_id` (or `ur-central` for ""), its main run in this process
    (support.cli_in_process, without a Python start-up each); the kiosk's sync loop and
    central's worker, what carries the data past the tap, stay processes."""
    if kiosk_id:
        r = support.cli_in_process(["ur-kiosk", "--data", str(dep.kiosk_dir(kiosk_id)), *args])
    else:
        r = support.cli_in_process(["ur-central", "--db", dep.db_url, *args])
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_broker_operator_sees_no_personal_data_and_central_holds_it(enrolled: Path, tmp_path: Path) -> None:
    traffic: list[tuple[str, bytes]] = []
    with support.broker(tmp_path) as broker:
        tap = _capture(broker.url, traffic)
        dep = _deployment(enrolled, tmp_path)
        try:
            kdir = dep.kiosk_dir("K1")
            legacy = _queue_legacy_application(kdir)  # queued in the old clear form: still accepted
            passport = here(dep, "K1", "--json", "apply", "--service", "ordinary-passport",
                                 *[f"--field={k}={v}" for k, v in PASSPORT.items()])
            tax = here(dep, "K1", "--json", "apply", "--service", "tax-clearance",
                            *[f"--field={k}={v}" for k, v in TAX.items()])
            complaint = here(dep, "K1", "--json", "complaint", "file", "--category", "bribery",
                                  *[f"--{k}={v}" for k, v in COMPLAINT.items()])
            p_no, t_no = json.loads(passport.stdout)["tracking"], json.loads(tax.stdout)["tracking"]
            c_no = json.loads(complaint.stdout)["tracking"]
            dep.serve(broker.url)
            dep.procs.append(support.spawn_cli(["ur-kiosk", "--data", str(kdir), *RUN, "--broker", broker.url],
                                               env={"UR_SYNC_FIRST_DELAY": "0"}, log=dep.root / "kiosk.log"))
            support.wait_until(lambda: len(_field_rows(dep)) == 3, timeout=WAIT, what="three applications at central")

            # A clerk returns the tax file (once routing has opened its case: the clerk's
            # command runs in this process now, with no start-up to cover the router's
            # slice); the citizen corrects the name at the kiosk.
            support.wait_until(lambda: support.sql_count(
                dep.db_url, f"SELECT count(*) FROM cases WHERE number = '{t_no}'") == 1,
                timeout=WAIT, what="the tax file's case opened by the router")
            here(dep, "", "apps", "act", t_no, "return", "--note", "the name does not match the tax file")
            support.wait_until(lambda: _kiosk_status(kdir, t_no) == "returned", timeout=WAIT, interval=0.3,
                               what="the return reached the kiosk")
            here(dep, "K1", "resubmit", t_no, f"--field=full_name={CORRECTED}")
            support.wait_until(lambda: _field_rows(dep)[t_no]["full_name"] == CORRECTED, timeout=WAIT,
                               what="the correction applied at central")
            support.wait_until(lambda: support.sql_count(
                dep.db_url, f"SELECT count(*) FROM complaints WHERE tracking = '{c_no}'"), what="the complaint")
            support.wait_until(lambda: any("/up/" in t and t.rsplit("/", 1)[1] == "corrections" for t, _d in traffic), timeout=WAIT,
                               what="the tap saw the correction")
            stats = dep.stats()
        finally:
            dep.stop_all()
            tap.loop_stop()
            tap.disconnect()

    # Central holds what the citizens typed, opened from the sealed payloads.
    fields = _field_rows(dep)
    assert fields[p_no] == PASSPORT
    assert fields[t_no] == {**TAX, "full_name": CORRECTED}
    assert fields[legacy] == LEGACY
    [row] = support.sql_rows(dep.db_url, f"SELECT text, name, mobile FROM complaints WHERE tracking = '{c_no}'")
    assert row == (COMPLAINT["text"], COMPLAINT["name"], COMPLAINT["mobile"])
    assert "sealed" not in stats["rejected"] and "sealed_key" not in stats["rejected"], stats

    # The tap saw the uplink itself: every personal message, each one sealed but the legacy one.
    up = [(t, envelope.open_unverified(d)[0]) for t, d in traffic
          if "/up/" in t and t.rsplit("/", 1)[1] in pii_seal.SEALED_STREAMS]
    streams = {(e.stream, e.seq) for _t, e in up}
    assert {("applications", 1), ("applications", 2), ("applications", 3), ("complaints", 1),
            ("corrections", 1)} <= streams, streams
    sealed = [e for _t, e in up if pii_seal.is_sealed(e.payload)]
    clear = [e for _t, e in up if not pii_seal.is_sealed(e.payload)]
    assert {e.payload["tracking"] for e in clear} == {legacy}
    assert {(e.stream, e.seq) for e in sealed} == streams - {("applications", 1)}

    # ... and none of the personal values, in any message on any topic.
    secrets = [*PASSPORT.values(), *TAX.values(), CORRECTED, *COMPLAINT.values(), "Abdulwahid", "زينب"]
    secrets = [s for s in secrets if s not in ("new",)]  # a choice value, not personal
    seen = b"\n".join(t.encode() + b" " + d for t, d in traffic)
    leaks = sorted({s for s in secrets if s.encode() in seen})
    assert leaks == [], f"personal data readable on the broker: {leaks}"
    # The check can fail: the legacy message's clear values are there to be seen.
    assert LEGACY["full_name"].encode() in seen and LEGACY["national_id"].encode() in seen


def test_tampered_or_moved_sealed_blobs_are_refused_and_counted(enrolled: Path, tmp_path: Path) -> None:
    with support.broker(tmp_path) as broker:
        dep = _deployment(enrolled, tmp_path)
        try:
            k1 = dep.kiosk_dir("K1")
            genuine = support.fill_outbox(k1, 5)
            store = KioskStore(k1)
            ident1 = identity.load(store)
            with store.session() as s:
                first = s.query(outbox.OutboxRow).order_by(outbox.OutboxRow.id).first()
                assert first is not None
                env1, _b, _s = envelope.open_unverified(outbox.wire_bytes(first, ident1))
            store.close()
            # The rogue K2 signs with its own genuine key and knows central's public sealing key.
            ident2 = dataclasses.replace(ident1, kiosk_id="K2", key=envelope.private_key_from_hex(
                (dep.root / "K2.key").read_text()))
            assert ident2.pii_public_key is not None
            blob = env1.payload["sealed"]

            def forged(ident: identity.Identity, stream: str, seq: int, payload: dict,
                       mid: str | None = None) -> tuple[str, bytes]:
                env = envelope.Envelope(ident.kiosk_id, mid or ids.new_id(), stream, seq, 1, payload)
                return env.message_id, envelope.seal(env, ident.key)

            t_mid = ids.new_id()  # sealed for its own message, then one bit flipped
            own = pii_seal.seal_payload({"tracking": "x"}, ident2.pii_public_key, "K2", "applications",
                                        t_mid)["sealed"]
            stranger = pii_seal.SoftwareRecipient(X25519PrivateKey.generate()).public_raw
            mid = ids.new_id()
            attacks = {
                # K2 claims K1's sealed application as its own.
                "moved_to_other_kiosk": forged(ident2, "applications", 1, {"sealed": blob}),
                # A sealed blob of K2's with one bit flipped in the ciphertext.
                "tampered": forged(ident2, "applications", 2, {"sealed": own[:-1] + bytes([own[-1] ^ 1])}, t_mid),
                # K1's own blob again, under a new message id (after its five genuine ones).
                "moved_to_other_message": forged(ident1, "applications", 6, {"sealed": blob}),
                # Junk that is no blob at all.
                "junk": forged(ident2, "applications", 3, {"sealed": b"\x01" + bytes(70)}),
            }
            unknown_key = envelope.Envelope("K2", mid, "complaints", 1, 1, pii_seal.seal_payload(
                {"text": "x"}, stranger, "K2", "complaints", mid))
            dep.serve(broker.url)
            for (_mid, data), (kid, stream) in zip(attacks.values(), [("K2", "applications"), ("K2", "applications"),
                                                                      ("K1", "applications"), ("K2", "applications")],
                                                   strict=True):
                _pub(broker.port, topics.up(kid, stream), data)
            _pub(broker.port, topics.up("K2", "complaints"), envelope.seal(unknown_key, ident2.key))
            dep.kiosk("K1", *SYNC, "--broker", broker.url)  # the genuine five, beside the attacks

            def outcomes() -> dict[str, str]:
                rows = support.sql_rows(dep.db_url, "SELECT message_id, outcome FROM inbox")
                return {m: o for m, o in rows}
            want = {m for m, _d in attacks.values()}
            def settled() -> tuple[dict[str, str], dict[str, int]] | None:
                got, counts = outcomes(), support.central_counts(dep.db_url)
                done = all(got.get(m) not in (None, "held") for m in want) and counts["applications"] >= 5
                return (got, counts) if done else None
            try:
                support.wait_until(settled, timeout=WAIT, what="attacks refused and the genuine applications applied")
            except AssertionError:
                print(outcomes(), support.central_counts(dep.db_url), dep.stats(), want)
                print((dep.root / "worker.log").read_text()[-3000:])
                raise
            support.wait_until(lambda: dep.stats()["rejected"].get("sealed_key", 0) >= 1, timeout=WAIT,
                               what="the message sealed to an unknown key counted")
            got = outcomes()
            stats = dep.stats()
            for p in dep.procs:
                assert p.poll() is None, "central worker died on a sealed blob"
        finally:
            dep.stop_all()

    assert {name: got[m] for name, (m, _d) in attacks.items()} == {name: "rejected" for name in attacks}
    assert mid not in got  # sealed to a key central does not hold: not acked, the kiosk keeps it
    assert stats["rejected"].get("sealed", 0) == len(attacks), stats
    assert stats["rejected"].get("sealed_key", 0) >= 1, stats
    # Genuine traffic unharmed: K1's five with their fields; nothing stored for K2.
    fields = _field_rows(dep)
    assert sorted(fields) == sorted(genuine)
    assert [fields[n]["full_name"] for n in genuine] == [f"Citizen {i}" for i in range(1, 6)]
    assert support.sql_rows(dep.db_url, "SELECT count(*) FROM applications WHERE kiosk_id = 'K2'") == [(0,)]
    reasons = [r for (r,) in support.sql_rows(dep.db_url, "SELECT reason FROM inbox WHERE outcome = 'rejected'")]
    assert len(reasons) == len(attacks) and all(r.startswith("sealed payload: ") for r in reasons), reasons
