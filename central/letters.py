"""Official letters: register, route between agencies in both directions, status history.

A letter is identified by its number and date as printed (plus the sending
agency, since two agencies may use the same number on the same day). Every
change is an event row with a timestamp, so the route a letter took (e.g.
Kurdistan Region representation in Baghdad -> federal ministry -> back) can be
shown step by step. After each change the kiosk index (dataset "letters") is
republished; it carries no subjects.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from central import datasets, registry
from central.db import Base
from contract import letters_index
from contract.errors import UrError

DATASET = "letters"
STATUSES = ("SENT", "RECEIVED", "IN_PROGRESS", "ANSWERED", "RETURNED", "CLOSED")
# Statuses a clerk may set by hand; SENT comes from register/route.
SETTABLE = ("RECEIVED", "IN_PROGRESS", "ANSWERED", "RETURNED", "CLOSED")


class Letter(Base):
    __tablename__ = "letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(64))
    letter_date: Mapped[str] = mapped_column(String(10))
    from_agency: Mapped[str] = mapped_column(String(128))
    to_agency: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(Text)
    holder: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    doc_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    events: Mapped[list[LetterEvent]] = relationship(order_by="LetterEvent.id", lazy="selectin")

    __table_args__ = (UniqueConstraint("number", "letter_date", "from_agency", name="uq_letter_number_date_from"),)

    def public(self) -> dict[str, Any]:
        """What a kiosk may show: no subject."""
        return {"number": self.number, "date": self.letter_date, "from": self.from_agency, "to": self.to_agency,
                "holder": self.holder, "status": self.status, "updated_at": self.updated_at,
                "steps": [e.public() for e in self.events]}

    def full(self) -> dict[str, Any]:
        return self.public() | {"subject": self.subject, "registered_at": self.registered_at, "doc_id": self.doc_id}


class LetterEvent(Base):
    __tablename__ = "letter_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # registered | routed | status
    from_agency: Mapped[str] = mapped_column(String(128))
    to_agency: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")

    def public(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "from": self.from_agency, "to": self.to_agency,
                "status": self.status}


def _agency(name: str, what: str) -> str:
    n = " ".join(name.split())
    if not n or len(n) > 128:
        raise UrError(f"{what} agency must be 1..128 characters")
    return n


def find(session: Session, number: str, letter_date: str, from_agency: str | None = None) -> list[Letter]:
    q = select(Letter).where(Letter.number == letters_index.norm_number(number),
                             Letter.letter_date == letters_index.norm_date(letter_date))
    if from_agency:
        q = q.where(Letter.from_agency == _agency(from_agency, "sending"))
    return list(session.scalars(q.order_by(Letter.id)))


def one(session: Session, number: str, letter_date: str, from_agency: str | None = None) -> Letter:
    found = find(session, number, letter_date, from_agency)
    if not found:
        raise UrError(f"no letter number {number} of {letter_date}")
    if len(found) > 1:
        senders = ", ".join(x.from_agency for x in found)
        raise UrError(f"several letters {number} of {letter_date} (from {senders}); give --from-agency")
    return found[0]


def register(session: Session, *, number: str, letter_date: str, from_agency: str, to_agency: str,
             subject: str, now: int, sign: bool = False) -> Letter:
    """Record a letter sent from one agency to another; optionally give it a UR1 code."""
    frm, to = _agency(from_agency, "sending"), _agency(to_agency, "receiving")
    if frm == to:
        raise UrError("a letter goes from one agency to another (same agency given twice)")
    if not subject.strip():
        raise UrError("subject is empty")
    n, d = letters_index.norm_number(number), letters_index.norm_date(letter_date)
    if find(session, n, d, frm):
        raise UrError(f"letter {n} of {d} from {frm} is already registered")
    letter = Letter(number=n, letter_date=d, from_agency=frm, to_agency=to, subject=subject.strip(),
                    holder=to, status="SENT", registered_at=now, updated_at=now)
    session.add(letter)
    session.flush()
    session.add(LetterEvent(letter_id=letter.id, at=now, kind="registered", from_agency=frm, to_agency=to, status="SENT"))
    if sign:
        doc = registry.issue(session, doc_type="letter", agency=frm, now=now,
                             fields={"number": n, "date": d, "from": frm, "to": to, "subject": subject.strip()[:200]},
                             request_id=f"letter:{letter.id}")
        letter.doc_id = doc.id
    session.flush()
    session.expire(letter, ["events"])
    publish(session, now)
    return letter


def route(session: Session, letter: Letter, to_agency: str, now: int, note: str = "") -> Letter:
    """Send the letter on (or back) from its current holder to another agency."""
    to = _agency(to_agency, "receiving")
    if letter.status == "CLOSED":
        raise UrError(f"letter {letter.number} of {letter.letter_date} is closed")
    if to == letter.holder:
        raise UrError(f"letter is already with {to}")
    session.add(LetterEvent(letter_id=letter.id, at=now, kind="routed", from_agency=letter.holder, to_agency=to,
                            status="SENT", note=note))
    letter.holder, letter.status, letter.updated_at = to, "SENT", now
    session.flush()
    session.expire(letter, ["events"])
    publish(session, now)
    return letter


def set_status(session: Session, letter: Letter, status: str, now: int, note: str = "") -> Letter:
    status = status.upper()
    if status not in SETTABLE:
        raise UrError(f"status {status!r} is not one of {', '.join(SETTABLE)}")
    if letter.status == "CLOSED":
        raise UrError(f"letter {letter.number} of {letter.letter_date} is closed")
    if status == letter.status:
        return letter  # repeating a status change is harmless
    session.add(LetterEvent(letter_id=letter.id, at=now, kind="status", from_agency=letter.holder,
                            to_agency=letter.holder, status=status, note=note))
    letter.status, letter.updated_at = status, now
    session.flush()
    session.expire(letter, ["events"])
    publish(session, now)
    return letter


def sent_by(session: Session, agency: str, since: str | None = None) -> list[Letter]:
    """Letters a department sent (what it may query)."""
    q = select(Letter).where(Letter.from_agency == _agency(agency, "sending"))
    if since:
        q = q.where(Letter.letter_date >= letters_index.norm_date(since))
    return list(session.scalars(q.order_by(Letter.letter_date, Letter.number)))


def publish(session: Session, now: int) -> datasets.Dataset:
    """Republish the kiosk index. Whole index each time: fine for thousands of letters;
    a large deployment would publish deltas (not done)."""
    rows = session.scalars(select(Letter).order_by(Letter.id)).all()
    return datasets.publish(session, DATASET, letters_index.encode(now, [r.public() for r in rows]))
