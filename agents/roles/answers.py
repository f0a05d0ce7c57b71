"""What each producer role returns (pydantic; validated whether an LLM or a policy wrote it)
and the knob table the config track tunes.

The skill cards (skills/<role>/skill.md) name these models under ``output_model``; the
LLM's answer must validate against them, and the deterministic ``none`` policies in
agents/roles/policies.py build the same objects, so the graph never knows which wrote one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LeverClass = Literal["kernel", "config", "orthogonal"]


class _Out(BaseModel):
    # an LLM that invents a field is told so and retried, rather than silently ignored
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- strategist


class PlanItem(_Out):
    id: str
    track: Literal["config", "kernel"]
    knob: str | None = None
    values: list[Any] = Field(default_factory=list)
    op: str | None = None
    lever_class: LeverClass | None = None
    expected_gain_pct: float | None = None
    amdahl_bound_pct: float | None = None
    why: str = ""


class StrategyPlan(_Out):
    plan: list[PlanItem] = Field(default_factory=list)
    orthogonal: list[dict[str, Any]] = Field(default_factory=list)
    budget_split: dict[str, int] = Field(default_factory=dict)
    stop_when: list[str] = Field(default_factory=list)
    notes: str = ""


# ---------------------------------------------------------------- config tuner / finalizer


class ClaimIn(_Out):
    metric: str = "output_throughput"
    reference_value: float | None = None
    candidate_value: float | None = None
    delta_pct: float | None = None
    non_overlap: bool | None = None
    lever_class: LeverClass | None = None
    headline_source: Literal["e2e", "isolated"] = "e2e"
    isolated_speedup: float | None = Field(
        None, description="the harness's op speedup: context beside the e2e number, never the headline"
    )


class Fix(_Out):
    rule_id: str
    change: str


class ConsequenceIn(_Out):
    key: str
    reason: str
    peak_used: float | None = None
    smaller_budget: float | None = None


class ConfigProposal(_Out):
    """The config tuner's submission for one measured candidate (or its withdrawal)."""

    gate_id: str
    knob: str
    candidate_config: dict[str, Any]
    declared_knobs: list[str] = Field(default_factory=list)
    declared_levers: dict[str, LeverClass] = Field(default_factory=dict)
    consequences: list[ConsequenceIn] = Field(default_factory=list)
    declared_regressions: list[str] = Field(default_factory=list)
    reference_legs: list[str] = Field(default_factory=list)
    candidate_legs: list[str] = Field(default_factory=list)
    claim: ClaimIn = Field(default_factory=ClaimIn)
    fixes: list[Fix] = Field(default_factory=list)
    withdraw: bool = False
    remeasure: bool = Field(False, description="ask for a fresh reference + candidate leg pair before resubmitting")


class ExpectedSpeedup(_Out):
    basis: str = ""
    value: float | None = None


