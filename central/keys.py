"""Signing keys of the document registry: one root key and a chain of signing keys.

Decision: private keys live in the PKCS#11 token (central/hsm.py), generated
there and never extractable; table `ur1_keys` holds each key's public half,
kid and validity window. Signing is a call into the token, so database access
(or a stolen backup) no longer equals signing power. The root key signs only
the trust list and the status list; signing keys sign documents.

Rotation (`rotate`): a new key is generated in the token and becomes active;
the old one gets `not_after = now` and signs no more, while documents signed
earlier stay valid because their issue time falls inside its window.
Compromise (`withdraw`): the key gets a cut-off `withdrawn_at`; documents
claiming an issue time at or after it are refused everywhere once the new
trust list arrives, and its private half is destroyed in the token once the
withdrawal is committed (so a rolled-back withdrawal leaves the key usable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, Text, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import datasets, hsm
from central.db import Base
from central.receipt_keys import receipt_keys
from contract import cose_sign1, trust_list
from contract.errors import UrError
from contract.trust_list import ANY, TrustedKey, TrustList

TRUST_DATASET = "trust_list"
TRUST_VALID_FOR = 7 * 86400  # a kiosk calls its trust list STALE a week after it was made


class SigningKey(Base):
    __tablename__ = "ur1_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kid: Mapped[str] = mapped_column(String(16), index=True)
    role: Mapped[str] = mapped_column(String(8))  # "root" | "signing"
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # the private half is in the token
    agency: Mapped[str] = mapped_column(String(64), default=ANY)
    types: Mapped[str] = mapped_column(Text, default='["*"]')  # JSON list
    not_before: Mapped[int] = mapped_column(BigInteger)
    not_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    withdrawn_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)

    def private(self) -> hsm.Ed25519TokenKey:
        """The signer: every `sign` is a C_Sign in the token."""
        return hsm.Ed25519TokenKey(self.public_key)

    @property
    def kid_bytes(self) -> bytes:
        return bytes.fromhex(self.kid)

    def trusted(self) -> TrustedKey:
        return TrustedKey(self.kid_bytes, self.public_key, self.agency, tuple(json.loads(self.types)),
                          self.not_before, self.not_after, self.withdrawn_at)


def _new(session: Session, role: str, now: int, agency: str = ANY, types: tuple[str, ...] = (ANY,)) -> SigningKey:
    pub = hsm.token().generate_ed25519(f"ur1-{role}")
    row = SigningKey(kid=cose_sign1.kid_of(pub).hex(), role=role, public_key=pub,
                     agency=agency, types=json.dumps(list(types)), not_before=now, active=True)
    session.add(row)
    session.flush()
    return row


_DESTROY = "hsm_destroy_after_commit"


@event.listens_for(Session, "after_commit")
def _destroy_withdrawn(session: Session) -> None:
    for kid in session.info.pop(_DESTROY, ()):
        hsm.token().destroy(kid)


@event.listens_for(Session, "after_rollback")
def _keep_withdrawn(session: Session) -> None:
    session.info.pop(_DESTROY, None)


def root_key(session: Session) -> SigningKey | None:
    return session.scalars(select(SigningKey).where(SigningKey.role == "root", SigningKey.active)).first()


def signing_key(session: Session) -> SigningKey | None:
    return session.scalars(select(SigningKey).where(SigningKey.role == "signing", SigningKey.active)).first()


def signing_keys(session: Session) -> list[SigningKey]:
    return list(session.scalars(select(SigningKey).where(SigningKey.role == "signing").order_by(SigningKey.id)))


@dataclass(frozen=True)
class KeyPair:
    root: SigningKey
    signing: SigningKey


def ensure(session: Session, now: int) -> KeyPair:
    """Create the root key and a first signing key if there are none yet (and publish trust)."""
    root = root_key(session)
    created = False
    if root is None:
        root = _new(session, "root", now)
        created = True
    signing = signing_key(session)
    if signing is None:
        signing = _new(session, "signing", now)
        created = True
    if created:
        publish_trust(session, now)
    return KeyPair(root, signing)


def rotate(session: Session, now: int, agency: str = ANY, types: tuple[str, ...] = (ANY,)) -> SigningKey:
    """A new signing key takes over; the old one keeps its window for earlier documents."""
    ensure(session, now)
    old = signing_key(session)
    if old is not None:
        old.active = False
        old.not_after = now
    new = _new(session, "signing", now, agency, types)
    publish_trust(session, now)
    return new


def withdraw(session: Session, kid_hex: str, cutoff: int, now: int) -> SigningKey:
    """Mark a compromised key: documents claiming issue at/after `cutoff` are refused."""
    rows = [k for k in signing_keys(session) if k.kid == kid_hex.lower()]
    if not rows:
        raise UrError(f"no signing key with kid {kid_hex}")
    for k in rows:
        k.withdrawn_at = cutoff if k.withdrawn_at is None else min(k.withdrawn_at, cutoff)
        if k.active:
            rotate(session, now)
        session.info.setdefault(_DESTROY, []).append(k.kid_bytes)
    publish_trust(session, now)
    return rows[0]


def trust(session: Session, now: int, valid_for: int = TRUST_VALID_FOR) -> TrustList:
    cur = datasets.latest(session, TRUST_DATASET)
    return TrustList((cur.version + 1) if cur else 1, now, now + valid_for,
                     tuple(k.trusted() for k in signing_keys(session)) + receipt_keys(session))


def publish_trust(session: Session, now: int, valid_for: int = TRUST_VALID_FOR) -> datasets.Dataset:
    """Sign the current trust list with the root key and publish it as dataset "trust_list"."""
    root = root_key(session)
    if root is None:
        raise UrError("no root key yet (run `ur-central keys rotate` or issue a document)")
    body = trust_list.encode(trust(session, now, valid_for), root.private(), root.kid_bytes)
    return datasets.publish(session, TRUST_DATASET, body)
