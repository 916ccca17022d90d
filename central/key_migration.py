"""Moving raw private keys out of a database written by an older version.

Before central/hsm.py, the root and document signing keys were raw bytes in
`ur1_keys.private_key`, the downlink key raw in `downlink_key.private_key`, the
personal-data sealing key raw in `pii_keys.private_key` and the broker CA key
a PEM row `pki/ca.key`.

Decision: `ur-central init` moves them into the token (imported with
CKA_SENSITIVE true and CKA_EXTRACTABLE false, under the same key ids, so
documents, kiosks' pinned keys and certificates stay valid) and wipes them from
the database: the columns are dropped, the CA row deleted, and the file is
rewritten (SQLite: VACUUM with secure_delete, WAL truncated; PostgreSQL:
VACUUM FULL of the tables). Every other command refuses such a database with
one line naming `ur-central init`, so a worker never signs from raw bytes and
nothing moves keys behind the operator's back.

What the wipe cannot reach: backups, PostgreSQL WAL archives and copies made
before the upgrade still hold the keys. The keys were readable by anyone with
database access, so after the upgrade rotate the signing key (`ur-central keys
rotate`); the root and downlink keys are pinned by kiosks and change only by
re-enrollment.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from central import hsm
from contract.errors import UrError

# (table, label in the token): tables whose rows held a raw private key in `private_key`
# beside its `public_key` (Ed25519 signing keys; X25519 for the personal-data key).
RAW_ED25519 = (("ur1_keys", "ur1"), ("downlink_key", "downlink"))
RAW_X25519 = (("pii_keys", "pii"),)


def _raw_tables(conn: Connection) -> list[tuple[str, str]]:
    insp = inspect(conn)
    names = set(insp.get_table_names())
    return [(t, label) for t, label in RAW_ED25519 + RAW_X25519
            if t in names and "private_key" in {c["name"] for c in insp.get_columns(t)}]


def _ca_row(conn: Connection) -> str | None:
    if "pki" not in set(inspect(conn).get_table_names()):
        return None
    return conn.execute(text("SELECT pem FROM pki WHERE name = 'ca.key'")).scalar()


def legacy_keys(engine: Engine) -> list[str]:
    """Where this database still holds private keys ("ur1_keys.private_key", ...)."""
    with engine.connect() as conn:
        found = [f"{t}.private_key" for t, _ in _raw_tables(conn)]
        if _ca_row(conn) is not None:
            found.append("pki ca.key")
    return found


def refuse_legacy(engine: Engine) -> None:
    """One clear error when the database still holds private keys (see the docstring)."""
    found = legacy_keys(engine)
    if found:
        raise UrError(f"the central database holds private keys from an older version ({', '.join(found)}); "
                      "run `ur-central init` once to move them into the token")


def migrate(engine: Engine) -> list[str]:
    """Import every raw private key into the token, then wipe it from the database.
    Returns what was moved (empty for a current database). Safe to re-run: a key
    already in the token is not imported twice."""
    found = legacy_keys(engine)
    if not found:
        return []
    tok = hsm.token()
    with engine.begin() as conn:
        for table, label in _raw_tables(conn):
            for pub, priv in conn.execute(text(f"SELECT public_key, private_key FROM {table}")):
                if not priv:
                    continue
                if (table, label) in RAW_X25519:
                    tok.import_x25519(bytes(priv), bytes(pub), f"{label}-imported")
                else:
                    tok.import_ed25519(bytes(priv), bytes(pub), f"{label}-imported")
        pem = _ca_row(conn)
        if pem is not None:
            key = serialization.load_pem_private_key(pem.encode(), None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise UrError("pki ca.key is not an EC key; cannot move it into the token")
            tok.import_p256(key, "ca-imported")
    # Only once every key is in the token does it leave the database.
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        for table, _ in _raw_tables(conn):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN private_key")
        if _ca_row(conn) is not None:
            conn.execute(text("DELETE FROM pki WHERE name = 'ca.key'"))
    _rewrite(engine)
    return found


def _rewrite(engine: Engine) -> None:
    """Rewrite the storage so the dropped bytes are not left in free pages or the WAL."""
    if engine.dialect.name == "sqlite":
        # On the driver's own connection: VACUUM cannot run inside the BEGIN IMMEDIATE
        # that contract.sqlite_pragmas opens for every SQLAlchemy transaction.
        raw = engine.raw_connection()
        try:
            for sql in ("PRAGMA secure_delete = ON", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
                raw.driver_connection.execute(sql)  # type: ignore[union-attr]  # SQLite here: the driver connection is a sqlite3.Connection
        finally:
            raw.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            names = set(inspect(conn).get_table_names())
            for table in ("ur1_keys", "downlink_key", "pii_keys", "pki"):
                if table in names:
                    conn.exec_driver_sql(f"VACUUM FULL {table}")
