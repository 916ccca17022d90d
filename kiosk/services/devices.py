"""The station's state and devices for screens: the status strip, scans, device health
and tests (kiosk.device_health and kiosk/devices/<kind>_device.py), firmware profiles,
and the recent errors a technician looks at."""

from __future__ import annotations

import time
from typing import Literal

from sqlalchemy import select

from contract.errors import UrError
from firmware_config.profiles import list_profiles, load_profile, profile_dict
from kiosk import device_health, identity
from kiosk.payments.print_journal import WAITING, PrintJob, screen_status
from kiosk.payments.service import PaymentRow
from kiosk.services.station import Station
from kiosk.sync import cursor, downlink, outbox
from kiosk.ui_services import DEVICES, DeviceState, StatusStrip

_DEVICE_STATES = {"ready": "ok", "paper_near_end": "warning", "disabled": "absent",
                  "not_installed": "absent", "busy": "warning", "no_scan": "ok",
                  "card_present": "ok"}
_PAPER: dict[str, Literal["ok", "near_end", "out"]] = {
    "ready": "ok", "paper_near_end": "near_end", "paper_end": "out"}


class DeviceServices:
    def __init__(self, station: Station) -> None:
        self.station, self.store, self.devices = station, station.store, station.devices

    def status_strip(self) -> StatusStrip:
        """Never raises: the strip must always show something. Online means the
        last exchange with central is under two minutes old; paper comes from the
        print spooler when one is attached."""
        try:
            with self.store.session() as s:
                queued = outbox.stats(s).pending
                last = cursor.get_float(s, downlink.LAST_SYNC)
                in_service = identity.out_of_service(s) is None
            online = time.time() - last < 120
        except Exception:  # noqa: BLE001 - a status strip must not take the screen down
            online, queued, in_service = False, 0, True
        paper: Literal["ok", "near_end", "out", "unknown"] = "unknown"
        try:  # a missing printer must not hide the sync state
            spooler = self.station.spooler()
            if spooler is not None:
                paper = _PAPER.get(str(screen_status(spooler).get("printer_state", "")), "unknown")
        except Exception:  # noqa: BLE001
            paper = "unknown"
        return StatusStrip(online=online, queued=queued, paper=paper, in_service=in_service)

    def poll_scan(self) -> str | None:
        """The next code the device map's QR scanner read (None without a scanner)."""
        try:
            return self.devices.next_scan()
        except UrError:
            return None

    def device_states(self) -> list[DeviceState]:
        """One line per kind; a kind the device map does not list is `absent`."""
        if not self.devices.configured:
            return [DeviceState(k, "absent", f"no device map ({self.devices.map_path})") for k in DEVICES]
        report = device_health.report(self.devices.device_map())
        out = []
        for kind in DEVICES:
            dev = self.devices.find(kind)
            if dev is None:
                out.append(DeviceState(kind, "absent", "not in the device map"))
                continue
            r = report.get(dev.name, {})
            st = str(r.get("state", "error"))
            details = r.get("details") or {}
            detail = str(details.get("message") or details.get("error") or st)
            out.append(DeviceState(kind, _DEVICE_STATES.get(st, "ok" if r.get("ok") else "error"),
                                   f"{dev.name} {dev.port}: {detail}"))
        return out

    def _device_test(self, kind: str, timeout_s: float | None = None) -> str:
        dev = self.devices.get(kind)
        profile = dict(dev.profile)
        if timeout_s is not None:
            profile["test_timeout_s"] = timeout_s
        r = device_health.device_module(kind).test(profile, dev.port)
        details = r.get("details") or {}
        text = ", ".join(f"{k} {v}" for k, v in details.items() if k not in ("port",))
        if not r.get("ok"):
            raise UrError(f"{kind} test failed ({r.get('state')}): {text}")
        return f"{kind} {dev.name}: {r.get('state')} ({text})"

    def test_print(self) -> str:
        return self._device_test("printer")

    def scan_test(self, timeout_s: float) -> str:
        return self._device_test("scanner", timeout_s)

    def terminal_registration_test(self) -> str:
        return self._device_test("terminal")

    def device_profiles(self) -> list[str]:
        """Shipped profiles of the kinds this station has (and that have firmware settings)."""
        if not self.devices.configured:
            return []
        kinds = {k for k in ("printer", "scanner") if self.devices.find(k) is not None}
        return [name for name, kind in list_profiles().items() if kind in kinds]

    def apply_device_profile(self, profile: str) -> str:
        """Push a profile's firmware settings to this station's device of that kind."""
        prof = load_profile(profile)
        dev = self.devices.get(prof.kind)
        mod = device_health.device_module(prof.kind)
        if not hasattr(mod, "apply_settings"):
            raise UrError(f"{prof.kind} devices have no firmware settings to apply")
        r = mod.apply_settings(profile_dict(prof), dev.port)
        if not r.get("ok"):
            raise UrError(f"applying {profile} to {dev.name} failed ({r.get('state')}): {r.get('details')}")
        return f"{profile} applied to {dev.name}: {', '.join((r.get('details') or {}).get('applied', []))}"

    def recent_errors(self, limit: int = 20) -> list[str]:
        """Payments that need staff and print jobs that did not print, newest first."""
        out: list[tuple[str, str]] = []
        with self.store.session() as s:
            for row in s.scalars(select(PaymentRow).where(PaymentRow.state.in_(["UNKNOWN", "FAILED", "REVERSED"]))
                                 .order_by(PaymentRow.updated_at.desc()).limit(limit)):
                note = row.refund_due or row.reversal_due or ""
                out.append((row.updated_at.isoformat(), f"payment {row.payment_id} {row.fee_ref}: {row.state} {note}"))
            for job in s.scalars(select(PrintJob).where(PrintJob.state == WAITING).limit(limit)):
                out.append((job.updated_at.isoformat(), f"print job {job.receipt_key}: {job.state} {job.reason or ''}"))
        return [text.strip() for _at, text in sorted(out, reverse=True)[:limit]]
