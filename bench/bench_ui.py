"""Kiosk UI figures: cold start to the home screen, screen switch time, keystroke echo,
idle memory; offscreen (SDL offscreen + Mesa) and in a real X window (Xvfb).

Each measurement runs in a fresh process (Kivy allows one window per process and
a cold start must be cold) at 1280x1024 with the PIL/raqm text provider. The
catalogue-dependent screens use the test catalogue from tests/ui_fixtures.py when
it is importable (repository checkout), else the real KioskServices (which then
shows "not available" screens). The baseline, measured in the same run, rebuilds
every screen on every entry (screens built before issue 16 did).

Keystroke echo: from a real touch on an on-screen key until the frame showing the
field's new text is fully drawn (glFinish after the swap: offscreen, the swap returns
before Mesa's llvmpipe threads have drawn it). Before each touch the previous frame
is finished too, as it is when a person presses the next key; without that, keys
pressed back to back each waited for the last one's frame (the texture of the field's
text was still in use) and the first key for the frame that showed the keyboard.

    python -m bench.bench_ui [--runs N]
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
from typing import Any

from bench.table import print_table

REPO = Path(__file__).resolve().parent.parent
SWITCHES = 42
KEYS = "KSK1-0000070000"


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(t_spawn: float, rebuild: bool) -> None:
    """Runs in the measured process: start, draw home, switch screens, type, idle."""
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
    if rebuild:  # the baseline: no tree is reused, every entry rebuilds the screen
        from kiosk.screens.base import KioskScreen

        KioskScreen._state_key = lambda self: None  # type: ignore[method-assign]  # the baseline switches reuse off
    d = KioskDriver(services, lang="ar")
    d.frames(1)  # the home screen has been drawn
    t_home = time.time()
    route = ["catalogue", "home", "track", "home", "verify", "home"]
    if which != "KioskServices":
        route.append("service")
    times = []
    d.app.session.service_id = "passport-ordinary"
    for i in range(SWITCHES):
        name = route[i % len(route)]
        t0 = time.perf_counter()
        d.app.go(name)
        d.frames(1)  # laid out and drawn
        times.append((time.perf_counter() - t0) * 1000)
    from kivy.graphics.opengl import glFinish

    echo: dict[str, list[float]] = {"track": [], "catalogue": []}
    for screen, field, text in (("track", "tracking", KEYS), ("catalogue", "query", "جواز سفر")):
        d.app.go(screen)
        d.frames(2)
        d.tap(f"field.{field}")
        d.wait(d.keyboard_shown, what="keyboard")
        # typed, erased with the back key, typed again: every key changes the field
        keys = ["SPACE" if k == " " else k for k in text] + ["BACK"] * len(text) + \
            ["SPACE" if k == " " else k for k in text]
        for k in keys:
            # A person's next key comes well after the last frame is on screen: the GPU
            # (Mesa llvmpipe: CPU threads) finishes what it was given before the touch.
            glFinish()
            t0 = time.perf_counter()
            d.press_key(k, after=0)  # one real touch on the key, then the frame that shows it
            glFinish()  # that frame fully drawn (offscreen, the swap does not wait for it)
            echo[screen].append((time.perf_counter() - t0) * 1000)
            d.frames(1)  # the frame after the echo: the catalogue's search runs in it
        assert d.find(f"field.{field}").text.endswith(text[-3:]), "the keys did not reach the field"
        d.frames(2)  # the catalogue's search runs after the echo frame
    d.app.go("home")
    d.frames(2)
    t_idle = time.monotonic()
    while time.monotonic() - t_idle < 2.0:
        d.frames(1)
        time.sleep(1 / 30)
    print(json.dumps({
        "cold_start_s": t_home - t_spawn,
        "import_to_home_s": t_home - t_import,
        "switch": times,
        "echo_track": echo["track"],
        "echo_catalogue": echo["catalogue"],
        "idle_rss_mb": _rss_mb(),
        "services": which,
    }))


def measure(display: str | None, rebuild: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "SDL_"))}
    env.update({"KIVY_NO_ARGS": "1", "KIVY_TEXT": "pil", "KIVY_NO_CONSOLELOG": "1", "KIVY_LOG_MODE": "PYTHON",
                "KIVY_HOME": tempfile.mkdtemp(prefix="bench-kivy-"),
                "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")})
    if display is None:
        env["SDL_VIDEODRIVER"] = "offscreen"
    else:
        env.update(SDL_VIDEODRIVER="x11", DISPLAY=display)
    t_spawn = time.time()
    args = ["--child", repr(t_spawn)] + (["--rebuild"] if rebuild else [])
    out = subprocess.run([sys.executable, "-m", "bench.bench_ui", *args],
                         env=env, capture_output=True, text=True, timeout=900, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"UI bench child failed: {out.stderr[-800:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """A private Xvfb on a display number it picks itself (-displayfd)."""
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number.isdigit():
        proc.kill()
        raise RuntimeError("Xvfb did not start (make system installs it)")
    return proc, f":{number}"


def rows_for(label: str, runs: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    switch = [t for r in runs for t in r["switch"]]
    echo_t = [t for r in runs for t in r["echo_track"]]
    echo_c = [t for r in runs for t in r["echo_catalogue"]]
    cold = sorted(float(r["cold_start_s"]) for r in runs)
    return [
        (f"{label}: cold start to home (median)", statistics.median(cold), "s", "< 1",
         f"spawn to first home frame; min {cold[0]:.2f}, max {cold[-1]:.2f}"),
        (f"{label}: screen switch p50", statistics.median(switch), "ms", "", f"{len(switch)} switches"),
        (f"{label}: screen switch p95", _pct(switch, 95), "ms", "< 100", f"max {max(switch):.0f}"),
        (f"{label}: keystroke echo p50 (track)", statistics.median(echo_t), "ms", "",
         f"key touch to drawn frame; {len(echo_t)} keys"),
        (f"{label}: keystroke echo p95 (track)", _pct(echo_t, 95), "ms", "< 50", f"max {max(echo_t):.0f}"),
        (f"{label}: keystroke echo p50 (catalogue)", statistics.median(echo_c), "ms", "",
         f"search after the echo; {len(echo_c)} keys"),
        (f"{label}: keystroke echo p95 (catalogue)", _pct(echo_c, 95), "ms", "< 50", f"max {max(echo_c):.0f}"),
        (f"{label}: idle RSS", statistics.median(float(r["idle_rss_mb"]) for r in runs), "MB", "",
         f"services: {runs[0]['services']}"),
    ]


def main() -> None:
    n = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    load = os.getloadavg()[0]
    rows: list[tuple[object, ...]] = []
    xvfb, display = start_xvfb()
    try:
        for where, disp in (("offscreen", None), ("Xvfb", display)):
            for rebuild in (False, True):
                label = f"{where} {'baseline (rebuild)' if rebuild else 'reuse'}"
                part = rows_for(label, [measure(disp, rebuild) for _ in range(n)])
                rows += part
                print_table(f"{label} (so far; load average {os.getloadavg()[0]:.1f})", part)
                sys.stdout.flush()
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    print_table(f"kiosk UI, 1280x1024, KIVY_TEXT=pil, Mesa llvmpipe; {n} runs each; load average {load:.1f} "
                "at start (2 cores shared)", rows)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(float(sys.argv[2]), "--rebuild" in sys.argv)
    else:
        main()
