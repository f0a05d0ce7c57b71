"""Decisions: what a producer claims at a gate, in a closed vocabulary of metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer
from .base import LeverClass, Record, Scope
from .runs import Design

# ---------------------------------------------------------------- decisions


# The metrics a claim may name, each with its one direction: a closed vocabulary. The name is a
# producer's choice, so it selects a value only through this table (never an attribute lookup),
# and the direction is the metric's, not the producer's (a claim may not turn a loss into a win
# by declaring lower better). Each is recomputed per rep from the tool's per-request arrays.
METRICS: dict[str, bool] = {
    "output_throughput": True,
    "request_throughput": True,
    "total_token_throughput": True,
}
DEFAULT_METRIC = "output_throughput"


def judged_metric(name: object) -> tuple[str, bool]:
    """(metric, higher_is_better) a gate is judged on: the claim's name when the vocabulary has
    it, else the default (P1 FAILs the claim); the direction is always the metric's own."""
    m = name if isinstance(name, str) and name in METRICS else DEFAULT_METRIC
    return m, METRICS[m]


class Claim(BaseModel):
    """What the producer says. Every number here is re-derived; nulls are recomputed, not trusted."""

    model_config = ConfigDict(extra="allow")
    metric: str = "output_throughput"
    higher_is_better: bool = True
    reference_value: float | None = None
    candidate_value: float | None = None
    delta_pct: float | None = None
    non_overlap: bool | None = None
    baseline_value: float | None = Field(
        None, description="the baseline the producer gated against (B6 checks it reproduces)"
    )
    reported_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="leg_id -> {knob: value} as the producer reported them"
    )
    headline_source: Literal["e2e", "isolated"] = "e2e"
    isolated_speedup: float | None = None
    op_share_pct: float | None = Field(None, description="the producer's share of time in the changed op (GEAK pct_gpu_time)")
    reference_runs: list[float] | None = Field(
        None, description="per-run values of the metric as the producer's summary lists them (GEAK ref_runs); P2 holds them to raw"
    )
    candidate_runs: list[float] | None = Field(None, description="the same for the candidate side (GEAK cand_runs)")
    lever_class: LeverClass | None = None
    parity_byte_exact: int | None = None
    parity_total: int | None = None


class Consequence(BaseModel):
    """A config difference the declared knob causes, with proof that it is inert (P4)."""

    key: str
    reason: str
    peak_used: float | None = None
    smaller_budget: float | None = None


class Decision(Record):
    """One line of decisions.jsonl: a producer banks (or proposes to bank) something."""

    kind: Literal["decision"] = "decision"
    decision_id: str
    gate_id: str
    scope: Scope
    producer: str
    accepted: bool = True
    claim: Claim = Field(default_factory=Claim)
    reference_legs: list[str] = Field(default_factory=list)
    candidate_legs: list[str] = Field(default_factory=list)
    audit_legs: list[str] = Field(default_factory=list, description="TEST04 caching audit legs")
    declared_knobs: list[str] = Field(
        default_factory=list, description="resolved-config keys the change is allowed to alter"
    )
    declared_levers: dict[str, LeverClass] = Field(
        default_factory=dict, description="knob -> lever class the producer assigns it"
    )
    consequences: list[Consequence] = Field(default_factory=list)
    declared_regressions: list[str] = Field(
        default_factory=list, description="latency metrics the producer openly trades away"
    )
    engagement_marker: str | None = Field(
        None, description="regex that must appear in the candidate leg's server.log"
    )
    engagement_hints: list[str] = Field(
        default_factory=list, description="log lines a producer's summary cites as proof of engagement (GEAK engagement_detail): "
        "looked for literally in the candidate's own server.log, never taken as proof by themselves"
    )
    profile_round: str | None = None
    op: str | None = Field(None, description="ops/<op> for harness and kernel decisions")
    accepted_decisions: list[str] = Field(
        default_factory=list, description="bundle: the patch decisions stacked into it"
    )
    prefix_cache_flushed: bool | None = None
    design: Design = Field(
        "blocks", description="how the reference and candidate legs were measured: blocks (one leg after the other), crossover "
        "(two sets at once, reps started together, sets swapped), abba (short legs in A B B A order); a paired design "
        "the auditor cannot verify from the raw bytes is FLAGged"
    )

    @model_serializer(mode="wrap")
    def _blocks_unsaid(self, handler: Any) -> Any:
        # a blocks decision is written as it was before paired designs existed: recorded runs
        # and the LLM prompts built from them stay the same bytes (absent reads back as blocks)
        out = handler(self)
        if isinstance(out, dict) and out.get("design") == "blocks":
            out.pop("design")
        return out
