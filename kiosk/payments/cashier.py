"""The cashier station: PIN login with lockout, shifts, collect / void / refund with a
supervisor's PIN, every step in a hash-chained audit trail.

PINs are stored as Argon2id hashes (kiosk/pin_hash.py: a stolen kiosk.db does not give
a 6-digit PIN away in under a month on one core; older scrypt hashes are upgraded at the
next login, and hashing runs outside the write transaction); five wrong PINs lock the user for 15 minutes, persisted so a restart
does not reset the count. Collections go through the same `PaymentService` as the
kiosk (one journal, one set of rules); the cashier adds who did it and who approved.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Integer, LargeBinary, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import ids
from contract.errors import UrError
from kiosk import pin_hash
from kiosk.payments.service import PaymentResult, PaymentRow, PaymentService, Progress
from kiosk.store import Base, KioskStore

MAX_FAILURES = 5
LOCKOUT_S = 15 * 60
ROLES = ("cashier", "supervisor")


class AuthError(UrError):
    """Wrong user or PIN, or the user is locked out (the message says until when)."""


class CashierUser(Base):
    __tablename__ = "cashier_users"
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(12))
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    pin_hash: Mapped[bytes] = mapped_column(LargeBinary)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[float] = mapped_column(Float, default=0.0)


class Shift(Base):
    __tablename__ = "cashier_shifts"
    shift_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    opened_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    """Append-only; each row hashes the previous one, so an edited or deleted row shows."""

    __tablename__ = "cashier_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(96), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def _check_pin_format(pin: str) -> None:
    if not (isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 8):
        raise UrError("a PIN is 4 to 8 digits")


def audit(s: Session, actor: str, action: str, subject: str = "", detail: dict | None = None) -> AuditEntry:
    last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
    prev = last.hash if last else "0" * 64
    at = time.time()
    body = json.dumps(detail or {}, sort_keys=True, ensure_ascii=False)
    h = hashlib.sha256(f"{prev}|{at!r}|{actor}|{action}|{subject}|{body}".encode()).hexdigest()
    e = AuditEntry(at=at, actor=actor, action=action, subject=subject, detail=body, prev_hash=prev, hash=h)
    s.add(e)
    s.flush()
    return e


def verify_audit(session: Session) -> int:
    """Number of entries; raises if the chain is broken (edited, removed or reordered)."""
    prev = "0" * 64
    n = 0
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        h = hashlib.sha256(f"{prev}|{e.at!r}|{e.actor}|{e.action}|{e.subject}|{e.detail}".encode()).hexdigest()
        if e.prev_hash != prev or e.hash != h:
            raise UrError(f"audit trail broken at entry {e.id} ({e.action} by {e.actor})")
        prev, n = e.hash, n + 1
    return n


@dataclass(frozen=True)
class Operator:
    user_id: str
    role: str


class CashierStation:
    def __init__(self, store: KioskStore, payments: PaymentService | None = None) -> None:
        self.store = store
        self.payments = payments

    # -- users and PINs ---------------------------------------------------------------------
    def add_user(self, user_id: str, name: str, role: str, pin: str,
                 approved_by: tuple[str, str] | None = None) -> None:
        """The first user must be a supervisor; later users need a supervisor's PIN."""
        if role not in ROLES:
            raise UrError(f"role must be one of {', '.join(ROLES)}")
        if not user_id or len(user_id) > 32 or not user_id.replace("-", "").isalnum():
            raise UrError("user id: 1-32 letters, digits or dashes")
        _check_pin_format(pin)
        with self.store.session() as s:
            first = not s.scalar(select(func.count()).select_from(CashierUser))
        if first and role != "supervisor":
            raise UrError("the first cashier user must be a supervisor")
        actor = "bootstrap"
        if not first:
            if approved_by is None:
                raise UrError("adding a user needs a supervisor's id and PIN")
            actor = self.supervisor(*approved_by).user_id
        hashed = pin_hash.hash_pin(pin)  # seconds of CPU: before, not inside, the write transaction
        with self.store.tx() as s:
            if s.get(CashierUser, user_id) is not None:
                raise UrError(f"user {user_id} already exists")
            s.add(CashierUser(user_id=user_id, name=name[:100], role=role, salt=b"",
                              pin_hash=hashed, failures=0, locked_until=0.0))
            audit(s, actor, "user_add", user_id, {"role": role})

    def login(self, user_id: str, pin: str, now: float | None = None) -> Operator:
        now = time.time() if now is None else now
        # The PIN is checked (and an old hash re-made) before the write transaction: Argon2id
        # takes seconds, and the sync loop and payments must not wait on the store for it.
        with self.store.session() as s:
            row = s.get(CashierUser, user_id)
            seen = None if row is None else row.pin_hash
            verdict = (pin_hash.verify_pin(pin, row.salt, row.pin_hash)
                       if row is not None and row.locked_until <= now else pin_hash.Verdict(False, False))
        fresh = pin_hash.hash_pin(pin) if verdict.upgrade else None
        with self.store.tx() as s:
            u = s.get(CashierUser, user_id)
            if u is None:
                audit(s, user_id[:32], "login_failed", user_id[:96], {"reason": "unknown user"})
                raise AuthError("wrong user or PIN")
            if u.locked_until > now:
                audit(s, user_id, "login_locked", user_id)
                until = datetime.fromtimestamp(u.locked_until, UTC).strftime("%H:%M UTC")
                raise AuthError(f"user {user_id} is locked after {MAX_FAILURES} wrong PINs until {until}")
            ok = verdict.ok and u.pin_hash == seen  # the PIN was not changed meanwhile
            if not ok:
                u.failures += 1
                if u.failures >= MAX_FAILURES:
                    u.locked_until, u.failures = now + LOCKOUT_S, 0
                    audit(s, user_id, "locked_out", user_id, {"for_s": LOCKOUT_S})
                else:
                    audit(s, user_id, "login_failed", user_id, {"failures": u.failures})
                failed = True
            else:
                u.failures, u.locked_until = 0, 0.0
                if fresh is not None:
                    u.pin_hash, u.salt = fresh, b""
                audit(s, user_id, "login", user_id, {"pin_hash_upgraded": True} if fresh is not None else None)
                failed = False
            role = u.role
        if failed:  # raised after the commit so the failure count is kept
            raise AuthError("wrong user or PIN")
        return Operator(user_id, role)

    def supervisor(self, user_id: str, pin: str) -> Operator:
        op = self.login(user_id, pin)
        if op.role != "supervisor":
            raise AuthError(f"user {user_id} is not a supervisor")
        return op

    def has_users(self) -> bool:
        with self.store.session() as s:
            return bool(s.scalar(select(func.count()).select_from(CashierUser)))

    def login_failed(self, actor: str, why: str) -> None:
        """A PIN that matched no user (PIN-only screen): audited with no subject; five in
        a row lock the PIN screen itself (`pin_screen_locked_until`)."""
        with self.store.tx() as s:
            audit(s, actor[:32], "login_failed", "", {"reason": why})

    # -- shifts -----------------------------------------------------------------------------
    def current_shift(self, s: Session, user_id: str) -> Shift | None:
        return s.scalars(select(Shift).where(Shift.user_id == user_id, Shift.closed_at.is_(None))).first()

    def open_shift(self, op: Operator) -> str:
        with self.store.tx() as s:
            if self.current_shift(s, op.user_id) is not None:
                raise UrError(f"{op.user_id} already has an open shift")
            sh = Shift(shift_id=ids.new_id(), user_id=op.user_id, opened_at=time.time())
            s.add(sh)
            audit(s, op.user_id, "shift_open", sh.shift_id)
            return sh.shift_id

    def close_shift(self, op: Operator) -> dict[str, Any]:
        with self.store.tx() as s:
            sh = self.current_shift(s, op.user_id)
            if sh is None:
                raise UrError(f"{op.user_id} has no open shift")
            rows = list(s.scalars(select(PaymentRow).where(PaymentRow.operator == op.user_id)))
            opened = datetime.fromtimestamp(sh.opened_at).replace(microsecond=0)
            mine = [r for r in rows if r.updated_at >= opened]
            summary = {
                "shift_id": sh.shift_id, "collections": sum(1 for r in mine if r.state == "PAID"),
                "amount": sum(r.dinars for r in mine if r.state == "PAID"),
                "voided": sum(1 for r in mine if r.state == "REVERSED"),
                "refunded": sum(1 for r in mine if r.state == "REFUNDED"),
            }
            sh.closed_at, sh.summary = time.time(), json.dumps(summary)
            audit(s, op.user_id, "shift_close", sh.shift_id, summary)
            return summary

    def _require_shift(self, op: Operator) -> None:
        with self.store.session() as s:
            if self.current_shift(s, op.user_id) is None:
                raise UrError(f"{op.user_id} has no open shift: open one first")

    def _pay(self) -> PaymentService:
        if self.payments is None:
            raise UrError("this station has no card terminal configured")
        return self.payments

    # -- money ------------------------------------------------------------------------------
    def collect(self, op: Operator, fee_ref: str, on_progress: Progress | None = None,
                payment_id: str | None = None) -> PaymentResult:
        self._require_shift(op)
        with self.store.tx() as s:
            audit(s, op.user_id, "collect_start", fee_ref)
        r = self._pay().pay(fee_ref, on_progress, payment_id=payment_id, operator=op.user_id)
        with self.store.tx() as s:
            audit(s, op.user_id, "collect", r.payment_id, {"fee_ref": fee_ref, "state": r.state, "amount": r.amount})
        return r

    def void(self, op: Operator, payment_id: str, supervisor: tuple[str, str], why: str) -> PaymentResult:
        sup = self.supervisor(*supervisor)
        r = self._pay().void(payment_id, why)
        with self.store.tx() as s:
            audit(s, op.user_id, "void", payment_id, {"supervisor": sup.user_id, "why": why, "state": r.state,
                                                       "refund_needed": r.needs_supervisor})
        return r

    def refund(self, op: Operator, payment_id: str, supervisor: tuple[str, str], why: str) -> PaymentResult:
        sup = self.supervisor(*supervisor)
        r = self._pay().refund(payment_id, sup.user_id, why)
        with self.store.tx() as s:
            audit(s, op.user_id, "refund", payment_id, {"supervisor": sup.user_id, "why": why, "state": r.state})
        return r


