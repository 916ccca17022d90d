"""The workflow engine: pure functions over a Case and a definition, with `now`
passed in (no clock, no database), so every rule can be checked over random
action sequences and a simulated clock.

Definitions are data (central/workflow_data/workflows.json): one per service
kind, plus named ones a service picks with its `workflow` field. A Case is
always in one of STATUSES; every open status has an owner (agency, role);
the SLA clock of a step runs only while the agency owes the next move (it
stops while the file waits for the citizen) and a breach escalates the step
to the step's `escalate_to` role once.

Kinds keep their promise by construction: participatory workflows may never
ask for a visit, procedural ones end in exactly one visit, interactive ones
ask for at most one, informational services start no case at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from contract.errors import UrError, ValidationError

DATA_FILE = Path(__file__).with_name("workflow_data") / "workflows.json"

IN_REVIEW, RETURNED, VISIT_REQUESTED, COMPLETED, REJECTED = (
    "in_review", "returned", "visit_requested", "completed", "rejected")
STATUSES = (IN_REVIEW, RETURNED, VISIT_REQUESTED, COMPLETED, REJECTED)
TERMINAL = (COMPLETED, REJECTED)
CLERK_ACTIONS = ("approve", "forward", "return", "request_visit", "reject", "issue")
ACTIONS = (*CLERK_ACTIONS, "resubmit", "visit_done")
NEEDS_NOTE = ("return", "reject")
MAX_VISITS = {"procedural": 1, "interactive": 1, "participatory": 0, "complaint": 0}
CITIZEN = ("citizen", "citizen")


class WorkflowError(UrError):
    """An action that the case's current state or step does not allow."""


@dataclass(frozen=True)
class Step:
    id: str
    agency: str
    role: str
    sla_hours: float
    escalate_to: str
    actions: tuple[str, ...]
    visit: bool = False


@dataclass(frozen=True)
class Definition:
    name: str
    kind: str
    steps: tuple[dict[str, Any], ...]  # templates; agencies resolved per case


