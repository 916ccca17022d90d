"""`ur-central apps inbox | act | show | escalate` and `ur-central audit verify |
show`: clerk and supervisor work on applications and complaints."""

from __future__ import annotations

import argparse

from central import audit, casework, db, workflows
from contract import cli_base


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    a = sub.add_parser("apps", help="clerk work: inbox, actions, case view, escalation")
    s = a.add_subparsers(dest="sub", required=True)
    p = s.add_parser("inbox", help="open cases an agency owes a move on (overdue first)")
    p.add_argument("--agency", required=True)
    p.set_defaults(func=cmd_inbox)
    p = s.add_parser("act", help="act on an application or complaint")
    p.add_argument("number", help="tracking number")
    p.add_argument("action", choices=workflows.ACTIONS)
    p.add_argument("--note", default="", help="reason (required for return and reject)")
    p.add_argument("--to", help="agency to forward to")
    p.add_argument("--actor", default="clerk", help="who acts (user name)")
    p.add_argument("--office", default="central", help="office the clerk acts from")
    p.set_defaults(func=cmd_act)
    p = s.add_parser("show", help="a case: step, owner, SLA, allowed actions, audit trail")
    p.add_argument("number")
    p.set_defaults(func=cmd_show)
    p = s.add_parser("escalate", help="escalate every case whose SLA is breached")
    p.set_defaults(func=cmd_escalate)

    au = sub.add_parser("audit", help="the hash-chained audit trail")
    s = au.add_subparsers(dest="sub", required=True)
    p = s.add_parser("verify", help="check every chain; exit 1 if an entry was edited or deleted")
    p.set_defaults(func=cmd_verify)


def _sessions(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    engine = db.make_engine(args.db)
    db.init_schema(engine)
    return db.sessions(engine)


def cmd_inbox(args: argparse.Namespace) -> int:
    with _sessions(args).begin() as s:
        casework.escalate_due(s)
        rows = casework.inbox(s, args.agency)
    if args.json:
        cli_base.emit(args, rows)
    else:
        if not rows:
            print(f"inbox of {args.agency} is empty")
        for r in rows:
            flag = " OVERDUE" if r["overdue"] else ""
            flag += " ESCALATED" if r["escalated"] else ""
            print(f"{r['number']}  {r['subject']:<11} {r['service_id'] or '-':<32} step {r['step']:<20} "
                  f"due {r['sla_due']}{flag}  [{', '.join(r['actions'])}]")
    return 0


def cmd_act(args: argparse.Namespace) -> int:
    with _sessions(args).begin() as s:
        case = casework.act(s, args.number, args.action, args.actor, args.office, args.note, args.to)
    d = {"number": case.number, "status": case.status, **casework.detail(case)}
    cli_base.emit(args, d, f"{case.number}: {case.status} at step {case.step.id} ({case.agency})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _sessions(args)() as s:
        cli_base.emit(args, casework.show(s, args.number))
    return 0


def cmd_escalate(args: argparse.Namespace) -> int:
    with _sessions(args).begin() as s:
        done = casework.escalate_due(s)
    cli_base.emit(args, {"escalated": done}, f"{len(done)} case(s) escalated")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with _sessions(args)() as s:
        checked, problems = audit.verify(s)
    cli_base.emit(args, {"checked": checked, "problems": problems},
                  "\n".join([f"audit: {checked} entries checked, {len(problems)} problems", *problems]))
    return 1 if problems else 0
