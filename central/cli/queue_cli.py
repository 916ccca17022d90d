"""`ur-central queue ...`: office queues of visit tickets (central/queue.py).

  call    --office O --group G --counter N     the oldest waiting ticket to counter N
  recall  TRACKING [--counter N]               call the same ticket again ("call again")
  done    TRACKING                            the counter finished with it
  list    --office O [--group G]              waiting and called tickets
  stats   [--office O]                        waits and service times, measured
  publish [--case-url URL]                    republish the kiosks' wait estimates
"""

from __future__ import annotations

import argparse
import getpass

from central import queue
from central.cli import common
from contract import cli_base
from contract.cli_base import arg, command


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _row(t: queue.QueueTicket) -> dict[str, object]:
    return {"tracking": t.tracking, "office": t.office, "group": t.counter_group, "service": t.service_id,
            "status": t.status, "counter": t.counter,
            "ticket_at": t.ticket_at.isoformat(), "called_at": t.called_at.isoformat() if t.called_at else None,
            "done_at": t.done_at.isoformat() if t.done_at else None}


def _line(r: dict[str, object]) -> str:
    where = f" at counter {r['counter']}" if r["counter"] else ""
    return f"{r['tracking']}  {r['group']:<24} {r['status']}{where}  (ticket {str(r['ticket_at'])[:16]})"


def _call(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        queue.check_place(s, args.office, args.group)
        t = queue.call_next(s, args.office, args.group, args.counter, _who())
        out = _row(t) if t else None
    if out is None:
        cli_base.emit(args, {"called": None}, f"nobody waits for {args.group} at {args.office}")
        return 1
    cli_base.emit(args, {"called": out}, f"{out['tracking']} to counter {out['counter']}")
    return 0


def _recall(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        out = _row(queue.recall(s, args.tracking, args.counter, _who()))
    cli_base.emit(args, {"called": out}, f"{out['tracking']} to counter {out['counter']} again")
    return 0


def _done(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        out = _row(queue.done(s, args.tracking))
    cli_base.emit(args, out, f"{out['tracking']} done")
    return 0


def _list(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        queue.check_place(s, args.office, args.group)
        out = [_row(t) for t in queue.line(s, args.office, args.group)]
    cli_base.emit(args, out, "\n".join(_line(r) for r in out) or f"nobody waits at {args.office}")
    return 0


def _mins(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _stats(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        queue.check_place(s, args.office)
        out = [g.as_dict() for g in queue.stats(s, args.office)]
    text = "\n".join(
        f"{g['office']:<20} {g['counter_group']:<24} waiting {g['waiting']:>3}  "
        f"ticket->call {_mins(g['wait_median_s'])} (n={g['measured_calls']})  "
        f"call->done {_mins(g['service_median_s'])} (n={g['measured_done']})" for g in out)
    cli_base.emit(args, out, text or "no tickets")
    return 0


def _publish(args: argparse.Namespace) -> int:
    with common.transaction(args) as s:
        ds = queue.publish(s, args.case_url)
        out = {"dataset": ds.name, "version": ds.version, "bytes": len(ds.body)}
    cli_base.emit(args, out)
    return 0


def add_commands(sub: cli_base.Subparsers) -> None:
    q = cli_base.group(sub, "queue", "office queues: visit tickets called at counters")
    command(q, "call", _call, "call the oldest waiting ticket of a counter group to a counter",
            arg("--office", required=True), arg("--group", required=True, help="counter group (the agency)"),
            arg("--counter", required=True, type=int))
    command(q, "recall", _recall, "call a called ticket again (the citizen did not come): the board speaks it again",
            arg("tracking"), arg("--counter", type=int, help="counter to call it to (default: the one it was called to)"))
    command(q, "done", _done, "the counter finished with a called ticket", arg("tracking"))
    command(q, "list", _list, "waiting and called tickets of an office",
            arg("--office", required=True), arg("--group"))
    command(q, "stats", _stats, "measured waits (ticket -> call) and service times (call -> done)",
            arg("--office"))
    command(q, "publish", _publish, "republish the wait estimates the kiosks print",
            arg("--case-url", help="staff application page prefix for the ticket QR, e.g. "
                                   "https://central.example/staff/case/"))
