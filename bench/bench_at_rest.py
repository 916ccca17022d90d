"""Kiosk CPU per 1,000 replayed messages with the at-rest cipher of issue 18 (AES-GCM,
kiosk/at_rest.py) against Fernet, the cipher it replaced, measured in the same run.

Replay: a kiosk with N queued applications runs `ur-kiosk sync --until-idle` against a
real Mosquitto and a central worker (SQLite); the figure is the sync process's own
CPU time (user + system, from the kernel when it exits) per 1,000 messages. The
Fernet path exists only here, patched into the kiosk process for the comparison
(same launcher for both, so start-up costs the same). Rounds alternate the two
ciphers so that the machine's drifting load hits both alike. Also the cipher alone:
CPU per 1,000 openings of the same envelopes.

Run: PYTHONPATH=. python -m bench.bench_at_rest [--messages 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bench.table import print_table
from kiosk import at_rest
from tests import support

# Imported by the kiosk process before its CLI runs: Fernet as the kiosk used it
# before issue 18 (one Fernet object per key, no associated data).
FERNET_PATH = """
from cryptography.fernet import Fernet
from kiosk import at_rest
def _fernet(self):
    f = self.__dict__.get("_fernet")
    if f is None:
        f = self.__dict__["_fernet"] = Fernet(self._raw)
    return f
at_rest.DataKey.seal = lambda self, plaintext, table, row: _fernet(self).encrypt(plaintext)
at_rest.DataKey.open = lambda self, blob, table, row: _fernet(self).decrypt(blob)
"""
LAUNCH = f"""
import sys
if sys.argv[1] == "fernet":
    exec(compile({FERNET_PATH!r}, "fernet_path", "exec"))
