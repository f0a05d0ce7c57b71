"""Run-level and leg records: the manifest, a leg's launch, its reps, its quality probes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from .base import HostFingerprint, LegRole, Record, WorkloadSpec

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
        default_factory=list,
        description="A/A legs measured in a paired design: the band a paired gate of that design is held to",
    )
    inputs: dict[Literal["accuracy", "parity", "model_config"], InputFile] = Field(
        default_factory=dict,
        description="files copied into the run (inputs/): the question files (the accuracy probe's expected "
        "answers are read from this copy, never from the legs' accuracy_items.jsonl) and the served model's config.json",
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
    cache_reset: str | None = Field(
        None,
        description="the engine's raw answer to the prefix-cache reset a reused leg asks "
        "for before measuring (the previous leg sent the same prompts)",
    )


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
    launch_config: dict[str, Any] = Field(default_factory=dict, description="the typed knobs geak launched with")
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
        None,
        description="the repetitions the leg runner asked the tool for (None in runs recorded before issue 32); "
        "fewer in raw/ is a measured repetition gone",
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
