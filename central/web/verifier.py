"""The public verification route's work: one database read per request, and nothing
done twice that cannot change.

Why (bench/bench_web.py, docs/web.md "Figures"): the route used to spend most of its
time outside the verification itself: an ORM session per request, the pool's pre-ping
and the isolation-level round trips, a threadpool hop, the signing keys re-read every
few seconds by every thread at once, then the same signature checked and the same page
rendered for every scan of the same code.

Kept per serving process, and still right when several processes serve at once:
- the signing keys, labelled with the trust list's version they were read at. Every
  key change publishes a new trust list version (central/keys.py), and every request
  reads the current version in the same statement as the document row
  (registry.VERIFY_READ), so a rotation or a withdrawal is seen by the very next request
  in every process;
- codes whose signature, key and times passed, in a bounded LRU with that version: a
  valid signature stays valid. The registry row (revocation) is read on every request,
  never kept, so a revoked document is REVOKED at once everywhere;
- the VALID page and JSON of such a code, rendered once per language.

On PostgreSQL the read goes through a few psycopg async connections of the process's
own, so the event loop never waits for a thread, and the reads of requests that arrive
together share one round trip (PgReader); other databases (SQLite) read through a
session in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.engine import Engine

from central import datasets, keys, registry
from contract import ur1
from contract.trust_list import TrustList
from contract.verdict import Status, Verdict

PASSED_MAX = 4096  # codes kept per process (a few kB each with their rendered pages)
PG_CONNECTIONS = 4  # per process: a read holds one for a fraction of a millisecond
PG_BATCH = 64  # documents read in one round trip at most


@dataclass
class Passed:
    """A code whose signature, key and times passed against the keys of `trust_version`."""

    trust_version: int | None
    claims: ur1.Claims
    verdict: Verdict  # what ur1.verify said with nothing in the registry against it (VALID)
    bodies: dict[str, bytes] = field(default_factory=dict)  # rendered VALID answers by language/"json"

    def holds(self, now: int) -> bool:
        """The time checks ur1.verify made still pass at `now` (nothing else depends on time)."""
        c = self.claims
        return c.issued_at <= now + ur1.SKEW and (c.expires_at is None or now < c.expires_at)


class Reader(Protocol):
    async def read(self, doc_id: str) -> Any: ...

    async def aclose(self) -> None: ...


class SessionReader:
    """VERIFY_READ through a session in a worker thread (SQLite, or any other database)."""

    def __init__(self, sessions: Callable[[], Any]) -> None:
        self.sessions = sessions

    def _read(self, doc_id: str) -> Any:
        with self.sessions() as s:
            return s.execute(registry.VERIFY_READ, {"id": doc_id}).one()

    async def read(self, doc_id: str) -> Any:
        return await anyio.to_thread.run_sync(self._read, doc_id)

    async def aclose(self) -> None:
        return None


class _Absent(NamedTuple):
    """A document the batched read found no row for (registry_check: not in the registry)."""

    trust_version: int | None
    status_index: None = None


class PgReader:
    """registry.VERIFY_READ_MANY over a few psycopg async connections of this process
    (autocommit: a read needs no transaction; no pre-ping: a broken connection is
    dropped and the read tried once more on a new one). Requests that arrive while the
    connections are busy are read together in the next round trip: under load one query
    answers several requests, so the database's work and the driver's grow slower than
    the request rate. The statement is SQLAlchemy's own, compiled once."""

    def __init__(self, engine: Engine, size: int = PG_CONNECTIONS, batch: int = PG_BATCH) -> None:
        import psycopg  # only with a PostgreSQL database (psycopg is central's driver)
        from psycopg.rows import namedtuple_row

        self._psycopg, self._row_factory = psycopg, namedtuple_row
        self.args, self.kwargs = engine.dialect.create_connect_args(engine.url)
        compiled = registry.VERIFY_READ_MANY.compile(dialect=engine.dialect)
        self.sql, self.params = str(compiled), dict(compiled.params)
        self.size, self.batch = size, batch
        self._idle: list[Any] = []
        self._waiting: list[tuple[str, asyncio.Future[Any]]] = []
        self._readers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def read(self, doc_id: str) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections wait on the loop that made them: a new loop (a test's second
            # client) starts afresh.
            for conn in self._idle:
                conn.pgconn.finish()
            self._idle, self._waiting, self._readers, self._loop = [], [], set(), loop
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((doc_id, fut))
        if len(self._readers) < self.size:
            task = loop.create_task(self._drain())
            self._readers.add(task)
            task.add_done_callback(self._readers.discard)
        # The read runs in a task of its own, so a request that goes away (client gone,
        # cancelled) never leaves the others of its round trip without an answer.
        return await fut

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self.batch], self._waiting[self.batch:]
                try:
                    rows = await self._query(sorted({doc_id for doc_id, _ in batch}))
                except Exception as e:  # noqa: BLE001 - every request of the round trip gets the error
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(e)
                    continue
                version = rows[0].trust_version if rows else None
                found = {r.id: r for r in rows if r.id is not None}
                for doc_id, fut in batch:
                    if not fut.done():
                        fut.set_result(found.get(doc_id) or _Absent(version))
        finally:
            # Leaves the set in the same step as it saw nothing waiting (no await between):
            # a read that arrives after that starts a reader of its own.
            self._readers.discard(asyncio.current_task())

    async def _query(self, ids: list[str]) -> list[Any]:
        for attempt in range(2):
            conn = self._idle.pop() if self._idle else await self._psycopg.AsyncConnection.connect(
                *self.args, **self.kwargs, autocommit=True, row_factory=self._row_factory)
            try:
                cur = await conn.execute(self.sql, {**self.params, "ids": ids})
                rows = await cur.fetchall()
            except self._psycopg.OperationalError:
                await _close_quietly(conn)
                if attempt:
                    raise
                continue  # the server restarted or dropped the connection: once more on a new one
            except BaseException:
                await _close_quietly(conn)  # cancelled or refused mid-read: its state is unknown
                raise
            self._idle.append(conn)
            return rows
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close_quietly(conn)


