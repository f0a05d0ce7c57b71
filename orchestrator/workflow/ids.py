"""Every leg, gate and decision id of the workflow: built here, and only here. A node that
measures a leg and the node that later names it in a decision both call the same function."""

from __future__ import annotations

import re
from typing import Any

BASELINE_GATE = "baseline"
PROFILE_GATE = "profile-1"
PROFILE_DECISION = "d-profile-1"
PROFILE_ROUND = "round_1"
BUNDLE_GATE = "bundle"
CACHING_AUDIT_LEG = "caching_audit"


def slug(v: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", str(v)).lower() or "x"


def round_suffix(k: int) -> str:
    """Re-measure round k of a gate: round 0 keeps the plain id."""
    return f"_m{k}" if k else ""


def decision_id(gate: str, n: int) -> str:
    """The n-th submission (0-based) at a gate."""
    return f"d-{gate}-{n}"


# ---------------------------------------------------------------- baseline

def aa_leg(i: int) -> str:
    return f"aa_{i}"


def baseline_leg(n: int) -> str:
    return "baseline" if n == 0 else f"baseline_r{n}"


def baseline_decision(n: int) -> str:
    return decision_id(BASELINE_GATE, n)


# ---------------------------------------------------------------- config tuning

def candidate_id(knob: str, value: Any) -> str:
    return f"{knob}-{slug(value)}"


def screen_leg(cid: str) -> str:
    return f"screen_{cid}"


def config_gate(cid: str) -> str:
    return f"config-{cid}"


def config_leg(cid: str, k: int) -> str:
    return f"cfg_{cid}{round_suffix(k)}"


def config_ref_leg(cid: str, k: int) -> str:
    """A re-measure's fresh reference leg (round k >= 1); round 0's reference is the incumbent's legs."""
    return f"ref_{cid}_m{k}"


def config_legs(cid: str, rounds: int, incumbent_legs: list[str]) -> tuple[list[str], list[str]]:
    """(reference legs, candidate legs) of a config gate after ``rounds`` measure rounds."""
    refs = list(incumbent_legs) + [config_ref_leg(cid, k) for k in range(1, rounds)]
    return refs, [config_leg(cid, k) for k in range(max(rounds, 1))]


# ---------------------------------------------------------------- kernel track

def harness_gate(op: str) -> str:
    return f"harness-{op}"


def kernel_gate(op: str) -> str:
    return f"kernel-{op}"


def kernel_legs(op: str, k: int) -> tuple[str, str]:
    """(reference, candidate) leg of measure round k."""
    return f"kref_{op}{round_suffix(k)}", f"kcand_{op}{round_suffix(k)}"


def kernel_leg_sets(op: str, rounds: int) -> tuple[list[str], list[str]]:
    pairs = [kernel_legs(op, k) for k in range(max(rounds, 1))]
    return [r for r, _ in pairs], [c for _, c in pairs]


# ---------------------------------------------------------------- validation

def validation_pair(i: int) -> list[list[str]]:
    return [[f"val_base_{i}", "validation_base"], [f"val_final_{i}", "validation_final"]]


def validation_plan(pairs: int, caching_audit: bool) -> list[list[str]]:
    """A B A B ... then the caching audit leg: [[leg_id, role], ...] in run order."""
    plan = [x for i in range(1, pairs + 1) for x in validation_pair(i)]
    return plan + ([[CACHING_AUDIT_LEG, "caching_audit"]] if caching_audit else [])


def bundle_decision(n: int) -> str:
    return decision_id(BUNDLE_GATE, n)


# ---------------------------------------------------------------- what a decision id says

def is_profile_decision(did: str | None) -> bool:
    return (did or "").startswith("d-profile")


def is_harness_decision(did: str | None) -> bool:
    return (did or "").startswith("d-harness")


def is_bundle_decision(did: str | None) -> bool:
    return (did or "").startswith("d-bundle")


def is_baseline_decision(did: str | None) -> bool:
    return (did or "").startswith("d-baseline")
