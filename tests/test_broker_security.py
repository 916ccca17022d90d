"""The TLS deployment as `ur-central broker-tls` writes it, run on a real Mosquitto
with no plain listener: per-kiosk client certificates from CSR-style enrollment,
the ACL, client ids tied to certificates, and revocation through the CRL."""

from __future__ import annotations

import json
import ssl
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from contract import topics
from kiosk import identity
from kiosk.services.kiosk_services import KioskServices
from kiosk.store import KioskStore
from tests import support

FIELDS = ["--field", "full_name=Ali", "--field", "national_id=199001234567", "--field", "mobile=07701234567"]
SYNC = ["sync", "--until-idle", "--timeout", "90", "--heartbeat", "0"]


class _Client:
    """A raw paho client over the broker's TLS listener, recording what happens."""

    def __init__(self, tls: Path, cert: Path | None, key: Path | None, client_id: str = "") -> None:
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.tls_set(ca_certs=str(tls), certfile=str(cert) if cert else None, keyfile=str(key) if key else None,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.connacked = threading.Event()
        self.disconnected = threading.Event()
        self.pubacks: list[int] = []
        self.got: list[str] = []
        self.c.on_connect = lambda _c, _u, _f, rc, _p=None: (not rc.is_failure) and self.connacked.set()
        self.c.on_disconnect = lambda *_a: self.disconnected.set()
        self.c.on_publish = lambda _c, _u, _m, rc, _p: self.pubacks.append(int(getattr(rc, "value", rc)))
        self.c.on_message = lambda _c, _u, m: self.got.append(m.topic)

    def start(self, port: int) -> _Client:
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.connacked.wait(20), "no CONNACK"
        return self

    def stop(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _refused(ca: Path, cert: Path | None, key: Path | None, port: int, tls: bool = True) -> bool:
    """True when the broker will not let this client in (no CONNACK success)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe", protocol=mqtt.MQTTv5)
    if tls:
        c.tls_set(ca_certs=str(ca), certfile=str(cert) if cert else None, keyfile=str(key) if key else None,
                  cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    ok, failed = threading.Event(), threading.Event()
    c.on_connect = lambda _c, _u, _f, rc, _p=None: (failed if rc.is_failure else ok).set()
    try:
        c.connect("127.0.0.1", port, keepalive=10)
        # Until the broker answers (CONNACK, refusal or a closed connection): a slow
        # answer on a loaded machine is not a refusal (it was, after 10 s of silence).
        deadline = time.monotonic() + 90
        while not (ok.is_set() or failed.is_set()):
            if c.loop(timeout=0.25) != mqtt.MQTT_ERR_SUCCESS:
                break
            assert time.monotonic() < deadline, "the broker neither let the probe in nor refused it in 90 s"
    except (OSError, ssl.SSLError):
        return True
    finally:
        c.disconnect()
    return not ok.is_set()


class TlsDeployment:
    """Central, a Mosquitto with only the TLS listener `broker-tls` wrote, a worker."""

    def __init__(self, tmp: Path) -> None:
        self.dep = support.Deployment(tmp)
        self.dep.init_central()
        self.broker = support.Broker(tmp / "broker", plain=False)
        self.tls = tmp / "tls"
        out = json.loads(self.dep.central("--json", "broker-tls", "--out", str(self.tls),
                                          "--port", str(self.broker.port)).stdout)
        self.worker_url = out["worker_broker_url"]
        self.broker.extra = Path(out["listener_config"]).read_text()
        self.broker.start()
        self.url = self.broker.url  # mqtts://127.0.0.1:PORT: kiosks use their enrolled certificate

    def secrets(self, kiosk_id: str) -> tuple[Path, Path, Path]:
        sec = self.dep.kiosk_dir(kiosk_id) / "secrets"
        return sec / "ca.crt", sec / "client.crt", sec / "client.key"

    def stop(self) -> None:
        self.dep.stop_all()
        self.broker.stop()


def test_tls_deployment_delivers_every_dataset_and_keeps_kiosks_apart(tmp_path: Path) -> None:
    t = TlsDeployment(tmp_path)
    dep, port = t.dep, t.broker.port
    try:
        assert t.url.startswith("mqtts://")
        dep.enroll("K1", t.url)
        dep.enroll("K2", t.url)
        # Every kind of dataset central hands down, published before the kiosk syncs.
        dep.central("fines", "add", "--plate", "12B0001", "--amount", "25000", "--offence", "speeding")
        dep.central("letters", "register", "--number", "77/2026", "--date", "2026-11-01", "--from", "MOI",
                    "--to", "MOH", "--subject", "staffing")
        dep.serve(t.worker_url)
        dep.kiosk("K1", "apply", "--service", "non-conviction-certificate", *FIELDS)
        dep.kiosk("K1", *SYNC)
        assert dep.stats()["applications"] == 1

        central_sets = dict(support.sql_rows(dep.db_url, "SELECT name, max(version) FROM datasets GROUP BY name"))
        kiosk_sets = dict(support.sql_rows(support.sqlite_url(dep.kiosk_dir("K1") / "kiosk.db"),
                                           "SELECT name, version FROM datasets"))
        assert {"catalogue", "trust_list", "status_list", "fines", "letters"} <= set(central_sets), central_sets
        assert kiosk_sets == central_sets, "a dataset did not reach the TLS kiosk"

        ca, k1_cert, k1_key = t.secrets("K1")
        _, k2_cert, k2_key = t.secrets("K2")
        # The real K2 is connected; K1, with its own certificate, asks for client id K2.
        k2 = _Client(ca, k2_cert, k2_key, client_id="K2").start(port)
        k2.c.subscribe(topics.down("K2", "#"), qos=1)
        impostor = _Client(ca, k1_cert, k1_key, client_id="K2").start(port)
        impostor.c.subscribe([(topics.down("K2", "#"), 1), (topics.down("K1", "#"), 1)])
        impostor.c.publish(topics.up("K2", "applications"), b"impostor", qos=1)
        support.wait_until(lambda: impostor.pubacks, timeout=20, what="PUBACK for the impostor's publish")
        assert impostor.pubacks == [135], "K1 published on K2's uplink"  # 135: not authorised

        # A second worker identity (central-2) beside the running worker (central):
        # each has its own CN, so neither takes the other's client id.
        central = _Client(t.tls / "ca.crt", t.tls / "central-2.crt", t.tls / "central-2.key").start(port)
        for k in ("K2", "K1"):
            central.c.publish(topics.down(k, "poke"), b"x", qos=1).wait_for_publish(20)
        support.wait_until(lambda: topics.down("K1", "poke") in impostor.got, timeout=20, what="K1's own downlink")
        support.wait_until(lambda: topics.down("K2", "poke") in k2.got, timeout=20, what="K2's downlink at K2")
        assert not k2.disconnected.is_set(), "K1 knocked K2 off the broker by taking its client id"
        assert topics.down("K2", "poke") not in impostor.got, "K1 read K2's downlink"
        assert not central.disconnected.is_set(), "the worker 'central' knocked 'central-2' off"
        for c in (central, impostor, k2):
            c.stop()
        # ... and the worker is still serving: a second application goes through.
        dep.kiosk("K1", "apply", "--service", "non-conviction-certificate", *FIELDS)
        dep.kiosk("K1", *SYNC)
        assert dep.stats()["applications"] == 2

        assert _refused(ca, None, None, port), "a client without a certificate got in"
        assert _refused(ca, None, None, port, tls=False), "a plain-TCP client got in"
    finally:
        t.stop()


def test_revoked_kiosk_is_refused_by_the_broker_and_goes_out_of_service(tmp_path: Path) -> None:
    t = TlsDeployment(tmp_path)
    dep, port = t.dep, t.broker.port
    try:
        dep.enroll("K1", t.url)
        dep.enroll("K2", t.url)
        dep.serve(t.worker_url)
        dep.kiosk("K1", *SYNC)  # K1 works over TLS before it is revoked
        ca, cert, key = t.secrets("K1")
        assert not _refused(ca, cert, key, port)

        out = json.loads(dep.central("--json", "kiosks", "revoke", "K1").stdout)
        assert out["crl"] == str((t.tls / "crl.pem").resolve())
        t.broker.reload()  # SIGHUP: Mosquitto reads the CRL again
        support.wait_until(lambda: _refused(ca, cert, key, port), timeout=30, what="broker refusing K1's certificate")
        ca2, cert2, key2 = t.secrets("K2")
        assert not _refused(ca2, cert2, key2, port), "revoking K1 shut out K2"

        # The kiosk learns it from the handshake: the broker's alert says "revoked".
        dep.kiosk("K1", "apply", "--service", "non-conviction-certificate", *FIELDS)
        # On a loaded machine one short sync may end before its first handshake is
        # refused, so sync again until the refusal is recorded (bounded).
        store = KioskStore(dep.kiosk_dir("K1"))
        try:
            deadline, why, stderr = time.monotonic() + 120, None, ""
            while why is None and time.monotonic() < deadline:
                r = dep.kiosk("K1", "sync", "--timeout", "8", "--heartbeat", "0", check=False)
                assert r.returncode == 0, r.stderr
                stderr = r.stderr
                with store.session() as s:
                    why = identity.out_of_service(s)
            assert why == "certificate_refused", stderr[-3000:]
            assert KioskServices(store).status_strip().in_service is False
        finally:
            store.close()
        assert dep.stats()["applications"] == 0
    finally:
        t.stop()
