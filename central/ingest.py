"""Applying uplink messages: verify, then dedup, order, apply in one transaction.

`process_batch` takes (topic, bytes) pairs as MQTT delivered them and
returns what to ack. Envelopes are decoded and their signatures checked first,
outside the write transaction, on a helper thread where it pays (Ed25519
releases the GIL): the worker hands over chunks as they arrive (`precheck`),
and half of whatever is still unchecked when the batch is applied goes there
too. The rest of a batch is one database transaction (one commit for many
messages is what makes ingest fast); each message runs in its own SAVEPOINT so
a bad one cannot spoil the others. Messages are handled sorted by (kiosk,
stream, seq) and the per-stream cursor row is locked (`FOR UPDATE`) so several
workers on PostgreSQL never apply one stream out of order or hold a message
forever. Nothing here raises on bad bytes: every fault becomes a counted
rejection.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from central import bulk, db, pii_key
from central import kiosks as kiosk_registry
from central.inbox import HeldMessage, InboxEntry, RejectCount, StreamCursor
from central.streams import STREAMS, StreamSpec
from contract import envelope, hlc, sqlite_pragmas, topics, tracking
from contract.envelope import Envelope, EnvelopeError
from contract.errors import UrError
from contract.pii_seal import SealError

log = logging.getLogger("ur.central.ingest")
# Checks, inside the apply transaction, that this worker may still apply these
# partitions (central/partitions.Leases.fence); raises to roll back.
Fence = Callable[[Session, set[int]], None]
_logged_codes: set[str] = set()


@dataclass
class Outcome:
    kiosk_id: str | None
    message_id: str | None
    result: str  # applied | held | duplicate | rejected | dropped
    reason: str = ""

    @property
    def ackable(self) -> bool:
        return self.result in ("applied", "held", "duplicate", "rejected") and self.kiosk_id is not None


@dataclass
class Acks:
    """Per kiosk: message ids to ack, and (id, reason) refused for good."""

    acked: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rejected: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))


def acks_for(outcomes: list[Outcome]) -> Acks:
    a = Acks()
    for o in outcomes:
        if not o.ackable or o.message_id is None or o.kiosk_id is None:
            continue
        if o.result == "rejected":
            a.rejected[o.kiosk_id].append((o.message_id, o.reason))
        else:
            a.acked[o.kiosk_id].append(o.message_id)
    return a


def _count(session: Session, code: str, detail: str) -> None:
    row = session.get(RejectCount, code)
    if row is None:
        row = RejectCount(code=code, count=0, last_detail="")
        session.add(row)
    row.count += 1
    row.last_detail = detail[:512]
    row.last_at = datetime.now(UTC)
    if code not in _logged_codes:  # log each kind once per process; the counter has the rest
        _logged_codes.add(code)
        log.warning("rejected uplink (%s): %s", code, detail)


def count_refusals(sessions: sessionmaker[Session], refused: list[tuple[str, str]]) -> None:
    """Count messages the worker dropped before ingest (requests without a
    response topic, on a wrong topic ...), one transaction for all."""
    with sessions.begin() as session:
        for code, detail in refused:
            _count(session, code, detail)


@dataclass
class _Parsed:
    env: Envelope
    raw: bytes


@dataclass
class _Refused:
    """A message dropped before it reached the database: counted, never acked."""

    code: str
    detail: str


def _open(topic: str, data: bytes) -> tuple[Envelope, bytes, bytes] | _Refused:
    """Decode one message and check it belongs on its topic (pure: no database)."""
    try:
        t = topics.parse_uplink(topic)  # also: the partition level is the kiosk's own
        t_kiosk, t_stream = t.kiosk_id, t.stream
    except UrError as e:
        return _Refused("topic", str(e))
    try:
        env, body, sig = envelope.open_unverified(data)
    except EnvelopeError as e:
        return _Refused(e.code, f"{t_kiosk}: {e}")
    if env.kiosk_id != t_kiosk or env.stream != t_stream:
        return _Refused("topic", f"envelope {env.kiosk_id}/{env.stream} on topic {topic}")
    return env, body, sig


def _verify_one(body: bytes, sig: bytes, key: str) -> tuple[str, str] | None:
    """None where the signature is good, else (refusal code, reason)."""
    try:
        envelope.verify(body, sig, envelope.public_key_from_hex(key))
        return None
    except EnvelopeError as e:
        return (e.code, str(e))
    except UrError as e:  # a stored key that is not a key
        return ("signature", str(e))


def _verify_all(jobs: list[tuple[bytes, bytes, str]]) -> list[tuple[str, str] | None]:
    return [_verify_one(body, sig, key) for body, sig, key in jobs]


# Ed25519 verification is most of a message's cost and the cryptography library
# releases the GIL while it runs, so it runs on this thread beside the
# single-threaded worker: as messages arrive (`precheck`), and for half of
# whatever is left unchecked when a batch is applied.
_VERIFIER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ur-verify")
PARALLEL_FROM = 16  # smaller batches: not worth the hand-over


@dataclass
class Arrived:
    """An uplink message, decoded; `key` is the kiosk key its signature was
    checked against on arrival (None: not checked yet) and `verdict` the result
    (None: good)."""

    data: bytes
    opened: tuple[Envelope, bytes, bytes] | _Refused
    key: str | None = None
    verdict: tuple[str, str] | None = None

    @property
    def partition(self) -> int | None:
        """The sending kiosk's partition; None for what could not be decoded."""
        return None if isinstance(self.opened, _Refused) else topics.partition_of(self.opened[0].kiosk_id)