from kiosk import cli
sys.exit(cli.main(sys.argv[2:]))
"""


def _cpu_of(cipher: str, args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run the kiosk CLI with `cipher` at rest; its CPU seconds (user + system)."""
    env = {**os.environ, "PYTHONPATH": str(support.REPO), "UR_SYNC_FIRST_DELAY": "0"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-c", LAUNCH, cipher, *args], env=env, capture_output=True, text=True,
                       timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"kiosk sync ({cipher}) failed: {r.stderr}{r.stdout}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), r


def _fill(kdir: Path, cipher: str, n: int) -> None:
    """Queue n real applications, encrypted at rest with `cipher` (in this process)."""
    saved = at_rest.DataKey.seal, at_rest.DataKey.open
    if cipher == "fernet":
        exec(compile(FERNET_PATH, "fernet_path", "exec"), {})
    try:
        support.fill_outbox(kdir, n)
    finally:
        setattr(at_rest.DataKey, "seal", saved[0])  # noqa: B010 - restoring a method mypy may not see assigned
        setattr(at_rest.DataKey, "open", saved[1])  # noqa: B010


def replay(root: Path, broker: support.Broker, cipher: str, n: int) -> dict[str, float]:
    dep = support.Deployment(root)
    dep.init_central()
    kdir = dep.enroll("K1", broker.url)
    _fill(kdir, cipher, n)
    dep.serve(broker.url)
    try:
        t0 = time.perf_counter()
        cpu, r = _cpu_of(cipher, ["--data", str(kdir), "sync", "--until-idle", "--timeout", "600",
                                  "--heartbeat", "0", "--window", "1000"])
        wall = time.perf_counter() - t0
        assert "0 pending" in r.stdout, r.stdout
        # The same command again with nothing queued: start-up, connect, feeds (the fixed cost).
        idle, _ = _cpu_of(cipher, ["--data", str(kdir), "sync", "--until-idle", "--timeout", "600",
                                   "--heartbeat", "0", "--window", "1000"])
    finally:
        dep.stop_all()
    with sqlite3.connect(kdir / "kiosk.db") as db:
        delivered = db.execute("SELECT count(*) FROM outbox WHERE state = 'delivered'").fetchone()[0]
        pairs = db.execute("SELECT message_id, envelope FROM outbox ORDER BY id LIMIT 1000").fetchall()
    ids, blobs = [m for m, _ in pairs], [b for _, b in pairs]
    assert delivered >= n, (delivered, n)
    key_file = (kdir / "secrets" / "data.key").read_bytes()
    return {"cpu": cpu, "idle": idle, "wall": wall, "delivered": delivered, "size": statistics.mean(len(b) for b in blobs),
            "open": _open_cpu(cipher, key_file, blobs, ids)}


def _open_cpu(cipher: str, key_file: bytes, blobs: list[bytes], ids: list[str]) -> float:
    """CPU seconds per 1,000 openings of these at-rest envelopes (best of 5 passes)."""
    if cipher == "fernet":
        f = Fernet(key_file.strip())

        def one_pass() -> None:
            for b in blobs:
                f.decrypt(b)
    else:
        k = at_rest.DataKey(key_file)

        def one_pass() -> None:
            for b, m in zip(blobs, ids, strict=True):
                k.open(b, "outbox", m)
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        one_pass()
        best = min(best, time.process_time() - t0)
    return best / len(blobs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=3000, help="queued applications per replay")
    ap.add_argument("--rounds", type=int, default=2, help="replays per cipher, alternating")
    a, _ = ap.parse_known_args()  # `python -m bench at_rest` leaves its own argument here
    runs: dict[str, list[dict[str, float]]] = {"fernet": [], "aes-gcm": []}
    with tempfile.TemporaryDirectory() as tmp:
        broker = support.Broker(Path(tmp) / "broker").start()
        try:
            for i in range(a.rounds):
                for cipher in ("fernet", "aes-gcm"):
                    runs[cipher].append(replay(Path(tmp) / f"{cipher}-{i}", broker, cipher, a.messages))
        finally:
            broker.stop()
    rows: list[tuple[object, ...]] = []
    per_k = {c: statistics.mean(r["cpu"] / r["delivered"] * 1000 for r in rs) for c, rs in runs.items()}
    for cipher, rs in runs.items():
        rows.append((f"kiosk CPU per 1,000 replayed messages, {cipher}", per_k[cipher], "CPU s",
                     "lower than Fernet" if cipher == "aes-gcm" else "before",
                     "rounds: " + ", ".join(f"{r['cpu'] / r['delivered'] * 1000:.2f}" for r in rs)
                     + f"; {a.messages:,} applications, `ur-kiosk sync --until-idle`"))
    rows.append(("... change with AES-GCM", 100 * (per_k["aes-gcm"] / per_k["fernet"] - 1), "%", "-",
                 "sync process user+system CPU; includes start-up, paho, SQLite, signing checks"))
    marg = {c: statistics.mean((r["cpu"] - r["idle"]) / r["delivered"] * 1000 for r in rs) for c, rs in runs.items()}
    for cipher in runs:
        rows.append((f"... without the fixed start-up cost, {cipher}", marg[cipher], "CPU s", "-",
                     "minus a second `sync --until-idle` run with nothing queued"))
    rows.append(("... change with AES-GCM, without start-up", 100 * (marg["aes-gcm"] / marg["fernet"] - 1), "%",
                 "-", "the per-message work a replay adds"))
    for cipher, rs in runs.items():
        rows.append((f"cipher alone: open 1,000 outbox envelopes, {cipher}",
                     statistics.mean(r["open"] for r in rs) * 1000, "CPU ms", "-",
                     f"{statistics.mean(r['size'] for r in rs):.0f} bytes stored per envelope"))
    for cipher, rs in runs.items():
        rows.append((f"replay wall time, {cipher}", statistics.mean(r["wall"] for r in rs), "s", "-",
                     "shared 2-core machine: wall time follows its load"))
    load = os.getloadavg()
    rows.append(("machine load average (1/5 min)", f"{load[0]:.1f}/{load[1]:.1f}", "", "-",
                 f"{os.cpu_count()} cores shared with other work"))
    print_table("Kiosk at-rest cipher: Fernet (before) vs AES-GCM (issue 18), same run", rows)


if __name__ == "__main__":
    main()
