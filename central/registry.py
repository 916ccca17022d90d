"""The document registry: issue, revoke and verify UR1 secured documents.

A document row holds what was signed (claims, the UR1 text) and its status
index, a dense counter so the revocation status list stays one bit per
document. Issuing with a `request_id` is idempotent (a retried request gets the
same document, never a second one). Revocation is recorded here first (central
answers REVOKED at once) and published as a new signed status list for kiosks.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import UTC
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Index, String, Text, any_, bindparam, func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import datasets, keys
from central.db import Base
from contract import status_list, ur1
from contract.errors import UrError, ValidationError
from contract.verdict import Status, Verdict

STATUS_DATASET = "status_list"
STATUS_VALID_FOR = 24 * 3600  # kiosks call the status list STALE a day after it was made
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U to misread


class Document(Base):
    __tablename__ = "ur1_documents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    doc_type: Mapped[str] = mapped_column(String(32))
    agency: Mapped[str] = mapped_column(String(64), index=True)
    office: Mapped[str] = mapped_column(String(64), default="")
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fields_json: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    kid: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_ur1_documents_revoked", "status_index",
              postgresql_where=sql_text("revoked_at IS NOT NULL"), sqlite_where=sql_text("revoked_at IS NOT NULL")),
    )

    @property
    def fields(self) -> dict[str, str]:
        return dict(json.loads(self.fields_json))

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.doc_type, "agency": self.agency, "office": self.office,
                "issued_at": self.issued_at, "expires_at": self.expires_at, "fields": self.fields,
                "status_index": self.status_index, "kid": self.kid,
                "revoked_at": self.revoked_at, "revoke_reason": self.revoke_reason, "text": self.text}


def new_id() -> str:
    return "D" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(11))


def body_digest(doc_id: str, doc_type: str, agency: str, office: str, fields: Mapping[str, str],
                body: str, issued_at: int, expires_at: int | None) -> bytes:
    """SHA-256 over a canonical JSON of the whole document, so central can re-check a paper."""
    canon = json.dumps({"id": doc_id, "type": doc_type, "agency": agency, "office": office,
                        "fields": dict(fields), "body": body, "iat": issued_at, "exp": expires_at},
                       ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).digest()


def parse_fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    problems = []
    for p in pairs:
        name, sep, value = p.partition("=")
        if not sep or not name.strip():
            problems.append(f"--field {p!r} must look like name=value")
        elif name in out:
            problems.append(f"--field {name!r} given twice")
        else:
            out[name.strip()] = value
    if problems:
        raise ValidationError("bad fields", problems)
    return out


class Counter(Base):
    """Next free status index. Taking it with UPDATE ... RETURNING row-locks it until commit,
    so concurrent issuers queue instead of colliding, and indexes stay dense (no holes)."""

    __tablename__ = "ur1_counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


def _next_index(session: Session) -> int:
    top = session.scalar(select(func.max(Document.status_index)))
    return 0 if top is None else int(top) + 1


def _allocate_index(session: Session) -> int:
    new = session.execute(
        update(Counter).where(Counter.name == "status_index").values(value=Counter.value + 1)
        .returning(Counter.value), execution_options={"synchronize_session": False}).scalar()
    if new is not None:
        return int(new) - 1
    # First use (or rows loaded in bulk before): start after the highest index present.
    start = _next_index(session)
    session.add(Counter(name="status_index", value=start + 1))
    session.flush()
    return start


def issue(session: Session, *, doc_type: str, agency: str, fields: Mapping[str, str], now: int,
          office: str = "", body: str = "", expires_at: int | None = None,
          request_id: str | None = None) -> Document:
    """Create and sign a document; the same `request_id` returns the first document."""
    if request_id is not None:
        found = session.scalars(select(Document).where(Document.request_id == request_id)).first()
        if found is not None:
            return found
    pair = keys.ensure(session, now)
    for _attempt in range(3):
        doc_id = new_id()
        try:
            # Index and row in one savepoint: if the row is refused, the index goes back too.
            with session.begin_nested():
                index = _allocate_index(session)
                digest = body_digest(doc_id, doc_type, agency, office, fields, body, now, expires_at)
                claims = ur1.Claims(doc_id, doc_type, agency, now, digest, index, dict(fields), office, expires_at)
                try:
                    text = ur1.sign(claims, pair.signing.private(), pair.signing.kid_bytes)
                except ur1.Ur1Error as e:
                    raise ValidationError("document refused", [str(e)]) from None
                session.add(Document(
                    id=doc_id, request_id=request_id, doc_type=doc_type, agency=agency, office=office,
                    issued_at=now, expires_at=expires_at, fields_json=json.dumps(dict(fields), ensure_ascii=False),
                    body=body, body_sha256=digest.hex(), status_index=index, kid=pair.signing.kid, text=text))
                session.flush()
        except IntegrityError:
            # The same request id committed by another worker meanwhile, a first-use race on
            # the counter row, or (once in 2^55) a document id clash: look again.
            if request_id is not None:
                found = session.scalars(select(Document).where(Document.request_id == request_id)).first()
                if found is not None:
                    return found
            continue
        return session.get_one(Document, doc_id)
    raise UrError("could not issue the document after 3 attempts (concurrent conflict); try again")


def get(session: Session, doc_id: str) -> Document:
    doc = session.get(Document, doc_id)
    if doc is None:
        raise UrError(f"no document {doc_id}")
    return doc


def revoke(session: Session, doc_id: str, reason: str, now: int, publish: bool = True) -> Document:
    """Revoke once (a second call changes nothing) and publish the new status list."""
    if not reason.strip():
        raise UrError("a revocation needs a reason")
    doc = get(session, doc_id)
    if doc.revoked_at is None:
        doc.revoked_at, doc.revoke_reason = now, reason
        session.flush()
        if publish:
            publish_status(session, now)
    return doc


def build_status(session: Session, now: int, valid_for: int = STATUS_VALID_FOR) -> status_list.StatusList:
    size = _next_index(session)
    revoked = session.scalars(select(Document.status_index).where(Document.revoked_at.isnot(None)))
    cur = datasets.latest(session, STATUS_DATASET)
    return status_list.build(revoked, size, (cur.version + 1) if cur else 1, now, now + valid_for)


def publish_status(session: Session, now: int, valid_for: int = STATUS_VALID_FOR) -> datasets.Dataset:
    """Sign the status list with the root key and publish it as dataset "status_list"."""
    root = keys.ensure(session, now).root
    body = status_list.encode(build_status(session, now, valid_for), root.private(), root.kid_bytes)
    return datasets.publish(session, STATUS_DATASET, body)


_VERIFY_LOOKUP = (select(Document.status_index, Document.body_sha256, Document.revoked_at, Document.revoke_reason)
                  .where(Document.id == bindparam("id")))

# The web route's one read per verification: the trust list's version (a key change
# always publishes a new one, central/keys.py) beside the document's four columns, so a
# process that keeps the keys in memory learns in the same round trip that they changed.
# The version row is always there (or NULL); the document side is NULL when it is absent.
_TRUST_VERSION = (select(func.max(datasets.Dataset.version).label("trust_version"))
                  .where(datasets.Dataset.name == keys.TRUST_DATASET).subquery())
VERIFY_READ = (select(_TRUST_VERSION.c.trust_version, Document.status_index, Document.body_sha256,
                      Document.revoked_at, Document.revoke_reason)
               .select_from(_TRUST_VERSION.outerjoin(Document, Document.id == bindparam("id"))))
# The same for several documents at once (PostgreSQL: `ids` is an array), for a server
# that gathers the reads of concurrent requests into one round trip; absent ones give no row.
VERIFY_READ_MANY = (select(_TRUST_VERSION.c.trust_version, Document.id, Document.status_index, Document.body_sha256,
                           Document.revoked_at, Document.revoke_reason)
                    .select_from(_TRUST_VERSION.outerjoin(
                        Document, Document.id == any_(bindparam("ids", type_=postgresql.ARRAY(String(32)))))))


def registry_check(c: ur1.Claims, row: Any) -> tuple[Status, str] | None:
    """The registry's word on checked claims, from a row of _VERIFY_LOOKUP or VERIFY_READ
    (None or all-NULL document columns: not in the registry); None means nothing against it."""
    if row is None or row.status_index is None:
        return Status.INVALID, f"document {c.doc_id} is not in the registry"
    if row.status_index != c.status_index or row.body_sha256 != c.body_sha256.hex():
        return Status.INVALID, f"code does not match the registry record of {c.doc_id}"
    if row.revoked_at is not None:
        return Status.REVOKED, f"revoked: {row.revoke_reason}"
    return None


class _LookupRow(NamedTuple):
    status_index: int
    body_sha256: str
    revoked_at: int | None
    revoke_reason: str | None


_VERIFY_LOOKUP_PG = ("SELECT status_index, body_sha256, revoked_at, revoke_reason "
                     "FROM ur1_documents WHERE id = %s")


def lookup_row(session: Session, doc_id: str) -> Any:
    """The four columns of `_VERIFY_LOOKUP` for one document, or None. On PostgreSQL a
    statement prepared once per connection, run on the driver connection under the
    session's transaction: SQLAlchemy's statement and result machinery was a third of
    the verification's CPU (bench_docs, "central online verify"); elsewhere the Core select."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return session.execute(_VERIFY_LOOKUP, {"id": doc_id}).first()
    raw = conn.connection.driver_connection
    row = raw.execute(_VERIFY_LOOKUP_PG, (doc_id,), prepare=True).fetchone()  # type: ignore[union-attr]  # psycopg 3
    return _LookupRow(*row) if row is not None else None