def arrive(items: list[tuple[str, bytes]], keys: dict[str, str] | None = None) -> list[Arrived]:
    """Decode messages and check the signatures of those whose kiosk key is in
    `keys` (pure: no database)."""
    out = []
    for topic, data in items:
        a = Arrived(data, _open(topic, data))
        if keys and not isinstance(a.opened, _Refused):
            key = keys.get(a.opened[0].kiosk_id)
            if key is not None:
                a.key, a.verdict = key, _verify_one(a.opened[1], a.opened[2], key)
        out.append(a)
    return out


def precheck(items: list[tuple[str, bytes]], keys: dict[str, str]) -> Future[list[Arrived]]:
    """`arrive` on the helper thread, while the worker goes on receiving. `keys`
    is the worker's cache of kiosk keys, copied: when the batch is applied, each
    message whose key has changed since (or was unknown) is checked again with
    the key in the database then."""
    return _VERIFIER.submit(arrive, items, dict(keys))


def _check(sessions: sessionmaker[Session], arrived: list[Arrived],
           key_cache: dict[str, str] | None = None) -> list[_Parsed | _Refused]:
    """Verify before the write transaction (pure but for one read of the kiosks'
    keys), so the write lock is not held while signatures are checked. Keys
    read here are what counts; `key_cache` is updated with them."""
    ids = sorted({a.opened[0].kiosk_id for a in arrived if not isinstance(a.opened, _Refused)})
    keys: dict[str, str] = {}
    revoked: set[str] = set()  # `ur-central kiosks revoke`: refused whatever they sign
    if ids:
        with sessions() as s:
            s.connection(execution_options={sqlite_pragmas.READ_ONLY: True})
            rows = list(s.execute(select(kiosk_registry.Kiosk.kiosk_id, kiosk_registry.Kiosk.public_key,
                                         kiosk_registry.Kiosk.revoked_at)
                                  .where(kiosk_registry.Kiosk.kiosk_id.in_(ids))))
            keys = {k: key for k, key, revoked_at in rows if revoked_at is None}
            revoked = {k for k, _key, revoked_at in rows if revoked_at is not None}
    if key_cache is not None:
        for k in ids:
            if k in keys:
                key_cache[k] = keys[k]
            else:
                key_cache.pop(k, None)
    todo = [a for a in arrived if not isinstance(a.opened, _Refused)
            and a.opened[0].kiosk_id in keys and a.key != keys[a.opened[0].kiosk_id]]
    jobs = [(a.opened[1], a.opened[2], keys[a.opened[0].kiosk_id]) for a in todo]  # type: ignore[index]  # _Refused filtered out above: opened is the (envelope, body, key) tuple
    if len(jobs) >= PARALLEL_FROM:
        half = len(jobs) // 2
        other = _VERIFIER.submit(_verify_all, jobs[half:])
        verdicts = _verify_all(jobs[:half]) + other.result()
    else:
        verdicts = _verify_all(jobs)
    for a, (_b, _s, key), verdict in zip(todo, jobs, verdicts, strict=True):
        a.key, a.verdict = key, verdict
    out: list[_Parsed | _Refused] = []
    for a in arrived:
        if isinstance(a.opened, _Refused):
            out.append(a.opened)
            continue
        env = a.opened[0]
        if env.kiosk_id in revoked:
            out.append(_Refused("revoked", f"{env.kiosk_id}/{env.stream}#{env.seq}"))
        elif env.kiosk_id not in keys:
            out.append(_Refused("unknown_kiosk", env.kiosk_id))
        elif a.verdict is not None:
            out.append(_Refused(a.verdict[0], f"{env.kiosk_id}: {a.verdict[1]}"))  # never ack a forgery
        else:
            out.append(_Parsed(env, bytes(a.data)))
    return out


