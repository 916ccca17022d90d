"""The scripted journey (what `make demo` plays) writes real screenshots, both with
the test catalogue and through `ur-kiosk ui-demo` on a fresh kiosk."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageStat

from kiosk import i18n
from tests import support
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness  # noqa: F401 - sets the offscreen Kivy environment first


def test_demo_journey_with_the_test_catalogue(tmp_path: Path) -> None:
    from kiosk.screens import demo_journey

    svc = FixtureServices()
    svc.scans.append("UR1:DOC-GOOD")  # what the scanner reads on the verify screen
    paths = demo_journey.run(tmp_path / "demo", svc, cashier_pin="1234")
    names = [p.name for p in paths]
    assert names[0] == "01-home-ar.png" and "12-receipt-ar.png" in names, names
    assert names[12:] == ["13-verify-ar.png", "14-verify-verdict-ar.png", "15-staff-pin-ar.png",
                          "16-cashier-eod-ask-ar.png", "17-cashier-eod-ar.png"], names
    for p in paths:
        img = Image.open(p)
        assert img.size == (1280, 1024)
        assert ImageStat.Stat(img.convert("L")).stddev[0] > 10, f"{p.name} looks blank"
    notes = (tmp_path / "demo" / "journey.txt").read_text()
    assert "skipped" not in notes, notes
    # Proof on the screens: the scanned document's verdict and the cashier's end of day
    assert f"verification verdict: {i18n.tr('verdict.VALID', 'ar')}" in notes, notes
    assert f"end of day: {i18n.tr('cashier.eod_ok', 'ar')}" in notes, notes
    assert not svc.scans  # the verify screen took the code


def test_ur_kiosk_ui_demo_on_a_fresh_kiosk(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path / "data"), "ui-demo", str(out)],
                        env=support.kivy_env(tmp_path / "kivy"), timeout=120)
    assert r.returncode == 0, r.stderr[-800:]
    assert str(out.resolve()) in r.stdout
    shots = sorted(out.glob("*.png"))
    assert len(shots) >= 5
    # No catalogue yet on a fresh kiosk: the journey says which steps it could not do.
    notes = (out / "journey.txt").read_text()
    assert "the catalogue lists no service" in notes
    # no scanner and no staff user on a fresh kiosk: said, not failed
    assert "skipped the verification verdict" in notes and "skipped the cashier's end of day" in notes
    assert (tmp_path / "data" / "kiosk.db").exists()  # it ran on the kiosk named by --data


def test_ur_kiosk_ui_rejects_bad_arguments() -> None:
    r = support.run_cli(["ur-kiosk", "ui", "--windowed", "big"])
    assert r.returncode == 2 and "window size must look like 1280x1024" in r.stderr
    r = support.run_cli(["ur-kiosk", "ui", "--idle", "0", "--windowed", "800x600"])
    assert r.returncode == 2 and "--idle must be a positive" in r.stderr
    assert "Traceback" not in r.stderr


def test_ur_kiosk_ui_runs_the_app_main_loop(tmp_path: Path) -> None:
    import os
    import subprocess
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("KIVY_")}
    env.update(SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_HOME=str(tmp_path / "kivy"),
               PYTHONPATH=str(support.REPO))
    log = tmp_path / "ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(support.launch("kiosk.cli", ["--data", str(tmp_path / "data"), "ui",
                                 "--windowed", "800x600", "--idle", "30"]), env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        support.wait_until(lambda: "Start application main loop" in log.read_text(errors="replace"),
                           timeout=60, what="the kiosk main loop")
        time.sleep(1.5)  # a few frames of the home screen, the status strip polls
        assert proc.poll() is None, log.read_text(errors="replace")[-1500:]
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        proc.kill()
        proc.wait(10)
