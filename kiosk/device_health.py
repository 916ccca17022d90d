"""Every device's state in one dict, for the heartbeat to central and the
technician screen. Each device kind answers through its module's `diagnose`;
a kind whose module is not installed, or a device that fails in an unexpected
way, still gets a state string -- a health report never raises."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from contract.errors import UrError
from firmware_config.profiles import (
    DeviceEntry,
    DeviceMap,
    ScannerProfile,
    device_port,
    load_device_map,
    load_profile,
    parse_device_map,
    profile_dict,
)

log = logging.getLogger(__name__)

KIND_MODULES = {
    "printer": "kiosk.devices.printer_device",
    "terminal": "kiosk.devices.terminal_device",
    "scanner": "kiosk.devices.scanner_device",
    "card_reader": "kiosk.devices.card_reader_device",
}


class NotInstalled(UrError):
    """A device kind whose support module cannot be imported on this kiosk."""


def device_module(kind: str) -> ModuleType:
    """The module for a device kind, imported lazily (the terminal may be absent)."""
    if kind not in KIND_MODULES:
        raise UrError(f"unknown device kind {kind!r} ({', '.join(KIND_MODULES)})")
    try:
        return importlib.import_module(KIND_MODULES[kind])
    except ImportError as e:
        raise NotInstalled(f"{kind} support not installed ({e})") from None


def _as_map(device_map: DeviceMap | dict[str, Any] | str | Path) -> DeviceMap:
    if isinstance(device_map, DeviceMap):
        return device_map
    if isinstance(device_map, dict):
        return parse_device_map(device_map)
    return load_device_map(device_map)


def diagnose_one(profile_name: str, port: str) -> dict[str, Any]:
    prof = load_profile(profile_name)
    mod = device_module(prof.kind)
    return mod.diagnose(profile_dict(prof), port or device_port_from_profile(prof))


def device_port_from_profile(prof: Any) -> str:
    return device_port(DeviceEntry(profile="-"), prof)


def report(device_map: DeviceMap | dict[str, Any] | str | Path) -> dict[str, dict[str, Any]]:
    """Device name -> the full diagnose result (state, ok, details)."""
    dm = _as_map(device_map)
    out: dict[str, dict[str, Any]] = {}
    for name, entry in sorted(dm.devices.items()):
        if not entry.enabled:
            out[name] = {"ok": True, "state": "disabled", "details": {}}
            continue
        try:
            prof = load_profile(entry.profile)
            mod = device_module(prof.kind)
            camera = isinstance(prof, ScannerProfile) and prof.scanner.interface == "camera"
            port = entry.port if camera else device_port(entry, prof)
            out[name] = mod.diagnose(profile_dict(prof), port)
        except UrError as e:
            state = "not_installed" if isinstance(e, NotInstalled) else "error"
            out[name] = {"ok": False, "state": state, "details": {"error": str(e)}}
        except Exception as e:  # noqa: BLE001 - a health report must never crash the heartbeat
            log.exception("diagnose %s", name)
            out[name] = {"ok": False, "state": "error", "details": {"error": repr(e)}}
    return out


def snapshot(device_map: DeviceMap | dict[str, Any] | str | Path) -> dict[str, str]:
    """Device name -> state string (ready, paper_end, cover_open, disconnected, ...)."""
    try:
        return {name: r["state"] for name, r in report(device_map).items()}
    except UrError as e:
        return {"device_map": f"error: {e}"}
