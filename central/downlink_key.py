"""Central's downlink key: signs every message central sends to kiosks (acks,
manifests, dataset and event answers, pokes, error replies).

Kiosks pin its public key at enrollment (`downlink_public_key` in the bundle)
and drop anything it did not sign, so a stranger on the broker cannot feed a
kiosk datasets, status events or acks. All signing goes through `signer()`
and `DownlinkSigner.sign`, so where the private key lives can change (a
PKCS#11 token) without touching the callers.

Decision (for now): like the document keys (central/keys.py), the private key
is a row in central's database, created on first use; one key, no rotation
yet (rotating means re-pinning every kiosk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from nacl.signing import SigningKey
from sqlalchemy import DateTime, Integer, LargeBinary, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from central.db import Base


class DownlinkKeyRow(Base):
    __tablename__ = "downlink_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one key
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class DownlinkSigner:
    """Signs exact body bytes with central's downlink key. libsodium (PyNaCl):
    central signs an ack per kiosk per batch, a manifest per dataset change and
    every request answer, so the faster Ed25519 is worth having."""

    _key: SigningKey

    def sign(self, body: bytes) -> bytes:
        return self._key.sign(body).signature

    @property
    def public_hex(self) -> str:
        return bytes(self._key.verify_key).hex()


def signer(session: Session) -> DownlinkSigner:
    """The downlink signer, creating the key on first use (any worker or the
    first enrollment may be first; a lost race reads the winner's key)."""
    row = session.scalars(select(DownlinkKeyRow).where(DownlinkKeyRow.id == 1)).first()
    if row is None:
        k = SigningKey.generate()
        sp = session.begin_nested()
        try:
            session.add(DownlinkKeyRow(id=1, public_key=bytes(k.verify_key), private_key=bytes(k),
                                       created_at=datetime.now(UTC)))
            session.flush()
            sp.commit()
        except IntegrityError:
            sp.rollback()
        row = session.scalars(select(DownlinkKeyRow).where(DownlinkKeyRow.id == 1)).one()
    return DownlinkSigner(SigningKey(bytes(row.private_key)))
