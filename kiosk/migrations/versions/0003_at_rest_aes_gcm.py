"""At-rest encryption from Fernet to AES-256-GCM bound to the row (kiosk/at_rest.py).

Every encrypted column (outbox.envelope, applications.fields_enc,
complaints.body_enc) is decrypted with the Fernet form of the data key and
sealed again with AES-GCM, its associated data naming the table and the row's
key. It runs inside the store's one migration transaction (KioskStore._migrate,
BEGIN IMMEDIATE): a crash or an error part-way leaves every row in its Fernet
form and the store at 0002_schema, and the next start converts them all again.
A row that is not a Fernet token of this kiosk's key stops the upgrade with a
message naming it (nothing converted, nothing lost). Rows are read in pages by
primary key, so memory does not grow with the store.

Revision ID: 0003_at_rest_aes_gcm
Revises: 0002_schema
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from contract.errors import UrError
from kiosk.at_rest import DataKey, key_path

revision = "0003_at_rest_aes_gcm"
down_revision = "0002_schema"
branch_labels = None
depends_on = None

# (table, primary key, encrypted column), as in 0002_schema
COLUMNS = (("outbox", "message_id", "envelope"), ("applications", "tracking", "fields_enc"),
           ("complaints", "tracking", "body_enc"))
PAGE = 500


def _convert(change: Callable[[DataKey, bytes, str, str], bytes]) -> None:
    conn = op.get_bind()
    key: DataKey | None = None
    db = conn.engine.url.database
    for table, pk, col in COLUMNS:
        last = ""
        while True:
            rows = conn.execute(sa.text(f"SELECT {pk}, {col} FROM {table} WHERE {pk} > :last "
                                        f"ORDER BY {pk} LIMIT {PAGE}"), {"last": last}).all()
            if not rows:
                break
            if key is None:
                path = key_path(Path(db or ".").parent)
                if not path.exists():
                    raise UrError(f"kiosk store {db} holds encrypted rows but its data key {path} is missing; "
                                  "restore secrets/ before upgrading")
                key = DataKey(path.read_bytes())
            conn.execute(sa.text(f"UPDATE {table} SET {col} = :blob WHERE {pk} = :id"),
                         [{"id": rid, "blob": change(key, blob, table, rid)} for rid, blob in rows])
            last = rows[-1][0]


def upgrade() -> None:
    _convert(lambda key, blob, table, rid: key.seal(key.open_fernet(blob, table, rid), table, rid))


def downgrade() -> None:
    _convert(lambda key, blob, table, rid: key.seal_fernet(key.open(blob, table, rid)))
