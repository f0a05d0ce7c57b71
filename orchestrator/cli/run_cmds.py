"""`geak run`, `replay`, `report`: the workflow on an engine or over a recording."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, ClassVar

import typer
from rich.table import Table

from .options import grouped
from .common import O_DTYPE, O_ENGINE, O_MAX_MODEL_LEN, O_MEMORY_FRACTION, O_MODEL, Exit, app, console, default_prompt_file, err, launch_config, load_policy, usage


# ---------------------------------------------------------------- geak run / replay / report

RUN_EXIT_DOC = """Exit codes of `geak run`: 0 the workflow completed (see the report for what was banked);
3 it halted because the baseline FAILed its gate at the bound; 7 a run error (engine, LLM, replay miss);
2 usage; 130 interrupted (continue with --resume)."""

_EV_STYLE = {"bank": "green", "withhold": "red", "withdraw": "yellow", "audit": "cyan", "unaudited": "magenta",
             "passthrough": "yellow", "error": "red", "phase": "bold", "start": "bold", "end": "bold"}


def event_printer() -> Callable[[Any], None]:
    import time as _t

    t0 = _t.time()

    def show(ev: Any) -> None:
        st = _EV_STYLE.get(ev.event, "")
        mm, ss = divmod(int(ev.t - t0), 60)
        msg = ev.message.replace("[", "\\[")
        console.print(f"[dim]{mm:02d}:{ss:02d}[/dim] {ev.node:<15} " + (f"[{st}]{msg}[/{st}]" if st else msg))

    return show


@dataclass
class RunRequest:
    """What a new run directory is made from (geak run and geak baseline)."""

    workflow: Path
    engine: str
    model: str | None
    use_auditor: bool | None
    llm: str = "none"
    api_base: str | None = None
    api_key_env: str | None = None
    llm_auditor: bool = True
    legs_from: Path | None = None
    policy: Path | None = None
    launch: dict[str, Any] = field(default_factory=dict)
    workload: dict[str, Any] = field(default_factory=dict)
    engine_defaults: dict[str, Any] | None = None
    phases: dict[str, dict[str, Any]] | None = None
    device_sets: list[str] = field(default_factory=list)
    scheduler: str = "local"
    ray_address: str | None = None
    server_reuse: bool = True
    parity_file: Path | None = None
    accuracy_file: Path | None = None


def new_run(target: Path, req: RunRequest) -> None:
    """A new run directory from the command line: run_args.json, the workflow with the command's
    settings, the manifest. A bad option or file exits 2, writing nothing."""
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.orchestrator import run as R

    try:
        text, wf = R.load_workflow(req.workflow, req.engine_defaults, req.phases)
    except ValueError as e:
        usage(str(e))
    w = {**wf.engine_defaults.workload, **{k: v for k, v in req.workload.items() if v is not None}}
    w.setdefault("dataset", "random")
    w.setdefault("num_prompts", 200)
    mode, llm_model, replay_from = "none", None, None
    if req.llm.startswith("replay:"):
        mode, replay_from = "replay", req.llm.split(":", 1)[1]
    elif req.llm != "none":
        mode, llm_model = "live", req.llm
    cfg = launch_config(req.model, **req.launch)
    quality = {"parity_file": question_file(req.parity_file, wf.quality.parity_file, req.workflow, req.model, "parity.jsonl"),
               "accuracy_file": question_file(req.accuracy_file, wf.quality.accuracy_file, req.workflow, req.model, "probe.jsonl")}
    args = R.RunArgs(run_id=target.name, engine=req.engine, launch=cfg.model_dump(exclude={"schema_version"}, exclude_none=True),
                     workload=WorkloadSpec(**w), use_auditor=wf.auditor.use if req.use_auditor is None else req.use_auditor,
                     llm_mode=mode, llm_model=llm_model, api_base=req.api_base, api_key_env=req.api_key_env,
                     llm_replay_from=replay_from, llm_auditor=req.llm_auditor,
                     legs_from=str(req.legs_from) if req.legs_from else None, **quality,
                     policy=load_policy(req.policy).model_dump() if req.policy else {}, device_sets=list(req.device_sets),
                     scheduler=req.scheduler, ray_address=req.ray_address, server_reuse=req.server_reuse)
    try:
        R.prepare(target, args, req.workflow, text=text, wf=wf)
    except (R.RunError, ValueError) as e:
        usage(str(e))


# ---------------------------------------------------------------- geak run: its option groups


@dataclass
class RunPlace:
    """Where the run lives, what it runs and what it writes at the end."""

    panel: ClassVar[str] = "Run"
    run_dir: Path | None = typer.Option(None, "--run-dir", help="new run directory (default runs/run-<time>)")
    resume: Path | None = typer.Option(None, "--resume", help="continue the run in this directory after a crash or Ctrl-C")
    model: str | None = O_MODEL
    engine: str = O_ENGINE
    workflow: Path = typer.Option(None, help="workflow YAML (default workflows/default.yaml)")
    policy: Path | None = typer.Option(None, help="auditor policy YAML overriding thresholds")
    legs_from: Path | None = typer.Option(None, hidden=True, help="take legs from a recorded run instead of an engine")
    plan: bool = typer.Option(False, "--plan", help="print every leg the workflow would launch (device set, engine and bench "
                              "commands, which run at once) and exit; starts nothing, writes nothing")
    report: bool = typer.Option(True, "--report/--no-report", help="write report.md and report.html at the end")


@dataclass
class RunRoles:
    """Who decides and who judges: the LLM behind the roles, and the auditor."""

    panel: ClassVar[str] = "Roles and auditor"
    use_auditor: bool | None = typer.Option(None, "--use-auditor/--no-auditor",
                                               help="an independent auditor at every accept gate (default: the workflow's auditor.use)")
    llm: str = typer.Option("none", help="none (built-in policies) | provider/model (live, via litellm) | replay:RUN_DIR")
    api_base: str | None = typer.Option(None, help="OpenAI-compatible base URL for --llm")
    api_key_env: str | None = typer.Option(None, help="environment variable holding the provider key (never written)")
    llm_auditor: bool = typer.Option(True, "--llm-auditor/--no-llm-auditor", help="with an LLM, let the patch_auditor role escalate the code floor")


@dataclass
class RunDesign:
    """How A is measured against B."""

    panel: ClassVar[str] = "A/B design"
    reps: int | None = typer.Option(None, help="counted reps per leg (default: the workflow's)")
    aa_legs: int | None = typer.Option(None, "--aa-legs", min=0, help="A/A legs for the noise band, each its own server "
                                          "lifetime (default: the workflow's; bench/gpu_noise.py estimates from >= 6)")
    ab_design: str | None = typer.Option(None, "--ab-design", help="how A/A legs and config gates measure A against B: "
                                            "blocks (A legs, then B legs) | crossover (two device sets: both at once, reps "
                                            "started together, sets swapped; e.g. --devices cpu:0-1 --cores-per-leg 1) | abba "
                                            "(one set: short legs A B B A ...). Default: the workflow's (blocks)")


@dataclass
class RunWorkload:
    """The benchmark client's workload (default: the workflow's)."""

    panel: ClassVar[str] = "Workload"
    num_prompts: int | None = typer.Option(None, help="requests per repetition (default: the workflow's workload)")
    input_len: int | None = typer.Option(None, help="prompt tokens per request of the random dataset (default: the workflow's)")
    output_len: int | None = typer.Option(None, help="output tokens per request (default: the workflow's)")
    concurrency: int | None = typer.Option(None, help="requests the client keeps in flight (default: the workflow's)")
    dataset: str | None = typer.Option(None, help="random | sharegpt:FILE (a ShareGPT JSON) | prompts:FILE (JSONL of {\"prompt\": ...})")
    request_rate: float | None = typer.Option(None, help="requests/s the client offers (default: all at once, bounded by --concurrency)")


@dataclass
class RunLaunch:
    """The baseline launch: the production config every candidate is gated against."""

    panel: ClassVar[str] = "Baseline launch"
    load_format: str | None = typer.Option(None, help="how the engine loads weights: 'dummy' = random weights of the model's "
                                              "shape (accuracy then proves nothing: the auditor says so); default: the real ones")
    max_num_seqs: int | None = typer.Option(None, help="the baseline's decode batch cap (vLLM --max-num-seqs; SGLang "
                                               "--max-running-requests); default: the engine's")
    enforce_eager: bool | None = typer.Option(None, "--enforce-eager/--no-enforce-eager",
                                                 help="the baseline without torch.compile / graph capture (faster start-up, "
                                                 "slower steps); default: the engine's (compiled)")
    max_num_batched_tokens: int | None = typer.Option(None, help="the baseline's token budget per scheduler step (vLLM "
                                                         "--max-num-batched-tokens; SGLang --chunked-prefill-size); default: the engine's")
    dtype: str | None = O_DTYPE
    max_model_len: int | None = O_MAX_MODEL_LEN
    memory_fraction: float | None = O_MEMORY_FRACTION


@dataclass
class RunQuality:
    """What every leg answers besides the benchmark."""

    panel: ClassVar[str] = "Quality"
    accuracy_file: Path | None = typer.Option(None, help="the accuracy probe every leg answers: JSONL of {prompt, expected} "
                                                 "(exact match) or GSM8K's {question, answer} (scored by the final number); "
                                                 "default: the workflow's quality.accuracy_file, else the model's probe.jsonl")
    parity_file: Path | None = typer.Option(None, help="prompts every leg answers greedily, twice, on the same seed (token-level "
                                               "parity); default: the workflow's quality.parity_file, else the model's parity.jsonl")


@dataclass
class RunDevices:
    """Where legs run and how independent ones are dispatched."""

    panel: ClassVar[str] = "Devices"
    devices: str = typer.Option("cpu", help="what legs may run on: cpu (the whole host) | cpu:CORES (e.g. cpu:0-1, see "
                                "--cores-per-leg) | GPU ids (0,1,2,3) | all (every GPU NVML sees); split into disjoint "
                                "device sets, independent legs run at once, one per set")
    tp: int | None = typer.Option(None, "--tp", help="tensor parallel size: GPUs per device set (--devices 0,1,2,3 --tp 2: two sets)")
    cores_per_leg: int | None = typer.Option(None, help="with --devices cpu:CORES: cores per device set (default: all in one)")
    scheduler: str = typer.Option("local", help="how independent legs are dispatched: local (threads, this box) | ray (Ray tasks)")
    ray_address: str | None = typer.Option(None, help="with --scheduler ray: the cluster to join (default: a local one)")
    server_reuse: bool = typer.Option(True, "--server-reuse/--no-server-reuse",
                                      help="the baseline and reference legs may measure on the server the last leg of the same "
                                      "launch left up (its prefix cache dropped first; declared in launch.json); A/A legs and "
                                      "candidates always start their own")


@app.command("run", help="Run the workflow on a live engine: baseline, config tuning, final validation, report.\n\n" + RUN_EXIT_DOC)
@grouped
def run_cmd(place: RunPlace, roles: RunRoles, design: RunDesign, workload: RunWorkload, launch: RunLaunch, quality: RunQuality,
            devs: RunDevices) -> None:
    sets = device_sets(devs.devices, devs.tp, devs.cores_per_leg)
    req = run_request(place, roles, design, workload, launch, quality, devs, sets)
    if devs.scheduler not in ("local", "ray"):
        usage(f"--scheduler {devs.scheduler!r}: known schedulers: local, ray")
    if place.plan:
        print_plan(req.workflow, engine=place.engine, model=place.model, launch=req.launch, workload=req.workload, sets=sets,
                   llm=roles.llm, engine_defaults=req.engine_defaults or {}, server_reuse=devs.server_reuse)
        raise typer.Exit(Exit.PASS)
    target = run_target(place, req)
    execute_run(target, resumed=place.resume is not None, report=place.report)


def run_request(place: RunPlace, roles: RunRoles, design: RunDesign, workload: RunWorkload, launch: RunLaunch,
                quality: RunQuality, devs: RunDevices, sets: list[str]) -> RunRequest:
    """The command line's groups as a new run's request (a bad --dataset exits 2)."""
    from geak.orchestrator.workflow_config import DEFAULT as DEFAULT_WF

    w_extra = dataset_options(workload.dataset)
    knobs = dict(max_num_seqs=launch.max_num_seqs, max_num_batched_tokens=launch.max_num_batched_tokens,
                 load_format=launch.load_format, enforce_eager=launch.enforce_eager, devices=sets[0], tensor_parallel=devs.tp,
                 dtype=launch.dtype, max_model_len=launch.max_model_len, memory_fraction=launch.memory_fraction)
    w = dict(num_prompts=workload.num_prompts, input_len=workload.input_len, output_len=workload.output_len,
             max_concurrency=workload.concurrency, request_rate=workload.request_rate, **w_extra)
    defaults = {k: v for k, v in (("reps", design.reps), ("aa_legs", design.aa_legs), ("ab_design", design.ab_design)) if v is not None}
    return RunRequest(workflow=place.workflow or DEFAULT_WF, engine=place.engine, model=place.model, use_auditor=roles.use_auditor,
                      llm=roles.llm, api_base=roles.api_base, api_key_env=roles.api_key_env, llm_auditor=roles.llm_auditor,
                      legs_from=place.legs_from, policy=place.policy, launch=knobs, workload=w, engine_defaults=defaults or None,
                      device_sets=list(sets) if len(sets) > 1 else [], scheduler=devs.scheduler, ray_address=devs.ray_address,
                      server_reuse=devs.server_reuse, parity_file=quality.parity_file, accuracy_file=quality.accuracy_file)


def run_target(place: RunPlace, req: RunRequest) -> Path:
    """The run directory: the one --resume names (a finished run exits 0, changing nothing), or a new one."""
    import time as _t

    from geak.orchestrator import run as R

    if place.resume is None:
        target = place.run_dir or Path("runs") / f"run-{_t.strftime('%Y%m%d-%H%M%S')}"
        new_run(target, req)
        return target
    try:
        R.load_args(place.resume)
    except R.RunError as e:
        usage(str(e))
    done = R.finished(place.resume)
    if done is not None:
        console.print(f"{place.resume}: the run already finished; nothing to resume, nothing changed")
        print_summary(done, place.resume)
        raise typer.Exit(Exit.PASS)
    return place.resume


def execute_run(target: Path, *, resumed: bool, report: bool) -> None:
    """Drive the graph over the run directory, print the summary and exit with the run's code."""
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator import run as R
    from geak.orchestrator.progress import Reporter

    console.print(f"run directory: {target}")
    try:
        with Reporter(RunStore(target), console):
            summary = R.execute(target, resume=resumed, on_event=event_printer())
    except KeyboardInterrupt:
        err.print(f"interrupted: continue with `geak run --resume {target}`")
        raise typer.Exit(Exit.INTERRUPTED) from None
    except R.RunError as e:  # refused before the graph started: nothing in the run directory changed
        usage(str(e))
    except Exception as e:  # an engine, LLM or replay error: the run directory keeps everything up to here
        err.print(f"[red]run failed:[/red] {type(e).__name__}: {e}\ncontinue with `geak run --resume {target}` once fixed")
        raise typer.Exit(Exit.RUN_ERROR) from None
    if report:
        write_report_files(target)
    print_summary(summary, target)
    halted = any(g.gate_id == "baseline" and g.verdict == "FAIL" for g in summary.gates)
    raise typer.Exit(Exit.FAIL if halted else Exit.PASS)


