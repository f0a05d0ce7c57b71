"""`geak run`'s option groups: a module of their own because they are declarations (flags, help,
defaults) that the help output and README are checked against, not logic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import typer

from .common import O_DTYPE, O_ENGINE, O_MAX_MODEL_LEN, O_MEMORY_FRACTION, O_MODEL


@dataclass
class RunPlace:
    """Where the run lives, what it runs and what it writes at the end."""

    panel: ClassVar[str] = "Run"
    run_dir: Path | None = typer.Option(None, "--run-dir", help="new run directory (default runs/run-<time>)")
    resume: Path | None = typer.Option(
        None, "--resume", help="continue the run in this directory after a crash or Ctrl-C"
    )
    model: str | None = O_MODEL
    engine: str = O_ENGINE
    workflow: Path = typer.Option(None, help="workflow YAML (default workflows/default.yaml)")
    policy: Path | None = typer.Option(None, help="auditor policy YAML overriding thresholds")
    legs_from: Path | None = typer.Option(None, hidden=True, help="take legs from a recorded run instead of an engine")
    plan: bool = typer.Option(
        False,
        "--plan",
        help="print every leg the workflow would launch (device set, engine and bench "
        "commands, which run at once) and exit; starts nothing, writes nothing",
    )
    report: bool = typer.Option(True, "--report/--no-report", help="write report.md and report.html at the end")


@dataclass
class RunRoles:
    """Who decides and who judges: the LLM behind the roles, and the auditor."""

    panel: ClassVar[str] = "Roles and auditor"
    use_auditor: bool | None = typer.Option(
        None,
        "--use-auditor/--no-auditor",
        help="an independent auditor at every accept gate (default: the workflow's auditor.use)",
    )
    llm: str = typer.Option(
        "none", help="none (built-in policies) | provider/model (live, via litellm) | replay:RUN_DIR"
    )
    api_base: str | None = typer.Option(None, help="OpenAI-compatible base URL for --llm")
    api_key_env: str | None = typer.Option(None, help="environment variable holding the provider key (never written)")
    llm_auditor: bool = typer.Option(
        True, "--llm-auditor/--no-llm-auditor", help="with an LLM, let the patch_auditor role escalate the code floor"
    )


@dataclass
class RunDesign:
    """How A is measured against B."""

    panel: ClassVar[str] = "A/B design"
    reps: int | None = typer.Option(None, help="counted reps per leg (default: the workflow's)")
    aa_legs: int | None = typer.Option(
        None,
        "--aa-legs",
        min=0,
        help="A/A legs for the noise band, each its own server "
        "lifetime (default: the workflow's; bench/gpu_noise.py estimates from >= 6)",
    )
    ab_design: str | None = typer.Option(
        None,
        "--ab-design",
        help="how A/A legs and config gates measure A against B: "
        "blocks (A legs, then B legs) | crossover (two device sets: both at once, reps "
        "started together, sets swapped; e.g. --devices cpu:0-1 --cores-per-leg 1) | abba "
        "(one set: short legs A B B A ...). Default: the workflow's (blocks)",
    )


@dataclass
class RunWorkload:
    """The benchmark client's workload (default: the workflow's)."""

    panel: ClassVar[str] = "Workload"
    num_prompts: int | None = typer.Option(None, help="requests per repetition (default: the workflow's workload)")
    input_len: int | None = typer.Option(
        None, help="prompt tokens per request of the random dataset (default: the workflow's)"
    )
    output_len: int | None = typer.Option(None, help="output tokens per request (default: the workflow's)")
    concurrency: int | None = typer.Option(None, help="requests the client keeps in flight (default: the workflow's)")
    dataset: str | None = typer.Option(
        None, help='random | sharegpt:FILE (a ShareGPT JSON) | prompts:FILE (JSONL of {"prompt": ...})'
    )
    request_rate: float | None = typer.Option(
        None, help="requests/s the client offers (default: all at once, bounded by --concurrency)"
    )


@dataclass
class RunLaunch:
    """The baseline launch: the production config every candidate is gated against."""

    panel: ClassVar[str] = "Baseline launch"
    load_format: str | None = typer.Option(
        None,
        help="how the engine loads weights: 'dummy' = random weights of the model's "
        "shape (accuracy then proves nothing: the auditor says so); default: the real ones",
    )
    max_num_seqs: int | None = typer.Option(
        None,
        help="the baseline's decode batch cap (vLLM --max-num-seqs; SGLang "
        "--max-running-requests); default: the engine's",
    )
    enforce_eager: bool | None = typer.Option(
        None,
        "--enforce-eager/--no-enforce-eager",
        help="the baseline without torch.compile / graph capture (faster start-up, "
        "slower steps); default: the engine's (compiled)",
    )
    max_num_batched_tokens: int | None = typer.Option(
        None,
        help="the baseline's token budget per scheduler step (vLLM "
        "--max-num-batched-tokens; SGLang --chunked-prefill-size); default: the engine's",
    )
    dtype: str | None = O_DTYPE
    max_model_len: int | None = O_MAX_MODEL_LEN
    memory_fraction: float | None = O_MEMORY_FRACTION


@dataclass
class RunQuality:
    """What every leg answers besides the benchmark."""

    panel: ClassVar[str] = "Quality"
    accuracy_file: Path | None = typer.Option(
        None,
        help="the accuracy probe every leg answers: JSONL of {prompt, expected} "
        "(exact match) or GSM8K's {question, answer} (scored by the final number); "
        "default: the workflow's quality.accuracy_file, else the model's probe.jsonl",
    )
    parity_file: Path | None = typer.Option(
        None,
        help="prompts every leg answers greedily, twice, on the same seed (token-level "
        "parity); default: the workflow's quality.parity_file, else the model's parity.jsonl",
    )


@dataclass
class RunDevices:
    """Where legs run and how independent ones are dispatched."""

    panel: ClassVar[str] = "Devices"
    devices: str = typer.Option(
        "cpu",
        help="what legs may run on: cpu (the whole host) | cpu:CORES (e.g. cpu:0-1, see "
        "--cores-per-leg) | GPU ids (0,1,2,3) | all (every GPU NVML sees); split into disjoint "
        "device sets, independent legs run at once, one per set",
    )
    tp: int | None = typer.Option(
        None, "--tp", help="tensor parallel size: GPUs per device set (--devices 0,1,2,3 --tp 2: two sets)"
    )
    cores_per_leg: int | None = typer.Option(
        None, help="with --devices cpu:CORES: cores per device set (default: all in one)"
    )
    scheduler: str = typer.Option(
        "local", help="how independent legs are dispatched: local (threads, this box) | ray (Ray tasks)"
    )
    ray_address: str | None = typer.Option(
        None, help="with --scheduler ray: the cluster to join (default: a local one)"
    )
    server_reuse: bool = typer.Option(
        True,
        "--server-reuse/--no-server-reuse",
        help="the baseline and reference legs may measure on the server the last leg of the same "
        "launch left up (its prefix cache dropped first; declared in launch.json); A/A legs and "
        "candidates always start their own",
    )
