"""`geak leg` and `geak baseline`: one leg, or the baseline phase alone (the workflow of
workflows/baseline.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import typer

from .common import (
    O_DTYPE,
    O_ENGINE,
    O_MAX_MODEL_LEN,
    O_MEMORY_FRACTION,
    O_MODEL,
    O_REPS,
    O_RUN,
    Exit,
    app,
    console,
    default_prompt_file,
    err,
    exit_code,
    launch_config,
    load_prompt_file,
    usage,
)
from .options import grouped
from .run_cmds import event_printer, print_summary
from .run_setup import RunRequest, new_run
from geak.auditor.evidence.layout import LAUNCH, leg_file


HELP_DATASET = "the benchmark client's dataset name (random: synthetic prompts of --input-len tokens)"
HELP_PROMPTS = "requests per repetition"
HELP_INPUT = "prompt tokens per request of the random dataset"
HELP_OUTPUT = "output tokens per request"
HELP_CONC = "requests the client keeps in flight"
HELP_SEED = "the workload's seed (the same prompts in every leg)"


@dataclass
class LegWhat:
    panel: ClassVar[str] = "Leg"
    run_dir: Path = O_RUN
    leg_id: str = typer.Option("leg", help="leg id (directory name under legs/)")
    role: str = typer.Option(
        "reference", help="baseline | reference | candidate | validation_base | validation_final | caching_audit | aa"
    )
    engine: str = O_ENGINE
    model: str | None = O_MODEL
    reps: int = O_REPS
    devices: str = typer.Option("cpu", help="device set this leg locks")
    health_deadline: float = typer.Option(600.0, help="seconds to wait for the server to become healthy")


@dataclass
class LegLaunchOpts:
    panel: ClassVar[str] = "Launch"
    dtype: str | None = O_DTYPE
    memory_fraction: float | None = O_MEMORY_FRACTION
    max_num_seqs: int | None = typer.Option(
        None, help="decode batch cap (vLLM --max-num-seqs; SGLang --max-running-requests)"
    )
    max_num_batched_tokens: int | None = typer.Option(
        None, help="tokens per scheduler step (vLLM --max-num-batched-tokens)"
    )
    chunked_prefill: bool | None = typer.Option(
        None,
        "--chunked-prefill/--no-chunked-prefill",
        help="mix prefill chunks into decode steps (engine default if unset)",
    )
    prefix_caching: bool | None = typer.Option(
        None, "--prefix-caching/--no-prefix-caching", help="reuse the KV of shared prefixes (engine default if unset)"
    )
    tp: int | None = typer.Option(None, help="tensor parallel size")
    speculative: str | None = typer.Option(None, help="speculative decoding config as JSON")
    max_model_len: int | None = O_MAX_MODEL_LEN
    load_format: str | None = typer.Option(None, help="'dummy' = random weights")
    enforce_eager: bool | None = typer.Option(
        None, "--enforce-eager", help="no torch.compile / graph capture (engine default: compiled)"
    )
    extra_arg: list[str] | None = typer.Option(None, help="extra engine argument (repeatable)")


@dataclass
class Workload:
    """The benchmark client's workload, as `geak leg` and `geak baseline` take it."""

    panel: ClassVar[str] = "Workload"
    dataset: str = typer.Option("random", help=HELP_DATASET)
    num_prompts: int = typer.Option(200, help=HELP_PROMPTS)
    input_len: int = typer.Option(32, help=HELP_INPUT)
    output_len: int = typer.Option(16, help=HELP_OUTPUT)
    concurrency: int | None = typer.Option(32, help=HELP_CONC)
    seed: int = typer.Option(0, help=HELP_SEED)


@dataclass
class LegWorkload(Workload):
    """`geak leg`'s workload: an offered rate besides, and the quality probes it answers."""

    panel: ClassVar[str] = "Workload and quality"
    rate: float | None = typer.Option(None, help="requests/s (default: unlimited)")
    parity: Path | None = typer.Option(None, help="JSONL of {prompt, expected?} for greedy parity outputs")
    accuracy: Path | None = typer.Option(
        None,
        help="the accuracy probe: JSONL of {prompt, expected} (exact match) or GSM8K's "
        "{question, answer} (scored by the final number); default: the model's probe.jsonl",
    )


@app.command()
@grouped
def leg(what: LegWhat, launch: LegLaunchOpts, load: LegWorkload) -> None:
    """Run one leg by hand: launch, benchmark with the engine's own client, tear down. Exit 0 the leg
    measured; 7 it failed (the engine's reason is in launch.json); 2 usage."""
    from geak.agents.engines.base import get_engine
    from geak.agents.engines.leg import run_leg
    from geak.agents.engines.leg_spec import LegSpec, Serving
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator.manifest import ensure_manifest
    from geak.orchestrator.progress import Reporter

    try:
        ad = get_engine(what.engine)
    except KeyError as e:
        usage(str(e.args[0]))
    cfg = launch_config(
        what.model,
        speculative=launch.speculative,
        extra_arg=launch.extra_arg,
        devices=what.devices,
        dtype=launch.dtype,
        memory_fraction=launch.memory_fraction,
        max_num_seqs=launch.max_num_seqs,
        max_num_batched_tokens=launch.max_num_batched_tokens,
        chunked_prefill=launch.chunked_prefill,
        prefix_caching=launch.prefix_caching,
        tensor_parallel=launch.tp,
        max_model_len=launch.max_model_len,
        load_format=launch.load_format,
        enforce_eager=launch.enforce_eager,
    )
    w = WorkloadSpec(
        dataset=load.dataset,
        num_prompts=load.num_prompts,
        input_len=load.input_len,
        output_len=load.output_len,
        request_rate=load.rate,
        max_concurrency=load.concurrency,
        seed=load.seed,
    )
    store = RunStore(what.run_dir)
    if store.exists(leg_file(what.leg_id, LAUNCH)):
        usage(f"leg {what.leg_id} already exists in {what.run_dir}; pick another --leg-id")
    ensure_manifest(store, run_id=what.run_dir.name, engine=what.engine, cfg=cfg, workload=w)
    par = load_prompt_file(load.parity or default_prompt_file(what.model, "parity.jsonl"))
    acc = load_prompt_file(load.accuracy or default_prompt_file(what.model, "probe.jsonl"), questions=True)
    console.print(
        f"leg {what.leg_id}: {what.engine} serving {cfg.model} on {cfg.devices}, {what.reps} counted rep(s) + 1 warm-up of "
        f"{w.num_prompts} requests"
    )
    with Reporter(store, console):
        res = run_leg(
            store,
            ad,
            LegSpec(what.leg_id, what.role, cfg, w, reps=what.reps, parity=par, accuracy=acc),
            serving=Serving(health_deadline_s=what.health_deadline),
        )
    _print_leg(store, res)
    raise typer.Exit(Exit.PASS if res.status == "ok" else Exit.RUN_ERROR)