def question_file(given: Path | None, in_workflow: str | None, workflow: Path, model: str | None, default: str) -> str | None:
    """The parity or accuracy file a run uses, absolute: the command line's, else the workflow's
    (relative to the workflow file), else the model directory's own. Read here, so a malformed
    file exits 2 naming file, line and field before anything starts."""
    from geak.agents.engines.questions import QuestionFileError, load_questions

    p = given or ((Path(workflow).parent / in_workflow) if in_workflow else default_prompt_file(model, default))
    if p is None:
        return None
    if not Path(p).is_file():
        usage(f"{p}: no such question file" + ("" if given else f" (named by {workflow} quality)"))
    try:
        load_questions(Path(p))
    except QuestionFileError as e:
        usage(str(e))
    return str(Path(p).resolve())


def device_sets(devices: str, tp: int | None, cores_per_leg: int | None) -> list[str]:
    """--devices/--tp/--cores-per-leg as disjoint device set names (usage error otherwise)."""
    from geak.agents.engines.devices import split

    try:
        return [s.name for s in split(devices, tp=tp, cores_per_leg=cores_per_leg)]
    except ValueError as e:
        usage(str(e))
    return []


def dataset_options(dataset: str | None) -> dict[str, Any]:
    """--dataset as WorkloadSpec fields: random, sharegpt:FILE, prompts:FILE (vLLM's custom dataset)."""
    if dataset is None:
        return {}
    if dataset == "random":
        return {"dataset": "random"}
    kind, _, path = dataset.partition(":")
    if kind not in ("sharegpt", "prompts") or not path:
        usage(f"--dataset {dataset!r}: use random, sharegpt:FILE or prompts:FILE")
    if not Path(path).is_file():
        usage(f"--dataset {dataset!r}: {path} is not a file")
    return {"dataset": "sharegpt" if kind == "sharegpt" else "custom", "dataset_path": str(Path(path).resolve())}


