"""Offline verification of UR1 codes at the kiosk against the synced lists.

The lists arrive as datasets "trust_list" and "status_list" (kiosk.datasets);
both must be signed by the root key pinned on this kiosk at enrollment. The
verifier remembers the highest list sequence it has accepted, so an older list
replayed later is refused (rollback), and it refuses to judge when the kiosk
clock is before the last installation (a clock set back would revive lists).
Parsed lists are cached by sha256 so a camera loop pays only decode + signature
+ one bit lookup per frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import status_list, trust_list, ur1
from contract.errors import UrError
from contract.verdict import Status, Verdict
from kiosk import datasets
from kiosk.store import Base, KioskStore

TRUST, STATUS = "trust_list", "status_list"
ROOT_PIN = "ur1_root_public_key"


class Pin(Base):
    """Small named values the verifier keeps: the pinned root key, list high-water marks."""

    __tablename__ = "ur1_pins"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


def pin_root(session: Session, public_hex: str) -> None:
    try:
        raw = bytes.fromhex(public_hex.strip())
    except ValueError:
        raise UrError("root public key must be hex") from None
    if len(raw) != 32:
        raise UrError(f"root public key must be 32 bytes (Ed25519), got {len(raw)}")
    row = session.get(Pin, ROOT_PIN)
    if row is None:
        session.add(Pin(name=ROOT_PIN, value=raw.hex()))
    else:
        row.value = raw.hex()


def pinned_root(session: Session) -> bytes | None:
    row = session.get(Pin, ROOT_PIN)
    return bytes.fromhex(row.value) if row else None


def _epoch(t: datetime) -> int:
    """SQLite hands back naive datetimes; the store writes UTC."""
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp())


@dataclass
class _Loaded:
    sha256: str
    seq: int
    value: object


class OfflineVerifier:
    """Verifies codes with the lists installed in one kiosk store; caches parsed lists."""

    def __init__(self, store: KioskStore, skew: int = ur1.SKEW, recheck_after: float = 0.0) -> None:
        """`recheck_after`: seconds during which a camera loop reuses the last list check
        instead of reading the store again (0 = read on every call)."""
        self.store = store
        self.skew = skew
        self.recheck_after = recheck_after
        self._checked_at = -1e18
        self._cache: dict[str, _Loaded] = {}
        self._ready: str | None = None  # pinned root (hex) the cached lists were checked with

    def _list(self, s: Session, name: str, root: bytes, now: int) -> tuple[object | None, str | None]:
        # Read only the hash and time per frame; the body (100+ KB) only when it changed.
        head = s.execute(select(datasets.LocalDataset.sha256, datasets.LocalDataset.installed_at)
                         .where(datasets.LocalDataset.name == name)).first()
        if head is None:
            return None, None
        if now + self.skew < _epoch(head.installed_at):
            return None, f"kiosk clock is before the last {name} installation; check the clock"
        hit = self._cache.get(name)
        if hit is None or hit.sha256 != head.sha256:
            ds = datasets.current(s, name)
            assert ds is not None
            try:
                value = (trust_list.decode if name == TRUST else status_list.decode)(ds.body, root)
            except trust_list.ListError as e:
                return None, f"installed {name} is unusable: {e}"
            seq = value.seq
            mark = s.get(Pin, f"seq:{name}")
            if mark is not None and seq < int(mark.value):
                return None, f"{name} rolled back from sequence {mark.value} to {seq}"
            if mark is None:
                s.add(Pin(name=f"seq:{name}", value=str(seq)))
            elif seq > int(mark.value):
                mark.value = str(seq)
            hit = self._cache[name] = _Loaded(ds.sha256, seq, value)
        return hit.value, None

    def _fast_lists(self, now: int) -> tuple[object, object] | Verdict | None:
        """Per-frame path: one read of pin + list hashes; None when anything changed."""
        if not self._ready:
            return None
        if time.monotonic() - self._checked_at < self.recheck_after:
            return self._cache[TRUST].value, self._cache[STATUS].value
        with self.store.engine.connect() as conn:
            heads = {r.name: r for r in conn.execute(
                select(datasets.LocalDataset.name, datasets.LocalDataset.sha256, datasets.LocalDataset.installed_at)
                .where(datasets.LocalDataset.name.in_((TRUST, STATUS))))}
            pin = conn.execute(select(Pin.value).where(Pin.name == ROOT_PIN)).scalar()
        if pin != self._ready or set(heads) != {TRUST, STATUS}:
            return None
        for name, head in heads.items():
            hit = self._cache.get(name)
            if hit is None or hit.sha256 != head.sha256:
                return None
            if now + self.skew < _epoch(head.installed_at):
                return Verdict(Status.STALE, f"kiosk clock is before the last {name} installation; check the clock")
        self._checked_at = time.monotonic()
        return self._cache[TRUST].value, self._cache[STATUS].value

    def verify(self, text: str, now: int) -> Verdict:
        fast = self._fast_lists(now)
        if isinstance(fast, Verdict):
            return fast
        if fast is not None:
            return ur1.verify(text, fast[0], fast[1], now, skew=self.skew)  # type: ignore[arg-type]  # _fast_lists types the cached decoded lists as object
        self._ready = None
        with self.store.tx() as s:
            root = pinned_root(s)
            if root is None:
                return Verdict(Status.STALE, "no root key pinned on this kiosk (ur-kiosk docs pin-root)")
            trust, problem = self._list(s, TRUST, root, now)
            if problem:
                return Verdict(Status.STALE, problem)
            status, problem = self._list(s, STATUS, root, now)
            if problem:
                return Verdict(Status.STALE, problem)
            if trust is not None and status is not None:
                self._ready = root.hex()
                self._checked_at = time.monotonic()
        return ur1.verify(text, trust, status, now, skew=self.skew)  # type: ignore[arg-type]  # _list types the decoded lists as object; without a problem they are the ones ur1.verify takes

    def lists_info(self, now: int) -> dict[str, object]:
        out: dict[str, object] = {}
        with self.store.tx() as s:
            root = pinned_root(s)
            out["root_pinned"] = root.hex() if root else None
            for name in (TRUST, STATUS):
                ds = datasets.current(s, name)
                if ds is None:
                    out[name] = None
                    continue
                info: dict[str, object] = {"version": ds.version, "installed_at": ds.installed_at.isoformat(),
                                           "age_seconds": now - _epoch(ds.installed_at)}
                if root is not None:
                    value, problem = self._list(s, name, root, now)
                    if problem:
                        info["problem"] = problem
                    elif value is not None:
                        info["seq"] = value.seq  # type: ignore[attr-defined]  # value is the decoded list, typed object by _list
                        info["next_update"] = value.next_update  # type: ignore[attr-defined]  # value is the decoded list, typed object by _list
                        info["stale"] = now > value.next_update  # type: ignore[attr-defined]  # value is the decoded list, typed object by _list
                out[name] = info
        return out
