"""Fleet figures (issue 18): the fleet simulator (bench/fleet.py) with 1, 2 and 4
central workers over the same fleet, each run on its own broker whose raw QoS 1
rate is measured just before, so the storm's drain compares like with like. Two raw
baselines: one paho client looping QoS 1 messages (what the broker does alone), and
the same storm (kiosks, message sizes, reconnect window, resend rule) through the
same broker to a consumer that only acks, no signature check and no database (what
the broker and the simulator allow): the gap between that and central's drain is
central's own.

Default: 300 kiosks, a steady phase at 3 messages a minute per kiosk, then a storm of 20
queued messages per kiosk reconnecting within 5 s (a minute scaled down so the
backlog, not the reconnect spread, limits the drain); PostgreSQL when it answers.
Larger runs: `python -m bench.bench_fleet --kiosks 1000 --workers 1,2` or
`UR_FLEET_KIOSKS=1000 make bench` (flags win over the environment)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench import fleet
from bench.bench_sync import raw_qos1_rate
from bench.table import print_table
from kiosk.sync.local_broker import LocalBroker

ACK_P99_GOAL_MS = 250.0
SCALING_OVERHEAD_GOAL = 0.10  # CPU per message with N workers within 10% of one worker's


def _run(cfg: fleet.FleetConfig, root: Path) -> tuple[float, fleet.ScenarioReport, fleet.FleetReport]:
    broker = LocalBroker(root / f"broker-{cfg.workers}", extra="sys_interval 1").start()
    try:
        raw = raw_qos1_rate(broker.port)
        raw_storm = fleet.run_raw_storm(cfg, broker, root / f"raw-{cfg.workers}")
        return raw, raw_storm, fleet.run(cfg, broker=broker)
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> None:
    fleet.stop_on_sigterm()
    env = os.environ.get
    ap = argparse.ArgumentParser(prog="python -m bench.bench_fleet", description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiosks", type=int, default=int(env("UR_FLEET_KIOSKS", "300")))
    ap.add_argument("--workers", default=env("UR_FLEET_WORKERS", "1,2,4"), help="worker counts to compare")
    ap.add_argument("--db", choices=("auto", "sqlite", "postgresql"), default=env("UR_FLEET_DB", "auto"))
    ap.add_argument("--storm-queue", type=int, default=int(env("UR_FLEET_STORM_QUEUE", "20")))
    ap.add_argument("--reconnect-window", type=float, default=float(env("UR_FLEET_RECONNECT_WINDOW", "5")))
    ap.add_argument("--steady-seconds", type=float, default=float(env("UR_FLEET_STEADY_SECONDS", "10")))
    ap.add_argument("--steady-rate", type=float, default=float(env("UR_FLEET_STEADY_RATE", "0.05")))
    ap.add_argument("--drain-timeout", type=float, default=float(env("UR_FLEET_DRAIN_TIMEOUT", "600")))
    ap.add_argument("--seed", type=int, default=int(env("UR_TEST_SEED", "1")))
    a = ap.parse_args([] if argv is None and __name__ != "__main__" else argv)
    counts = [int(x) for x in a.workers.split(",") if x.strip()]
    print(f"seed {a.seed}; {a.kiosks} kiosks; workers {counts}", flush=True)
    results: list[tuple[int, float, fleet.ScenarioReport, fleet.FleetReport]] = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        for n in counts:
            cfg = fleet.FleetConfig(kiosks=a.kiosks, workers=n, db=a.db, steady_seconds=a.steady_seconds,
                                    steady_rate=a.steady_rate, storm_queue=a.storm_queue,
                                    reconnect_window=a.reconnect_window, seed=a.seed,
                                    drain_timeout=a.drain_timeout,
                                    workdir=str(Path(tmp) / f"w{n}"))
            try:
                raw, raw_storm, rep = _run(cfg, Path(tmp))
            except Exception as e:  # noqa: BLE001 - one failed run must not hide the others' figures
                print(f"run with {n} worker(s) FAILED: {type(e).__name__}: {e}", flush=True)
                continue
            fleet.print_report(rep, raw)
            results.append((n, raw, raw_storm, rep))
    rows: list[tuple[object, ...]] = []
    base = next(((raw, rep) for n, raw, _rs, rep in results if n == 1), None)
    for n, raw, raw_storm, rep in results:
        steady = next(s for s in rep.scenarios if s.name == "steady")
        storm = next(s for s in rep.scenarios if s.name == "storm")
        tag = f"[{rep.backend}, {n} worker{'s' if n > 1 else ''}]"
        stuck = steady.unacked + storm.unacked
        if stuck:
            rows.append((f"{tag} NOT DRAINED: never acked", len(stuck), "msgs", "0",
                         f"after {a.drain_timeout:g} s each: " + ", ".join(stuck[:4])))
        rows.append((f"{tag} raw broker QoS1 round trip", raw, "msg/s", "limit", "one client; same broker, just before"))
        fleet_raw = raw_storm.applied_per_s
        rows.append((f"{tag} raw fleet-shaped storm (ack-only consumer)", fleet_raw, "msg/s", "limit",
                     f"{raw_storm.messages:,} msgs in {raw_storm.drain_s or 0:.1f} s, {raw_storm.resends:,} resends; "
                     f"consumer CPU {raw_storm.cpu_s_per_1000:.2f} s, simulator {raw_storm.simulator_cpu_s:.1f} s; "
                     f"{100 * fleet_raw / raw:.0f}% of one client"
                     + (f"; NOT DRAINED: {len(raw_storm.unacked)}" if raw_storm.unacked else "")))
        rows.append((f"{tag} storm drain rate", storm.applied_per_s, "msg/s", f">= {raw / 2:,.0f}",
                     f"{100 * storm.applied_per_s / raw:.0f}% of one-client raw, "
                     f"{100 * storm.applied_per_s / max(fleet_raw, 1e-9):.0f}% of fleet-shaped raw; "
                     f"{storm.messages:,} msgs in {storm.drain_s:.1f} s"))
        rows.append((f"{tag} steady ack p99", steady.ack_p99_ms, "ms", f"< {ACK_P99_GOAL_MS:.0f}",
                     f"p50 {steady.ack_p50_ms:.0f} ms at {steady.applied_per_s:.0f} msg/s; from the first send on "
                     f"the connection that got the ack (from creation, flaps' offline time incl.: "
                     f"p99 {steady.made_ack_p99_ms:.0f} ms)"))
        note = "per worker " + ", ".join(f"{c:.2f}" for c in storm.cpu_s_per_1000_per_worker)
        goal = ""
        if base is not None and n > 1:
            b = next(s for s in base[1].scenarios if s.name == "storm")
            note += f"; {100 * (storm.cpu_s_per_1000 / b.cpu_s_per_1000 - 1):+.0f}% vs 1 worker"
            note += f"; throughput {storm.applied_per_s / b.applied_per_s:.2f}x of 1 worker"
            goal = f"<= {b.cpu_s_per_1000 * (1 + SCALING_OVERHEAD_GOAL):.2f}"
        rows.append((f"{tag} central CPU per 1,000 msgs (storm, all workers)", storm.cpu_s_per_1000, "CPU-s", goal, note))
        # A drain slower than the kiosks' ack timeout makes them resend, and each resend
        # costs central a receipt, a check and an ack: per message received (resends
        # included) the figure depends far less on how loaded the machine was.
        received = storm.messages + storm.resends
        rows.append((f"{tag} central CPU per 1,000 received (storm, resends incl.)",
                     storm.cpu_s_per_1000 * storm.messages / max(1, received), "CPU-s", "",
                     f"{storm.resends:,} resends ({storm.probes:,} probes) on {storm.messages:,} msgs"))
        if storm.pg_rows_per_s is not None:
            rows.append((f"{tag} PostgreSQL rows inserted/s (storm)", storm.pg_rows_per_s, "rows/s", "",
                         f"{storm.pg_rows_per_message:.1f} rows per message"))
            rows.append((f"{tag} PostgreSQL CPU per 1,000 msgs (storm)", storm.pg_cpu_s_per_1000, "CPU-s", "",
                         "its backends"))
        rows.append((f"{tag} broker CPU per 1,000 msgs (storm)", storm.broker_cpu_s_per_1000, "CPU-s", "", ""))
        rows.append((f"{tag} broker connections (max) / RSS",
                     f"{storm.broker_connections_max} / {storm.broker_rss_mb_max:.1f} MB", "", "", ""))
        c = rep.check
        rows.append((f"{tag} exactly-once lost / duplicated", f"{len(c.lost)} / {len(c.duplicated)}", "",
                     "0 / 0", f"{c.applied:,} of {c.made:,} applied once; {len(c.rejected)} rejected"))
        rows.append((f"{tag} machine load (1 min) / simulator CPU", f"{storm.load_avg:.1f} / {storm.simulator_cpu_s:.1f} s",
                     "", "", "2 cores shared with the simulator"))
    print_table(f"Fleet: {a.kiosks} kiosks, storm of {a.storm_queue} msgs each within {a.reconnect_window:g} s, "
                "worker scaling (this machine)", rows)


if __name__ == "__main__":
    main()