def _sealed_refusal(session: Session, env: Envelope, e: SealError) -> Outcome:
    """A sealed payload that does not open. Sealed to a key central does not
    hold: dropped (not acked, so the kiosk keeps it and sends it again once the
    key is back). Tampered with, moved from another message, or junk inside:
    the kiosk signed it, so it is refused for good and the kiosk told; so is
    personal data in the clear once central requires it sealed (`pii_clear`)."""
    where = f"{env.kiosk_id}/{env.stream}#{env.seq}: {e}"
    if e.code == "key":
        _count(session, "sealed_key", where)
        return Outcome(env.kiosk_id, env.message_id, "dropped", "sealed_key")
    _count(session, "pii_clear" if e.code == "clear" else "sealed", where)
    return Outcome(env.kiosk_id, env.message_id, "rejected", str(e)[:250])


def _foreign_tracking(session: Session, kiosk_id: str, stream: str, payload: Mapping[str, Any]) -> str | None:
    """Why a message may not claim its tracking number, or None. A kiosk mints
    numbers only under its own code, so one under another kiosk's code is a rogue
    or broken kiosk squatting a number that kiosk will use (and would then be
    refused as taken). A malformed number is left to the handler to refuse."""
    if not STREAMS[stream].mints_tracking:
        return None
    kiosk = session.get(kiosk_registry.Kiosk, kiosk_id)  # in the session already (touch)
    try:
        owner = tracking.kiosk_code_of(str(payload["tracking"]))
    except (KeyError, UrError):
        return None
    if kiosk is None or owner == kiosk.kiosk_code:
        return None
    return f"tracking number {payload['tracking']} is not under kiosk {kiosk_id}'s code {kiosk.kiosk_code:04d}"


def _apply_one(session: Session, env: Envelope) -> Outcome:
    """Run the stream's handler in a savepoint; a refusal is recorded, not raised."""
    spec = STREAMS[env.stream]
    try:
        payload = pii_key.clear_payload(session, env.kiosk_id, env.stream, env.message_id, env.payload)
    except SealError as e:
        return _sealed_refusal(session, env, e)
    foreign = _foreign_tracking(session, env.kiosk_id, env.stream, payload)
    if foreign is not None:
        _count(session, "tracking_kiosk", f"{env.kiosk_id}/{env.stream}#{env.seq}: {foreign}")
        return Outcome(env.kiosk_id, env.message_id, "rejected", foreign)
    sp = session.begin_nested()
    try:
        spec.handler(session, env.kiosk_id, env.message_id, payload)
        sp.commit()
        return Outcome(env.kiosk_id, env.message_id, "applied")
    except UrError as e:
        sp.rollback()
        _count(session, "payload", f"{env.kiosk_id}/{env.stream}#{env.seq}: {e}")
        return Outcome(env.kiosk_id, env.message_id, "rejected", str(e)[:250])
    except Exception as e:  # noqa: BLE001 - a handler bug must not stop ingest of others
        sp.rollback()
        log.exception("handler for %s failed", env.stream)
        _count(session, "handler_error", f"{env.kiosk_id}/{env.stream}#{env.seq}: {type(e).__name__}")
        return Outcome(env.kiosk_id, env.message_id, "dropped", "handler_error")


def _record(session: Session, env: Envelope, result: str, reason: str, now: datetime) -> bool:
    """Insert the inbox row; False if another worker or an earlier delivery has it."""
    sp = session.begin_nested()
    try:
        session.execute(insert(InboxEntry).values(
            kiosk_id=env.kiosk_id, message_id=env.message_id, stream=env.stream, seq=env.seq,
            hlc=env.hlc, received_at=now, outcome=result, reason=reason[:256]))
        sp.commit()
        return True
    except IntegrityError:
        sp.rollback()
        return False


def _cursor(session: Session, kiosk_id: str, stream: str) -> StreamCursor:
    cur = session.scalars(select(StreamCursor).where(
        StreamCursor.kiosk_id == kiosk_id, StreamCursor.stream == stream).with_for_update()).first()
    if cur is None:
        sp = session.begin_nested()
        try:
            session.add(StreamCursor(kiosk_id=kiosk_id, stream=stream, applied_seq=0))
            session.flush()
            sp.commit()
        except IntegrityError:
            sp.rollback()
        cur = session.scalars(select(StreamCursor).where(
            StreamCursor.kiosk_id == kiosk_id, StreamCursor.stream == stream).with_for_update()).one()
    return cur


