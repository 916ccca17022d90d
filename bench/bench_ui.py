"""Kiosk UI figures: cold start to the home screen, screen switch time, idle memory.

Each measurement runs in a fresh process (Kivy allows one window per process and
a cold start must be cold), offscreen at 1280x1024 with the PIL/raqm text
provider, on a fresh kiosk store. The catalogue-dependent screens use the test
catalogue from tests/ui_fixtures.py when it is importable (repository checkout),
else the real KioskServices (which then shows "not available" screens).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SWITCHES = 30


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(t_spawn: float) -> None:
    """Runs in the measured process: start, draw home, switch screens, idle."""
    t_import = time.time()
    # Imported here: importing Kivy and the screens is part of the cold start measured.
    from kiosk.screens.driver import KioskDriver
    from kiosk.ui_services import UiServices

    services: UiServices
    try:
        sys.path.insert(0, str(REPO))
        from tests.ui_fixtures import FixtureServices

        services = FixtureServices()
        which = "test catalogue"
    except ImportError:
        from kiosk.services.kiosk_services import KioskServices
        from kiosk.store import KioskStore

        services = KioskServices(KioskStore(tempfile.mkdtemp(prefix="bench-ui-")))
        which = "KioskServices"
    d = KioskDriver(services, lang="ar")
    d.frames(1)  # the home screen has been drawn
    t_home = time.time()
    route = ["catalogue", "home", "track", "home", "verify", "home"]
    times = []
    d.app.session.service_id = "passport-ordinary"
    for i in range(SWITCHES):
        name = route[i % len(route)] if which == "KioskServices" else (route + ["service"])[i % 7]
        t0 = time.perf_counter()
        d.app.go(name)
        d.frames(1)  # laid out and drawn
        times.append((time.perf_counter() - t0) * 1000)
    d.app.go("home")
    d.frames(2)
    t_idle = time.monotonic()
    while time.monotonic() - t_idle < 2.0:
        d.frames(1)
        time.sleep(1 / 30)
    print(json.dumps({
        "cold_start_s": t_home - t_spawn,
        "import_to_home_s": t_home - t_import,
        "switch_ms_median": statistics.median(times),
        "switch_ms_p90": sorted(times)[int(len(times) * 0.9) - 1],
        "switch_ms_max": max(times),
        "idle_rss_mb": _rss_mb(),
        "services": which,
    }))


def measure() -> dict[str, float | str]:
    env = dict(os.environ)
    env.update({"SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1", "KIVY_TEXT": "pil",
                "KIVY_NO_CONSOLELOG": "1", "KIVY_LOG_MODE": "PYTHON",
                "KIVY_HOME": tempfile.mkdtemp(prefix="bench-kivy-"),
                "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")})
    t_spawn = time.time()
    out = subprocess.run([sys.executable, "-m", "bench.bench_ui", "--child", repr(t_spawn)],
                         env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"UI bench child failed: {out.stderr[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    runs = [measure() for _ in range(3)]
    cold = sorted(float(r["cold_start_s"]) for r in runs)
    rows = [
        ("cold start to home screen (median of 3)", f"{cold[1]:.2f}", "s", "< 3",
         f"process spawn to first home frame; min {cold[0]:.2f}, max {cold[2]:.2f}"),
        ("  of which import + build + first frame", f"{statistics.median(float(r['import_to_home_s']) for r in runs):.2f}",
         "s", "", "after the interpreter started"),
        ("screen switch, median", f"{statistics.median(float(r['switch_ms_median']) for r in runs):.0f}", "ms",
         "none set", f"{SWITCHES} switches, rebuild + layout + one frame"),
        ("screen switch, p90", f"{statistics.median(float(r['switch_ms_p90']) for r in runs):.0f}", "ms", "", ""),
        ("screen switch, max", f"{max(float(r['switch_ms_max']) for r in runs):.0f}", "ms", "", ""),
        ("idle kiosk memory (RSS)", f"{statistics.median(float(r['idle_rss_mb']) for r in runs):.0f}", "MB", "",
         f"after the switches and 2 s idle; services: {runs[0]['services']}"),
    ]
    widths = [max(len(str(r[i])) for r in rows + [("figure", "value", "unit", "goal", "notes")]) for i in range(5)]
    header = ("figure", "value", "unit", "goal", "notes")
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print("offscreen SDL + Mesa llvmpipe, 1280x1024, KIVY_TEXT=pil; a kiosk with a GPU draws faster")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(float(sys.argv[2]))
    else:
        main()
