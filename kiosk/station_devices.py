"""The devices of this station, from its device map (DATA_DIR/devices.toml).

The same file `ur-kiosk devices diagnose` reads: one entry per device, each naming
a firmware_config profile and a port. The screens' services ask this object for
"the printer", "the terminal" or "the scanner" (the first enabled entry of that
kind); without a map, or without a device of that kind, they get `NotAvailable`
with a message saying what to configure - never a guess at a port.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_config import profiles as fp
from kiosk.devices import card_reader_device, id_card_form, scanner_device
from kiosk.ui_services import NotAvailable

KINDS = ("printer", "terminal", "scanner", "card_reader")


@dataclass(frozen=True)
class Device:
    name: str  # the entry's name in the device map
    kind: str
    profile_name: str
    profile: dict[str, Any]  # firmware_config.profile_dict
    port: str


class StationDevices:
    """Loads the device map once; opens nothing until a device is used."""

    def __init__(self, map_path: Path) -> None:
        self.map_path = map_path
        self._map: fp.DeviceMap | None = None
        self._scans: queue.Queue[str] | None = None
        self._stop = threading.Event()
        self._scan_thread: threading.Thread | None = None

    @property
    def configured(self) -> bool:
        return self.map_path.exists()

    def device_map(self) -> fp.DeviceMap:
        if self._map is None:
            if not self.map_path.exists():
                raise NotAvailable(f"no device map at {self.map_path}: this station has no devices "
                                   "configured (see firmware_config/examples/kiosk_devices.toml)")
            self._map = fp.load_device_map(self.map_path)
        return self._map

    def find(self, kind: str) -> Device | None:
        dm = self.device_map()
        for name, entry in sorted(dm.devices.items()):
            if not entry.enabled:
                continue
            prof = fp.load_profile(entry.profile)
            if prof.kind == kind:
                return Device(name, kind, entry.profile, fp.profile_dict(prof), fp.device_port(entry, prof))
        return None

    def get(self, kind: str) -> Device:
        d = self.find(kind)
        if d is None:
            raise NotAvailable(f"no {kind} in the device map {self.map_path}")
        return d

    # -- the citizen's ID card: read into a form (kiosk/devices/id_card_form.py) ------
    def read_id_card(self, document_number: str, birth_date: str, expiry_date: str) -> Any:
        """CardPrefill (the citizen confirms it) or CardFallback (the screen explains,
        the citizen types); a station without a card reader gets a CardFallback too."""
        dev = self.find("card_reader") if self.configured else None
        if dev is None:
            return id_card_form.CardFallback("card.no_reader", "this kiosk has no card reader", False)

        def read(key: Any) -> Any:
            return card_reader_device.read(dev.profile, dev.port, key)

        return id_card_form.read_for_form(read, document_number, birth_date, expiry_date)

    # -- the scanner: a reader thread feeding a queue the screens poll -----------------
    def next_scan(self) -> str | None:
        if not self.configured:
            return None
        if self._scans is None:
            dev = self.find("scanner")
            if dev is None:
                return None
            self._scans = queue.Queue()
            self._scan_thread = threading.Thread(target=self._read_scans, args=(dev, self._scans),
                                                 name="kiosk-scanner", daemon=True)
            self._scan_thread.start()
        try:
            return self._scans.get_nowait()
        except queue.Empty:
            return None

    def _read_scans(self, dev: Device, out: queue.Queue[str]) -> None:
        while not self._stop.is_set():
            try:
                for code in scanner_device.codes(dev.profile, dev.port, self._stop):
                    out.put(code.data.decode("utf-8", "replace"))
            except Exception:  # noqa: BLE001 - an unplugged scanner is retried, not fatal
                pass
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._scan_thread is not None:
            self._scan_thread.join(3)

