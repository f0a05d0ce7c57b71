"""The evidence contract: every record a producer writes so that a claim can be re-derived.

Every record that crosses a file carries ``schema_version``. Old files keep loading:
a reader accepts every version in ``SUPPORTED_VERSIONS`` and upgrades in ``upgrade``;
an unknown version is a clear error naming the file, never a guess.

Units live in field names (``ttft_ms``, ``duration_s``). Missing data is ``None``,
never 0: a producer that did not measure something must say so by leaving it out.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer
from .layout import ACCURACY_ITEMS  # noqa: F401  (re-exported for older importers)

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)

Scope = Literal["baseline", "profile", "harness", "patch", "bundle"]
SCOPES: tuple[str, ...] = ("baseline", "profile", "harness", "patch", "bundle")

LegRole = Literal[
    "baseline",  # the run's reference measurement
    "reference",  # the incumbent a candidate is compared against
    "candidate",
    "validation_base",  # final interleaved validation, baseline side
    "validation_final",  # final interleaved validation, bundle side
    "caching_audit",  # MLPerf TEST04: one fixed sample repeated
    "aa",  # A/A noise measurement
]

LeverClass = Literal["kernel", "config", "orthogonal"]

# Written into legs/<leg>/server.log by the leg runner right before it signals the server's
# process group at the end of a leg: what the engine logs after it is teardown, not a crash.
TEARDOWN_MARKER = "geak: teardown: SIGTERM to the server's process group"


class Record(BaseModel):
    """Base of every versioned record. Unknown fields are kept, not dropped."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    schema_version: int = SCHEMA_VERSION


# ---------------------------------------------------------------- host and workload


class GpuInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: int
    name: str | None = None
    driver: str | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    temperature_c: float | None = None
    foreign_processes: list[str] = Field(
        default_factory=list, description="processes on this GPU that are not the leg's server"
    )


class HostFingerprint(BaseModel):
    model_config = ConfigDict(extra="allow")
    hostname: str | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    load_avg_1m: float | None = None
    foreign_cpu_busy_cores: float | None = Field(
        None, description="CPU time used by processes outside the leg's own server, in cores, sampled while it ran"
    )
    cpu_governor: str | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)
    other_legs_running: list[str] = Field(
        default_factory=list, description="leg ids of other geak legs alive while this one ran, on devices not known to be disjoint"
    )
    device_set: str | None = Field(None, description="the device set the leg held (cpu, cpu:0-1, cuda:0,1); None: recorded before sets")
    sibling_legs: list[str] = Field(
        default_factory=list, description="legs of the same run alive on other device sets when the leg was fingerprinted"
    )
    sibling_cpu_busy_cores: float | None = Field(None, description="CPU the sibling legs' processes used, in cores")
    shared_core_busy_cores: float | None = Field(
        None, description="core sets only: CPU used by any process other than the leg's own that may run on the leg's cores, in cores"
    )
    server_cpu_affinity: list[int] | None = Field(None, description="the cores the OS allowed the leg's server on (sched_getaffinity)")


class WorkloadSpec(BaseModel):
    """The fixed, seeded workload a leg was measured under (F3 compares these)."""

    model_config = ConfigDict(extra="allow")
    dataset: str
    dataset_path: str | None = Field(None, description="the dataset file (sharegpt JSON, or a prompts JSONL for vLLM's custom dataset)")
    num_prompts: int
    input_len: int | None = None
    output_len: int | None = None
    request_rate: float | None = Field(None, description="requests/s; None means unlimited (inf)")
    max_concurrency: int | None = None
    seed: int | None = None
    repeated_sample: bool = Field(
        False, description="True for a TEST04 caching audit: one fixed sample issued repeatedly"
    )

    @model_serializer(mode="wrap")
    def _omit_no_path(self, handler: Any) -> dict[str, Any]:
        # a random-dataset workload serializes as it did before file datasets existed: recorded
        # prompts, manifests and launch.json files keep their bytes
        d = handler(self)
        if d.get("dataset_path", 0) is None:
            d.pop("dataset_path")
        return d

    def identity(self) -> dict[str, Any]:
        """What must match between legs that are compared (repeated_sample is the audit's knob)."""
        d = self.model_dump()
        d.pop("repeated_sample", None)
        return d


# ---------------------------------------------------------------- run-level records


Design = Literal["blocks", "crossover", "abba"]


class PairedAA(BaseModel):
    """A/A legs measured in a paired design (issue 18): the two sides of one config against itself.
    Which reps pair up is the auditor's to re-derive (auditor/paired.py), not this record's."""

    design: Literal["crossover", "abba"]
    a_legs: list[str]
    b_legs: list[str]