def verify_online(session: Session, text: str, now: int, trust: Any = None) -> Verdict:
    """Central's verdict: keys from the key table, revocation from the registry row (immediate)."""
    trust = trust if trust is not None else keys.trust(session, now)

    def lookup(c: ur1.Claims) -> tuple[Status, str] | None:
        # Only the four columns the verdict needs, as a plain row: no ORM object, no
        # document text or fields read (docs/documents.md, "Online verification").
        return registry_check(c, lookup_row(session, c.doc_id))

    return ur1.verify(text, trust, None, now, lookup=lookup, check_lists=False)


def refresh_lists_if_due(session: Session, now: int) -> list[str]:
    """Re-sign the status and trust lists at half their validity, so a kiosk
    that syncs normally never sees STALE lists (the worker calls this)."""
    done = []
    for name, valid_for, publish in (
        ("status_list", STATUS_VALID_FOR, lambda: publish_status(session, now)),
        ("trust_list", keys.TRUST_VALID_FOR, lambda: keys.publish_trust(session, now)),
    ):
        ds = datasets.latest(session, name)
        if ds is None:
            continue
        made = ds.published_at if ds.published_at.tzinfo else ds.published_at.replace(tzinfo=UTC)
        if now - made.timestamp() > valid_for / 2:
            publish()
            done.append(name)
    return done
