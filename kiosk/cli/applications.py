"""`ur-kiosk init | apply | status`: what a citizen does at the screen, headless."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from contract import catalogue as cat
from contract import cli_base, mqtt_conn
from contract.cli_base import arg, command
from contract.errors import UrError
from kiosk import datasets, identity
from kiosk.applications import applications
from kiosk.applications import ticket as visit_ticket
from kiosk.context import open_enrolled, open_store
from kiosk.documents import verifier as document_verifier


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "init", cmd_init, "enroll this kiosk from the bundle central issued",
            arg("--bundle", required=True, help="file from `ur-central kiosks sign` (answers this kiosk's enroll-request)"),
            arg("--broker", help="override the broker URL in the bundle"))

    command(sub, "apply", cmd_apply, "submit an application (works offline)",
            arg("--service", required=True, help="service id from the catalogue"),
            arg("--field", action="append", default=[], metavar="NAME=VALUE", help="a form field; repeat for each field"),
            arg("--printer", help="receipt printer port: print the visit ticket of a service that needs a visit"),
            arg("--printer-profile", default="epson_tm_t20ii_80mm", help="firmware_config printer profile"))

    command(sub, "status", cmd_status, "status of an application as central reported it", arg("tracking"))


def parse_fields(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UrError(f"--field {item!r} must be NAME=VALUE")
        if name.strip() in out:
            raise UrError(f"field {name.strip()!r} given twice")
        out[name.strip()] = value
    return out


def cmd_init(args: argparse.Namespace) -> int:
    try:
        text = Path(args.bundle).read_text()
    except OSError as e:
        raise UrError(f"cannot read bundle {args.bundle}: {e.strerror}") from None
    bundle = identity.parse_bundle(text)
    if args.broker:
        mqtt_conn.parse_url(args.broker)
        bundle["broker_url"] = args.broker
    catalogue = bundle.get("catalogue")
    body = None
    if catalogue is not None:
        parsed = cat.parse(json.dumps(catalogue))
        body = json.dumps(catalogue, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    store = open_store(args)
    identity.enroll(store, bundle)
    with store.tx() as s:
        if body is not None:
            datasets.install(s, "catalogue", parsed.version, body, hashlib.sha256(body).hexdigest())
        if isinstance(bundle.get("root_public_key"), str):
            document_verifier.pin_root(s, str(bundle["root_public_key"]))
    cli_base.emit(args, {"kiosk_id": bundle["kiosk_id"], "data": str(store.dir)},
                  f"kiosk {bundle['kiosk_id']} enrolled in {store.dir}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    store, ident = open_enrolled(args)
    result = applications.submit(store, ident, args.service, parse_fields(args.field))
    out: dict[str, object] = {"tracking": result.tracking, "service_id": result.service_id,
                              "fee_total": result.fee_total, "catalogue_version": result.catalogue_version}
    with store.session() as s:
        visit = visit_ticket.needs_visit(applications.load_catalogue(s).service(result.service_id))
    text = result.tracking
    if visit:
        # Only for a visit ticket: kiosk.services and the printer stack cost 1.7-2.1 s of
        # imports on top of ~4 s here (perf_counter around the imports, loaded 2-core machine).
        from firmware_config.profiles import load_profile, profile_dict
        from kiosk.payments.print_journal import make_spooler
        from kiosk.services.kiosk_services import KioskServices

        spooler = None
        if getattr(args, "printer", None):
            spooler = make_spooler(store, profile_dict(load_profile(args.printer_profile)), args.printer)
        ticket = KioskServices(store, spooler).applications.visit_ticket(ident.office, result.service_id,
                                                                         result.tracking)
        if ticket is not None:
            out["ticket"] = {"number": ticket.number, "counter_group": ticket.counter_group,
                             "wait_min": ticket.wait_min, "printed": ticket.printed}
            wait = f"about {ticket.wait_min} min" if ticket.wait_min is not None else "no estimate yet"
            # the plain output stays the bare number unless a ticket was to be printed (scripts read it)
            text += "" if spooler is None else (f"\nvisit ticket {ticket.number}: counter {ticket.counter_group.get('en', '')}, wait {wait}"
                     f" ({'printed' if ticket.printed else 'not printed'})")
    cli_base.emit(args, out, text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    store = open_store(args)
    with store.session() as s:
        st = applications.status(s, args.tracking)
    if args.json:
        cli_base.emit(args, st)
    else:
        print(f"{st['tracking']}: {st['status']}")
        for h in st["history"]:
            extra = {k: v for k, v in h.items() if k not in ("status", "at")}
            print(f"  {h['at']}  {h['status']}" + (f"  {extra}" if extra else ""))
    return 0
