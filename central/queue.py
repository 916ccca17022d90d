"""Office queues: a ticket per visit-needing application, called at a counter.

Why a central-side record and not a kiosk message: the application already reaches
central exactly once (inbox UNIQUE(kiosk, message id)); the ticket is made from it
by a submission hook, keyed by the tracking number (primary key, insert-if-absent),
so a resent, replayed or re-routed application never makes a second ticket.

A ticket waits in its office's line for its counter group (the service's
institution: each agency has its own counters in a shared office); a counter
calls the oldest waiting ticket of its group, then marks it done. The times
ticket -> call and call -> done are kept on the row; their recent medians per
office and group are the `queue_waits` dataset the kiosks print estimates from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Index, Integer, Select, String, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import applications, bulk, casework, datasets, kiosks
from central import catalogue as central_catalogue
from central.db import Base
from contract import catalogue as cat
from contract import queue_waits as qw
from contract import tracking
from contract.errors import UrError

WAITING, CALLED, DONE = "waiting", "called", "done"


class QueueTicket(Base):
    __tablename__ = "queue_tickets"
    __table_args__ = (Index("ix_queue_tickets_line", "office", "counter_group", "status", "ticket_at"),)
    tracking: Mapped[str] = mapped_column(String(16), primary_key=True)
    office: Mapped[str] = mapped_column(String(64))
    counter_group: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    # When the kiosk printed it (the application's submit time): the wait starts there.
    ticket_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    called_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Times called (a recall adds one): the board speaks again whenever it changes.
    calls: Mapped[int] = mapped_column(Integer, default=0)
    called_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


RECENT = 50  # tickets per office and group the medians are taken over
RECENT_DAYS = 14  # older tickets say nothing about today's counters
DEFAULT_CASE_URL = ""  # until `ur-central queue publish --case-url` names the console


def _aware(t: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone columns: they were stored in UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def counter_group(service: cat.Service) -> str:
    """Each agency has its own counters in a shared office: its institution id."""
    return service.institution


def needs_visit(service: cat.Service) -> bool:
    return service.visit_count > 0


def open_tickets(session: Session, numbers: list[str]) -> None:
    """SUBMISSION_HOOK: a waiting ticket for each stored application of a service that
    needs a visit. Insert-if-absent by tracking number: a replay or a re-route adds
    nothing, and a ticket already called is never reset."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return
    A = applications.Application
    # An application the workflow start refused at once (a wrong fee: the hooks run in
    # order, casework's first) needs no visit: no ticket would ever be called.
    apps = list(session.execute(select(A.tracking, A.kiosk_id, A.service_id, A.catalogue_version, A.submitted_at)
                                .where(bulk.among(session, A.tracking, wanted), A.status != "rejected")))
    have = set(session.scalars(select(QueueTicket.tracking).where(bulk.among(session, QueueTicket.tracking, wanted))))
    todo = [a for a in apps if a.tracking not in have]
    if not todo:
        return
    offices = {k: o for k, o in session.execute(select(kiosks.Kiosk.kiosk_id, kiosks.Kiosk.office).where(
        kiosks.Kiosk.kiosk_id.in_({a.kiosk_id for a in todo})))}
    catalogues = central_catalogue.catalogues_at(session, {a.catalogue_version for a in todo})
    rows: list[dict[str, Any]] = []
    for a in todo:
        c = catalogues[a.catalogue_version]
        if isinstance(c, UrError):
            continue  # the workflow start reports this application; no service, no counter
        try:
            service = c.service(a.service_id)
        except UrError:
            continue
        if not needs_visit(service):
            continue
        rows.append({"tracking": a.tracking, "office": offices.get(a.kiosk_id, ""),
                     "counter_group": counter_group(service), "service_id": a.service_id,
                     "ticket_at": _aware(a.submitted_at), "status": WAITING, "counter": None,
                     "called_by": None, "called_at": None, "done_at": None, "calls": 0})
    if rows:
        session.execute(insert(QueueTicket), rows)


def _check_counter(counter: int) -> int:
    if not 1 <= counter <= 999:
        raise UrError(f"counter {counter} is not 1..999")
    return counter


