"""`ur-kiosk catalogue search | show`, `ur-kiosk complaint file` and
`ur-kiosk resubmit`: what the citizen's catalogue, complaint and correction
screens do, headless and offline."""

from __future__ import annotations

import argparse

from contract import catalogue as cat
from contract import cli_base
from kiosk import applications, catalogue_search, complaints, corrections
from kiosk.applications_cli import parse_fields
from kiosk.context import open_enrolled, open_store


def add_commands(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("catalogue", help="search and read the service catalogue (offline)")
    cs = c.add_subparsers(dest="sub", required=True)
    p = cs.add_parser("search", help="services matching what the citizen typed (prefixes count)")
    p.add_argument("query", nargs="?", default="")
    p.add_argument("--lang", choices=cat.LANGS)
    p.add_argument("--institution")
    p.add_argument("--kind", choices=cat.KINDS)
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_search)
    p = cs.add_parser("show", help="a service card: steps, documents, fees, visits, form")
    p.add_argument("service_id")
    p.add_argument("--lang", choices=cat.LANGS, default="ar")
    p.set_defaults(func=cmd_show)

    c = sub.add_parser("complaint", help="file a complaint (5599), named or anonymous")
    cs = c.add_subparsers(dest="sub", required=True)
    p = cs.add_parser("file", help="file a complaint; prints its tracking number")
    p.add_argument("--text", required=True)
    p.add_argument("--category", default="other", choices=complaints.CATEGORIES)
    p.add_argument("--application", help="tracking number of the application it is about")
    p.add_argument("--office", help="office id it is about")
    p.add_argument("--institution", help="institution id it is about")
    p.add_argument("--name", help="leave out to complain anonymously")
    p.add_argument("--mobile")
    p.set_defaults(func=cmd_complaint)

    p = sub.add_parser("resubmit", help="correct an application central returned, and send it back")
    p.add_argument("tracking")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE",
                   help="a corrected form field; repeat for each field")
    p.set_defaults(func=cmd_resubmit)


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