def _handle(session: Session, p: _Parsed, now: datetime) -> Outcome:
    env = p.env
    # The HLC is part of the key and PostgreSQL's partition key: with it the lookup reads one partition.
    existing = session.scalars(select(InboxEntry).where(
        InboxEntry.kiosk_id == env.kiosk_id, InboxEntry.message_id == env.message_id,
        InboxEntry.hlc == env.hlc)).first()
    if existing is not None:
        if existing.outcome == "rejected":
            return Outcome(env.kiosk_id, env.message_id, "rejected", existing.reason)
        return Outcome(env.kiosk_id, env.message_id, "duplicate")
    spec = STREAMS.get(env.stream)
    if spec is None:
        _count(session, "unknown_stream", f"{env.kiosk_id}: {env.stream}")
        _record(session, env, "rejected", f"unknown stream {env.stream}", now)
        return Outcome(env.kiosk_id, env.message_id, "rejected", f"unknown stream {env.stream}")
    if not spec.ordered:
        out = _apply_one(session, env)
        if out.result == "dropped" or not _record(session, env, out.result, out.reason, now):
            return Outcome(env.kiosk_id, env.message_id, "dropped", out.reason or "race")
        return out
    cur = _cursor(session, env.kiosk_id, env.stream)
    if env.seq > cur.applied_seq + 1:
        if not _record(session, env, "held", "", now):
            return Outcome(env.kiosk_id, env.message_id, "duplicate")
        _note_held(session, env.kiosk_id, env.stream)
        session.merge(HeldMessage(kiosk_id=env.kiosk_id, stream=env.stream, seq=env.seq,
                                  message_id=env.message_id, envelope=p.raw))
        return Outcome(env.kiosk_id, env.message_id, "held")
    if env.seq <= cur.applied_seq:
        # A new message with an old sequence (kiosk restored from backup?): the
        # message id is the real guarantee, so apply it, but count the anomaly.
        _count(session, "sequence_regression", f"{env.kiosk_id}/{env.stream} seq {env.seq} <= {cur.applied_seq}")
    out = _apply_one(session, env)
    if out.result == "dropped":
        return out
    if not _record(session, env, out.result, out.reason, now):
        raise _Retry()
    cur.applied_seq = max(cur.applied_seq, env.seq)
    _drain_held(session, cur, now)
    return out


# session.info key: the (kiosk, stream) pairs that may have held messages in this
# batch's transaction (absent: unknown, every stream is looked at).
_HELD_STREAMS = "ur_ingest_held_streams"


def _note_held(session: Session, kiosk_id: str, stream: str) -> None:
    known = session.info.get(_HELD_STREAMS)
    if known is not None:
        known.add((kiosk_id, stream))


def _drain_held(session: Session, cur: StreamCursor, now: datetime) -> None:
    known = session.info.get(_HELD_STREAMS)
    if known is not None and (cur.kiosk_id, cur.stream) not in known:
        return  # nothing held for this stream: no lookup per applied message
    while True:
        held = session.get(HeldMessage, (cur.kiosk_id, cur.stream, cur.applied_seq + 1))
        if held is None:
            return
        env, _b, _s = envelope.open_unverified(held.envelope)  # verified when it was held
        out = _apply_one(session, env)
        if out.result == "dropped":
            return  # handler bug: keep it held, it will be retried with the next message
        session.execute(InboxEntry.__table__.update().where(
            InboxEntry.kiosk_id == env.kiosk_id, InboxEntry.message_id == env.message_id, InboxEntry.hlc == env.hlc
        ).values(outcome=out.result, reason=out.reason[:256]))
        session.execute(delete(HeldMessage).where(
            HeldMessage.kiosk_id == cur.kiosk_id, HeldMessage.stream == cur.stream,
            HeldMessage.seq == env.seq))
        cur.applied_seq = env.seq


class _Retry(Exception):
    """Another worker committed the same message meanwhile: redo the batch."""


def process_batch(sessions: sessionmaker[Session], items: list[tuple[str, bytes]] | list[Arrived],
                  attempts: int = 5, key_cache: dict[str, str] | None = None,
                  fence: Fence | None = None) -> list[Outcome]:
    """Apply a batch of uplink messages (raw, or as `arrive`/`precheck` left
    them) in one transaction; returns outcomes for acking (only after the
    commit). Retries the batch on a lost race or a deadlock between workers.
    `fence(session, partitions)` runs first in the transaction (a worker's lease
    check, central/partitions.py) and raises to roll the whole batch back."""
    arrived = [i if isinstance(i, Arrived) else arrive([i])[0] for i in items]
    last_exc: Exception | None = None
    for _ in range(attempts):
        try:
            return _process_once(sessions, arrived, key_cache, fence)
        except _Retry as e:
            last_exc = e
        except DBAPIError as e:
            if not db.is_retryable(e):  # deadlock victim or serialization failure (SQLSTATE): run it again
                raise
            log.info("batch of %d retried: %s", len(arrived), e.orig)
            last_exc = e
    raise RuntimeError(f"batch failed after {attempts} attempts: {last_exc}")


