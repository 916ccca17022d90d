"""`ur-central kiosks enroll | sign | revoke`: CSR-style enrollment and revocation.

1. `kiosks enroll K` reserves kiosk id K and issues its one-time code, shown once
   on the operator's terminal or written 0600 with --code-out (never to a pipe,
   so it does not end up in a log).
2. At the kiosk, `ur-kiosk enroll-request --kiosk K --out REQUEST` makes the
   kiosk's keys and a request authenticated with the code.
3. `kiosks sign REQUEST --out BUNDLE` checks the code, registers the kiosk's
   public keys, signs its certificate and writes the bundle: certificate, CA,
   kiosk code, broker URL, catalogue snapshot and central's pinned public keys.
   No private key is in it (contract/enrollment.py says why).
4. `ur-kiosk init --bundle BUNDLE` installs it next to the keys of step 2.

`kiosks revoke K` refuses the kiosk everywhere: central drops its envelopes
(counted as `revoked`), the CRL next to the broker files is rewritten (the
broker reads it again on SIGHUP), and a `service` event in the kiosk's feed
(signed like every event page) tells a kiosk that is still connected; a kiosk
the broker refuses learns it from the TLS handshake. Either way its screens say
"out of service".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from central import catalogue, downlink_key, keys, kiosks, pii_key, pki
from central.cli import common
from contract import cli_base, enrollment, mqtt_conn, private_files
from contract.cli_base import arg, command
from contract.errors import UrError

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def add_kiosk_commands(k: cli_base.Subparsers) -> None:
    command(k, "enroll", cmd_enroll, "reserve a kiosk id and issue its one-time enrollment code",
            arg("kiosk_id"),
            arg("--broker", default=DEFAULT_BROKER, help="broker URL the kiosk will use"),
            arg("--office", default=""),
            arg("--valid-hours", type=int, default=kiosks.CODE_VALID_HOURS, help=f"how long the code works (default {kiosks.CODE_VALID_HOURS})"),
            arg("--code-out", help="write the code to this file (0600); required unless stdout is a terminal"))
    command(k, "sign", cmd_sign, "check a kiosk's enrollment request and write its bundle",
            arg("request", help="file from `ur-kiosk enroll-request`"),
            arg("--out", required=True, help="bundle file to write (no private keys in it)"))
    command(k, "revoke", cmd_revoke, "refuse a kiosk: its certificate at the broker, its messages at central",
            arg("kiosk_id"))



def cmd_enroll(args: argparse.Namespace) -> int:
    mqtt_conn.parse_url(args.broker)
    if not args.code_out and not sys.stdout.isatty():
        # A secret goes to the operator's screen or a 0600 file, never into a pipe or a log.
        raise UrError("the enrollment code is shown only on a terminal; use --code-out FILE (written 0600)")
    with common.sessions(args).begin() as s:
        issued = kiosks.issue_code(s, args.kiosk_id, args.broker, args.office, datetime.now(UTC), args.valid_hours)
    until = issued.expires_at.isoformat(timespec="seconds")
    nxt = (f"at the kiosk: ur-kiosk enroll-request --kiosk {issued.kiosk_id} --out REQUEST; "
           f"then: ur-central kiosks sign REQUEST --out BUNDLE")
    if args.code_out:
        try:
            private_files.write_private(Path(args.code_out), issued.code + "\n")
        except OSError as e:
            raise UrError(f"cannot write code file {args.code_out}: {e.strerror}") from None
        cli_base.emit(args, {"kiosk_id": issued.kiosk_id, "code_file": args.code_out, "expires_at": until},
                      f"enrollment code for kiosk {issued.kiosk_id} written to {args.code_out} "
                      f"(single use, valid until {until}); {nxt}")
    else:  # shown once, on the operator's terminal, to hand to the technician
        cli_base.emit(args, {"kiosk_id": issued.kiosk_id, "code": issued.code, "expires_at": until},
                      f"enrollment code for kiosk {issued.kiosk_id}: {issued.code} "
                      f"(single use, valid until {until}); {nxt}")
    return 0


def bundle_for(session: Session, signed: kiosks.Signed) -> dict[str, Any]:
    """What a kiosk needs from central, all public: who it is, where the broker is,
    its certificate, and the central keys it pins (document root, downlink, sealing)."""
    now = int(time.time())
    k = signed.kiosk
    bundle: dict[str, Any] = {
        "kiosk_id": k.kiosk_id, "kiosk_code": k.kiosk_code, "office": k.office,
        "broker_url": signed.broker_url, "envelope_public_key": k.public_key,
        "root_public_key": keys.ensure(session, now).root.public_key.hex(),
        "downlink_public_key": downlink_key.signer(session).public_hex,
        "pii_public_key": pii_key.public_hex(session),
        "tls": {"ca": pki.ca_pem(session),
                "cert": signed.certificate.public_bytes(serialization.Encoding.PEM).decode()},
    }
    cat = catalogue.current(session)
    if cat is not None:
        bundle["catalogue"] = json.loads(catalogue.serialise(cat))
    return bundle


def cmd_sign(args: argparse.Namespace) -> int:
    try:
        with open(args.request, "rb") as f:  # a huge file is refused after this much
            text = f.read(enrollment.MAX_REQUEST_BYTES + 1)
    except OSError as e:
        raise UrError(f"cannot read request {args.request}: {e.strerror}") from None
    req = enrollment.parse_request(text)
    with common.sessions(args).begin() as s:
        result = kiosks.sign_request(s, req, datetime.now(UTC))
        if not isinstance(result, str):
            keys.publish_trust(s, int(time.time()))  # its key may sign receipts (central/receipt_keys.py)
            bundle = bundle_for(s, result)
    if isinstance(result, str):
        raise UrError(result)  # after the commit: the failed attempt is counted on the code
    out = Path(args.out)
    try:  # public content, but it decides who this kiosk trusts: 0600 like every bundle
        private_files.write_private(out, json.dumps(bundle, ensure_ascii=False, indent=1))
    except OSError as e:
        raise UrError(f"cannot write bundle {out}: {e.strerror}") from None
    cli_base.emit(args, {"kiosk_id": req.kiosk_id, "kiosk_code": bundle["kiosk_code"], "bundle": str(out),
                         "key_fingerprint": enrollment.key_fingerprint(req.envelope_public_key)},
                  f"kiosk {req.kiosk_id} enrolled (code {bundle['kiosk_code']}, key "
                  f"{enrollment.key_fingerprint(req.envelope_public_key)}); bundle written to {out}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with common.sessions(args).begin() as s:
        k = kiosks.revoke(s, args.kiosk_id, now)
        crl = pki.write_crl(s, now) if k is not None else None
    if k is None:
        cli_base.emit(args, {"kiosk_id": args.kiosk_id, "withdrawn_code": True},
                      f"kiosk {args.kiosk_id} was not enrolled yet: its enrollment code is withdrawn")
        return 0
    hint = (f"CRL rewritten at {crl}: reload the broker (kill -HUP <mosquitto pid>)" if crl is not None
            else "no broker files here (ur-central broker-tls): nothing to reload")
    cli_base.emit(args, {"kiosk_id": args.kiosk_id, "revoked_at": now.isoformat(), "crl": str(crl) if crl else None},
                  f"kiosk {args.kiosk_id} revoked: central refuses its messages; {hint}")
    return 0