class InputFile(BaseModel):
    """A file a run was given, copied into it when the run was prepared (before any leg)."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="inside the run directory: inputs/<role>.jsonl")
    source: str = Field(description="where it was copied from (for the reader; never opened by the auditor)")
    sha256: str
    size_bytes: int = Field(ge=0)


class Manifest(Record):
    kind: Literal["manifest"] = "manifest"
    run_id: str
    geak_version: str | None = None
    created_at: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    engine: str | None = None
    workload: WorkloadSpec | None = None
    host: HostFingerprint | None = None
    invariants: dict[str, Any] = Field(
        default_factory=dict,
        description="serving settings every leg must share unless a decision declares a knob "
        "(e.g. gpu_memory_utilization); B4 checks the baseline against these",
    )
    skills_sha256: dict[str, str] = Field(default_factory=dict)
    imported_from: str | None = Field(None, description="set by importers: the source format")
    aa_legs: list[str] = Field(
        default_factory=list,
        description="the A/A legs this run set out to measure; a declared one that is missing or unusable makes "
        "the noise band unknown (FLAG), never the policy's default",
    )
    aa_designs: list[PairedAA] = Field(
        default_factory=list, description="A/A legs measured in a paired design: the band a paired gate of that design is held to"
    )
    inputs: dict[Literal["accuracy", "parity"], InputFile] = Field(
        default_factory=dict, description="question files copied into the run (inputs/): the accuracy probe's expected answers are "
        "read from this copy, never from the legs' accuracy_items.jsonl"
    )


class KernelPlugin(BaseModel):
    """What a candidate leg loaded into the engine, and how it ran (compile or eager)."""

    model_config = ConfigDict(extra="allow")
    op: str
    layer: str | None = Field(None, description="the engine layer class it replaces, e.g. RMSNorm")
    candidate: str = Field(description="module:function as packaged")
    candidate_sha256: str | None = None
    mode: str | None = Field(None, description="e.g. compile+opaque_custom_op, eager+opaque_custom_op")
    plugin_dir: str | None = Field(None, description="run-relative directory of the packaged plugin")


class ServerLifetime(BaseModel):
    """Which server a leg measured: the one it started (``owner_leg`` is the leg itself), or one
    an earlier leg of the same launch started and left up (``reused``: declared, never hidden).
    A reused leg keeps no server.log of its own: its window is ``log_offset_start``..``end``
    of the owner's, the engine's one log of that lifetime."""

    model_config = ConfigDict(extra="allow")
    owner_leg: str = Field(description="the leg whose launch started this server")
    pid: int | None = Field(None, description="the server process (its process group leader)")
    started_at: float | None = Field(None, description="unix seconds the owner launched it")
    reused: bool = False
    log_offset_start: int | None = Field(None, description="bytes of the owner's server.log when this leg began")
    log_offset_end: int | None = Field(None, description="bytes of the owner's server.log when this leg ended")
    cache_reset: str | None = Field(None, description="the engine's raw answer to the prefix-cache reset a reused leg asks "
                                    "for before measuring (the previous leg sent the same prompts)")


class RepPlan(BaseModel):
    """What the leg runner asked the benchmark tool for: its raw/ must hold that many reps."""

    counted: int = Field(ge=0, le=10_000)
    warmup: int = Field(0, ge=0, le=10_000)


class LegLaunch(Record):
    """legs/<leg_id>/launch.json: the leg on one server lifetime (its own, or a declared reused one)."""

    kind: Literal["leg"] = "leg"
    leg_id: str
    role: LegRole
    engine: str
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    launch_config: dict[str, Any] = Field(
        default_factory=dict, description="the typed knobs geak launched with"
    )
    resolved_config: dict[str, Any] | None = Field(
        None,
        description="the engine's own view of its config (vLLM /server_info, SGLang "
        "/get_server_info), flattened to dotted keys; None when it could not be captured",
    )
    host: HostFingerprint | None = None
    workload: WorkloadSpec | None = None
    started_at: float | None = Field(None, description="unix seconds")
    ended_at: float | None = None
    status: Literal["ok", "failed"] = "ok"
    failure_reason: str | None = None
    engagement_markers: list[str] = Field(
        default_factory=list, description="markers the producer says appear in server.log"
    )
    kernel_plugin: KernelPlugin | None = Field(
        None, description="the kernel candidate this leg's server loaded (None: the engine's own kernels)"
    )
    server: ServerLifetime | None = Field(
        None, description="the server lifetime this leg measured; None in runs before server reuse (its own)"
    )
    reps_planned: RepPlan | None = Field(
        None, description="the repetitions the leg runner asked the tool for (None in runs recorded before issue 32); "
        "fewer in raw/ is a measured repetition gone"
    )


class RequestArrays(BaseModel):
    """Normalized per-request arrays of one repetition, index-aligned.

    Failed requests keep their slot: ``ok[i]`` is False and their latencies are None.
    """

    model_config = ConfigDict(extra="allow")
    ok: list[bool]
    input_lens: list[int | None]
    output_lens: list[int | None]
    ttft_ms: list[float | None]
    e2e_ms: list[float | None]
    tpot_ms: list[float | None] | None = Field(
        None, description="mean inter-token latency per request; derived from itls when present"
    )
    start_s: list[float | None] | None = None
    errors: list[str] | None = None


class BenchRep(Record):
    """One line of legs/<leg_id>/bench_runs.jsonl: one repetition of the workload."""

    kind: Literal["bench_rep"] = "bench_rep"
    leg_id: str
    rep_index: int
    warmup: bool = False
    tool: str = Field(description="vllm-bench-serve | sglang-bench-serving | geak-client | imported")
    raw_file: str | None = Field(
        None, description="path (relative to the leg dir) of the tool's own output, kept verbatim"
    )
    duration_s: float | None = None
    reported: dict[str, Any] = Field(
        default_factory=dict,
        description="the aggregate fields the tool printed (output_throughput, median_ttft_ms...)",
    )
    requests: RequestArrays | None = None


class ParityOutput(Record):
    """One line of legs/<leg_id>/outputs.jsonl: a greedy generation of the parity prompt set."""

    kind: Literal["output"] = "output"
    prompt_id: str
    prompt: str
    output_text: str
    expected: str | None = Field(None, description="known answer when the prompt set has one")
    rerun: int = Field(0, description="0 = first pass; 1+ = determinism reruns")


class AccuracyProbe(Record):
    """legs/<leg_id>/accuracy.json: greedy answers to a question file, scored. ``correct`` is the
    leg runner's count, a claim: the auditor re-scores accuracy_items.jsonl (ACCURACY_ITEMS) with
    ``scoring`` (auditor/scoring.py). ``task``: "heldout" (the tiny model's arithmetic probe) or
    "gsm8k" (a question/answer JSONL in GSM8K's format, scored by the final number)."""

    kind: Literal["accuracy"] = "accuracy"
    task: str
    n: int = Field(ge=0)
    correct: int = Field(ge=0)
    items_file: str | None = None
    scoring: Literal["exact", "final_number"] = "exact"
    max_tokens: int | None = Field(None, ge=1, description="the completion budget each question was answered with")




class AccuracyItem(Record):
    """One line of legs/<leg_id>/accuracy_items.jsonl: a question as sent, its expected answer,
    and the server's greedy output verbatim."""

    prompt_id: str | None = None
    prompt: str
    expected: str | None = None
    output: str
    error: str | None = Field(None, description="why the server gave no answer (the question then scores wrong)")


class TopKLogprobs(Record):
    """One line of legs/<leg_id>/first_token_topk.jsonl: one prompt's first generated token,
    greedy, as the server's top-k logprobs. A reference leg records them; a kernel candidate
    leg records its own answers to the same prompts, so the probe's cosine is re-derivable."""

    kind: Literal["first_token_topk"] = "first_token_topk"
    prompt_id: str
    prompt: str
    top_logprobs: dict[str, float]


class ParityProbe(Record):
    """legs/<leg_id>/parity_probe.json: one-token logits of the candidate path vs reference path."""

    kind: Literal["parity_probe"] = "parity_probe"
    cosine: float | None
    argmax_equal: bool | None
    ejected: bool = False
    log_line: str | None = None
    reference_leg: str | None = Field(None, description="the leg whose recorded top-k logprobs were the reference")
    n_prompts: int | None = None
    min_cosine: float | None = Field(None, description="the threshold the probe applied")


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


# ---------------------------------------------------------------- verdicts

Outcome = Literal["pass", "flag", "fail", "unchecked", "n/a"]
Action = Literal[
    "pass", "remeasure", "eject", "downgrade_headline", "replace_headline_with_e2e", "flag", "reroute"
]
VerdictName = Literal["PASS", "FLAG", "FAIL"]


class EvidencePointer(BaseModel):
    file: str
    line: int | None = None
    record_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        s = self.file
        if self.line is not None:
            s += f":{self.line}"
        if self.record_id:
            s += f"#{self.record_id}"
        if self.field:
            s += f" [{self.field}]"
        return s


class Finding(BaseModel):
    rule_id: str
    scope: Scope
    outcome: Outcome
    message: str
    action: Action = "pass"
    evidence: list[EvidencePointer] = Field(default_factory=list)
    recomputed: dict[str, Any] = Field(default_factory=dict)
    claimed: dict[str, Any] = Field(default_factory=dict)


class AuditVerdict(Record):
    """audits/<gate_id>.json. ``verdict`` None means the auditor itself failed: unaudited."""

    kind: Literal["audit"] = "audit"
    gate_id: str
    scope: Scope | None
    decision_id: str | None = None
    verdict: VerdictName | None
    unaudited_reason: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    rules_checked: list[str] = Field(default_factory=list, description="rules with a finding that passed, failed or flagged")
    rules_without_evidence: list[str] = Field(
        default_factory=list, description="rules of the scope that had nothing to check (n/a) or could not check")
    auditor_version: str | None = None
    policy: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
