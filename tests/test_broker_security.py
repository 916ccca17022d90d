"""Broker TLS with per-kiosk client certificates from the central CA, and the
ACL that keeps each kiosk inside its own topics."""

from __future__ import annotations

import json
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from contract import topics
from tests import support


def _client(ca: Path, cert: Path | None, key: Path | None) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=str(ca), certfile=str(cert) if cert else None, keyfile=str(key) if key else None,
              cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    return c


def test_tls_client_certificates_and_acl(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    port = support.free_port()
    out = json.loads(dep.central("--json", "broker-tls", "--out", str(tmp_path / "tls"), "--port", str(port)).stdout)
    broker = support.Broker(tmp_path / "broker", extra=Path(out["listener_config"]).read_text())
    broker.start()
    support.wait_port(port)
    url = f"mqtts://127.0.0.1:{port}"
    try:
        k1 = dep.enroll("K1", url)
        dep.enroll("K2", url)
        dep.serve(out["worker_broker_url"])
        dep.kiosk("K1", "apply", "--service", "non-conviction-certificate", "--field", "full_name=Ali",
                  "--field", "national_id=199001234567", "--field", "mobile=07701234567")
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
        assert dep.stats()["applications"] == 1

        sec = k1 / "secrets"
        c = _client(sec / "ca.crt", sec / "client.crt", sec / "client.key")
        results: dict[str, object] = {}
        done = threading.Event()

        def on_publish(_c, _u, mid, rc, _p):  # type: ignore[no-untyped-def]
            results["puback"] = rc
            done.set()

        got: list[str] = []
        c.on_publish = on_publish
        c.on_message = lambda _c, _u, m: got.append(m.topic)
        c.connect("127.0.0.1", port)
        c.loop_start()
        c.subscribe([(topics.down("K2", "#"), 1), (topics.down("K1", "#"), 1)])
        c.publish(topics.up("K2", "applications"), b"impostor", qos=1)
        assert done.wait(10)
        assert int(getattr(results["puback"], "value", results["puback"])) == 135  # not authorised

        tls = tmp_path / "tls"
        central = _client(tls / "ca.crt", tls / "central.crt", tls / "central.key")
        central.connect("127.0.0.1", port)
        central.loop_start()
        for k in ("K2", "K1"):  # K1 must see only its own
            central.publish(topics.down(k, "poke"), b"x", qos=1).wait_for_publish(5)
        support.wait_until(lambda: topics.down("K1", "poke") in got, timeout=10, what="K1's own downlink")
        central.loop_stop()
        central.disconnect()
        c.loop_stop()
        c.disconnect()
        assert topics.down("K2", "poke") not in got, "kiosk K1 read K2's downlink"

        anon = _client(sec / "ca.crt", None, None)
        try:
            anon.connect("127.0.0.1", port)
            rc = anon.loop(timeout=2.0)
            refused = rc != mqtt.MQTT_ERR_SUCCESS or not anon.is_connected()
        except (OSError, ssl.SSLError):
            refused = True
        assert refused, "a client without a certificate got in"
    finally:
        dep.stop_all()
        broker.stop()