@dataclass(frozen=True)
class Case:
    number: str
    kind: str  # service kind, or "complaint"
    workflow: str
    steps: tuple[Step, ...]
    index: int
    status: str
    agency: str  # who holds the current step (forward changes it)
    role: str
    since: datetime  # when the current status began
    sla_due: datetime | None  # None while the clock is stopped or the case is closed
    sla_left_s: float | None = None  # remaining SLA while stopped
    escalated: bool = False
    visits: int = 0
    step_visits: int = 0  # visits made at the current step

    @property
    def step(self) -> Step:
        return self.steps[self.index]

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL

    def owner(self) -> tuple[str, str] | None:
        if self.status == IN_REVIEW:
            return (self.agency, self.role)
        if self.status in (RETURNED, VISIT_REQUESTED):
            return CITIZEN
        return None

    def to_json(self) -> str:
        # Field by field rather than dataclasses.asdict (same JSON): asdict deep-copies
        # every step and was most of the CPU of starting a slice of workflows.
        d: dict[str, Any] = {k: getattr(self, k) for k in _CASE_FIELDS}
        d["steps"] = [{k: getattr(s, k) for k in _STEP_FIELDS} for s in self.steps]
        d["since"] = self.since.isoformat()
        d["sla_due"] = self.sla_due.isoformat() if self.sla_due else None
        return json.dumps(d, ensure_ascii=False, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Case:
        d = json.loads(text)
        d["steps"] = tuple(Step(**{**s, "actions": tuple(s["actions"])}) for s in d["steps"])
        d["since"] = datetime.fromisoformat(d["since"])
        d["sla_due"] = datetime.fromisoformat(d["sla_due"]) if d["sla_due"] else None
        return Case(**d)


_STEP_FIELDS = tuple(f.name for f in fields(Step))
_CASE_FIELDS = tuple(f.name for f in fields(Case))


@dataclass(frozen=True)
class Event:
    action: str
    at: datetime
    actor: str
    from_status: str
    to_status: str
    step: str
    agency: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- definitions -------------------------------------------------------------------

_STEP_KEYS = {"id", "agency", "role", "sla_hours", "escalate_to", "actions", "visit"}


def load_definitions(path: Path | str | None = None) -> dict[str, Definition]:
    """Read and check the workflow file; problems name file, path and reason."""
    p = Path(path) if path else DATA_FILE
    try:
        raw = json.loads(p.read_bytes())
    except OSError as e:
        raise UrError(f"cannot read workflows {p}: {e.strerror}") from None
    except ValueError as e:
        raise ValidationError(f"{p.name}: not valid JSON", [f"{p.name}: {e}"]) from None
    problems: list[str] = []
    out: dict[str, Definition] = {}
    wfs = raw.get("workflows") if isinstance(raw, dict) else None
    if not isinstance(wfs, dict):
        raise ValidationError(f"{p.name}: workflows must be an object", [f"{p.name}: workflows: missing"])
    for name, wf in wfs.items():
        where = f"{p.name}: workflows.{name}"
        kind = wf.get("kind", name) if isinstance(wf, dict) else None
        if kind not in MAX_VISITS:
            problems.append(f"{where}.kind: {kind!r} is not participatory, procedural, interactive or complaint")
            continue
        steps = wf.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.append(f"{where}.steps: must be a non-empty list")
            continue
        for n, s in enumerate(steps):
            sw = f"{where}.steps[{n}]"
            if not isinstance(s, dict):
                problems.append(f"{sw}: must be an object")
                continue
            for k in sorted(set(s) - _STEP_KEYS):
                problems.append(f"{sw}.{k}: unknown key")
            for k in ("id", "agency", "role", "escalate_to"):
                if not isinstance(s.get(k), str) or not s.get(k):
                    problems.append(f"{sw}.{k}: required text")
            if not isinstance(s.get("sla_hours"), int | float) or s.get("sla_hours", 0) <= 0:
                problems.append(f"{sw}.sla_hours: must be a positive number")
            acts = s.get("actions")
            if not isinstance(acts, list) or not acts or any(a not in CLERK_ACTIONS for a in acts):
                problems.append(f"{sw}.actions: must be a non-empty list of {', '.join(CLERK_ACTIONS)}")
                continue
            if kind in ("participatory", "complaint") and ("request_visit" in acts or s.get("visit")):
                problems.append(f"{sw}: a {kind} workflow never asks the citizen to come")
            if kind == "procedural" and "request_visit" in acts:
                problems.append(f"{sw}: a procedural workflow has its one visit as a 'visit' step, not request_visit")
            if "approve" in acts and n == len(steps) - 1:
                problems.append(f"{sw}.actions: 'approve' on the last step has nowhere to go")
        if isinstance(steps, list) and steps and isinstance(steps[-1], dict) and "issue" not in (steps[-1].get("actions") or []):
            problems.append(f"{where}.steps[{len(steps) - 1}].actions: the last step must be able to 'issue'")
        visit_steps = sum(1 for s in steps if isinstance(s, dict) and s.get("visit"))
        if kind == "procedural" and visit_steps != 1:
            problems.append(f"{where}.steps: a procedural workflow has exactly one step with visit: true")
        if kind == "interactive" and visit_steps:
            problems.append(f"{where}.steps: an interactive workflow asks for a visit only with request_visit")
        out[name] = Definition(name, kind, tuple(steps))
    if problems:
        raise ValidationError(f"workflows in {p} rejected ({len(problems)} problems)", problems)
    return out


def resolve(defn: Definition, institution: str, agencies: list[str]) -> tuple[Step, ...]:
    """Concrete steps for one case: '$institution' and '$agencies' filled in."""
    steps: list[Step] = []
    for t in defn.steps:
        targets = [a for a in agencies if a != institution] if t["agency"] == "$agencies" else [
            institution if t["agency"] == "$institution" else t["agency"]]
        for a in targets:
            sid = f"{t['id']}:{a}" if t["agency"] == "$agencies" else t["id"]
            steps.append(Step(sid, a, t["role"], float(t["sla_hours"]), t["escalate_to"],
                              tuple(t["actions"]), bool(t.get("visit", False))))
    if not steps:
        raise WorkflowError(f"workflow {defn.name} has no steps for agencies {agencies}")
    return tuple(steps)


def pick(defs: dict[str, Definition], kind: str, override: str | None) -> Definition:
    if kind == "informational":
        raise WorkflowError("informational services take no application and start no workflow")
    name = override or kind
    d = defs.get(name)
    if d is None:
        raise WorkflowError(f"no workflow {name!r}")
    if d.kind != kind:
        raise WorkflowError(f"workflow {name!r} is for {d.kind} services, not {kind}")
    return d


# --- the state machine -------------------------------------------------------------

def _enter(case: Case, index: int, now: datetime, agency: str | None = None) -> Case:
    st = case.steps[index]
    status = VISIT_REQUESTED if st.visit else IN_REVIEW
    due = now + timedelta(hours=st.sla_hours)
    return replace(case, index=index, status=status, agency=agency or st.agency, role=st.role,
                   since=now, escalated=False, step_visits=0,
                   sla_due=None if status != IN_REVIEW else due,
                   sla_left_s=st.sla_hours * 3600 if status != IN_REVIEW else None)


def start(number: str, defn: Definition, steps: tuple[Step, ...], now: datetime,
          actor: str = "system") -> tuple[Case, Event]:
    blank = Case(number, defn.kind, defn.name, steps, 0, IN_REVIEW, steps[0].agency, steps[0].role,
                 now, None)
    case = _enter(blank, 0, now)
    return case, Event("start", now, actor, "received", case.status, case.step.id, case.agency)


def allowed(case: Case) -> tuple[str, ...]:
    """Actions possible right now (clerk and citizen)."""
    if not case.open:
        return ()
    can_reject = ("reject",) if "reject" in case.step.actions else ()
    if case.status == RETURNED:
        return ("resubmit", *can_reject)
    if case.status == VISIT_REQUESTED:
        return ("visit_done", *can_reject)
    acts = [a for a in case.step.actions if a != "request_visit" or case.visits < MAX_VISITS.get(case.kind, 0)]
    if case.step.visit and case.step_visits == 0:
        acts = [a for a in acts if a != "issue"]
    return tuple(acts)


def act(case: Case, action: str, now: datetime, actor: str, note: str = "",
        to: str | None = None, agencies: set[str] | None = None) -> tuple[Case, Event]:
    """Apply one action; raises WorkflowError (case unchanged) if not allowed.
    `agencies`: the agencies a file may be forwarded to (None: any)."""
    if action not in ACTIONS:
        raise WorkflowError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if action not in allowed(case):
        why = "it is closed" if not case.open else f"it is {case.status} at step {case.step.id}"
        raise WorkflowError(f"{case.number}: cannot {action}: {why}"
                            + (f" (allowed: {', '.join(allowed(case))})" if case.open else ""))
    if action in NEEDS_NOTE and not note.strip():
        raise WorkflowError(f"{case.number}: {action} needs a reason (--note)")
    before = case.status
    extra: dict[str, Any] = {}
    if action == "approve":
        new = _enter(case, case.index + 1, now)
    elif action == "forward":
        if not to or to == case.agency:
            raise WorkflowError(f"{case.number}: forward needs another agency (--to)")
        if agencies is not None and to not in agencies:
            raise WorkflowError(f"{case.number}: unknown agency {to!r}")
        new = replace(_enter(case, case.index, now, agency=to), step_visits=case.step_visits)
        extra["from_agency"] = case.agency
    elif action in ("return", "request_visit"):
        # Negative when already overdue: the breach stays a breach after the citizen's turn.
        left = ((case.sla_due or now) - now).total_seconds()
        new = replace(case, status=RETURNED if action == "return" else VISIT_REQUESTED,
                      since=now, sla_due=None, sla_left_s=left)
    elif action in ("resubmit", "visit_done"):
        left = case.sla_left_s if case.sla_left_s is not None else case.step.sla_hours * 3600
        new = replace(case, status=IN_REVIEW, since=now, sla_due=now + timedelta(seconds=left),
                      sla_left_s=None)
        if action == "visit_done":
            new = replace(new, visits=case.visits + 1, step_visits=case.step_visits + 1)
    elif action == "reject":
        new = replace(case, status=REJECTED, since=now, sla_due=None, sla_left_s=None)
    else:  # issue
        new = replace(case, status=COMPLETED, since=now, sla_due=None, sla_left_s=None)
    return new, Event(action, now, actor, before, new.status, new.step.id, new.agency, note.strip(), extra)


def tick(case: Case, now: datetime) -> tuple[Case, Event | None]:
    """Escalate a step whose SLA is breached (once per step entry)."""
    if case.status != IN_REVIEW or case.escalated or case.sla_due is None or now <= case.sla_due:
        return case, None
    new = replace(case, escalated=True, role=case.step.escalate_to)
    return new, Event("escalate", now, "system", case.status, new.status, case.step.id, case.agency,
                      f"SLA due {case.sla_due.isoformat(timespec='minutes')} breached",
                      {"escalated_to": new.role})