def _process_once(sessions: sessionmaker[Session], arrived: list[Arrived],
                  key_cache: dict[str, str] | None, fence: Fence | None = None) -> list[Outcome]:
    checked = _check(sessions, arrived, key_cache)
    now = datetime.now(UTC)
    try:
        return _apply_batched(sessions, checked, now, fence)
    except _Fallback as e:
        log.warning("batch of %d applied one message at a time: %s", len(checked), e)
    return _apply_each(sessions, checked, now, fence)


def _apply_each(sessions: sessionmaker[Session], checked: list[_Parsed | _Refused], now: datetime,
                fence: Fence | None) -> list[Outcome]:
    """The reference path: each message in its own savepoints, refused or
    counted on its own (bulk only for several messages of one stream)."""
    outcomes: list[Outcome] = []
    with sessions.begin() as session:
        if fence is not None:  # first: on PostgreSQL it also locks the lease rows until commit
            fence(session, {topics.partition_of(c.env.kiosk_id) for c in checked if isinstance(c, _Parsed)})
        parsed: list[_Parsed] = []
        kiosks: dict[str, kiosk_registry.Kiosk | None] = {}
        for c in checked:
            if isinstance(c, _Refused):
                _count(session, c.code, c.detail)
                outcomes.append(Outcome(None, None, "dropped", c.code))
                continue
            k = c.env.kiosk_id
            if k not in kiosks:
                kiosks[k] = session.get(kiosk_registry.Kiosk, k)
            kiosk = kiosks[k]
            if kiosk is None:  # removed since it was verified
                _count(session, "unknown_kiosk", k)
                outcomes.append(Outcome(None, None, "dropped", "unknown_kiosk"))
                continue
            kiosk_registry.touch(session, kiosk, hlc.physical_ms(c.env.hlc), now)
            parsed.append(c)
        if fence is not None and parsed:
            # Under the fence no other worker can hold messages for these kiosks until
            # we commit, so one look now tells which streams have any: the storm's
            # profile had a held-message lookup after every applied message (~14%
            # of the worker). Without a fence (several workers, no leases) a stream
            # may gain held messages meanwhile: every stream is looked at then.
            ids = sorted({p.env.kiosk_id for p in parsed})
            session.info[_HELD_STREAMS] = set(session.execute(
                select(HeldMessage.kiosk_id, HeldMessage.stream).where(bulk.among(session, HeldMessage.kiosk_id, ids))
                .distinct()).tuples())
        # One order for all workers: no lock-order deadlocks, sequences applied in order.
        parsed.sort(key=lambda p: (p.env.kiosk_id, p.env.stream, p.env.seq))
        for group in _runs(parsed):
            outcomes.extend(_handle_group(session, group, now))
    return outcomes


def _runs(items: list[_Parsed]) -> Iterator[list[_Parsed]]:
    """The messages of one (kiosk, stream) at a time; `items` is sorted by that key."""
    for _key, run in itertools.groupby(items, key=lambda p: (p.env.kiosk_id, p.env.stream)):
        yield list(run)


def _bulk_may_fall_back(e: Exception) -> bool:
    """Whether the one-message-at-a-time path can do what the bulk apply could
    not: yes for a constraint met by a race with another worker, a value the
    database refuses, or a handler raising (the reference path refuses or counts
    just the message at fault). No for the database itself failing (a deadlock
    or serialization failure, a lost connection, a timeout, a broken
    transaction): the slow path would meet the same, so the error goes up, where
    process_batch runs the batch again (by SQLSTATE) or nothing is acked."""
    return not isinstance(e, OperationalError | InterfaceError | InternalError)