def print_plan(workflow: Path, *, engine: str, model: str | None, launch: dict[str, Any], workload: dict[str, Any],
               sets: list[str], llm: str, engine_defaults: dict[str, Any], server_reuse: bool = True) -> None:
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.orchestrator import plan as P
    from geak.orchestrator import run as R

    try:
        wf = R.load_workflow(workflow, engine_defaults or None)[1]
    except ValueError as e:
        usage(str(e))
    if (why := wf.refuses_sets(len(sets))) is not None:
        usage(why)
    w = {**wf.engine_defaults.workload, **{k: v for k, v in workload.items() if v is not None}}
    w.setdefault("dataset", "random")
    w.setdefault("num_prompts", 200)
    cfg = launch_config(model, **{k: v for k, v in launch.items() if v is not None})
    steps = P.build(engine=engine, launch=cfg.model_dump(exclude={"schema_version"}, exclude_none=True), workload=WorkloadSpec(**w),
                    wf=wf, device_sets=sets, llm_mode="none" if llm == "none" else "live", reuse=server_reuse)
    console.print(P.render(steps, sets), markup=False, highlight=False, soft_wrap=True)
    console.print(f"\n{sum(len(s.legs) for s in steps)} leg(s) listed; nothing was started.", markup=False)


def write_report_files(target: Path) -> None:
    try:
        from geak.orchestrator.report import write_report
    except ImportError:
        return
    md, html = write_report(target)
    console.print(f"report: {md} and {html}")


