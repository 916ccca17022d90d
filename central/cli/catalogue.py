"""`ur-central catalogue import | versions | show | fee | generate`: the
administrator's side of the service catalogue."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from central import catalogue, catalogue_generator, datasets
from central.cli import common
from contract import catalogue as cat
from contract import cli_base
from contract.cli_base import arg, command
from contract.errors import UrError


def add_commands(sub: cli_base.Subparsers) -> None:
    cs = cli_base.group(sub, "catalogue", "import, inspect and generate the service catalogue", dest="sub")
    command(cs, "import", cmd_import, "validate catalogue files and publish them as a new version",
            arg("path", nargs="?", help="directory of per-institution *.json (default: the built-in data)"),
            arg("--check", action="store_true", help="validate only, publish nothing"))
    command(cs, "versions", cmd_versions, "published versions with their hashes")
    command(cs, "show", cmd_show, "one service as a given (default latest) version has it",
            arg("service_id"),
            arg("--version", type=int))
    command(cs, "fee", cmd_fee, "the fee of a service in a given catalogue version",
            arg("service_id"),
            arg("--version", type=int))
    command(cs, "generate", cmd_generate, "write a synthetic national-size catalogue (per-institution files)",
            arg("--out", required=True),
            arg("--services", type=int, default=548),
            arg("--institutions", type=int, default=63),
            arg("--seed", type=int, default=0))



def cmd_import(args: argparse.Namespace) -> int:
    loaded = catalogue.load(args.path)  # every problem reported before anything is written
    if args.check:
        cli_base.emit(args, {"services": len(loaded.services), "institutions": len(loaded.institutions)},
                      f"catalogue OK: {len(loaded.services)} services, {len(loaded.institutions)} institutions")
        return 0
    with common.sessions(args).begin() as s:
        before = datasets.latest(s, catalogue.DATASET)
        version = catalogue.publish(s, loaded)
    changed = before is None or before.version != version
    cli_base.emit(args, {"version": version, "changed": changed, "services": len(loaded.services)},
                  f"catalogue v{version} published ({len(loaded.services)} services)" if changed
                  else f"catalogue unchanged (v{version})")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    with common.sessions(args)() as s:
        rows: list[dict[str, Any]] = [{"version": d.version, "sha256": d.sha256, "bytes": len(d.body),
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
    with common.sessions(args)() as s:
        c = _at(s, args.version)
    svc = c.service(args.service_id)
    cli_base.emit(args, {"catalogue_version": c.version, **svc.model_dump(mode="json")})
    return 0


def cmd_fee(args: argparse.Namespace) -> int:
    with common.sessions(args)() as s:
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
