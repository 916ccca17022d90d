"""`ur-kiosk docs ...`: verify a secured document offline, pin the root key, see list ages.

`docs verify` prints the same verdict JSON as central and exits 0 only for VALID.
"""

from __future__ import annotations

import argparse
import json
import time

from contract import cli_base
from contract.cli_base import arg, command
from contract.errors import UrError
from contract.verdict import Status, Verdict
from kiosk.devices import qr_image_decoder
from kiosk.documents import verifier as document_verifier
from kiosk.store import KioskStore, data_dir


def _store(args: argparse.Namespace) -> KioskStore:
    return KioskStore(data_dir(args.data))


def _verify(args: argparse.Namespace) -> int:
    if (args.text is None) == (args.image is None):
        raise UrError("give the code text or --image FILE (exactly one)")
    v: Verdict
    if args.image is not None:
        try:
            text = qr_image_decoder.single_text(qr_image_decoder.decode_file(args.image))
        except UrError as e:
            text, v = None, Verdict(Status.INVALID, str(e))
    else:
        text = args.text
    if text is not None:
        store = _store(args)
        try:
            v = document_verifier.OfflineVerifier(store).verify(text, int(time.time()))
        finally:
            store.close()
    print(json.dumps(v.to_json(), ensure_ascii=False, sort_keys=True))
    return 0 if v.status is Status.VALID else 1


def _pin_root(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        with store.tx() as s:
            document_verifier.pin_root(s, args.public_key)
    finally:
        store.close()
    cli_base.emit(args, {"root_public_key": args.public_key.strip().lower()}, "root key pinned")
    return 0


def _lists(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        info = document_verifier.OfflineVerifier(store).lists_info(int(time.time()))
    finally:
        store.close()
    cli_base.emit(args, info)
    return 0


def add_commands(sub: cli_base.Subparsers) -> None:
    docs = cli_base.group(sub, "docs", "secured documents (UR1), verified offline")
    command(docs, "verify", _verify, "verify a code against the synced lists (exit 0 only if VALID)",
            arg("text", nargs="?"), arg("--image", help="photo or camera frame containing the QR code"))
    command(docs, "pin-root", _pin_root,
            "pin central's root public key (hex, from `ur-central trust export --root-pub`)", arg("public_key"))
    command(docs, "lists", _lists, "installed trust and status lists, their age and freshness")
