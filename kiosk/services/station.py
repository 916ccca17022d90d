"""`Station`: what every part of the kiosk's UI services shares: the store, the device
map, the receipt printer's spooler, and the cashier signed in at the PIN screen.

Devices come from the kiosk's device map (DATA_DIR/devices.toml, see
`kiosk.station_devices`); a call that needs a part this kiosk does not have raises
`NotAvailable` saying what is missing, and the screen shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk import identity
from kiosk.payments.cashier import Operator
from kiosk.payments.print_journal import PrintSpooler, make_spooler
from kiosk.station_devices import StationDevices
from kiosk.store import KioskStore


class Station:
    def __init__(self, store: KioskStore, spooler: PrintSpooler | None = None,
                 device_map: str | Path | None = None) -> None:
        self.store = store
        self._spooler = spooler
        # The station's devices: DATA_DIR/devices.toml, as `ur-kiosk devices diagnose` reads it.
        self.devices = StationDevices(Path(device_map) if device_map else store.dir / "devices.toml")
        self.operator: Operator | None = None  # the cashier signed in with check_pin, if any

    def identity(self) -> identity.Identity:
        return identity.load(self.store)

    def spooler(self) -> PrintSpooler | None:
        """The receipt printer's spooler: the one given, else the device map's printer."""
        if self._spooler is None and self.devices.configured:
            dev = self.devices.find("printer")
            if dev is not None:
                self._spooler = make_spooler(self.store, dev.profile, dev.port)
        return self._spooler

    def spooler_if_started(self) -> PrintSpooler | None:
        """The spooler only if one is already running (asking must not open a printer)."""
        return self._spooler


def texts(obj: Any) -> dict[str, str]:
    """Catalogue `Texts` (pydantic, .ar/.ckb/.en) or a plain dict -> dict."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return {k: str(v) for k, v in obj.items()}
    return {lang: str(getattr(obj, lang)) for lang in ("ar", "ckb", "en") if getattr(obj, lang, None)}


def same_in_all(text: str) -> dict[str, str]:
    """A text from the data that has no translations: the same in every language."""
    return {"ar": text, "ckb": text, "en": text}
