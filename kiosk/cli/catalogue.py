"""`ur-kiosk catalogue search | show`, `ur-kiosk complaint file` and
`ur-kiosk resubmit`: what the citizen's catalogue, complaint and correction
screens do, headless and offline."""

from __future__ import annotations

import argparse

from contract import catalogue as cat
from contract import cli_base
from contract.cli_base import arg, command
from kiosk.applications import applications, catalogue_search, complaints, corrections
from kiosk.cli.applications import parse_fields
from kiosk.context import open_enrolled, open_store


def add_commands(sub: cli_base.Subparsers) -> None:
    c = sub.add_parser("catalogue", help="search and read the service catalogue (offline)")
    cs = c.add_subparsers(dest="sub", required=True)
    command(cs, "search", cmd_search, "services matching what the citizen typed (prefixes count)",
            arg("query", nargs="?", default=""),
            arg("--lang", choices=cat.LANGS),
            arg("--institution"),
            arg("--kind", choices=cat.KINDS),
            arg("--limit", type=int, default=20))
    command(cs, "show", cmd_show, "a service card: steps, documents, fees, visits, form",
            arg("service_id"),
            arg("--lang", choices=cat.LANGS, default="ar"))

    cs = cli_base.group(sub, "complaint", "file a complaint (5599), named or anonymous", dest="sub")
    command(cs, "file", cmd_complaint, "file a complaint; prints its tracking number",
            arg("--text", required=True),
            arg("--category", default="other", choices=complaints.CATEGORIES),
            arg("--application", help="tracking number of the application it is about"),
            arg("--office", help="office id it is about"),
            arg("--institution", help="institution id it is about"),
            arg("--name", help="leave out to complain anonymously"),
            arg("--mobile"))

    command(sub, "resubmit", cmd_resubmit, "correct an application central returned, and send it back",
            arg("tracking"),
            arg("--field", action="append", default=[], metavar="NAME=VALUE", help="a corrected form field; repeat for each field"))


def cmd_search(args: argparse.Namespace) -> int:
    store = open_store(args)
    with store.session() as s:
        hits = catalogue_search.search(s, args.query, args.lang, args.institution, args.kind, args.limit)
    if args.json:
        cli_base.emit(args, [h.__dict__ for h in hits])
    else:
        for h in hits:
            print(f"{h.service_id:<36} {h.kind:<14} {h.name}")
        if not hits:
            print("no matching service")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = open_store(args)
    with store.session() as s:
        c = applications.load_catalogue(s)
    svc = c.service(args.service_id)
    if args.json:
        cli_base.emit(args, {"catalogue_version": c.version, **svc.model_dump(mode="json")})
        return 0
    lg = args.lang
    inst = c.institution(svc.institution)
    print(f"{svc.name.get(lg)}  [{svc.id}, {svc.kind}]")
    print(f"  {inst.name.get(lg) if inst else svc.institution}")
    if svc.description:
        print(f"  {svc.description.get(lg)}")
    fee = f"{svc.fees.statutory} + {svc.fees.service} = {svc.fee_total} IQD"
    print(f"  fee: {fee}{'  (e-payment)' if svc.e_payment else ''}; visits: {svc.visit_count}; "
          f"about {svc.duration_days} days")
    for n, st in enumerate(svc.steps, 1):
        print(f"  {n}. {st.get(lg)}")
    for d in svc.documents:
        how = "held by the state - do not bring" if d.held_by_state else (
            ("original" if d.original else "copy") + (f" + {d.copies} copies" if d.copies else ""))
        print(f"  - {d.name.get(lg)}: {how}{'' if d.proxy_allowed else ' (in person only)'}")
    for f in svc.form:
        print(f"  field {f.name} ({f.type}{', optional' if not f.required else ''})")
    return 0


def cmd_complaint(args: argparse.Namespace) -> int:
    store, ident = open_enrolled(args)
    r = complaints.file_complaint(store, ident, args.text, args.category, args.application, args.office,
                                  args.institution, args.name, args.mobile)
    cli_base.emit(args, {"tracking": r.tracking, "category": r.category, "anonymous": r.anonymous},
                  r.tracking)
    return 0


def cmd_resubmit(args: argparse.Namespace) -> int:
    store, ident = open_enrolled(args)
    number = corrections.resubmit(store, ident, args.tracking, parse_fields(args.field))
    cli_base.emit(args, {"tracking": number, "status": "resubmitted"}, f"{number} resubmitted")
    return 0
