"""The kernel track's records: a profile's routed ops and an op harness's measurements."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from .base import Record

# ---------------------------------------------------------------- profile and harness


class RoutedOp(BaseModel):
    model_config = ConfigDict(extra="allow")
    family: str
    claimed_share: float | None = Field(None, description="fraction of device time, 0..1")
    editable: bool | None = None
    location: str | None = None


class SkippedOp(BaseModel):
    family: str
    reason: str


class ProfileClaim(Record):
    """profile/<round>/routing.json: where the producer says the time goes and what it targets."""

    kind: Literal["routing"] = "routing"
    trace_file: str = Field(description="raw trace, relative to the profile round dir")
    routed: list[RoutedOp] = Field(default_factory=list)
    skipped: list[SkippedOp] = Field(default_factory=list)
    breakdown: dict[str, float] = Field(
        default_factory=dict, description="op name -> claimed share, as the producer ranked it"
    )


class CorrectnessCase(BaseModel):
    model_config = ConfigDict(extra="allow")
    shape: list[int]
    dtype: str
    reference_dtype: str
    max_abs_err: float | None = None
    rel_err: float | None = None
    passed: bool | None = None


class OracleResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    author_independent: bool
    cases: int
    failures: int
    boundary_cases: list[str] = Field(default_factory=list)


class AntiGaming(BaseModel):
    """Raw results of the harness's anti-gaming probes; None means the probe did not run."""

    model_config = ConfigDict(extra="allow")
    all_streams_synced: bool | None = None
    event_ms: float | None = None
    wall_ms: float | None = None
    fresh_input_output_identical: bool | None = None
    jitter_output_unchanged: bool | None = None
    output_from_timed_call: bool | None = None
    output_aliases_input: bool | None = None
    forced_evaluation: bool | None = None


class ShapeTimes(BaseModel):
    """One timed shape's raw reps (the harness worker's per_shape row; its medians are re-derived)."""

    model_config = ConfigDict(extra="allow")
    shape: list[int] = Field(default_factory=list)
    dtype: str | None = None
    reps: int | None = None
    baseline_times_ms: list[float] = Field(default_factory=list)
    candidate_times_ms: list[float] = Field(default_factory=list)
    eager_times_ms: list[float] = Field(default_factory=list, description="the eager column, when timed")
    speedup: float | None = Field(None, description="the worker's median ratio (a claim; rules re-derive)")
    speedup_vs_eager: float | None = None
    baseline_median_ms: float | None = None
    candidate_median_ms: float | None = None
    eager_median_ms: float | None = None
    bytes_moved: float | None = None
    candidate_gbps: float | None = None
    baseline_gbps: float | None = None
    bandwidth_ratio_to_copy: float | None = None
    graph_calls: int | None = Field(None, description="calls per captured CUDA graph of the in-graph reading")
    graph_baseline_times_ms: list[float] = Field(default_factory=list, description="per call, replayed warm")
    graph_candidate_times_ms: list[float] = Field(default_factory=list, description="per call, replayed warm")


class TimingRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    method: str = Field(description="cuda_events | perf_counter | do_bench")
    device: str | None = None
    warmup_isolated: bool | None = None
    l2_flush_per_rep: bool | None = None
    iterations: int | None = None
    total_timed_ms: float | None = None
    baseline_times_ms: list[float] = Field(default_factory=list)
    candidate_times_ms: list[float] = Field(default_factory=list)
    per_shape: list[ShapeTimes] = Field(default_factory=list, description="raw reps per timed shape")


class Roofline(BaseModel):
    bytes_moved: float | None = None
    flops: float | None = None
    peak_bandwidth_gbps: float | None = None
    peak_tflops: float | None = None


class CaseTime(BaseModel):
    """One shape's times as a summary lists them (GEAK director_validation.json per_case): the
    summary's medians, not raw reps; H9 re-derives the headline from them."""
    name: str
    baseline_ms: float | None = None
    candidate_ms: float | None = None
    claimed_speedup: float | None = None


class OpBenchRecord(Record):
    """ops/<op>/opbench.json: the op harness's raw record for one candidate."""

    kind: Literal["opbench"] = "opbench"
    op: str
    candidate: str
    baseline_backend: str | None
    candidate_backend: str | None
    served_shapes: list[list[int]] = Field(default_factory=list)
    timed_shapes: list[list[int]] = Field(default_factory=list)
    correctness: list[CorrectnessCase] = Field(default_factory=list)
    oracle: OracleResult | None = None
    anti_gaming: AntiGaming = Field(default_factory=AntiGaming)
    timing: TimingRecord | None = None
    roofline: Roofline | None = None
    claimed_speedup: float | None = None
    per_case: list[CaseTime] = Field(default_factory=list, description="per-shape times from a summary, when no raw times exist")
    serving_mode: str | None = Field(None, description="compiled | eager: how the harness was told the engine runs the op (a claim; "
                                     "H11 reads the engine's own config where the run has legs)")
    baseline_kind: str | None = Field(None, description="compiled | vllm_custom_op | eager: what the baseline timed was")
    baseline_note: str | None = Field(None, description="why the baseline is not the served path, when the harness knows it is not")
    eager_backend: str | None = Field(None, description="the eager forward_native timed as a second, labelled column")
    eager_speedup: float | None = Field(None, description="median speedup over the eager column (never the headline)")
