"""`ur-kiosk ui` (run the kiosk screens) and `ur-kiosk ui-demo` (scripted journey
offscreen, screenshots into a folder). Kivy is imported only when a command runs,
so the rest of `ur-kiosk` starts without a graphics stack."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from contract import cli_base
from contract.cli_base import arg, command
from contract.errors import UrError
from contract.systemd_notify import Notifier
from kiosk.services.kiosk_services import KioskServices
from kiosk.store import KioskStore, data_dir


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"window size must look like 1280x1024, got {text!r}") from None
    if not (320 <= w <= 7680 and 240 <= h <= 4320):
        raise argparse.ArgumentTypeError(f"window size {w}x{h} is out of range")
    return w, h


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "ui", _ui, "run the kiosk screens (fullscreen kiosk mode)",
            arg("--windowed", type=_size, metavar="WxH", help="a window of this size instead of fullscreen"),
            arg("--idle", type=float, default=90.0, help="idle seconds before the screens wipe and go home"),
            arg("--lang", choices=("ar", "ckb", "en"), default="ar", help="default language"))
    command(sub, "ui-demo", _demo, "play a scripted citizen journey offscreen on this kiosk's data "
                                   "and save screenshots",
            arg("out", nargs="?", default="demo-output/ui", help="folder for the screenshots"))


def _ui(args: argparse.Namespace) -> int:
    if args.idle <= 0:
        raise UrError("--idle must be a positive number of seconds")
    # Kivy reads its configuration when first imported, so the screens come after
    # kiosk_mode.configure(); and only here: importing them costs ~3 s on this machine
    # (python -X importtime, kiosk.screens.app), which no other command should pay.
    from kiosk.screens import kiosk_mode

    kiosk_mode.configure(window_size=args.windowed, fullscreen=args.windowed is None)
    from kiosk.screens.app import KioskApp

    app = KioskApp(KioskServices(KioskStore(data_dir(args.data))), idle_timeout=args.idle, lang=args.lang)
    _serve_systemd(app)
    app.run()
    return 0


def _serve_systemd(app: Any) -> None:
    """Under systemd (docs/operations.md): READY=1 with the first frame, WATCHDOG=1 from
    Kivy's own main loop (a frozen UI stops feeding it and is restarted), and SIGTERM
    stops the app cleanly (STOPPING=1). Without $NOTIFY_SOCKET only the SIGTERM part."""
    from kivy.clock import Clock  # Kivy after kiosk_mode.configure() (see _ui)

    notifier = Notifier()

    def _term(*_: Any) -> None:
        notifier.stopping()
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    signal.signal(signal.SIGTERM, _term)
    if notifier.enabled:
        Clock.schedule_once(lambda _dt: notifier.ready(), 0)
        if notifier.ping_every:
            Clock.schedule_interval(lambda _dt: notifier.tick(), min(1.0, notifier.ping_every))


def _demo(args: argparse.Namespace) -> int:
    from kiosk.screens import demo_journey  # Kivy: only for this command (see _ui)

    out = Path(args.out)
    paths = demo_journey.run(out, KioskServices(KioskStore(data_dir(args.data))))
    cli_base.emit(args, {"screenshots": [str(p) for p in paths], "folder": str(out.resolve())},
                  f"{len(paths)} screenshots written to {out.resolve()}")
    return 0
