"""The checkpointed state of one run: ids, counters and small dicts only (evidence lives on disk).

Every key survives a resume: LangGraph checkpoints the state after each node. The parts that
have structure are typed here; leg, gate and decision ids are built by ids.py alone.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Candidate(TypedDict):
    """One config candidate of the strategist's plan: one knob of the incumbent changed."""

    cid: str
    knob: str
    value: Any


class Screened(TypedDict, total=False):
    leg_id: str | None
    median: float | None
    status: str
    reason: str | None
    skipped: str


class FindingBrief(TypedDict):
    rule_id: str
    scope: str | None
    outcome: str
    action: str
    message: str
    evidence: list[str]


class Feedback(TypedDict, total=False):
    """The last verdict of the gate in flight, as the producer sees it on a retry."""

    gate_id: str
    verdict: str | None
    actions: list[str]
    unaudited_reason: str | None
    findings: list[FindingBrief]


class Tried(TypedDict, total=False):
    name: str | None
    candidate: str | None
    status: str
    note: str


class KernelTrack(TypedDict, total=False):
    """The kernel candidate in flight: op, candidate, harness verdict, plugin packaging."""

    op: str
    candidate: str
    name: str
    device: str
    harness_status: str
    harness_verdict: str | None
    harness_ok: bool
    tried: list[Tried]
    marker: str
    mode: str
    plugin_env: dict[str, str]
    sha256: str
    layer: str


class GateRow(TypedDict):
    """One gate's outcome as the state keeps it: orchestrator/events.GateOutcome's dump (set_gate)."""

    gate_id: str
    scope: str
    decision_id: str | None
    attempts: int
    verdict: str | None
    banked: bool
    unaudited_reason: str | None
    note: str | None


class Routing(TypedDict, total=False):
    round: str
    note: str | None
    routed: list[str]
    breakdown: Any
    served_tokens: dict[str, list[int]]


class RunState(TypedDict, total=False):
    run_id: str
    started_at: float
    base_config: dict[str, Any]  # LaunchConfig of the baseline (engine-neutral knobs)
    incumbent: dict[str, Any]  # the configuration every later candidate changes one knob of
    incumbent_legs: list[str]
    baseline_legs: list[str]
    attempts: dict[str, int]  # gate id -> submissions so far (the loop bound lives here)
    measure_rounds: dict[str, int]  # gate id -> re-measure rounds so far
    strategy: dict[str, Any] | None
    candidates: list[Candidate]  # in plan order
    screened: dict[str, Screened]  # cid -> screening leg
    promoted: list[str]  # cids still to take to the gate
    current: str | None  # cid at the gate now
    proposal: dict[str, Any] | None  # the producer's last answer (ConfigProposal, IntegrationClaim, BundleClaim dump)
    feedback: Feedback | None
    decision_id: str | None
    banked: list[str]
    gates: list[GateRow]  # one row per gate, in order (set_gate)
    val_legs: list[list[str]]  # [[leg_id, role], ...] planned validation legs, in run order
    val_done: list[str]
    phases_done: list[str]
    passthrough: dict[str, str]
    halt: str | None  # why the run stopped early (a baseline that never passed)
    budget_spent: bool  # the wall-clock budget ran out (set by a node; routers only read it)
    not_recorded: dict[str, list[str]]  # what-if replay: gate -> the legs its branch asked for that the recording lacks
    routing: Routing | None  # the profile round's routing (family shares, routed, note)
    kernel: KernelTrack | None


def initial_state(run_id: str, started_at: float, launch: dict[str, Any]) -> RunState:
    return {
        "run_id": run_id,
        "started_at": started_at,
        "base_config": launch,
        "incumbent": dict(launch),
        "incumbent_legs": [],
        "baseline_legs": [],
        "attempts": {},
        "measure_rounds": {},
        "strategy": None,
        "candidates": [],
        "screened": {},
        "promoted": [],
        "current": None,
        "proposal": None,
        "feedback": None,
        "decision_id": None,
        "banked": [],
        "gates": [],
        "val_legs": [],
        "val_done": [],
        "phases_done": [],
        "passthrough": {},
        "halt": None,
        "budget_spent": False,
        "not_recorded": {},
        "routing": None,
        "kernel": None,
    }
