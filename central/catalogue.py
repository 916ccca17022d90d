"""The service catalogue at central (MINIMAL FIRST VERSION; the catalogue
engineer extends it with import from files, institutions, deltas).

A published catalogue is the dataset "catalogue"; its `version` field equals
the dataset version, so the version an application records is the version of
the catalogue it was made under, and its fee is that version's fee.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from central import datasets
from contract import catalogue as cat

DATA_DIR = Path(__file__).with_name("catalogue_data")
DATASET = "catalogue"


def load_seed() -> cat.Catalogue:
    return cat.parse((DATA_DIR / "seed.json").read_bytes())


def serialise(c: cat.Catalogue) -> bytes:
    return json.dumps(c.model_dump(mode="json"), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def publish(session: Session, c: cat.Catalogue) -> int:
    """Publish `c` as the next catalogue version (no new version if unchanged)."""
    cur = datasets.latest(session, DATASET)
    if cur is not None:
        same = c.model_copy(update={"version": cur.version})
        if serialise(same) == cur.body:
            return cur.version
    nxt = (cur.version + 1) if cur else 1
    return datasets.publish(session, DATASET, serialise(c.model_copy(update={"version": nxt}))).version


def current(session: Session) -> cat.Catalogue | None:
    ds = datasets.latest(session, DATASET)
    return cat.parse(ds.body) if ds else None