def _handle_group(session: Session, group: list[_Parsed], now: datetime) -> list[Outcome]:
    """Fast path for one (kiosk, stream): one dedup query, one cursor lock, one
    bulk apply, bulk inbox rows. Any surprise falls back to the per-message path,
    which is the reference behaviour."""
    first = group[0].env
    spec = STREAMS.get(first.stream)
    if spec is None or spec.bulk is None or len(group) == 1:
        return [_handle(session, p, now) for p in group]
    ids_ = [p.env.message_id for p in group]
    hlcs = {p.env.message_id: p.env.hlc for p in group}
    # The batch's HLC span bounds the lookup to the partitions it can be in (PostgreSQL).
    known = {m: (o, r) for m, h, o, r in session.execute(
        select(InboxEntry.message_id, InboxEntry.hlc, InboxEntry.outcome, InboxEntry.reason).where(
            InboxEntry.kiosk_id == first.kiosk_id, bulk.among(session, InboxEntry.message_id, ids_),
            InboxEntry.hlc.between(min(hlcs.values()), max(hlcs.values())))) if hlcs.get(m) == h}
    out: list[Outcome] = []
    fresh: list[_Parsed] = []
    seen: set[str] = set()
    for p in group:
        mid = p.env.message_id
        if mid in known or mid in seen:
            o, r = known.get(mid, ("duplicate", ""))
            out.append(Outcome(first.kiosk_id, mid, "rejected" if o == "rejected" else "duplicate", r))
        else:
            seen.add(mid)
            fresh.append(p)
    if not fresh:
        return out
    run, held = fresh, []
    cur = None
    if spec.ordered:
        cur = _cursor(session, first.kiosk_id, first.stream)
        nxt = cur.applied_seq + 1
        run = []
        for p in fresh:  # sorted by seq already
            if p.env.seq <= nxt:
                if p.env.seq < cur.applied_seq + 1:
                    _count(session, "sequence_regression", f"{first.kiosk_id}/{first.stream} seq {p.env.seq}")
                run.append(p)
                nxt = max(nxt, p.env.seq + 1)
            else:
                held.append(p)
    try:
        items = [(p.env.message_id, pii_key.clear_payload(session, p.env.kiosk_id, p.env.stream,
                                                          p.env.message_id, p.env.payload)) for p in run]
    except SealError:  # one does not open: the per-message path refuses just that one
        return out + [_handle(session, p, now) for p in fresh]
    if any(_foreign_tracking(session, first.kiosk_id, first.stream, payload) for _m, payload in items):
        return out + [_handle(session, p, now) for p in fresh]  # refused one by one, counted
    sp = session.begin_nested()
    try:
        results = spec.bulk(session, first.kiosk_id, items)
        rows = [{"kiosk_id": p.env.kiosk_id, "message_id": p.env.message_id, "stream": p.env.stream,
                 "seq": p.env.seq, "hlc": p.env.hlc, "received_at": now, "outcome": res, "reason": reason[:256]}
                for p, (res, reason) in zip(run, results, strict=True)]
        rows += [{"kiosk_id": p.env.kiosk_id, "message_id": p.env.message_id, "stream": p.env.stream,
                  "seq": p.env.seq, "hlc": p.env.hlc, "received_at": now, "outcome": "held", "reason": ""}
                 for p in held]
        if rows:
            bulk.insert_rows(session, InboxEntry.__table__, rows)  # no ORM cost per row
        if held:
            _note_held(session, first.kiosk_id, first.stream)
            bulk.insert_rows(session, HeldMessage.__table__, [
                {"kiosk_id": p.env.kiosk_id, "stream": p.env.stream, "seq": p.env.seq,
                 "message_id": p.env.message_id, "envelope": p.raw} for p in held])
        sp.commit()
    except Exception as e:
        sp.rollback()
        if not _bulk_may_fall_back(e):
            raise
        log.warning("bulk apply of %d %s messages from %s failed, applying them one at a time: %s: %s",
                    len(run), first.stream, first.kiosk_id, type(e).__name__, e)
        return out + [_handle(session, p, now) for p in fresh]
    for p, (res, reason) in zip(run, results, strict=True):
        if res == "rejected":
            _count(session, "payload", f"{p.env.kiosk_id}/{p.env.stream}#{p.env.seq}: {reason}")
        out.append(Outcome(p.env.kiosk_id, p.env.message_id, res, reason[:250]))
    out += [Outcome(p.env.kiosk_id, p.env.message_id, "held") for p in held]
    if cur is not None and run:
        cur.applied_seq = max(cur.applied_seq, max(p.env.seq for p in run))
        _drain_held(session, cur, now)
    return out


class _Fallback(Exception):
    """The batched path met something only the reference path handles message
    by message (a refusal, a race, a handler failing): its transaction is rolled
    back and the batch applied by `_apply_each` instead."""


