"""Opening the kiosk for a command: the store in the data directory and who we are."""

from __future__ import annotations

import argparse

from kiosk import identity
from kiosk.store import KioskStore, data_dir


def open_store(args: argparse.Namespace) -> KioskStore:
    return KioskStore(data_dir(getattr(args, "data", None)))


def open_enrolled(args: argparse.Namespace) -> tuple[KioskStore, identity.Identity]:
    store = open_store(args)
    return store, identity.load(store)
