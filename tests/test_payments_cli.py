"""`ur-kiosk payments ...` as a cashier meets it (issue 19): the help names only commands
that exist, `recover` waits out a busy terminal with progress, `resolve` needs the
supervisor's PIN and is audited and synced, `payments day` prints a table (or --json),
and a new charge is refused with a message naming the open payment and the next step."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from sqlalchemy import select

from contract import envelope
from kiosk import identity
from kiosk.devices.zvt_emulator import Knobs
from kiosk.payments import end_of_day
from kiosk.payments.cashier import AuditEntry, CashierStation
from kiosk.payments.service import PaymentRow, PaymentService
from kiosk.store import KioskStore
from kiosk.sync import outbox
from tests.payment_fixtures import enrolled_store, terminal
from tests.support import cli_in_process, run_cli, run_cli_in_process


def test_payments_help_names_only_commands_that_exist() -> None:
    p = run_cli(["ur-kiosk", "payments", "--help"])
    assert p.returncode == 0, p.stderr
    listed = set(re.search(r"\{([a-z,-]+)\}", p.stdout).group(1).split(","))  # type: ignore[union-attr]  # argparse's usage line always holds the {choices}
    assert {"recover", "resolve", "day", "list", "show"} <= listed
    for cmd in listed:  # in this process: one Python start-up (~1 s of CPU) less per command
        code, out = run_cli_in_process(["ur-kiosk", "payments", cmd, "--help"])
        assert code == 0 and f"payments {cmd}" in out, (cmd, out)
    words = set(re.findall(r"\b[a-z]+\b", p.stdout.split("positional arguments")[0]))
    assert not ({"reconcile", "settle", "void", "refund"} & words)


def _crashed(tmp_path: Path, h, factory, step: str = "pending") -> tuple[Path, list[str]]:
    data = tmp_path / "k"
    term = ["--terminal", factory.device, "--baud", "115200", "--terminal-timeout", "5"]
    p = run_cli(["ur-kiosk", "--data", str(data), "pay", "fine:F-0001", *term], faults=["--crash-at", step])
    assert p.returncode == -signal.SIGKILL, p.stderr
    return data, term


def test_recover_waits_out_a_busy_terminal_with_progress(tmp_path: Path) -> None:
    store, _ident = enrolled_store(tmp_path / "k")
    store.close()
    with terminal() as (h, factory):
        data, term = _crashed(tmp_path, h, factory)
        h.emulator.knobs.busy = 6  # the terminal answers "busy" six times before it is ready
        p = run_cli(["ur-kiosk", "--data", str(data), "payments", "recover", *term])
        assert p.returncode == 0, p.stdout + p.stderr
        assert "The card terminal is busy finishing something; waiting" in p.stdout
        assert "FAILED - not charged" in p.stdout and h.journal == []
        # A terminal busy for longer than --busy-wait: the row stays open, and the message says what next.
        data2 = tmp_path / "k2"
        enrolled_store(data2)[0].close()
        p = run_cli(["ur-kiosk", "--data", str(data2), "pay", "fine:F-0002", *term], faults=["--crash-at", "pending"])
        h.emulator.knobs.busy = 1000
        p = run_cli(["ur-kiosk", "--data", str(data2), "payments", "recover", *term, "--busy-wait", "1"])
        assert p.returncode == 1 and "still busy after 1 s" in p.stdout and "payments recover" in p.stdout
        p = run_cli(["ur-kiosk", "--data", str(data2), "pay", "fine:F-0003", *term, "--busy-wait", "1"])
        assert p.returncode == 2 and "card payments are stopped at this station" in p.stderr
        assert "fine:F-0002" in p.stderr and "Next:" in p.stderr


def test_resolve_needs_the_supervisor_pin_is_audited_and_synced(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    st = CashierStation(store)
    st.add_user("sup", "S", "supervisor", "9999")
    st.add_user("ali", "A", "cashier", "1234", approved_by=("sup", "9999"))
    store.close()
    with terminal() as (h, factory):
        data, term = _crashed(tmp_path, h, factory, "created")
        base = ["ur-kiosk", "--data", str(data), "--json", "payments"]
        store = KioskStore(data)
        with store.session() as s:
            pid = s.scalars(select(PaymentRow.payment_id)).one()
        store.close()
        resolve = [*base, "resolve", pid, "--as", "paid", "--supervisor", "sup", "--evidence",
                   "terminal journal: receipt 0007 approved 26000"]
        # After the crash (a process, killed), the commands run their `main` in this process
        # (support.cli_in_process: exit codes, stdout and stderr as a process gives them).
        p = cli_in_process(resolve, env={"UR_SUPERVISOR_PIN": "9999"})
        assert p.returncode == 2 and "CREATED" in p.stderr and "payments recover" in p.stderr  # not yet recovered
        # Flag it by hand, as recovery does when the terminal's answers do not settle it.
        store = KioskStore(data)
        import datetime as dt

        from kiosk.payments import journal as pj
        from kiosk.payments.service import entry_of, entry_to_json

        with store.tx() as s:
            row = s.get(PaymentRow, pid)
            e = pj.flag(pj.record_unknown(pj.mark_pending(entry_of(row), dt.datetime.now()), dt.datetime.now(), "x"),
                        "the terminal's answers do not settle it", dt.datetime.now())
            row.state, row.entry_json = e.state.value, entry_to_json(e)
        store.close()
        p = cli_in_process([*base, "show", pid])
        assert json.loads(p.stdout)["flagged"] == "the terminal's answers do not settle it"
        assert cli_in_process(resolve, env={"UR_SUPERVISOR_PIN": "1111"}).returncode == 2  # wrong PIN
        assert cli_in_process([*resolve[:-4], "--supervisor", "ali", *resolve[-2:]],
                              env={"UR_SUPERVISOR_PIN": "1234"}).returncode == 2  # a cashier is not a supervisor
        p = cli_in_process(resolve, env={"UR_SUPERVISOR_PIN": "9999"})
        assert p.returncode == 0, p.stdout + p.stderr
        assert json.loads(p.stdout)["state"] == "PAID" and json.loads(p.stdout)["receipt_code"]
        p = cli_in_process(resolve, env={"UR_SUPERVISOR_PIN": "9999"})  # only once
        assert p.returncode == 2 and "only an UNKNOWN payment" in p.stderr
    store = KioskStore(data)
    ident = identity.load(store)
    with store.session() as s:
        audit = [(a.actor, a.action, a.subject) for a in s.scalars(select(AuditEntry))]
        records = [envelope.open_unverified(outbox.wire_bytes(r, ident))[0].payload
                   for r in s.scalars(select(outbox.OutboxRow).where(outbox.OutboxRow.stream == "payments"))]
    store.close()
    assert ("sup", "payment_resolve", pid) in audit
    assert [(r["event"], r["resolution"]["by"]) for r in records] == [("paid", "sup")]
    assert "receipt 0007" in records[0]["resolution"]["evidence"]


def test_payments_day_prints_a_table_or_json(tmp_path: Path) -> None:
    store, ident = enrolled_store(tmp_path / "k")
    with terminal(Knobs(card_delay_s=0)) as (h, factory):
        svc = PaymentService(store, ident, factory)
        assert svc.pay("fine:F-0001").paid and svc.pay("fine:F-0002").paid
        rep = end_of_day.close_day(store, ident, factory)
    store.close()
    p = run_cli(["ur-kiosk", "--data", str(tmp_path / "k"), "payments", "day", rep.business_date])
    assert p.returncode == 1, p.stderr  # central has not answered yet
    assert "{'" not in p.stdout and "view" in p.stdout and "payments" in p.stdout
    rows = {ln.split()[0]: ln.split()[1:3] for ln in p.stdout.splitlines() if ln.split()[:1] in (["terminal"],
                                                                                                   ["journal"])}
    assert rows == {"terminal": ["2", "53000"], "journal": ["2", "53000"]}
    assert "no answer yet" in p.stdout
    p = run_cli(["ur-kiosk", "--data", str(tmp_path / "k"), "--json", "payments", "day", rep.business_date])
    assert json.loads(p.stdout)["z_report"]["terminal"] == {"count": 2, "amount": 53000}