def _apply_batched(sessions: sessionmaker[Session], checked: list[_Parsed | _Refused], now: datetime,
                   fence: Fence | None) -> list[Outcome]:
    """The whole batch with a fixed number of statements around the handlers:
    in a reconnect storm a batch holds one or two messages each of many kiosks,
    and the reference path's round trips per message (dedup lookup, cursor lock,
    two savepoints, inbox insert) were most of the worker's time. No savepoints:
    anything the reference path would refuse or count one by one rolls the whole
    transaction back (`_Fallback`), so what commits is what `_apply_each` would
    have committed, and nothing from a failed try does."""
    with sessions.begin() as session:
        if fence is not None:  # first: on PostgreSQL it also locks the lease rows until commit
            fence(session, {topics.partition_of(c.env.kiosk_id) for c in checked if isinstance(c, _Parsed)})
        try:
            return _batched_body(session, checked, now, fenced=fence is not None)
        except _Fallback:
            raise
        except Exception as e:
            if not _bulk_may_fall_back(e):
                raise  # the database failing: process_batch retries by SQLSTATE, or nothing is acked
            raise _Fallback(f"{type(e).__name__}: {e}") from e


def _cursors(session: Session, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], StreamCursor]:
    """The batch's stream cursors, locked in (kiosk, stream) order like the
    reference path's one at a time; missing ones created (a race with another
    worker creating one is no error: ON CONFLICT DO NOTHING)."""
    def read(wanted: list[tuple[str, str]]) -> dict[tuple[str, str], StreamCursor]:
        return {(c.kiosk_id, c.stream): c for c in session.scalars(
            select(StreamCursor).where(tuple_(StreamCursor.kiosk_id, StreamCursor.stream).in_(wanted))
            .order_by(StreamCursor.kiosk_id, StreamCursor.stream).with_for_update())}
    if not pairs:
        return {}
    curs = read(pairs)
    missing = [p for p in pairs if p not in curs]
    if missing:
        dialect = session.get_bind().dialect.name
        rows = [{"kiosk_id": k, "stream": s, "applied_seq": 0} for k, s in missing]
        ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(StreamCursor).values(rows)
        session.execute(ins.on_conflict_do_nothing(index_elements=["kiosk_id", "stream"]))
        curs.update(read(missing))
    return curs


def _batched_body(session: Session, checked: list[_Parsed | _Refused], now: datetime,
                  fenced: bool) -> list[Outcome]:
    outcomes: list[Outcome] = []
    ids = sorted({c.env.kiosk_id for c in checked if isinstance(c, _Parsed)})
    kiosks = {k.kiosk_id: k for k in session.scalars(select(kiosk_registry.Kiosk).where(
        bulk.among(session, kiosk_registry.Kiosk.kiosk_id, ids)))} if ids else {}
    parsed: list[_Parsed] = []
    for c in checked:
        if isinstance(c, _Refused):
            _count(session, c.code, c.detail)
            outcomes.append(Outcome(None, None, "dropped", c.code))
            continue
        kiosk = kiosks.get(c.env.kiosk_id)
        if kiosk is None:  # removed since it was verified
            _count(session, "unknown_kiosk", c.env.kiosk_id)
            outcomes.append(Outcome(None, None, "dropped", "unknown_kiosk"))
            continue
        kiosk_registry.touch(session, kiosk, hlc.physical_ms(c.env.hlc), now)  # one UPDATE per kiosk at flush
        parsed.append(c)
    if not parsed:
        return outcomes
    ids = sorted({p.env.kiosk_id for p in parsed})
    if fenced:  # see _apply_each: under the fence one look tells which streams have held messages
        session.info[_HELD_STREAMS] = {(k, s) for k, s in session.execute(
            select(HeldMessage.kiosk_id, HeldMessage.stream).where(bulk.among(session, HeldMessage.kiosk_id, ids))
            .distinct())}
    parsed.sort(key=lambda p: (p.env.kiosk_id, p.env.stream, p.env.seq))
    # One dedup lookup for the batch; the HLC span bounds it to the partitions it can be in
    # (PostgreSQL), and a hit counts only with the exact (kiosk, message, HLC) key.
    hlcs = [p.env.hlc for p in parsed]
    known = {(k, m, h): (o, r) for k, m, h, o, r in session.execute(
        select(InboxEntry.kiosk_id, InboxEntry.message_id, InboxEntry.hlc, InboxEntry.outcome, InboxEntry.reason)
        .where(bulk.among(session, InboxEntry.kiosk_id, ids),
               bulk.among(session, InboxEntry.message_id, sorted({p.env.message_id for p in parsed})),
               InboxEntry.hlc.between(min(hlcs), max(hlcs))))}
    fresh: list[_Parsed] = []
    seen: set[tuple[str, str, int]] = set()
    for p in parsed:
        key = (p.env.kiosk_id, p.env.message_id, p.env.hlc)
        if key in known or key in seen:
            o, r = known.get(key, ("duplicate", ""))
            outcomes.append(Outcome(p.env.kiosk_id, p.env.message_id, "rejected" if o == "rejected" else "duplicate", r))
        else:
            seen.add(key)
            fresh.append(p)
    curs = _cursors(session, sorted({(p.env.kiosk_id, p.env.stream) for p in fresh
                                     if p.env.stream in STREAMS and STREAMS[p.env.stream].ordered}))
    inbox_rows: list[dict[str, Any]] = []
    held_rows: list[dict[str, Any]] = []

    def row(p: _Parsed, result: str, reason: str) -> dict[str, Any]:
        return {"kiosk_id": p.env.kiosk_id, "message_id": p.env.message_id, "stream": p.env.stream,
                "seq": p.env.seq, "hlc": p.env.hlc, "received_at": now, "outcome": result, "reason": reason[:256]}

    for group in _runs(fresh):
        kiosk_id, stream = group[0].env.kiosk_id, group[0].env.stream
        spec = STREAMS.get(stream)
        if spec is None:
            for p in group:
                _count(session, "unknown_stream", f"{kiosk_id}: {stream}")
                inbox_rows.append(row(p, "rejected", f"unknown stream {stream}"))
                outcomes.append(Outcome(kiosk_id, p.env.message_id, "rejected", f"unknown stream {stream}"))
            continue
        cur = curs.get((kiosk_id, stream))
        pending: list[_Parsed] = group
        held: list[_Parsed] = []
        while pending:
            run, held = _split(session, cur, pending)
            for p, (res, reason) in zip(run, _apply_run(session, spec, kiosk_id, stream, run), strict=True):
                if res == "rejected":
                    _count(session, "payload", f"{kiosk_id}/{stream}#{p.env.seq}: {reason}")
                inbox_rows.append(row(p, res, reason))
                outcomes.append(Outcome(kiosk_id, p.env.message_id, res, reason[:250]))
            if cur is None or not run:
                break
            cur.applied_seq = max(cur.applied_seq, max(p.env.seq for p in run))
            _drain_held(session, cur, now)
            # Messages held from an earlier batch may have filled the gap before this
            # group's next one (as the per-message path sees it): go on from there.
            pending = held if held and held[0].env.seq <= cur.applied_seq + 1 else []
        for p in held:
            inbox_rows.append(row(p, "held", ""))
            held_rows.append({"kiosk_id": kiosk_id, "stream": stream, "seq": p.env.seq,
                              "message_id": p.env.message_id, "envelope": p.raw})
            outcomes.append(Outcome(kiosk_id, p.env.message_id, "held"))
        if held:
            _note_held(session, kiosk_id, stream)
    # A row another worker (or delivery) committed meanwhile is an IntegrityError here:
    # _Fallback, and the reference path sees the race (and redoes the batch).
    bulk.insert_rows(session, InboxEntry.__table__, inbox_rows)
    bulk.insert_rows(session, HeldMessage.__table__, held_rows)
    return outcomes


