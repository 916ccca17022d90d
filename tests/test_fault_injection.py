"""Fault injection cannot be switched on on a deployed machine.

The product used to read UR_PAY_CRASH_AT, UR_FAULT_DROP_ACKS,
UR_FAULT_DUPLICATE_SENDS and UR_INSECURE_FAST_PIN_HASH from the environment.
Now the live code only reaches named points (contract/fault_points.py) that the
test suite hooks in-process. Here: the environment names the product reads are
all operator settings, and the real entry points, run as deployed with every old
switch set, pay, ack and publish normally (tests/test_pin_hash.py shows the same
for the PIN hash), while the test launcher still injects the crash.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from contract import fault_points, topics
from tests import support
from tests.payment_fixtures import enrolled_store, terminal

REPO = support.REPO
OLD_SWITCHES = {"UR_PAY_CRASH_AT": "pending", "UR_FAULT_DROP_ACKS": "1", "UR_FAULT_DUPLICATE_SENDS": "1",
                "UR_INSECURE_FAST_PIN_HASH": "1"}
# Every UR_* name the product reads, and why it is no fault or test switch.
OPERATOR_SETTINGS = {
    "UR_CASHIER_PIN": "a cashier's PIN for scripted CLI use (never on a command line)",
    "UR_SUPERVISOR_PIN": "the supervisor's PIN, likewise",
    "UR_NEW_PIN": "a new user's PIN, likewise",
    "UR_CENTRAL_DB": "central's database URL",
    "UR_CENTRAL_HSM_DIR": "where the SoftHSM token lives",
    "UR_CENTRAL_PIN_FILE": "the token's PIN file",
    "UR_CENTRAL_PKCS11_MODULE": "the PKCS#11 module of the HSM",
    "UR_CENTRAL_TOKEN": "the token label",
    "UR_CENTRAL_REQUIRE_SEALED": "ends the clear-PII migration (stricter, never weaker)",
    "UR_KIOSK_DATA": "the kiosk's data directory",
    "UR_KIOSK_STORE_LIMIT_BYTES": "the kiosk's storage limit",
    "UR_KIOSK_TERMINAL": "the card terminal's port",
    "UR_SYNC_FIRST_DELAY": "the cap of the random delay before a kiosk's first connect (only spreads load)",
    "UR_VERIFY_BASE": "the base URL printed in verification QR codes",
    "UR_WEB_SETTINGS": "central web's settings file",
    "UR_DEMO_KEEP_WEB": "make demo leaves the web server running for a look in a browser",
    "UR_CENTRAL_LEASE_TTL_S": "how long a worker's partition lease lasts without a heartbeat",
    "UR_KIOSK_SPEECH_CACHE": "where the kiosk keeps its spoken-prompt clips",
    "UR_KIOSK_VOLUME": "the spoken prompts' volume, 0-100",
    "UR_KIOSK_DPI": "the kiosk panel's dots per inch (touch targets of 15 mm)",
    "UR_KIOSK_ARABIC_INDIC": "amounts in Arabic-Indic digits on the Arabic and Kurdish pages",
    "UR_DEMO_OUT": "`make demo` output folder",
    "UR_DEMO_PLAIN": "`make demo` without TLS",
    "UR_DEMO_HEADLESS": "`make demo` without a window",
}


def _product_sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for d in ("kiosk", "central", "contract")
            for p in (REPO / d).rglob("*.py")}


def test_the_product_reads_only_operator_settings_from_the_environment() -> None:
    read: dict[str, list[str]] = {}
    for path, text in _product_sources().items():
        for name in re.findall(r"[\"'](UR_[A-Z0-9_]+)[\"']", text):
            read.setdefault(name, []).append(str(path.relative_to(REPO)))
        for old in OLD_SWITCHES:
            assert old not in text, f"{path.relative_to(REPO)} still names the old test switch {old}"
    unknown = {n: files for n, files in read.items() if n not in OPERATOR_SETTINGS}
    assert not unknown, f"environment names the product reads that are not known operator settings: {unknown}"
    assert "UR_KIOSK_DATA" in read  # the scan sees what it should


def test_no_fault_point_is_armed_in_a_fresh_process_whatever_the_environment() -> None:
    code = "from kiosk import cli; from central import cli as c; from contract import fault_points as f; " \
           "from kiosk import pin_hash as p; print(sorted(f.installed()), p.hasher() is p.ARGON2)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **OLD_SWITCHES, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[]", "True"]
    assert fault_points.installed() == frozenset()  # and the suite leaves none behind between tests


def test_pay_as_deployed_ignores_the_old_crash_switch_and_the_launcher_still_crashes_it(tmp_path: Path) -> None:
    enrolled_store(tmp_path / "a")[0].close()
    enrolled_store(tmp_path / "b")[0].close()
    with terminal() as (h, factory):
        term = ["--terminal", factory.device, "--baud", "115200"]  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
        p = support.run_cli(["ur-kiosk", "--data", str(tmp_path / "a"), "pay", "fine:F-0001", *term],
                            env=OLD_SWITCHES, faults=None)
        assert p.returncode == 0, p.stdout + p.stderr
        assert len([e for e in h.journal if e.kind == "payment"]) == 1
        p = support.run_cli(["ur-kiosk", "--data", str(tmp_path / "b"), "pay", "fine:F-0001", *term],
                            faults=["--crash-at", "pending"])
        assert p.returncode == -signal.SIGKILL, p.stdout + p.stderr


def test_sync_as_deployed_ignores_the_old_ack_and_duplicate_switches(tmp_path: Path) -> None:
    """With the old switches at 1 every ack would be dropped (the sync never idles) and
    every message published twice; as deployed, each message goes up once and is acked."""
    broker = support.Broker(tmp_path / "broker").start()
    dep = support.Deployment(tmp_path)
    uplink: list[str] = []
    seen = threading.Lock()
    cap = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="uplink-counter", protocol=mqtt.MQTTv5)

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        with seen:
            uplink.append(m.topic)

    subscribed = threading.Event()
    cap.on_message = on_message
    cap.on_subscribe = lambda *_a: subscribed.set()
    try:
        dep.init_central()
        dep.enroll("K1", broker.url)
        n = 30
        support.fill_outbox(dep.kiosk_dir("K1"), n)
        cap.connect("127.0.0.1", broker.port)
        cap.subscribe(topics.up("K1", "applications"), qos=1)
        cap.loop_start()
        assert subscribed.wait(30), "the uplink counter did not get its subscription"
        dep.procs.append(support.spawn_cli(["ur-central", "--db", dep.db_url, "serve", "--broker", broker.url],
                                           env=OLD_SWITCHES, log=tmp_path / "worker.log", faults=None))
        support.wait_until(lambda: "subscribed" in (tmp_path / "worker.log").read_text(errors="replace"),
                           timeout=60, what="central worker subscribed")
        dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0", "--broker", broker.url,
                  env=OLD_SWITCHES, faults=None)
        assert support.queue_stats(dep.kiosk_dir("K1"))["pending"] == 0
        assert support.central_counts(dep.db_url) == {"applications": n, "distinct": n, "inbox": n}
        with seen:
            assert len(uplink) == n, f"{len(uplink)} publishes for {n} messages"
    finally:
        cap.loop_stop()
        cap.disconnect()
        dep.stop_all()
        broker.stop()
