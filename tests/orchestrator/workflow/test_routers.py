"""Every router of the workflow, on plain state dicts: pure functions, no graph, no disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from geak.orchestrator.workflow import routers as R
from geak.orchestrator.workflow.gate import bankable, route_gate

ON = R.RouteSettings(
    use_auditor=True,
    bounds={"baseline": 2, "config_tune": 2, "kernel": 2, "validate": 2},
    screening=True,
    llm=False,
    integrable=frozenset({"rmsnorm"}),
)
OFF = R.RouteSettings(use_auditor=False, bounds=dict(ON.bounds), integrable=ON.integrable)
PASS = {"verdict": "PASS", "actions": ["pass"]}
FAIL = {"verdict": "FAIL", "actions": ["eject"]}
FLAG_LABEL = {"verdict": "FLAG", "actions": ["downgrade_headline"]}
FLAG_WORK = {"verdict": "FLAG", "actions": ["remeasure"]}
UNAUDITED = {"verdict": None, "unaudited_reason": "auditor error: boom"}


@pytest.mark.parametrize(
    "fb, ok",
    [
        (PASS, True),
        (FAIL, False),
        (FLAG_LABEL, True),
        (FLAG_WORK, False),
        (UNAUDITED, True),
        ({"verdict": None}, False),
        (None, False),
    ],
)
def test_bankable(fb, ok):
    assert bankable(fb) is ok


def test_route_gate_banks_retries_then_gives_up():
    assert route_gate({"feedback": PASS, "attempts": {"g": 9}}, "g", 2, "bank", "retry", "stop") == "bank"
    assert route_gate({"feedback": FAIL, "attempts": {"g": 1}}, "g", 2, "bank", "retry", "stop") == "retry"
    assert route_gate({"feedback": FAIL, "attempts": {"g": 2}}, "g", 2, "bank", "retry", "stop") == "stop"


def test_route_baseline():
    assert R.route_baseline({"feedback": PASS, "attempts": {"baseline": 1}}, ON) == "baseline_done"
    assert R.route_baseline({"feedback": UNAUDITED, "attempts": {"baseline": 1}}, ON) == "baseline_done"
    # too few / too noisy reps: measured again, with more reps, up to the bound
    assert R.route_baseline({"feedback": FLAG_WORK, "attempts": {"baseline": 1}}, ON) == "baseline"
    assert R.route_baseline({"feedback": FLAG_WORK, "attempts": {"baseline": 2}}, ON) == "baseline_done"
    assert (
        R.route_baseline({"feedback": {"verdict": "FAIL", "actions": ["remeasure"]}, "attempts": {"baseline": 1}}, ON)
        == "baseline"
    )
    # an ejecting FAIL is the configuration's: measuring it again cannot cure it
    assert (
        R.route_baseline(
            {"feedback": {"verdict": "FAIL", "actions": ["remeasure", "eject"]}, "attempts": {"baseline": 1}}, ON
        )
        == "baseline_done"
    )
    assert R.route_baseline({"feedback": FLAG_LABEL, "attempts": {"baseline": 1}}, ON) == "baseline_done"


def test_route_baseline_done_and_profile():
    assert R.route_baseline_done({"halt": "baseline FAILed"}, ON) == "done"
    assert R.route_baseline_done({"halt": None}, ON) == "profile"
    assert R.route_profile({"decision_id": "d-profile-1"}, ON) == "audit_profile"
    assert R.route_profile({"decision_id": "d-profile-1"}, OFF) == "strategize"
    assert R.route_profile({"decision_id": "d-baseline-0"}, ON) == "strategize"  # no profile round was submitted


def test_route_screen():
    cands = [{"cid": "a", "knob": "k", "value": 1}, {"cid": "b", "knob": "k", "value": 2}]
    assert R.route_screen({"candidates": cands, "screened": {"a": {}}}, ON) == "screen"
    assert (
        R.route_screen({"candidates": cands, "screened": {"a": {}, "b": {}}, "promoted": ["a"]}, ON) == "config_measure"
    )
    assert R.route_screen({"candidates": cands, "screened": {"a": {}, "b": {}}, "promoted": []}, ON) == "kernel"
    no_screen = R.RouteSettings(use_auditor=True, screening=False)
    assert R.route_screen({"candidates": cands, "screened": {}, "promoted": ["a", "b"]}, no_screen) == "config_measure"


def test_route_submit():
    st = {"current": "a", "measure_rounds": {"config-a": 1}}
    assert R.route_submit({**st, "proposal": {"withdraw": True}}, ON) == "config_next"
    assert R.route_submit({**st, "proposal": {"remeasure": True}}, ON) == "config_measure"
    assert (
        R.route_submit({**st, "measure_rounds": {"config-a": 2}, "proposal": {"remeasure": True}}, ON) == "config_next"
    )
    assert R.route_submit({**st, "proposal": {}}, ON) == "audit_config"
    assert R.route_submit({**st, "proposal": {}}, OFF) == "config_bank"


def test_route_config_and_next():
    assert R.route_config({"current": "a", "feedback": PASS, "attempts": {"config-a": 1}}, ON) == "config_bank"
    assert R.route_config({"current": "a", "feedback": FLAG_WORK, "attempts": {"config-a": 1}}, ON) == "config_submit"
    assert R.route_config({"current": "a", "feedback": FAIL, "attempts": {"config-a": 2}}, ON) == "config_next"
    assert R.route_next({"promoted": ["b"]}, ON) == "config_measure"
    assert R.route_next({"promoted": ["b"], "budget_spent": True}, ON) == "kernel"
    assert R.route_next({"promoted": []}, ON) == "kernel"


def test_route_kernel_and_harness():
    assert R.route_kernel({"decision_id": "d-config-a-0"}, ON) == "finalize"  # no harness submission
    assert R.route_kernel({"decision_id": "d-harness-rmsnorm-0", "kernel": {"op": "rmsnorm"}}, ON) == "audit_harness"
    ok = {"decision_id": "d-harness-rmsnorm-0", "kernel": {"op": "rmsnorm", "harness_status": "ok"}}
    assert R.route_kernel(ok, OFF) == "kernel_measure"
    assert (
        R.route_kernel({**ok, "kernel": {"op": "rotary", "harness_status": "ok"}}, OFF) == "finalize"
    )  # not integrable
    assert R.route_harness({"kernel": {"op": "rmsnorm", "harness_ok": True}}, ON) == "kernel_measure"
    assert R.route_harness({"kernel": {"op": "rotary", "harness_ok": True}}, ON) == "finalize"
    rejected = {"kernel": {"op": "rmsnorm", "harness_ok": False}, "attempts": {"harness-rmsnorm": 1}}
    assert R.route_harness(rejected, ON) == "finalize"  # a template cannot change
    author = R.RouteSettings(use_auditor=True, bounds=ON.bounds, llm=True, integrable=ON.integrable)
    assert R.route_harness(rejected, author) == "kernel"  # an author gets the findings back
    assert R.route_harness({**rejected, "attempts": {"harness-rmsnorm": 2}}, author) == "finalize"


def test_route_kernel_submit_and_gate():
    k = {"kernel": {"op": "rmsnorm"}}
    assert (
        R.route_kernel_submit({**k, "proposal": {"remeasure": True}, "measure_rounds": {"kernel-rmsnorm": 1}}, ON)
        == "kernel_measure"
    )
    assert (
        R.route_kernel_submit({**k, "proposal": {"remeasure": True}, "measure_rounds": {"kernel-rmsnorm": 2}}, ON)
        == "kernel_next"
    )
    assert (
        R.route_kernel_submit({**k, "proposal": {"withdraw": True}}, ON) == "kernel_next"
    )  # withdrawn before submitting
    assert R.route_kernel_submit({**k, "proposal": {"submitted": True}}, ON) == "audit_kernel"
    assert R.route_kernel_submit({**k, "proposal": {"submitted": True}}, OFF) == "kernel_bank"
    assert R.route_kernel_submit({**k, "proposal": {"submitted": True, "withdraw": True}}, OFF) == "kernel_next"
    assert R.route_kernel_gate({**k, "proposal": {"withdraw": True}, "feedback": PASS}, ON) == "kernel_next"
    assert R.route_kernel_gate({**k, "proposal": {}, "feedback": PASS}, ON) == "kernel_bank"
    assert (
        R.route_kernel_gate({**k, "proposal": {}, "feedback": FAIL, "attempts": {"kernel-rmsnorm": 1}}, ON)
        == "kernel_next"
    )  # ejected
    assert (
        R.route_kernel_gate({**k, "proposal": {}, "feedback": FLAG_WORK, "attempts": {"kernel-rmsnorm": 1}}, ON)
        == "kernel_submit"
    )
    assert (
        R.route_kernel_gate({**k, "proposal": {}, "feedback": FLAG_WORK, "attempts": {"kernel-rmsnorm": 2}}, ON)
        == "kernel_next"
    )


def test_route_validate_and_bundle():
    plan = [["val_base_1", "validation_base"], ["val_final_1", "validation_final"]]
    assert R.route_validate({"val_legs": []}, ON) == "done"
    assert R.route_validate({"val_legs": plan, "val_done": ["val_base_1"]}, ON) == "validate_leg"
    assert R.route_validate({"val_legs": plan, "val_done": ["val_base_1", "val_final_1"]}, ON) == "bundle_submit"
    assert R.route_bundle_submit({"proposal": {"rejected": True}}, ON) == "bundle_done"
    assert R.route_bundle_submit({"proposal": {"remeasure": True}, "attempts": {"bundle": 1}}, ON) == "validate_leg"
    assert R.route_bundle_submit({"proposal": {"remeasure": True}, "attempts": {"bundle": 2}}, ON) == "bundle_done"
    assert R.route_bundle_submit({"proposal": {}}, ON) == "audit_bundle"
    assert R.route_bundle_submit({"proposal": {}}, OFF) == "bundle_done"
    assert R.route_bundle({"feedback": PASS, "attempts": {"bundle": 1}}, ON) == "bundle_done"
    assert R.route_bundle({"feedback": FAIL, "attempts": {"bundle": 1}}, ON) == "bundle_submit"
    assert R.route_bundle({"feedback": FAIL, "attempts": {"bundle": 2}}, ON) == "bundle_done"


def test_every_router_is_tested():
    # every route_* of routers.py is called by name in this file: a new router without a test fails here
    src = Path(__file__).read_text()
    mine = [n for n in dir(R) if n.startswith("route_") and getattr(R, n).__module__ == R.__name__]
    untested = sorted(n for n in mine if f"R.{n}(" not in src)
    assert len(mine) >= 13, mine
    assert not untested, untested


def test_fail_closed_withholds_an_unjudged_gate():
    closed = R.RouteSettings(use_auditor=True, bounds=ON.bounds, fail_open=False, integrable=ON.integrable)
    assert bankable(UNAUDITED) and not bankable(UNAUDITED, fail_open=False)
    st = {
        "current": "a",
        "feedback": UNAUDITED,
        "attempts": {"config-a": 2},
        "kernel": {"op": "rmsnorm"},
        "proposal": {},
    }
    assert R.route_config(st, ON) == "config_bank" and R.route_config(st, closed) == "config_next"
    assert R.route_kernel_gate({**st, "attempts": {"kernel-rmsnorm": 2}}, closed) == "kernel_next"
    assert R.route_bundle({"feedback": UNAUDITED, "attempts": {"bundle": 2}}, closed) == "bundle_done"
