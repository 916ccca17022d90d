"""`ur-central catalogue import | versions | show | fee | generate`: the
administrator's side of the service catalogue."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from central import catalogue, catalogue_generator, datasets, db
from contract import cli_base
from contract.errors import UrError


def add_commands(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("catalogue", help="import, inspect and generate the service catalogue")
    cs = c.add_subparsers(dest="sub", required=True)
    p = cs.add_parser("import", help="validate catalogue files and publish them as a new version")
    p.add_argument("path", nargs="?", help="directory of per-institution *.json (default: the built-in data)")
    p.add_argument("--check", action="store_true", help="validate only, publish nothing")
    p.set_defaults(func=cmd_import)
    p = cs.add_parser("versions", help="published versions with their hashes")
    p.set_defaults(func=cmd_versions)
    p = cs.add_parser("show", help="one service as a given (default latest) version has it")
    p.add_argument("service_id")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_show)
    p = cs.add_parser("fee", help="the fee of a service in a given catalogue version")
    p.add_argument("service_id")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_fee)
    p = cs.add_parser("generate", help="write a synthetic national-size catalogue (per-institution files)")
    p.add_argument("--out", required=True)
    p.add_argument("--services", type=int, default=548)
    p.add_argument("--institutions", type=int, default=63)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_generate)


def _sessions(args: argparse.Namespace):
    engine = db.make_engine(args.db)
    db.init_schema(engine)
    return db.sessions(engine)


def cmd_import(args: argparse.Namespace) -> int:
    loaded = catalogue.load(args.path)  # every problem reported before anything is written
    if args.check:
        cli_base.emit(args, {"services": len(loaded.services), "institutions": len(loaded.institutions)},
                      f"catalogue OK: {len(loaded.services)} services, {len(loaded.institutions)} institutions")
        return 0
    with _sessions(args).begin() as s:
        before = datasets.latest(s, catalogue.DATASET)
        version = catalogue.publish(s, loaded)
    changed = before is None or before.version != version
    cli_base.emit(args, {"version": version, "changed": changed, "services": len(loaded.services)},
                  f"catalogue v{version} published ({len(loaded.services)} services)" if changed
                  else f"catalogue unchanged (v{version})")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    with _sessions(args)() as s:
        rows = [{"version": d.version, "sha256": d.sha256, "bytes": len(d.body),
                 "published_at": d.published_at.isoformat(timespec="seconds")}
                for d in s.scalars(select(datasets.Dataset).where(datasets.Dataset.name == catalogue.DATASET)
                                   .order_by(datasets.Dataset.version))]
    if args.json:
        cli_base.emit(args, rows)
    else:
        for r in rows:
            print(f"v{r['version']}  {r['sha256'][:16]}  {r['bytes']} bytes  {r['published_at']}")
    return 0


def _at(s, version: int | None):
    if version is not None:
        return catalogue.at_version(s, version)
    c = catalogue.current(s)
    if c is None:
        raise UrError("no catalogue published yet (run `ur-central init` or `catalogue import`)")
    return c


def cmd_show(args: argparse.Namespace) -> int:
    with _sessions(args)() as s:
        c = _at(s, args.version)
    svc = c.service(args.service_id)
    cli_base.emit(args, {"catalogue_version": c.version, **svc.model_dump(mode="json")})
    return 0


def cmd_fee(args: argparse.Namespace) -> int:
    from contract import catalogue as cat

    with _sessions(args)() as s:
        q = cat.fee_for(_at(s, args.version), args.service_id)
    cli_base.emit(args, {"service_id": q.service_id, "catalogue_version": q.catalogue_version,
                         "statutory": q.statutory, "service": q.service, "total": q.total},
                  f"{q.service_id} (catalogue v{q.catalogue_version}): {q.statutory} + {q.service} = {q.total} IQD")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    if args.services < 1 or args.institutions < 1:
        raise UrError("--services and --institutions must be at least 1")
    c = catalogue_generator.generate(args.services, args.institutions, args.seed)
    files = catalogue_generator.write_files(c, args.out)
    cli_base.emit(args, {"files": len(files), "services": len(c.services)},
                  f"{len(c.services)} services in {len(files)} files under {args.out}")
    return 0