class KernelCandidate(_Out):
    """The kernel author's answer: one self-contained source file. geak writes it to
    ``kernels/<op>/<name>.py`` in the run directory and only ever runs it in the harness's
    subprocess (and, once the harness gate passes, in the server through the plugin)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="file stem: letters, digits, underscores")
    language: Literal["torch", "triton", "python"] = "torch"
    entry_point: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    source: str = Field(min_length=1)
    shapes_supported: str = ""
    accumulation_dtype: str | None = None
    expected_speedup: ExpectedSpeedup | None = None
    changes_from_previous: str = ""
    notes: str = ""


class IntegrationClaim(_Out):
    """The integrator's submission for one kernel candidate run in the server (e2e legs).
    ``withdraw`` records the measurement as a rejection (``Decision.accepted`` false): it is
    still submitted and audited, never banked; ``remeasure`` asks for a fresh pair of legs."""

    gate_id: str
    op: str
    candidate: str
    declared_knobs: list[str] = Field(default_factory=list)
    declared_levers: dict[str, LeverClass] = Field(default_factory=dict)
    consequences: list[ConsequenceIn] = Field(default_factory=list)
    engagement_marker: str | None = None
    reference_legs: list[str] = Field(default_factory=list)
    candidate_legs: list[str] = Field(default_factory=list)
    claim: ClaimIn = Field(default_factory=ClaimIn)
    declared_regressions: list[str] = Field(default_factory=list)
    fixes: list[Fix] = Field(default_factory=list)
    withdraw: bool = False
    remeasure: bool = False


class DecompositionItem(_Out):
    decision_id: str
    lever_class: LeverClass | None = None
    delta_pct: float | None = None


class BundleClaim(_Out):
    gate_id: str = "bundle"
    accepted_decisions: list[str] = Field(default_factory=list)
    reference_legs: list[str] = Field(default_factory=list)
    candidate_legs: list[str] = Field(default_factory=list)
    audit_legs: list[str] = Field(default_factory=list)
    order: str | None = None
    prefix_cache_flushed: bool | None = None
    claim: ClaimIn = Field(default_factory=ClaimIn)
    decomposition: list[DecompositionItem] = Field(default_factory=list)
    declared_regressions: list[str] = Field(default_factory=list)
    launch_script: str | None = None
    fixes: list[Fix] = Field(default_factory=list)
    remeasure: bool = False


# ---------------------------------------------------------------- auditor judgment


class JudgedFinding(_Out):
    rule_id: str
    scope: str | None = None
    outcome: Literal["pass", "flag", "fail"]
    evidence: list[str] = Field(default_factory=list)
    action: Literal[
        "pass", "remeasure", "eject", "downgrade_headline", "replace_headline_with_e2e", "flag", "reroute"
    ] = "pass"
    message: str = ""


class AuditJudgment(_Out):
    gate_id: str
    scope: str | None = None
    verdict: Literal["PASS", "FLAG", "FAIL"]
    findings: list[JudgedFinding] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    summary: str = ""


OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (StrategyPlan, ConfigProposal, BundleClaim, AuditJudgment)
}


# ---------------------------------------------------------------- knob table


@dataclass(frozen=True)
class Knob:
    """One tunable engine knob: the LaunchConfig field it sets, its lever class, and the
    resolved-config keys the engine derives from it (declared with the knob, else P4 reads
    them as a confound)."""

    name: str
    lever_class: str
    derived: tuple[str, ...] = ()
    why: str = ""


KNOBS: dict[str, Knob] = {
    k.name: k
    for k in (
        # vLLM derives the scheduler's token budget from max_num_seqs when it is not set (seen on
        # vLLM-on-CPU 0.32: max_num_seqs 4 -> max_num_batched_tokens 256), so they move together
        Knob(
            "max_num_seqs",
            "config",
            (
                "max_num_batched_tokens",
                "compile_ranges_endpoints",
                "encoder_cache_size",
                "max_num_encoder_input_tokens",
            ),
            "caps the decode batch; below the client's concurrency it queues requests",
        ),
        Knob(
            "max_num_batched_tokens",
            "config",
            ("compile_ranges_endpoints", "encoder_cache_size", "max_num_encoder_input_tokens"),
            "bounds the tokens per scheduler step (prefill chunking)",
        ),
        Knob("chunked_prefill", "config", ("enable_chunked_prefill",), "mixes prefill chunks into decode steps"),
        # eager mode also turns off vLLM-on-CPU's JIT kernel warm-up (kernel_config.enable_jit_warmup)
        Knob(
            "enforce_eager",
            "config",
            ("compilation_config", "enable_jit_warmup"),
            "skips torch.compile / graph capture: start-up vs step time",
        ),
        Knob(
            "prefix_caching",
            "orthogonal",
            ("enable_prefix_caching",),
            "reuses KV of shared prefixes: workload-dependent",
        ),
        Knob(
            "memory_fraction",
            "orthogonal",
            ("gpu_memory_utilization", "mem_fraction_static"),
            "more KV memory: more hardware, not faster code",
        ),
        Knob("dtype", "orthogonal", ("dtype",), "changes the numerics served"),
        Knob("speculative", "orthogonal", ("speculative_config",), "speculative decoding"),
        # a quality lever: fp8 KV changes the numerics served (auditor/checks/quality.py withholds it on dummy weights)
        Knob(
            "kv_cache_dtype",
            "orthogonal",
            ("cache_dtype", "kv_cache_dtype"),
            "KV cache precision: more KV capacity, other numerics",
        ),
        Knob(
            "async_scheduling",
            "config",
            ("async_scheduling",),
            "overlaps scheduling the next step with the current one",
        ),
        Knob(
            "max_cudagraph_capture_size",
            "config",
            ("max_cudagraph_capture_size", "cudagraph_capture_sizes", "cuda_graph_max_bs", "compile_ranges_endpoints"),
            "the largest decode batch replayed from a CUDA graph; larger batches run eagerly",
        ),
    )
}


def knob(name: str) -> Knob:
    try:
        return KNOBS[name]
    except KeyError:
        raise ValueError(f"unknown knob {name!r}; known: {', '.join(sorted(KNOBS))}") from None


def declared_for(name: str) -> list[str]:
    k = knob(name)
    return [name, *k.derived]
