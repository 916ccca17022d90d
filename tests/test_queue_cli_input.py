"""`ur-central queue ...` refuses bad input the way every CLI here does: exit 2, one line
on stderr naming what is wrong, no traceback (an unknown office or group used to read
as "nobody waits", exit 1, as if the line were empty). And `queue recall` calls the
same ticket again, as the counter page's "Call again" does: the board's key changes,
so it speaks again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from central import applications, db, kiosks, queue
from central import catalogue as central_catalogue
from contract import tracking
from tests import support

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PROC = "non-conviction-certificate"  # one visit, counters of moi-criminal-evidence
GROUP = "moi-criminal-evidence"
FIELDS = {"full_name": "زينب علي", "national_id": "199001234567", "mobile": "07801234567"}


@dataclass(frozen=True)
class Office:
    url: str
    ticket: str  # waiting in karkh's line of GROUP
    other: str  # a well-formed number with no ticket


@pytest.fixture
def office(tmp_path: Path) -> Office:
    """A central database made by `ur-central init`, one kiosk in office karkh and one
    waiting ticket (a procedural application submitted there)."""
    url = support.sqlite_url(tmp_path / "c.db")
    r = support.cli_in_process(["ur-central", "--db", url, "init"])
    assert r.returncode == 0, r.stderr
    engine = db.make_engine(url)
    try:
        with db.sessions(engine).begin() as s:
            central_catalogue.publish(s, central_catalogue.load_seed())
            code = kiosks.register(s, "K1", "ab" * 32, "karkh", T0).kiosk_code
            number = tracking.make(code, 1)
            applications.handle_submission(s, "K1", "m-1", {
                "tracking": number, "service_id": PROC, "catalogue_version": 1,
                "fee_total": central_catalogue.load_seed().service(PROC).fee_total, "fields": FIELDS,
                "submitted_at": T0.isoformat()})
    finally:
        engine.dispose()
    return Office(url, number, tracking.make(code, 99))


def _wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def _refused(url: str, args: list[str]) -> str:
    r = support.cli_in_process(["ur-central", "--db", url, *args])
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == "", (args, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, (args, r.stderr)
    return lines[0]


CALL = ["queue", "call", "--office", "karkh", "--group", GROUP]


@pytest.mark.parametrize(("args", "named"), [
    (["queue", "call", "--office", "nowhere", "--group", GROUP, "--counter", "1"], "unknown office 'nowhere'"),
    (["queue", "list", "--office", "nowhere"], "unknown office 'nowhere'"),
    (["queue", "stats", "--office", "nowhere"], "unknown office 'nowhere'"),
    (["queue", "list", "--office", ""], "office is empty"),
    ([*CALL[:-1], "no-such-agency", "--counter", "1"], "unknown counter group 'no-such-agency'"),
    (["queue", "list", "--office", "karkh", "--group", "no-such-agency"], "unknown counter group 'no-such-agency'"),
    ([*CALL, "--counter", "0"], "counter 0 is not 1..999"),
    ([*CALL, "--counter", "-3"], "counter -3 is not 1..999"),
    ([*CALL, "--counter", "1000"], "counter 1000 is not 1..999"),
    ([*CALL, "--counter", "two"], "argument --counter: invalid int value: 'two'"),
    (["queue", "done", "1234-abcdef-1"], "tracking number '1234-abcdef-1' must be 11 digits"),
    (["queue", "recall", "ticket"], "tracking number 'ticket' must be 11 digits"),
    (["queue", "call"], "the following arguments are required: --office, --group, --counter"),
    (["queue", "call", "--office", "karkh", "--counter", "1"], "the following arguments are required: --group"),
    (["queue", "done"], "the following arguments are required: tracking"),
    (["queue", "recall"], "the following arguments are required: tracking"),
    (["queue", "list"], "the following arguments are required: --office"),
])
def test_bad_input_is_one_line_exit_2(office: Office, args: list[str], named: str) -> None:
    assert named in _refused(office.url, args)


def test_tracking_numbers_refused_by_name(office: Office) -> None:
    """A mistyped check digit (Damm), a number without a ticket, a ticket not called yet."""
    bad = _wrong_check_digit(office.ticket)
    for verb in ("done", "recall"):
        assert f"tracking number '{bad}' has a wrong check digit" in _refused(office.url, ["queue", verb, bad])
        assert f"no queue ticket {office.other}" in _refused(office.url, ["queue", verb, office.other])
        assert f"ticket {office.ticket} is waiting, not called" in _refused(office.url, ["queue", verb, office.ticket])
    # Nothing above changed the line: the ticket still waits, uncalled.
    rows = _json(office.url, "queue", "list", "--office", "karkh")
    assert isinstance(rows, list)
    assert [(r["tracking"], r["status"], r["counter"]) for r in rows] == [(office.ticket, "waiting", None)]


def test_a_real_process_refuses_an_unknown_office_in_one_line(office: Office) -> None:
    """The deployed entry point (not only `main` in-process): exit 2, one line, no traceback."""
    r = support.run_cli(["ur-central", "--db", office.url, *CALL[:2], "--office", "nowhere", "--group", GROUP,
                         "--counter", "1"], faults=None)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == ["ur-central: error: unknown office 'nowhere' (no kiosk is enrolled "
                                             "there; known: karkh)"]


def _json(url: str, *args: str) -> object:
    r = support.cli_in_process(["ur-central", "--db", url, "--json", *args])
    assert r.returncode == 0, (args, r.stderr)
    return json.loads(r.stdout)


def _board_key(url: str) -> tuple[str, int | None, int]:
    engine = db.make_engine(url)
    try:
        with db.sessions(engine)() as s:
            [t] = queue.board(s, "karkh")
            return t.tracking, t.counter, t.calls
    finally:
        engine.dispose()


def test_recall_calls_the_same_ticket_again(office: Office) -> None:
    called = _json(office.url, *CALL, "--counter", "4")
    assert isinstance(called, dict) and called["called"]["tracking"] == office.ticket
    assert _board_key(office.url) == (office.ticket, 4, 1)
    again = _json(office.url, "queue", "recall", office.ticket)  # the same counter by default
    assert isinstance(again, dict) and (again["called"]["tracking"], again["called"]["counter"]) == (office.ticket, 4)
    assert _board_key(office.url) == (office.ticket, 4, 2)  # a new key: the board speaks it again
    _json(office.url, "queue", "recall", office.ticket, "--counter", "7")  # the citizen is sent to counter 7
    assert _board_key(office.url) == (office.ticket, 7, 3)
    assert "counter 0 is not 1..999" in _refused(office.url, ["queue", "recall", office.ticket, "--counter", "0"])
    assert _board_key(office.url) == (office.ticket, 7, 3)  # a refused recall changed nothing
    _json(office.url, "queue", "done", office.ticket)
    assert f"ticket {office.ticket} is done, not called" in _refused(office.url, ["queue", "recall", office.ticket])