# -- for the staff PIN screen (a PIN only, no user id) -------------------------------------------
def user_with_pin(store: KioskStore, role: str, pin: str, now: float | None = None) -> str | None:
    """The user of `role` whose PIN this is (locked-out users are skipped), or None. The
    caller then calls `CashierStation.login` for that user (audit, failure reset)."""
    if not (isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 8):
        return None
    now = time.time() if now is None else now
    with store.session() as s:
        users = list(s.scalars(select(CashierUser).where(CashierUser.role == role)))
    for u in users:
        if u.locked_until <= now and pin_hash.verify_pin(pin, u.salt, u.pin_hash).ok:
            return u.user_id
    return None


def shift_figures(s: Session, user_id: str, opened_at: float) -> tuple[int, int]:
    """(collections, dinars) a user took since the shift opened: as `close_shift` counts them."""
    opened = datetime.fromtimestamp(opened_at).replace(microsecond=0)
    mine = [r for r in s.scalars(select(PaymentRow).where(PaymentRow.operator == user_id))
            if r.updated_at >= opened and r.state == "PAID"]
    return len(mine), sum(r.dinars for r in mine)


def pin_screen_locked_until(store: KioskStore, now: float | None = None) -> float:
    """When the PIN-only screen opens again after MAX_FAILURES unmatched PINs in a row
    within LOCKOUT_S (0.0: it is open). Guessing a PIN there has no user to lock, so the
    screen is what locks; the count restarts after a good login."""
    now = time.time() if now is None else now
    with store.session() as s:
        recent = list(s.scalars(select(AuditEntry).where(
            AuditEntry.at > now - LOCKOUT_S, AuditEntry.action.in_(["login", "login_failed"]))
            .order_by(AuditEntry.id.desc()).limit(MAX_FAILURES)))
    streak = [e for e in recent if e.action == "login_failed" and e.subject == ""]
    if len(streak) < MAX_FAILURES or len(recent) > len(streak):
        return 0.0
    return streak[0].at + LOCKOUT_S
