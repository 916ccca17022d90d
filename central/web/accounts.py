"""Staff accounts for the web console: one row per person, with agency and role.

Passwords are Argon2id hashes (argon2-cffi); registrars, supervisors and admins
also need a TOTP code (pyotp). Failed logins are counted in the row, so the
lock-out holds across every serving process. Business rules are pure functions
(`needs_totp`, `may_act`, `lockout`); the rest is thin database work.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central.db import Base
from contract.errors import UrError

ROLES = ("clerk", "registrar", "letters_officer", "supervisor", "auditor", "admin")
TOTP_ROLES = frozenset({"registrar", "supervisor", "admin"})
MAX_FAILS = 5  # then locked for LOCK_FOR, doubling with each further failure
LOCK_FOR = timedelta(minutes=1)
# argon2-cffi's defaults (RFC 9106's low-memory choice: Argon2id, t=3, 64 MiB).
ARGON2 = PasswordHasher()
# The hasher new hashes are made with. Only the test suite swaps it (`use_hasher`, from
# tests/faults.py) for tiny parameters; nothing in the environment can, so a server
# always hashes at the real cost, and a hash made cheaper is redone at the next login.
_hasher = ARGON2


def use_hasher(h: PasswordHasher | None) -> None:
    """Make new hashes with `h` (None: the real parameters). Test suite only."""
    global _hasher
    _hasher = h or ARGON2


class StaffUser(Base):
    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    agency: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def needs_totp(role: str) -> bool:
    return role in TOTP_ROLES


def may_act(user_role: str, user_agency: str, case_agency: str) -> bool:
    """Only a clerk (or supervisor) of the agency that holds the case moves it; auditors only read."""
    return user_role in ("clerk", "supervisor") and user_agency == case_agency


def may_read_case(user_role: str, user_agency: str, case_agency: str) -> bool:
    return user_role in ("auditor", "admin") or user_agency == case_agency


def lockout(fails: int, now: datetime) -> datetime | None:
    """When the account opens again after `fails` failed logins in a row (None: not locked)."""
    if fails < MAX_FAILS:
        return None
    until: datetime = now + LOCK_FOR * (2 ** min(fails - MAX_FAILS, 10))
    return until


def _check_password(pw: str) -> None:
    if len(pw) < 10:
        raise UrError("a password needs at least 10 characters")


def add(session: Session, username: str, display_name: str, agency: str, role: str, password: str,
        now: datetime | None = None) -> StaffUser:
    if role not in ROLES:
        raise UrError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not username.replace("-", "").replace(".", "").isalnum():
        raise UrError("username must be 1..64 letters, digits, '-' or '.'")
    if session.scalars(select(StaffUser).where(StaffUser.username == username)).first():
        raise UrError(f"user {username} exists already")
    _check_password(password)
    user = StaffUser(username=username, display_name=display_name or username, agency=agency, role=role,
                     password_hash=_hasher.hash(password),
                     totp_secret=pyotp.random_base32() if needs_totp(role) else None,
                     disabled=False, failed_logins=0, created_at=now or datetime.now(UTC))
    session.add(user)
    session.flush()
    return user


def get(session: Session, username: str) -> StaffUser:
    u = session.scalars(select(StaffUser).where(StaffUser.username == username)).first()
    if u is None:
        raise UrError(f"no user {username}")
    return u


def reset_password(session: Session, username: str, password: str) -> StaffUser:
    _check_password(password)
    u = get(session, username)
    u.password_hash, u.failed_logins, u.locked_until = _hasher.hash(password), 0, None
    return u


def set_disabled(session: Session, username: str, disabled: bool = True) -> StaffUser:
    u = get(session, username)
    u.disabled = disabled
    return u


def authenticate(session: Session, username: str, password: str, totp: str, now: datetime | None = None
                 ) -> StaffUser | None:
    """The user when name, password (and TOTP where the role needs it) match and the
    account is neither disabled nor locked; every failure counts toward the lock."""
    now = now or datetime.now(UTC)
    u = session.scalars(select(StaffUser).where(StaffUser.username == username)).first()
    if u is None:
        _hasher.hash(password[:128])  # same work as a real check: no timing oracle for names
        return None
    locked = u.locked_until.replace(tzinfo=UTC) if u.locked_until and u.locked_until.tzinfo is None else u.locked_until
    if u.disabled or (locked is not None and locked > now):
        return None
    ok = True
    try:
        _hasher.verify(u.password_hash, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if ok and needs_totp(u.role):
        ok = bool(u.totp_secret) and pyotp.TOTP(u.totp_secret or "").verify(totp.strip(), for_time=now, valid_window=1)
    if not ok:
        u.failed_logins += 1
        u.locked_until = lockout(u.failed_logins, now)
        return None
    if _hasher.check_needs_rehash(u.password_hash):
        u.password_hash = _hasher.hash(password)  # weaker than today's parameters: redo it now
    u.failed_logins, u.locked_until = 0, None
    return u


def new_secret() -> str:
    return secrets.token_urlsafe(32)
