"""The pure workflow engine: per-kind rules, SLA clocks on a simulated clock,
and random action sequences that must never reach an undefined state."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central import workflows as wf
from contract.errors import ValidationError

DEFS = wf.load_definitions()
T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def _case(kind: str, override: str | None = None, agencies: list[str] | None = None) -> wf.Case:
    d = wf.pick(DEFS, kind, override)
    inst = "moh" if override == "birth-registration" else "inst-a"
    case, ev = wf.start("0001-000001-5", d, wf.resolve(d, inst, agencies or ["inst-b", "inst-c"]), T0)
    assert ev.action == "start"
    return case


def test_procedural_ends_in_exactly_one_visit() -> None:
    c = _case("procedural")
    assert c.status == wf.IN_REVIEW and c.owner() == ("inst-a", "clerk")
    assert c.sla_due == T0 + timedelta(hours=48)
    c, _ = wf.act(c, "approve", T0 + timedelta(hours=1), "clerk1")
    assert c.status == wf.VISIT_REQUESTED and c.owner() == wf.CITIZEN and c.step.visit
    assert "issue" not in wf.allowed(c)
    with pytest.raises(wf.WorkflowError, match="cannot issue"):
        wf.act(c, "issue", T0, "clerk1")
    c, _ = wf.act(c, "visit_done", T0 + timedelta(days=3), "counter1")
    assert c.visits == 1 and c.status == wf.IN_REVIEW and "visit_done" not in wf.allowed(c)
    assert c.sla_due == T0 + timedelta(days=3, hours=24)  # the clock stopped while waiting for the citizen
    c, ev = wf.act(c, "issue", T0 + timedelta(days=3, hours=1), "counter1")
    assert c.status == wf.COMPLETED and c.owner() is None and ev.to_status == wf.COMPLETED
    assert wf.allowed(c) == ()


def test_participatory_routes_between_agencies_without_the_citizen() -> None:
    c = _case("participatory")
    assert [s.id for s in c.steps] == ["intake", "review:inst-b", "review:inst-c", "issue"]
    for step in c.steps:
        assert "request_visit" not in step.actions and not step.visit
    c, _ = wf.act(c, "approve", T0, "a")
    assert c.agency == "inst-b"
    with pytest.raises(wf.WorkflowError, match="unknown agency"):
        wf.act(c, "forward", T0, "b", to="nowhere", agencies={"inst-b", "inst-d"})
    c, ev = wf.act(c, "forward", T0 + timedelta(hours=5), "b", to="inst-d", agencies={"inst-b", "inst-d"})
    assert c.agency == "inst-d" and ev.extra["from_agency"] == "inst-b"
    assert c.sla_due == T0 + timedelta(hours=5 + 72)
    c, _ = wf.act(c, "approve", T0, "d")
    c, _ = wf.act(c, "approve", T0, "c")
    c, _ = wf.act(c, "issue", T0, "a")
    assert c.status == wf.COMPLETED and c.visits == 0


def test_interactive_waits_for_the_citizen_only_when_asked() -> None:
    c = _case("interactive")
    c, _ = wf.act(c, "return", T0 + timedelta(hours=10), "clerk", note="photo unreadable")
    assert c.status == wf.RETURNED and c.owner() == wf.CITIZEN and c.sla_due is None
    assert c.sla_left_s == 62 * 3600
    with pytest.raises(wf.WorkflowError, match="cannot approve"):
        wf.act(c, "approve", T0, "clerk")
    c, _ = wf.act(c, "resubmit", T0 + timedelta(days=10), "citizen")
    assert c.sla_due == T0 + timedelta(days=10, hours=62)
    c, _ = wf.act(c, "request_visit", T0 + timedelta(days=10), "clerk")
    c, _ = wf.act(c, "visit_done", T0 + timedelta(days=11), "clerk")
    assert "request_visit" not in wf.allowed(c)  # at most one visit
    c, _ = wf.act(c, "approve", T0 + timedelta(days=11), "clerk")
    assert "request_visit" not in wf.allowed(c)
    c, _ = wf.act(c, "issue", T0 + timedelta(days=11), "clerk")
    assert c.visits == 1


def test_reject_and_return_need_a_reason() -> None:
    c = _case("procedural")
    for action in ("reject", "return"):
        with pytest.raises(wf.WorkflowError, match="needs a reason"):
            wf.act(c, action, T0, "clerk", note="  ")
    c, ev = wf.act(c, "reject", T0, "clerk", note="forged document")
    assert c.status == wf.REJECTED and ev.note == "forged document"
    with pytest.raises(wf.WorkflowError, match="closed"):
        wf.act(c, "approve", T0, "clerk")


def test_informational_starts_no_workflow_and_kinds_must_match() -> None:
    with pytest.raises(wf.WorkflowError, match="informational"):
        wf.pick(DEFS, "informational", None)
    with pytest.raises(wf.WorkflowError, match="for participatory services, not procedural"):
        wf.pick(DEFS, "procedural", "birth-registration")
    with pytest.raises(wf.WorkflowError, match="no workflow"):
        wf.pick(DEFS, "procedural", "missing")


def test_escalation_once_per_step_to_the_supervisor() -> None:
    c = _case("procedural")
    same, ev = wf.tick(c, T0 + timedelta(hours=48))
    assert ev is None and same == c  # due exactly now is not yet a breach
    c, ev = wf.tick(c, T0 + timedelta(hours=48, seconds=1))
    assert ev is not None and ev.action == "escalate" and c.escalated and c.role == "supervisor"
    assert c.owner() == ("inst-a", "supervisor")
    assert wf.tick(c, T0 + timedelta(days=30))[1] is None
    c, _ = wf.act(c, "approve", T0 + timedelta(days=30), "sup")
    assert not c.escalated and c.role == "counter"


def _asdict_json(c: wf.Case) -> str:
    """The encoding Case.to_json had when it used dataclasses.asdict."""
    d = asdict(c)
    d["since"] = c.since.isoformat()
    d["sla_due"] = c.sla_due.isoformat() if c.sla_due else None
    return json.dumps(d, ensure_ascii=False, sort_keys=True)


def test_case_json_round_trip() -> None:
    c = _case("participatory")
    c, _ = wf.act(c, "return", T0, "x", note="n")
    assert wf.Case.from_json(c.to_json()) == c
    assert c.to_json() == _asdict_json(c)


def _write(tmp: Path, obj: object) -> Path:
    p = tmp / "wf.json"
    p.write_text(json.dumps(obj))
    return p


def test_bad_workflow_files_name_file_path_and_reason(tmp_path: Path) -> None:
    raw = json.loads(wf.DATA_FILE.read_text())
    w = raw["workflows"]
    w["participatory"]["steps"][1]["actions"].append("request_visit")
    w["procedural"]["steps"][1]["visit"] = False
    w["interactive"]["steps"][0]["sla_hours"] = 0
    w["interactive"]["steps"][1]["actions"] = ["approve"]
    w["complaint"]["steps"][0]["colour"] = "red"
    w["x"] = {"kind": "magic", "steps": []}
    with pytest.raises(ValidationError) as e:
        wf.load_definitions(_write(tmp_path, raw))
    p = e.value.problems
    assert "wf.json: workflows.participatory.steps[1]: a participatory workflow never asks the citizen to come" in p
    assert "wf.json: workflows.procedural.steps: a procedural workflow has exactly one step with visit: true" in p
    assert "wf.json: workflows.interactive.steps[0].sla_hours: must be a positive number" in p
    assert "wf.json: workflows.interactive.steps[1].actions: 'approve' on the last step has nowhere to go" in p
    assert "wf.json: workflows.interactive.steps[1].actions: the last step must be able to 'issue'" in p
    assert "wf.json: workflows.complaint.steps[0].colour: unknown key" in p
    assert any(x.startswith("wf.json: workflows.x.kind: 'magic'") for x in p)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValidationError, match="not valid JSON"):
        wf.load_definitions(tmp_path / "bad.json")


# --- property-based: random action sequences on a simulated clock ------------------

_SETUPS = [("procedural", None), ("participatory", None), ("interactive", None), ("complaint", None),
           ("participatory", "birth-registration")]
_action = st.tuples(
    st.sampled_from([*wf.ACTIONS, "tick", "bogus"]),
    st.floats(min_value=0, max_value=200, allow_nan=False),  # hours that pass first
    st.sampled_from(["", "reason"]),
    st.sampled_from([None, "inst-b", "inst-d", "inst-a"]),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SETUPS), st.lists(_action, max_size=40))
def test_random_sequences_stay_defined_and_clocks_are_right(setup: tuple[str, str | None],
                                                            actions: list[tuple[str, float, str, str | None]]) -> None:
    kind, override = setup
    c = _case(kind, override)
    now = T0
    active = 0.0  # seconds the agency has held the current step (the model of the SLA clock)
    for action, hours, note, to in actions:
        dt = timedelta(hours=hours)
        if c.status == wf.IN_REVIEW:
            active += dt.total_seconds()
        now += dt
        before = c
        if action == "tick":
            c, ev = wf.tick(c, now)
            if c.status == wf.IN_REVIEW and active > c.step.sla_hours * 3600:
                assert c.escalated and c.role == c.step.escalate_to
            if ev is not None:
                assert active > before.step.sla_hours * 3600 and not before.escalated
            else:
                assert c == before
        else:
            try:
                c, ev = wf.act(c, action, now, "someone", note, to)
            except wf.WorkflowError:
                assert c == before  # a refused action changes nothing
                continue
            assert action in wf.allowed(before)
            assert ev.from_status == before.status and ev.to_status == c.status
            if c.index != before.index or action == "forward":
                active = 0.0  # a new step (or a new agency) starts a fresh SLA
        # Invariants after every move.
        assert c.status in wf.STATUSES
        assert (c.owner() is not None) == c.open
        if c.status == wf.IN_REVIEW:
            assert c.sla_due == now + timedelta(seconds=c.step.sla_hours * 3600 - active)
            assert c.sla_due is not None
        else:
            assert c.sla_due is None
        assert c.visits <= wf.MAX_VISITS[c.kind]
        if c.status == wf.COMPLETED:
            assert c.visits == {"procedural": 1, "participatory": 0, "complaint": 0}.get(c.kind, c.visits)
        assert wf.Case.from_json(c.to_json()) == c
        assert c.to_json() == _asdict_json(c)  # stored states keep their exact bytes
        if not c.open:
            assert wf.allowed(c) == ()
