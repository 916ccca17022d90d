"""`ur-central apps inbox | act | show | escalate` and `ur-central audit verify |
show`: clerk and supervisor work on applications and complaints."""

from __future__ import annotations

import argparse
import time

from central import audit, casework, workflows
from central.cli import common
from contract import cli_base, input_limits, private_files
from contract.cli_base import arg, command
from contract.errors import UrError


def add_commands(sub: cli_base.Subparsers) -> None:
    a = sub.add_parser("apps", help="clerk work: inbox, actions, case view, escalation")
    s = a.add_subparsers(dest="sub", required=True)
    command(s, "inbox", cmd_inbox, "open cases an agency owes a move on (overdue first)",
            arg("--agency", required=True))
    command(s, "act", cmd_act, "act on an application or complaint",
            arg("number", help="tracking number"),
            arg("action", choices=workflows.ACTIONS),
            arg("--note", default="", help="reason (required for return and reject)"),
            arg("--to", help="agency to forward to"),
            arg("--actor", default="clerk", help="who acts (user name)"),
            arg("--office", default="central", help="office the clerk acts from"))
    command(s, "show", cmd_show, "a case: step, owner, SLA, allowed actions, audit trail", arg("number"))
    command(s, "escalate", cmd_escalate, "escalate every case whose SLA is breached")

    s = cli_base.group(sub, "audit", "the hash-chained audit trail", dest="sub")
    command(s, "verify", cmd_verify, "check every chain against the newest signed checkpoint; exit 1 on any problem",
            arg("--checkpoint", action="append", default=[], metavar="FILE", help="a checkpoint kept outside the database (`audit checkpoint --out`, or a kiosk's copy)"),
            arg("--root-key", help="central's root public key (hex) to pin, instead of the key table's"))
    command(s, "checkpoint", cmd_checkpoint, "sign the current chain heads now (the worker does so hourly)",
            arg("--out", help="also write the signed checkpoint to this file, to keep elsewhere"))



def cmd_inbox(args: argparse.Namespace) -> int:
    with common.sessions(args).begin() as s:
        casework.escalate_due(s)
        rows = casework.inbox(s, args.agency)
    if args.json:
        cli_base.emit(args, rows)
    else:
        if not rows:
            print(f"inbox of {args.agency} is empty")
        for r in rows:
            flag = " OVERDUE" if r["overdue"] else ""
            flag += " ESCALATED" if r["escalated"] else ""
            print(f"{r['number']}  {r['subject']:<11} {r['service_id'] or '-':<32} step {r['step']:<20} "
                  f"due {r['sla_due']}{flag}  [{', '.join(r['actions'])}]")
    return 0


def cmd_act(args: argparse.Namespace) -> int:
    with common.sessions(args).begin() as s:
        case = casework.act(s, args.number, args.action, args.actor, args.office, args.note, args.to)
    d = {"number": case.number, "status": case.status, **casework.detail(case)}
    cli_base.emit(args, d, f"{case.number}: {case.status} at step {case.step.id} ({case.agency})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with common.sessions(args)() as s:
        cli_base.emit(args, casework.show(s, args.number))
    return 0


def cmd_escalate(args: argparse.Namespace) -> int:
    with common.sessions(args).begin() as s:
        done = casework.escalate_due(s)
    cli_base.emit(args, {"escalated": done}, f"{len(done)} case(s) escalated")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    anchors = [(f"file {f}", input_limits.read_capped(f, 64 * 1024, "checkpoint file")) for f in args.checkpoint]
    pinned = None
    if args.root_key is not None:
        try:
            pinned = bytes.fromhex(args.root_key)
        except ValueError:
            pinned = b""
        if len(pinned) != 32:
            raise UrError("--root-key must be 64 hex digits (an Ed25519 public key)")
    with common.sessions(args)() as s:
        r = audit.verify_report(s, anchors, pinned)
    anchor = f"against {r.anchor}" if r.anchor else "no checkpoint yet: chains checked only against themselves"
    cli_base.emit(args, {"checked": r.checked, "problems": r.problems, "anchor": r.anchor},
                  "\n".join([f"audit: {r.checked} entries checked, {len(r.problems)} problems; {anchor}",
                             *r.problems]))
    return 1 if r.problems else 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    with common.sessions(args).begin() as s:
        row = audit.checkpoint(s, int(time.time()))
        seq, chains, entries, signed = row.seq, row.chains, row.entries, row.signed
    if args.out:
        try:
            private_files.write_private(args.out, signed)
        except OSError as e:
            raise UrError(f"cannot write checkpoint {args.out}: {e.strerror}") from None
    cli_base.emit(args, {"checkpoint": seq, "chains": chains, "entries": entries, "out": args.out},
                  f"audit checkpoint {seq}: {chains} chains, {entries} entries signed"
                  + (f"; written to {args.out}" if args.out else ""))
    return 0
