"""What every `ur-central` command group opens: central's database at the newest
migration (from --db or $UR_CENTRAL_DB), as an engine, a session factory or one
transaction."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from central import db


def engine(args: argparse.Namespace) -> Engine:
    e = db.make_engine(getattr(args, "db", None))
    db.init_schema(e)
    return e


def sessions(args: argparse.Namespace) -> sessionmaker[Session]:
    return db.sessions(engine(args))


def transaction(args: argparse.Namespace) -> AbstractContextManager[Session]:
    """One transaction, committed when the block ends without an error."""
    return sessions(args).begin()
