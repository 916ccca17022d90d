"""Central's sealing key for personal data on the wire (contract.pii_seal).

Kiosks seal applications, complaints and corrections to this X25519 key
(pinned from the enrollment bundle), so the broker and anyone reading it see
none of a citizen's data; the ingest worker opens them before the stream's
handler runs. Everything that touches the private key goes through this
module (`ensure`, `public_hex`, `decryptor`, `clear_payload`), so moving the
key into a hardware token changes this file only.

Decision: like central's other keys, the private key is made in the PKCS#11
token (central/hsm.py) and never leaves it; the table `pii_keys` keeps the
public key, and every exchange is a C_DeriveKey in the token (about one per
kiosk process and interval: `Remembering` keeps the shared secrets). Old keys
are kept (inactive) so messages sealed before a key change still open.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import hsm
from central.db import Base
from contract import pii_seal


class PiiKey(Base):
    __tablename__ = "pii_keys"
    kid: Mapped[str] = mapped_column(String(16), primary_key=True)  # hex of pii_seal.key_id
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # the private half is in the token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


def ensure(session: Session) -> PiiKey:
    """The active sealing key, made on first use."""
    row = session.scalars(select(PiiKey).where(PiiKey.active).order_by(PiiKey.created_at.desc())).first()
    if row is not None:
        return row
    pub = hsm.token().generate_x25519("pii")
    row = PiiKey(kid=pii_seal.key_id(pub).hex(), public_key=pub, created_at=datetime.now(UTC), active=True)
    session.add(row)
    session.flush()
    return row


def public_hex(session: Session) -> str:
    """What an enrollment bundle carries as `pii_public_key`."""
    return ensure(session).public_key.hex()


SHARED_CACHE = 4096  # ephemeral keys remembered per sealing key (one per kiosk process and interval)


class Remembering:
    """A Recipient that keeps the shared secret per ephemeral key: a kiosk
    reuses its ephemeral key for a while (contract.pii_seal), so most messages
    need no exchange at all. Failed exchanges are not kept."""

    def __init__(self, inner: pii_seal.Recipient) -> None:
        self.inner = inner
        self.public_raw = inner.public_raw
        self._shared: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def exchange(self, peer_public_raw: bytes) -> bytes:
        with self._lock:
            hit = self._shared.get(peer_public_raw)
            if hit is not None:
                self._shared.move_to_end(peer_public_raw)
                return hit
        shared = self.inner.exchange(peer_public_raw)
        with self._lock:
            self._shared[peer_public_raw] = shared
            while len(self._shared) > SHARED_CACHE:
                self._shared.popitem(last=False)
        return shared


# Opened keys by (database, kid): a key never changes once written, and the
# worker opens one per message. The database is part of the key so two
# centrals in one process (tests) never open each other's messages.
_OPENED: dict[tuple[str, bytes], Remembering] = {}


def decryptor(session: Session) -> Callable[[bytes], pii_seal.Recipient | None]:
    """`find(kid) -> Recipient | None` over this database's sealing keys."""
    where = str(session.get_bind().engine.url)

    def find(kid: bytes) -> pii_seal.Recipient | None:
        hit = _OPENED.get((where, kid))
        if hit is None:
            row = session.get(PiiKey, kid.hex())
            if row is None:
                return None
            hit = Remembering(hsm.X25519TokenKey(bytes(row.public_key)))
            _OPENED[(where, kid)] = hit
        return hit

    return find


# Once no outbox holding clear personal data is left (docs/security.md, migration),
# the operator sets this to "1" and central refuses clear payloads on sealed streams.
REQUIRE_SEALED = "UR_CENTRAL_REQUIRE_SEALED"


def clear_payload(session: Session, kiosk_id: str, stream: str, message_id: str,
                  payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload a handler works on: opened if it came sealed, as it is if it
    came in the clear (older kiosks, or messages queued before the kiosk had
    central's key: accepted during the migration, unless REQUIRE_SEALED is
    set). SealError if it does not open; code `key` also when the token cannot
    do the exchange now, `clear` for a clear payload that must be sealed."""
    if not pii_seal.is_sealed(payload):
        if stream in pii_seal.SEALED_STREAMS and os.environ.get(REQUIRE_SEALED) == "1":
            raise pii_seal.SealError("clear", f"personal data came in the clear; central requires it sealed "
                                              f"({REQUIRE_SEALED}=1)")
        return dict(payload)
    try:
        return pii_seal.open_payload(payload, decryptor(session), kiosk_id, stream, message_id)
    except hsm.HsmError as e:  # the token, not the message: not acked, so the kiosk sends it again
        raise pii_seal.SealError("key", f"the token cannot open it now: {e}") from None