def call_next(session: Session, office: str, group: str, counter: int, by: str,
              now: datetime | None = None) -> QueueTicket | None:
    """The oldest waiting ticket of the office's group, now called to `counter`; None
    when nobody waits. Two counters calling at once never get the same ticket: the
    row is locked (PostgreSQL, SKIP LOCKED) and the update is conditional on it still
    waiting (SQLite has one writer anyway)."""
    _check_counter(counter)
    now = now or datetime.now(UTC)
    for _ in range(5):
        t = session.scalars(select(QueueTicket).where(
            QueueTicket.office == office, QueueTicket.counter_group == group, QueueTicket.status == WAITING)
            .order_by(QueueTicket.ticket_at, QueueTicket.tracking).limit(1).with_for_update(skip_locked=True)).first()
        if t is None:
            return None
        took = session.execute(update(QueueTicket).where(
            QueueTicket.tracking == t.tracking, QueueTicket.status == WAITING).values(
            status=CALLED, counter=counter, called_by=by[:64], called_at=now, calls=QueueTicket.calls + 1)
            .execution_options(
            synchronize_session=False))
        if took.rowcount == 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
            session.refresh(t)
            return t
    raise UrError(f"queue {office}/{group}: could not take a ticket (others calling); call again")


def _ticket(session: Session, number: str) -> QueueTicket:
    t = session.get(QueueTicket, tracking.parse(number))
    if t is None:
        raise UrError(f"no queue ticket {number}")
    return t


def done(session: Session, number: str, now: datetime | None = None) -> QueueTicket:
    """The counter finished with a called ticket; the office's estimates are
    republished (a new dataset version only when a shown minute changed)."""
    t = _ticket(session, number)
    if t.status != CALLED:
        raise UrError(f"ticket {t.tracking} is {t.status}, not called: call it first")
    t.status, t.done_at = DONE, now or datetime.now(UTC)
    session.flush()
    publish(session, office=t.office)
    return t


def recall(session: Session, number: str, counter: int | None, by: str, now: datetime | None = None) -> QueueTicket:
    """Call a called ticket again (the citizen did not come): same ticket, the board
    shows and speaks it again; the measured wait stays the first call's. `counter`
    None: the counter it was called to."""
    t = _ticket(session, number)
    if t.status != CALLED:
        raise UrError(f"ticket {t.tracking} is {t.status}, not called")
    c = t.counter if counter is None else counter
    if c is None:
        raise UrError(f"ticket {t.tracking} has no counter: name one")
    t.counter, t.called_by, t.calls = _check_counter(c), by[:64], t.calls + 1
    return t


def check_place(session: Session, office: str | None, group: str | None = None) -> None:
    """Refuse an office or counter group nobody knows, by name: a typo at a counter
    would otherwise read as "nobody waits". An office is known when a kiosk is
    enrolled there or a ticket names it; a group when the current catalogue has a
    service of that institution or a ticket names it."""
    if office is not None and not office.strip():
        raise UrError("office is empty: name the office (e.g. --office karkh)")
    if office is not None and not (
            session.scalars(select(kiosks.Kiosk.office).where(kiosks.Kiosk.office == office).limit(1)).first()
            is not None or session.scalars(select(QueueTicket.office).where(QueueTicket.office == office)
                                           .limit(1)).first() is not None):
        known = sorted(set(session.scalars(select(kiosks.Kiosk.office).distinct().limit(20))) - {""})
        raise UrError(f"unknown office {office!r} (no kiosk is enrolled there; known: {', '.join(known) or 'none'})")
    if group is None:
        return
    current = central_catalogue.current(session)
    groups = {counter_group(s) for s in current.services if needs_visit(s)} if current is not None else set()
    if group not in groups and session.scalars(select(QueueTicket.counter_group).where(
            QueueTicket.counter_group == group).limit(1)).first() is None:
        raise UrError(f"unknown counter group {group!r} (no service needing a visit is of it; "
                      f"known: {', '.join(sorted(groups)[:20]) or 'none'})")


def line(session: Session, office: str, group: str | None = None, limit: int = 200) -> list[QueueTicket]:
    """Waiting and called tickets of an office (one group or all), oldest first."""
    q = select(QueueTicket).where(QueueTicket.office == office, QueueTicket.status.in_((WAITING, CALLED)))
    if group:
        q = q.where(QueueTicket.counter_group == group)
    return list(session.scalars(q.order_by(QueueTicket.ticket_at, QueueTicket.tracking).limit(limit)))


