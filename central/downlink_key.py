"""Central's downlink key: signs every message central sends to kiosks (acks,
manifests, dataset and event answers, pokes, error replies).

Kiosks pin its public key at enrollment (`downlink_public_key` in the bundle)
and drop anything it did not sign, so a stranger on the broker cannot feed a
kiosk datasets, status events or acks. All signing goes through `signer()`
and `DownlinkSigner.sign`.

Decision: like the document keys (central/keys.py), the private key is made
in the PKCS#11 token (central/hsm.py) on first use and never leaves it; the
table keeps the public key only. One key, no rotation yet (rotating means
re-pinning every kiosk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, LargeBinary, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import hsm
from central.db import Base


class DownlinkKeyRow(Base):
    __tablename__ = "downlink_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one key
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # the private half is in the token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class DownlinkSigner:
    """Signs exact body bytes with central's downlink key, in the token (about a
    thousand signatures a second with SoftHSM2, see bench_docs: central signs an
    ack per kiosk per batch, not per message, so that is ample)."""

    _key: hsm.Ed25519TokenKey

    def sign(self, body: bytes) -> bytes:
        return self._key.sign(body)

    @property
    def public_hex(self) -> str:
        return self._key.public_raw.hex()


def signer(session: Session) -> DownlinkSigner:
    """The downlink signer, creating the key on first use (any worker or the
    first enrollment may be first; a lost race reads the winner's key and
    destroys its own in the token)."""
    row = session.scalars(select(DownlinkKeyRow).where(DownlinkKeyRow.id == 1)).first()
    if row is None:
        pub = hsm.token().generate_ed25519("downlink")
        sp = session.begin_nested()
        try:
            session.add(DownlinkKeyRow(id=1, public_key=pub, created_at=datetime.now(UTC)))
            session.flush()
            sp.commit()
        except IntegrityError:
            sp.rollback()
            hsm.token().destroy(hsm.key_id(pub))
        row = session.scalars(select(DownlinkKeyRow).where(DownlinkKeyRow.id == 1)).one()
    key = hsm.Ed25519TokenKey(bytes(row.public_key))
    if not hsm.token().has(key.kid):  # a worker fails at its start, not on its first ack
        raise hsm.HsmError(f"the downlink key {key.kid.hex()} is not in token {hsm.config().label!r}")
    return DownlinkSigner(key)
