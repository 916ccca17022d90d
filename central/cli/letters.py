"""`ur-central letters ...`: register, route and track official letters.

  register --number N --date D --from A --to B --subject S [--sign] [--png FILE]
  route    --number N --date D [--from-agency A] --to C [--note T]     (either direction)
  status   --number N --date D [--from-agency A] [--set STATUS --note T]  (show or change)
  list     --sent-by A [--since D]                                     (what a department sent)
  publish                                                              (republish the kiosk index)
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from central import document_render, letters, registry
from central.cli import common
from central.cli import registry as registry_cli
from contract import cli_base, qr_text
from contract.cli_base import arg, command


def _fmt(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _text(d: dict) -> str:
    lines = [f"letter {d['number']} of {d['date']}: {d['status']} at {d['holder']} (from {d['from']} to {d['to']})"]
    for e in d["steps"]:
        lines.append(f"  {_fmt(e['at'])}  {e['kind']:10} {e['from']} -> {e['to']}  {e['status']}")
    return "\n".join(lines)


def _register(args: argparse.Namespace) -> int:
    now = int(time.time())
    with common.transaction(args) as s:
        letter = letters.register(s, number=args.number, letter_date=args.date, from_agency=args.from_,
                                  to_agency=args.to, subject=args.subject, now=now, sign=args.sign or bool(args.png))
        out = letter.full()
        if letter.doc_id:
            doc = registry.get(s, letter.doc_id)
            qr = qr_text.verification_text(doc.text, registry_cli.verification_base(args.base))
            out["qr"] = qr
            if args.png:
                page = document_render.render(doc_id=doc.id, doc_type="letter", agency=doc.agency, office="",
                                              issued_at=doc.issued_at, expires_at=None, fields=doc.fields,
                                              body="", qr=qr)
                document_render.save(page, args.png)
    cli_base.emit(args, out, _text(out) + (f"\n{out['qr']}" if "qr" in out else ""))
    return 0


def _route(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        letter = letters.route(s, letters.one(s, args.number, args.date, args.from_agency), args.to,
                               int(time.time()), args.note or "")
        out = letter.full()
    cli_base.emit(args, out, _text(out))
    return 0


def _status(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        if args.set:
            letter = letters.set_status(s, letters.one(s, args.number, args.date, args.from_agency), args.set,
                                        int(time.time()), args.note or "")
            found = [letter]
        else:
            found = letters.find(s, args.number, args.date, args.from_agency)
        out = [x.full() for x in found]
    if not out:
        cli_base.emit(args, {"found": False, "letters": []}, f"no letter number {args.number} of {args.date}")
        return 1
    cli_base.emit(args, {"found": True, "letters": out}, "\n".join(_text(d) for d in out))
    return 0


def _list(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        out = [x.full() for x in letters.sent_by(s, args.sent_by, args.since)]
    cli_base.emit(args, out, "\n".join(_text(d) for d in out) or "no letters")
    return 0


def _publish(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        ds = letters.publish(s, int(time.time()))
        out = {"dataset": ds.name, "version": ds.version, "bytes": len(ds.body)}
    cli_base.emit(args, out)
    return 0


def add_commands(sub: cli_base.Subparsers) -> None:
    lt = cli_base.group(sub, "letters", "official letters between agencies")
    command(lt, "register", _register, "record a letter sent from one agency to another",
            arg("--number", required=True),
            arg("--date", required=True, help="letter date, YYYY-MM-DD"),
            arg("--from", dest="from_", required=True, metavar="AGENCY"),
            arg("--to", required=True, metavar="AGENCY"),
            arg("--subject", required=True),
            arg("--sign", action="store_true", help="give the letter a UR1 code"),
            arg("--png", help="write the letter page with its QR code (implies --sign)"),
            arg("--base", help="verification address before UR1:"))
    for name, func, hlp in (("route", _route, "send the letter on or back to another agency"),
                            ("status", _status, "show a letter's status and route, or change it with --set")):
        p = lt.add_parser(name, help=hlp)
        p.add_argument("--number", required=True)
        p.add_argument("--date", required=True)
        p.add_argument("--from-agency", help="sending agency, when two agencies used the same number and date")
        p.add_argument("--note")
        if name == "route":
            p.add_argument("--to", required=True, metavar="AGENCY")
        else:
            p.add_argument("--set", metavar="STATUS", help=", ".join(letters.SETTABLE))
        p.set_defaults(func=func)
    command(lt, "list", _list, "letters a department sent",
            arg("--sent-by", required=True, metavar="AGENCY"),
            arg("--since", help="YYYY-MM-DD"))
    command(lt, "publish", _publish, "republish the kiosk letters index")
