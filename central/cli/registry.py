"""`ur-central docs|keys|trust ...`: issue, revoke and verify secured documents; manage keys.

`docs verify` prints the verdict JSON and exits 0 only for VALID (1 otherwise),
so scripts can branch on it; bad arguments exit 2 like every command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime

from central import document_render, keys, registry
from central.cli import common
from contract import cli_base, qr_decode, qr_text
from contract.cli_base import arg, command
from contract.errors import UrError
from contract.verdict import Status, Verdict


def _when(s: str) -> int:
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise UrError(f"bad time {s!r} (use ISO 8601, e.g. 2026-05-01T12:00:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def verification_base(base: str | None) -> str:
    return base if base is not None else os.environ.get("UR_VERIFY_BASE", qr_text.DEFAULT_BASE)


def _issue(args: argparse.Namespace) -> int:
    now = int(time.time())
    fields = registry.parse_fields(args.field or [])
    expires = _when(args.expires) if args.expires else (now + int(args.expires_days * 86400) if args.expires_days else None)
    with common.transaction(args) as s:
        doc = registry.issue(s, doc_type=args.type, agency=args.agency, office=args.office or "",
                             fields=fields, body=args.body or "", now=now, expires_at=expires,
                             request_id=args.request_id)
        qr = qr_text.verification_text(doc.text, verification_base(args.base))
    # Rendering happens after commit: the status-index counter stays locked only briefly.
    code = qr_text.make_qr(qr, thermal=args.thermal)
    if args.png or args.pdf:
        page = document_render.render(doc_id=doc.id, doc_type=doc.doc_type, agency=doc.agency,
                                      office=doc.office, issued_at=doc.issued_at, expires_at=doc.expires_at,
                                      fields=doc.fields, body=doc.body, qr=qr, thermal=args.thermal)
        document_render.save(page, args.png, args.pdf)
    out = {"id": doc.id, "qr": qr, "qr_version": code.version, "qr_error": code.error,
           "status_index": doc.status_index, "kid": doc.kid}
    cli_base.emit(args, out, f"{doc.id}\n{qr}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        doc = registry.revoke(s, args.id, args.reason, int(time.time()))
        out = {"id": doc.id, "revoked_at": doc.revoked_at, "reason": doc.revoke_reason}
    cli_base.emit(args, out, f"{doc.id} revoked: {doc.revoke_reason}")
    return 0


def print_verdict(v: Verdict) -> int:
    print(json.dumps(v.to_json(), ensure_ascii=False, sort_keys=True))
    return 0 if v.status is Status.VALID else 1


def code_text(args: argparse.Namespace) -> str | Verdict:
    """The scanned text from the argument or the image; a verdict when there is none to check."""
    if (args.text is None) == (args.image is None):
        raise UrError("give the code text or --image FILE (exactly one)")
    if args.text is not None:
        return str(args.text)
    try:
        return qr_decode.single_text(qr_decode.decode_file(args.image))
    except UrError as e:
        return Verdict(Status.INVALID, str(e))


def _verify(args: argparse.Namespace) -> int:
    text = code_text(args)
    if isinstance(text, Verdict):
        return print_verdict(text)
    with common.transaction(args) as s:
        return print_verdict(registry.verify_online(s, text, int(time.time())))


def _show(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        cli_base.emit(args, registry.get(s, args.id).summary())
    return 0


def _publish_status(args: argparse.Namespace) -> int:
    now = int(time.time())
    with common.transaction(args) as s:
        ds = registry.publish_status(s, now, args.valid_for)
        out = {"dataset": ds.name, "version": ds.version, "bytes": len(ds.body), "sha256": ds.sha256}
    cli_base.emit(args, out)
    return 0


def _rotate(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        k = keys.rotate(s, int(time.time()), args.agency, tuple(args.types.split(",")))
        out = {"kid": k.kid, "agency": k.agency, "types": json.loads(k.types), "not_before": k.not_before}
    cli_base.emit(args, out, f"new signing key {k.kid}")
    return 0


def _withdraw(args: argparse.Namespace) -> int:
    now = int(time.time())
    with common.transaction(args) as s:
        k = keys.withdraw(s, args.kid, _when(args.cutoff) if args.cutoff else now, now)
        out = {"kid": k.kid, "withdrawn_at": k.withdrawn_at}
    cli_base.emit(args, out, f"key {k.kid} withdrawn from {k.withdrawn_at}")
    return 0


def _list_keys(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        keys.ensure(s, int(time.time()))
        rows = [{"kid": k.kid, "role": k.role, "active": k.active, "agency": k.agency,
                 "types": json.loads(k.types), "not_before": k.not_before, "not_after": k.not_after,
                 "withdrawn_at": k.withdrawn_at}
                for k in [keys.root_key(s), *keys.signing_keys(s)] if k is not None]
    cli_base.emit(args, rows, "\n".join(
        f"{r['kid']} {r['role']:7} {'active' if r['active'] else 'retired'}"
        f"{' WITHDRAWN' if r['withdrawn_at'] else ''}" for r in rows))
    return 0


def _trust_export(args: argparse.Namespace) -> int:
    now = int(time.time())
    with common.transaction(args) as s:
        keys.ensure(s, now)
        ds = keys.publish_trust(s, now, args.valid_for)
        root = keys.root_key(s)
        assert root is not None
        root_hex = root.public_key.hex()
        body = ds.body
    if args.out:
        with open(args.out, "wb") as f:
            f.write(body)
    elif not args.root_pub:
        sys.stdout.buffer.write(body)
        return 0
    cli_base.emit(args, {"root_public_key": root_hex, "version": ds.version, "bytes": len(body), "file": args.out},
                  root_hex)
    return 0


def add_commands(sub: cli_base.Subparsers) -> None:
    docs = cli_base.group(sub, "docs", "secured documents (UR1)")
    command(docs, "issue", _issue, "create and sign a document; prints its id and QR text",
            arg("--type", required=True, help="document type, e.g. certificate, letter"),
            arg("--agency", required=True),
            arg("--office"),
            arg("--field", action="append", metavar="NAME=VALUE", help="a field the clerk compares (repeat)"),
            arg("--body", help="free text printed on the page (hashed, not in the QR)"),
            arg("--expires", help="expiry time, ISO 8601"),
            arg("--expires-days", type=float),
            arg("--request-id", help="idempotency key: the same id returns the same document"),
            arg("--base", help="verification address before UR1: (default $UR_VERIFY_BASE or "
                               f"{qr_text.DEFAULT_BASE}; '' for none)"),
            arg("--thermal", action="store_true", help="ECC Q for thermal paper"),
            arg("--png", help="write the A4 page as PNG"),
            arg("--pdf", help="write the A4 page as PDF"))
    command(docs, "revoke", _revoke, "revoke a document and publish a new status list",
            arg("id"),
            arg("--reason", required=True))
    command(docs, "verify", _verify, "verify a code online (JSON verdict; exit 0 only if VALID)",
            arg("text", nargs="?"),
            arg("--image", help="photo or scan containing the QR code"))
    command(docs, "show", _show, "a document's registry record", arg("id"))
    command(docs, "publish-status", _publish_status, "sign and publish the status list (run at least daily)",
            arg("--valid-for", type=int, default=registry.STATUS_VALID_FOR, help="seconds until kiosks call it STALE"))

    k = cli_base.group(sub, "keys", "document signing keys")
    command(k, "rotate", _rotate, "a new signing key takes over (earlier documents stay valid)",
            arg("--agency", default="*"),
            arg("--types", default="*", help="comma-separated document types the key may sign"))
    command(k, "withdraw", _withdraw, "withdraw a compromised key from a cut-off time",
            arg("kid"),
            arg("--cutoff", help="ISO time from which its signatures are refused (default now)"))
    command(k, "list", _list_keys, "root and signing keys")

    t = cli_base.group(sub, "trust", "trust list")
    command(t, "export", _trust_export, "sign and publish the trust list; write it to --out (or stdout)",
            arg("--out"),
            arg("--root-pub", action="store_true", help="print the root public key (pin it on kiosks)"),
            arg("--valid-for", type=int, default=keys.TRUST_VALID_FOR))