def board(session: Session, office: str, limit: int = 8) -> list[QueueTicket]:
    """What the office screen shows: the latest calls, newest first."""
    return list(session.scalars(select(QueueTicket).where(
        QueueTicket.office == office, QueueTicket.status == CALLED)
        .order_by(QueueTicket.called_at.desc(), QueueTicket.tracking).limit(limit)))


@dataclass(frozen=True)
class GroupStats:
    office: str
    counter_group: str
    waiting: int
    measured_calls: int  # recent tickets the wait median is taken over
    wait_median_s: float  # ticket -> call
    measured_done: int
    service_median_s: float  # call -> done

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats(session: Session, office: str | None = None, now: datetime | None = None) -> list[GroupStats]:
    """Per office and group: how many wait, and the medians of the last RECENT
    tickets of the past RECENT_DAYS (ticket -> call, call -> done), measured."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=RECENT_DAYS)
    q = select(QueueTicket.office, QueueTicket.counter_group, QueueTicket.status, QueueTicket.ticket_at,
               QueueTicket.called_at, QueueTicket.done_at).where(
        (QueueTicket.status == WAITING) | (QueueTicket.called_at >= since))
    if office is not None:
        q = q.where(QueueTicket.office == office)
    waiting: dict[tuple[str, str], int] = {}
    calls: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    serves: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for o, g, status, t_at, c_at, d_at in session.execute(q.order_by(QueueTicket.called_at)):
        key = (o, g)
        waiting.setdefault(key, 0)
        if status == WAITING or c_at is None:
            waiting[key] += status == WAITING
            continue
        c_at = _aware(c_at)
        calls.setdefault(key, []).append((c_at, max(0.0, (c_at - _aware(t_at)).total_seconds())))
        if d_at is not None:
            d_at = _aware(d_at)
            serves.setdefault(key, []).append((d_at, max(0.0, (d_at - c_at).total_seconds())))
    out = []
    for key in sorted(waiting):
        c = [v for _t, v in sorted(calls.get(key, []))[-RECENT:]]
        d = [v for _t, v in sorted(serves.get(key, []))[-RECENT:]]
        out.append(GroupStats(key[0], key[1], waiting[key], len(c), qw.median(c), len(d), qw.median(d)))
    return out


def publish(session: Session, case_url: str | None = None, now: datetime | None = None,
            office: str | None = None) -> datasets.Dataset:
    """The measured medians as the next `queue_waits` dataset (no-op when unchanged).
    `case_url` (the staff application page prefix the ticket's QR carries) is kept
    from the last version unless given. With `office` only that office is measured
    again and the others are kept from the last version: a counter's `done` then
    reads one office's tickets, not the country's."""
    if case_url is not None and case_url and not case_url.startswith(("https://", "http://")):
        raise UrError(f"case URL {case_url!r} must start with https:// (or http:// on a test bench)")
    last = datasets.latest(session, qw.DATASET)
    before = qw.parse(last.body) if last is not None else qw.QueueWaits(DEFAULT_CASE_URL, {})
    offices: dict[str, dict[str, qw.Waits]] = {}
    if office is not None:
        offices = {o: g for o, g in before.offices.items() if o != office}
    for g in stats(session, office, now=now):
        if g.measured_calls:  # no measurement, no estimate: never a guess
            offices.setdefault(g.office, {})[g.counter_group] = qw.Waits(
                qw.minutes(g.wait_median_s), qw.minutes(g.service_median_s))
    return datasets.publish(session, qw.DATASET, qw.dump(before.case_url if case_url is None else case_url, offices))


# After casework's workflow start (imported above, so registered first): an application
# it rejects at once gets no ticket.
assert casework.start_applications in applications.SUBMISSION_HOOKS
if open_tickets not in applications.SUBMISSION_HOOKS:
    applications.SUBMISSION_HOOKS.append(open_tickets)


def offices_of_group(group: str) -> Select[str]:
    """The offices that have tickets of `group` (the counter page's office choice)."""
    return select(QueueTicket.office).where(QueueTicket.counter_group == group).distinct()