async def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        await conn.close()


class Verifier:
    """One per process (app.state.verifier)."""

    def __init__(self, reader: Reader, read_sessions: Callable[[], Any], max_passed: int = PASSED_MAX) -> None:
        self.reader, self.read_sessions, self.max_passed = reader, read_sessions, max_passed
        self._trust: tuple[int | None, TrustList] | None = None
        self._trust_lock: asyncio.Lock | None = None
        self._passed: OrderedDict[str, Passed] = OrderedDict()

    def _load_trust(self, now: int) -> tuple[int | None, TrustList]:
        # The version first, then the keys: the keys are at least as new as their label.
        with self.read_sessions() as s:
            version = s.scalar(select(datasets.Dataset.version).where(datasets.Dataset.name == keys.TRUST_DATASET)
                               .order_by(datasets.Dataset.version.desc()).limit(1))
            return version, keys.trust(s, now)

    async def _trust_at(self, version: int | None, now: int) -> tuple[int | None, TrustList]:
        if self._trust is not None and self._trust[0] == version:
            return self._trust
        if self._trust_lock is None:
            self._trust_lock = asyncio.Lock()
        async with self._trust_lock:  # one reload for all the requests that saw the new version
            if self._trust is None or self._trust[0] != version:
                self._trust = await anyio.to_thread.run_sync(self._load_trust, now)
            return self._trust

    async def verdict(self, text: str, now: int) -> tuple[Verdict, Passed | None]:
        """The verdict on `text`, and its Passed entry when the verdict is its VALID one
        (whose rendered answers may then be reused)."""
        hit = self._passed.get(text)
        if hit is not None and hit.holds(now):
            self._passed.move_to_end(text)
            doc_id = hit.claims.doc_id
        else:
            hit = None
            try:
                doc_id = ur1.decode(text).claims.doc_id
            except ur1.Ur1Error as e:
                return Verdict(e.status, str(e)), None
        row = await self.reader.read(doc_id)
        if hit is None or hit.trust_version != row.trust_version:
            version, trust = await self._trust_at(row.trust_version, now)
            seen: list[ur1.Claims] = []
            v = ur1.verify(text, trust, None, now, lookup=lambda c: seen.append(c), check_lists=False)
            if not seen:  # refused before the registry was asked: signature, key or time
                return v, None
            hit = Passed(version, seen[0], v)
            self._passed[text] = hit
            if len(self._passed) > self.max_passed:
                self._passed.popitem(last=False)
        against = registry.registry_check(hit.claims, row)
        if against is not None:
            return Verdict(against[0], against[1], hit.verdict.document), None
        assert hit.verdict.status is Status.VALID
        return hit.verdict, hit
