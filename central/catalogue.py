"""The service catalogue at central: loaded from the data files an administrator
edits (one JSON file per institution in central/catalogue_data/), validated as a
whole, and published as the dataset "catalogue".

Every publish is a new version (`version` == dataset version) and every old
version stays in the datasets table, so the fee of an application is always
the fee of the version it was made under (`at_version`, `fee_for_application`).
Kiosks get only what changed (`build_delta`, registered in central.downlink).

A per-institution file looks like:
  {"institution": {"id", "name": {ar, ckb, en}, "offices": [...]}, "services": [...]}
A file may also hold a whole catalogue ({"institutions": [...], "services": [...]}).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticError
from sqlalchemy.orm import Session

from central import datasets, workflows
from central.datasets import Dataset
from contract import catalogue as cat
from contract import input_limits
from contract.errors import UrError, ValidationError

DATA_DIR = Path(__file__).with_name("catalogue_data")
MAX_FILE_BYTES = 32 * 1024 * 1024  # a 5,000-service catalogue in one file is ~8 MB
DATASET = "catalogue"


def _file_problems(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(institutions, services, problems) of one file; problems name file and path."""
    name = path.name
    try:  # size and nesting are capped before the parser sees the file (contract.input_limits)
        data = input_limits.read_capped(path, MAX_FILE_BYTES, "catalogue file")
        input_limits.check_json(data, name, MAX_FILE_BYTES)
        raw = json.loads(data)
    except UrError as e:
        return [], [], [str(e)]
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        return [], [], [f"{name}: not valid JSON: {e}"]
    if not isinstance(raw, dict):
        return [], [], [f"{name}: (top): must be a JSON object"]
    for key in ("institutions", "services"):
        if key in raw and not isinstance(raw[key], list):
            return [], [], [f"{name}: {key}: must be a list, not {type(raw[key]).__name__}"]
    extra = set(raw) - {"institution", "institutions", "services", "version"}
    problems = [f"{name}: {k}: unknown key" for k in sorted(extra)]
    insts: list[Any] = []
    if "institution" in raw:
        insts.append(("institution", raw["institution"]))
    for n, i in enumerate(raw.get("institutions") or []):
        insts.append((f"institutions[{n}]", i))
    if not insts:
        problems.append(f"{name}: institution: missing (each file describes its institution)")
    services = raw.get("services")
    if not isinstance(services, list):
        problems.append(f"{name}: services: must be a list")
        services = []
    good_i, good_s = [], []
    for where, i in insts:
        try:
            good_i.append(cat.Institution.model_validate(i).model_dump(mode="json"))
        except PydanticError as e:
            problems += [f"{name}: {p}" for p in cat.pydantic_problems(e, where)]
    own = good_i[0]["id"] if len(good_i) == 1 and "institution" in raw else None
    for n, s in enumerate(services):
        try:
            svc = cat.Service.model_validate(s)
        except PydanticError as e:
            problems += [f"{name}: {p}" for p in cat.pydantic_problems(e, f"services[{n}]")]
            continue
        if own and svc.institution != own:
            problems.append(f"{name}: services[{n}].institution: is {svc.institution!r} but this file is {own!r}")
        if svc.description is None:
            problems.append(f"{name}: services[{n}].description: missing (Arabic, Kurdish and English)")
        good_s.append((n, svc.model_dump(mode="json")))
    return good_i, [s for _, s in good_s], problems


def load(path: Path | str | None = None) -> cat.Catalogue:
    """Load and check every file under `path` (a directory of *.json, or one file).

    Raises ValidationError listing every problem as 'file: path: reason'."""
    root = Path(path) if path else DATA_DIR
    if root.is_dir():
        files = sorted(root.glob("*.json"))
        if not files:
            raise ValidationError(f"no catalogue files (*.json) in {root}")
    elif root.is_file():
        files = [root]
    else:
        raise UrError(f"catalogue path {root} does not exist")
    insts: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    problems: list[str] = []
    where_inst: dict[str, str] = {}
    where_svc: dict[str, str] = {}
    for f in files:
        i, s, p = _file_problems(f)
        problems += p
        for x in i:
            if x["id"] in where_inst:
                problems.append(f"{f.name}: institution.id: {x['id']!r} already defined in {where_inst[x['id']]}")
            where_inst[x["id"]] = f.name
        insts += i
        for x in s:
            if x["id"] in where_svc:
                problems.append(f"{f.name}: services: id {x['id']!r} already defined in {where_svc[x['id']]}")
            where_svc[x["id"]] = f.name
        services += s
    for svc in services:
        for ref in [svc["institution"], *svc["agencies"]]:
            if ref not in where_inst:
                problems.append(f"{where_svc[svc['id']]}: services[{svc['id']}]: names unknown institution {ref!r}")
    problems += _workflow_problems(services, where_svc)
    if problems:
        raise ValidationError(f"catalogue at {root} rejected ({len(problems)} problems)", problems)
    return cat.from_obj({"version": 0, "institutions": insts, "services": services})