def _split(session: Session, cur: StreamCursor | None, group: list[_Parsed]) -> tuple[list[_Parsed], list[_Parsed]]:
    """(what can be applied now, what waits for a gap), by the stream's cursor
    (None: an unordered stream, all of it now). Sorted by seq already."""
    if cur is None:
        return group, []
    run: list[_Parsed] = []
    held: list[_Parsed] = []
    nxt = cur.applied_seq + 1
    for p in group:
        if p.env.seq <= nxt and not held:
            if p.env.seq <= cur.applied_seq:  # a new message with an old sequence: applied, counted
                _count(session, "sequence_regression",
                       f"{p.env.kiosk_id}/{p.env.stream} seq {p.env.seq} <= {cur.applied_seq}")
            run.append(p)
            nxt = max(nxt, p.env.seq + 1)
        else:
            held.append(p)
    return run, held


def _apply_run(session: Session, spec: StreamSpec, kiosk_id: str, stream: str,
               run: list[_Parsed]) -> list[tuple[str, str]]:
    """Run the handlers on messages that are due; anything the per-message path
    would refuse or count on its own raises (`_Fallback` in the end)."""
    try:
        items = [(p.env.message_id, pii_key.clear_payload(session, kiosk_id, stream, p.env.message_id,
                                                          p.env.payload)) for p in run]
    except SealError as e:
        raise _Fallback(f"{kiosk_id}/{stream}: a sealed payload does not open ({e.code})") from None
    for _m, payload in items:
        if _foreign_tracking(session, kiosk_id, stream, payload) is not None:
            raise _Fallback(f"{kiosk_id}/{stream}: a tracking number under another kiosk's code")
    if spec.bulk is not None:
        return spec.bulk(session, kiosk_id, items) if items else []
    results = []
    for m, payload in items:
        spec.handler(session, kiosk_id, m, payload)  # raising: _Fallback, refused there on its own
        results.append(("applied", ""))
    return results