def _print_leg(store: Any, res: Any) -> None:
    from geak.auditor import stats
    from geak.auditor.evidence.loader import RunEvidence

    if res.status != "ok":
        err.print(f"[red]leg {res.leg_id} failed:[/red] {res.reason}")
    leg_data = RunEvidence(store).leg(res.leg_id)
    vals, _ = leg_data.values("output_throughput")
    acc = leg_data.accuracy
    console.print(
        f"leg {res.leg_id}: {res.status}; start-up {res.startup_s and f'{res.startup_s:.0f} s'}; "
        f"counted reps {len(vals)}: output tok/s {', '.join(f'{v:.1f}' for v in vals)}"
        + (f" (median {stats.median(vals):.1f}, spread {stats.spread_pct(vals):.2f}%)" if vals else "")
        + (f"; accuracy {acc.correct}/{acc.n}" if acc else "")
    )


@dataclass
class BaselineWhat:
    panel: ClassVar[str] = "Run"
    run_dir: Path = typer.Option(..., "--run-dir", help="new run directory")
    engine: str = O_ENGINE
    model: str | None = O_MODEL
    use_auditor: bool = typer.Option(
        True, "--use-auditor/--no-auditor", help="an independent auditor at the baseline gate"
    )
    policy: Path | None = typer.Option(None, help="auditor policy YAML overriding thresholds")
    legs_from: Path | None = typer.Option(None, hidden=True, help="take legs from a recorded run instead of an engine")


@dataclass
class BaselineMeasure:
    panel: ClassVar[str] = "Measurement"
    reps: int = O_REPS
    max_remeasures: int = typer.Option(2, help="bound on automatic re-measures while the baseline gate asks for one")
    aa_legs: int = typer.Option(
        2,
        help="first run this many A/A legs: the auditor derives its noise band from them (0: no band, the gate FLAGs)",
    )
    load_format: str | None = typer.Option(
        None, help="'dummy' = random weights of the model's shape (accuracy then proves nothing)"
    )
    max_num_seqs: int | None = typer.Option(
        None, help="decode batch cap (vLLM --max-num-seqs; SGLang --max-running-requests)"
    )


@app.command()
@grouped
def baseline(what: BaselineWhat, m: BaselineMeasure, load: Workload) -> None:
    """The baseline phase alone: `geak run` with workflows/baseline.yaml (every later phase off), so
    one graph and one re-measure rule decide both. Exits as `geak audit` on the baseline gate: 0 PASS,
    1 FLAG, 3 FAIL, 4 unaudited; 2 usage; 7 an engine error; 130 interrupted."""
    from geak.orchestrator import run as R
    from geak.orchestrator.workflow_config import WORKFLOWS

    run_dir = what.run_dir
    new_run(
        run_dir,
        RunRequest(
            workflow=WORKFLOWS / "baseline.yaml",
            engine=what.engine,
            model=what.model,
            use_auditor=what.use_auditor,
            policy=what.policy,
            legs_from=what.legs_from,
            launch=dict(max_num_seqs=m.max_num_seqs, load_format=m.load_format),
            workload=dict(
                dataset=load.dataset,
                num_prompts=load.num_prompts,
                input_len=load.input_len,
                output_len=load.output_len,
                max_concurrency=load.concurrency,
                seed=load.seed,
            ),
            engine_defaults={"reps": m.reps, "aa_legs": m.aa_legs},
            phases={"baseline": {"max_attempts": m.max_remeasures + 1}},
        ),
    )
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator.progress import Reporter

    console.print(f"run directory: {run_dir}")
    try:
        with Reporter(RunStore(run_dir), console):
            summary = R.execute(run_dir, on_event=event_printer())
    except KeyboardInterrupt:
        err.print(f"interrupted: continue with `geak run --resume {run_dir}`")
        raise typer.Exit(Exit.INTERRUPTED) from None
    except Exception as e:  # noqa: BLE001 - an engine error: the run directory keeps everything up to here
        err.print(f"[red]baseline failed:[/red] {type(e).__name__}: {e}")
        raise typer.Exit(Exit.RUN_ERROR) from None
    print_summary(summary, run_dir)
    gate = next((g for g in summary.gates if g.gate_id == "baseline"), None)
    raise typer.Exit(exit_code([gate.verdict] if gate else []) if what.use_auditor else Exit.PASS)