def _workflow_problems(services: list[dict[str, Any]], where: dict[str, str]) -> list[str]:
    """A service's workflow override must exist and be meant for its kind."""
    wanted = [s for s in services if s.get("workflow")]
    if not wanted:
        return []
    defs = workflows.load_definitions()
    out = []
    for s in wanted:
        d = defs.get(s["workflow"])
        if d is None:
            out.append(f"{where[s['id']]}: services[{s['id']}].workflow: no workflow {s['workflow']!r} "
                       f"in {workflows.DATA_FILE.name}")
        elif d.kind != s["kind"]:
            out.append(f"{where[s['id']]}: services[{s['id']}].workflow: {s['workflow']!r} is for "
                       f"{d.kind} services, not {s['kind']}")
    return out


def load_seed() -> cat.Catalogue:
    return load(DATA_DIR)


def serialise(c: cat.Catalogue) -> bytes:
    return cat.canonical(c)


def publish(session: Session, c: cat.Catalogue) -> int:
    """Publish `c` as the next catalogue version (no new version if unchanged)."""
    cur = datasets.latest(session, DATASET)
    if cur is not None:
        same = c.model_copy(update={"version": cur.version})
        if serialise(same) == cur.body:
            return cur.version
    nxt = (cur.version + 1) if cur else 1
    return datasets.publish(session, DATASET, serialise(c.model_copy(update={"version": nxt}))).version


def import_path(session: Session, path: Path | str | None = None) -> int:
    """Validate everything first, then publish in the caller's transaction:
    a bad file leaves the published catalogue exactly as it was."""
    return publish(session, load(path))


def current(session: Session) -> cat.Catalogue | None:
    ds = datasets.latest(session, DATASET)
    return cat.parse(ds.body) if ds else None


@lru_cache(maxsize=8)
def _parsed(body: bytes) -> cat.Catalogue:
    """Published versions never change: workflow start asks for the same few again and again."""
    return cat.parse(body)


def catalogues_at(session: Session, versions: set[int]) -> dict[int, cat.Catalogue | UrError]:
    """Each version's catalogue, or the UrError saying why there is none (one SELECT)."""
    found = datasets.get_many(session, DATASET, versions)
    out: dict[int, cat.Catalogue | UrError] = {}
    for v in versions:
        ds = found.get(v)
        if ds is None:
            out[v] = UrError(f"catalogue version {v} was never published")
            continue
        try:
            out[v] = _parsed(ds.body)
        except UrError as e:
            out[v] = e
    return out


def at_version(session: Session, version: int) -> cat.Catalogue:
    c = catalogues_at(session, {version})[version]
    if isinstance(c, UrError):
        raise c
    return c


def fee_for_application(session: Session, service_id: str, version: int) -> cat.FeeQuote:
    """The fee a cashier may charge: the fee of the version the application recorded."""
    return cat.fee_for(at_version(session, version), service_id)


_DELTAS: dict[tuple[str, str], bytes | None] = {}


def build_delta(session: Session, have_version: int, latest: Dataset) -> bytes | None:
    """DELTA_BUILDERS["catalogue"]: only what changed since `have_version`, or None
    (send the whole body) when the old version is unknown or the delta is not smaller.
    Deltas are remembered by (old hash, new hash): a hall of kiosks asking for the
    same step costs one diff."""
    old = datasets.get(session, DATASET, have_version)
    if old is None:
        return None
    key = (old.sha256, latest.sha256)
    if key not in _DELTAS:
        delta = cat.make_delta(cat.parse(old.body), cat.parse(latest.body))
        if len(_DELTAS) > 64:
            _DELTAS.clear()
        _DELTAS[key] = delta if len(delta) < len(latest.body) else None
    return _DELTAS[key]
