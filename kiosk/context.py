"""Opening the kiosk for a command: the store in the data directory and who we are, and
the wiring of sync to the capabilities that act on what central sends.

This module sits above the capabilities (like kiosk.cli), not in the foundation: it is
where the layers are put together."""

from __future__ import annotations

import argparse

from kiosk import identity
from kiosk.applications import applications
from kiosk.payments import end_of_day
from kiosk.store import KioskStore, data_dir
from kiosk.sync import downlink


def open_store(args: argparse.Namespace) -> KioskStore:
    return KioskStore(data_dir(getattr(args, "data", None)))


def open_enrolled(args: argparse.Namespace) -> tuple[KioskStore, identity.Identity]:
    store = open_store(args)
    return store, identity.load(store)


def wire_sync_handlers() -> None:
    """Register the feed event handlers of the capabilities with sync (idempotent): an
    application's status steps and central's ledger check of a closed day."""
    downlink.register_event_handler("status", applications.apply_status_events)
    downlink.register_event_handler("ledger_check", end_of_day.apply_ledger_checks)
