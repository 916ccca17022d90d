"""Print jobs, journaled in the kiosk store so a receipt prints exactly once.

Why a journal: a printer can run out of paper, be opened or lose power in the
middle of a receipt, and the kiosk process can die too. Each receipt has a key
(e.g. the payment id): submitting it twice is one job. A job moves
QUEUED -> PRINTING -> DONE, or to WAITING(reason) when the printer cannot go on;
the row is marked PRINTING (and `started`) in a committed transaction *before*
the first byte goes out, so a job found PRINTING or started-and-WAITING is
re-sent with a REPRINT marker: the person gets their receipt, clearly marked,
and nothing prints twice unmarked.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from contract.errors import UrError
from kiosk.devices.escpos_status import STATE_MESSAGES, PrinterState
from kiosk.devices.printer_device import open_printer
from kiosk.devices.printer_driver import EscPosPrinter, PrinterUnavailable
from kiosk.devices.receipt import ReceiptProfile, load_template, render_receipt_blocks
from kiosk.store import Base, KioskStore

log = logging.getLogger(__name__)

QUEUED, PRINTING, WAITING, DONE = "QUEUED", "PRINTING", "WAITING", "DONE"


class PrintJob(Base):
    __tablename__ = "print_jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    receipt_key: Mapped[str] = mapped_column(String(128), unique=True)
    template: Mapped[str] = mapped_column(String(200))
    data_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reprinted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class JobView:
    """A job as the screen and central see it."""

    id: str
    receipt_key: str
    state: str
    reason: str | None
    message: str
    attempts: int
    reprinted: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _view(j: PrintJob) -> JobView:
    msg = {QUEUED: "Receipt queued", PRINTING: "Printing receipt", DONE: "Receipt printed"}.get(
        j.state, "")
    if j.state == WAITING and j.reason:
        try:
            msg = STATE_MESSAGES[PrinterState(j.reason)]
        except ValueError:
            msg = j.reason
    return JobView(j.id, j.receipt_key, j.state, j.reason, msg, j.attempts, j.reprinted)


def _now() -> datetime:
    return datetime.now(UTC)


class PrintJournal:
    def __init__(self, store: KioskStore) -> None:
        self.store = store

    def submit(self, receipt_key: str, template: str, data: dict[str, Any]) -> JobView:
        """Queue a receipt; the same key again returns the existing job (no second print)."""
        if not receipt_key:
            raise UrError("a print job needs a receipt key")
        try:
            body = json.dumps(data, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise UrError(f"receipt data for {receipt_key} is not JSON-serialisable: {e}") from None
        with self.store.tx() as s:
            j = s.scalar(select(PrintJob).where(PrintJob.receipt_key == receipt_key))
            if j is None:
                now = _now()
                j = PrintJob(id=str(uuid.uuid4()), receipt_key=receipt_key, template=template,
                             data_json=body, state=QUEUED, reason=None, started=False,
                             attempts=0, reprinted=False, created_at=now, updated_at=now)
                s.add(j)
                s.flush()
            return _view(j)

    def get(self, job_id: str) -> JobView:
        with self.store.session() as s:
            j = s.get(PrintJob, job_id)
            if j is None:
                raise UrError(f"no print job {job_id}")
            return _view(j)

    def open_jobs(self) -> list[JobView]:
        with self.store.session() as s:
            rows = s.scalars(select(PrintJob).where(PrintJob.state != DONE)
                             .order_by(PrintJob.created_at, PrintJob.id)).all()
            return [_view(j) for j in rows]

    def _set(self, job_id: str, **fields: Any) -> JobView:
        with self.store.tx() as s:
            j = s.get(PrintJob, job_id)
            assert j is not None
            for k, v in fields.items():
                setattr(j, k, v)
            j.updated_at = _now()
            s.flush()
            return _view(j)


class PrintSpooler:
    """Prints journaled jobs one at a time on one printer (the imperative shell).

    `run_once()` handles the oldest open job and returns quickly: every printer
    wait is bounded by the driver, so a dead printer costs at most a few seconds.
    `on_change(JobView)` is called on every state change (screen, central).
    """

    def __init__(self, journal: PrintJournal, printer: EscPosPrinter, profile: ReceiptProfile,
                 on_change: Callable[[JobView], None] | None = None) -> None:
        self.journal = journal
        self.printer = printer
        self.profile = profile
        self.on_change = on_change
        self.printer_state: PrinterState = PrinterState.READY

    def _changed(self, v: JobView) -> JobView:
        if self.on_change:
            try:
                self.on_change(v)
            except Exception:  # noqa: BLE001 - a screen callback must not stop printing
                log.exception("print job on_change callback failed")
        return v

    def run_once(self) -> JobView | None:
        jobs = self.journal.open_jobs()
        if not jobs:
            self.printer_state = self.printer.state()
            return None
        return self.print_job(jobs[0].id)

    def print_job(self, job_id: str) -> JobView:
        with self.journal.store.session() as s:
            j = s.get(PrintJob, job_id)
            if j is None:
                raise UrError(f"no print job {job_id}")
            if j.state == DONE:
                return _view(j)
            reprint = j.started or j.state == PRINTING
            template, data, prev_state = j.template, json.loads(j.data_json), (j.state, j.reason)
            attempts = j.attempts
        try:
            blocks = render_receipt_blocks(load_template(template), data, self.profile,
                                           reprint=reprint)
        except UrError as e:
            return self._changed(self.journal._set(job_id, state=WAITING, reason=f"bad_job: {e}"[:64]))
        state = self.printer.state()
        self.printer_state = state
        if not state.can_print:
            if prev_state != (WAITING, state.value):
                return self._changed(self.journal._set(job_id, state=WAITING, reason=state.value))
            return self.journal.get(job_id)
        self._changed(self.journal._set(job_id, state=PRINTING, reason=None, started=True,
                                        attempts=attempts + 1, reprinted=reprint))
        try:
            st = self.printer.print_blocks(blocks)
        except PrinterUnavailable as e:
            self.printer_state = e.state
            return self._changed(self.journal._set(job_id, state=WAITING, reason=e.state.value))
        self.printer_state = st.state  # e.g. paper_near_end: printed, but tell the staff
        return self._changed(self.journal._set(job_id, state=DONE, reason=None))

    def run_forever(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Background loop for the app: a waiting job is retried every `interval` s."""
        while not stop.is_set():
            try:
                self.run_once()
            except UrError:
                log.exception("print spooler")
            stop.wait(interval)


def make_spooler(store: KioskStore, profile: dict[str, Any], port: str,
                 on_change: Callable[[JobView], None] | None = None) -> PrintSpooler:
    """A spooler for the printer a profile dict (firmware_config.profile_dict) describes."""
    return PrintSpooler(PrintJournal(store), open_printer(profile, port),
                        ReceiptProfile.from_mapping(profile), on_change)


def screen_status(spooler: PrintSpooler) -> dict[str, Any]:
    """What the screen shows: the oldest open job (if any) and the printer's state."""
    jobs = spooler.journal.open_jobs()
    st = spooler.printer_state
    return {
        "printer_state": st.value,
        "printer_message": STATE_MESSAGES[st],
        "job": jobs[0].as_dict() if jobs else None,
        "open_jobs": len(jobs),
    }