def print_summary(summary: Any, run_dir: Path | None = None) -> None:
    t = Table(title=f"geak run {summary.run_id}: {summary.status}")
    for col in ("gate", "attempts", "verdict", "banked", "note"):
        t.add_column(col, overflow="fold")
    for g in summary.gates:
        t.add_row(g.gate_id, str(g.attempts), g.verdict or ("UNAUDITED" if g.unaudited_reason else "-"),
                  "yes" if g.banked else "no", g.note or (g.unaudited_reason or "")[:80])
    console.print(t)
    for ph, why in summary.passthrough.items():
        console.print(f"[yellow]{ph}: {why}[/yellow]")
    from geak.auditor.evidence.ledger import Head

    head = Head.from_label(summary.ledger_head) if getattr(summary, "ledger_head", None) else None
    if head is not None:
        # shown where no producer writes it after the fact: a later `geak audit` must name the same head
        console.print(f"sealed: {head} (a later audit of this run must report this head)")
    if run_dir is not None and summary.use_auditor:
        from geak.orchestrator.report import headline, headline_text, load_run

        try:
            # one line whatever the width: a log is grepped for it
            console.print(f"[bold]headline:[/bold] {headline_text(headline(load_run(run_dir)))}", soft_wrap=True)
        except (OSError, ValueError) as e:  # the table above stands; say why the headline does not
            console.print(f"headline: not derived ({type(e).__name__}: {e})")
