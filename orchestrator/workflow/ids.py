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


def paired_legs(a_prefix: str, b_prefix: str, design: str, n: int) -> tuple[list[str], list[str]]:
    """(A ids, B ids) of a paired design: a crossover's ``n`` periods (``<prefix>_p<k>``), or
    an A B B A design's ``n`` pairs (``<prefix>_<k>``)."""
    sep = "_p" if design == "crossover" else "_"
    return [f"{a_prefix}{sep}{k}" for k in range(1, n + 1)], [f"{b_prefix}{sep}{k}" for k in range(1, n + 1)]


CROSSOVER_PERIODS = 2  # a 2x2 crossover: each side once on each set


def aa_designs(n: int, design: str, abba_pairs: int) -> list[tuple[list[str], list[str]]]:
    """The A/A legs of a paired design, as (A ids, B ids) per design: ``n`` A/A legs become
    ceil(n / 4) crossovers of 4 legs, or one A B B A run of ``abba_pairs`` pairs; [] for blocks."""
    if n <= 0 or design == "blocks":
        return []
    if design == "crossover":
        return [paired_legs(f"aa{x}_a", f"aa{x}_b", design, CROSSOVER_PERIODS) for x in range(1, -(-n // 4) + 1)]
    return [paired_legs("aa_a", "aa_b", design, abba_pairs)]


def aa_legs(n: int, design: str = "blocks", abba_pairs: int = 0) -> list[str]:
    """Every A/A leg id of the setup, in run order."""
    groups = aa_designs(n, design, abba_pairs)
    if not groups:
        return [aa_leg(i) for i in range(1, n + 1)]
    return [i for a, b in groups for pair in zip(a, b) for i in pair]


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


def config_paired_legs(cid: str, k: int, design: str, abba_pairs: int) -> tuple[list[str], list[str]]:
    """(reference, candidate) legs of a paired config gate's measure round k: the reference is
    measured afresh beside the candidate (a pair needs both halves at one moment)."""
    n = CROSSOVER_PERIODS if design == "crossover" else abba_pairs
    return paired_legs(f"xref_{cid}{round_suffix(k)}", f"xcfg_{cid}{round_suffix(k)}", design, n)


def config_legs_of(
    cid: str, rounds: int, incumbent_legs: list[str], design: str = "blocks", abba_pairs: int = 0
) -> tuple[list[str], list[str]]:
    """(reference legs, candidate legs) a config gate's decision names after ``rounds`` rounds."""
    if design == "blocks":
        return config_legs(cid, rounds, incumbent_legs)
    got = [config_paired_legs(cid, k, design, abba_pairs) for k in range(max(rounds, 1))]
    return [i for r, _ in got for i in r], [i for _, c in got for i in c]


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
