"""`geak run` and `--resume`: set up a run directory and drive the graph (`geak replay`: replay.py).

The run directory is self-describing: ``run_args.json`` (what was asked, secrets never
written), ``workflow.yaml`` (the workflow as run), the manifest with the hash of every
skill and prompt, and ``checkpoints.sqlite`` (LangGraph's checkpointer; one checkpoint per
node). A resumed run rebuilds its runtime from these files and continues from the last
completed node; legs already measured are reused, never re-measured.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from geak.resources import asset_dir

from geak.auditor.evidence.models import InputFile, Manifest, PairedAA, WorkloadSpec
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.questions import load_prompts, load_questions
from geak.agents.engines.pool import POOL

from .events import RunEvent, RunSummary
from .workflow import RunContext, build_graph, ids, initial_state
from geak.agents.runners.scheduler import get_scheduler
from geak.agents.runners.legs import LegRunner, LiveLegs, RecordedLegs
from geak.agents.runners.op_runners import LiveHarness, LiveProfiles, RecordedHarness, RecordedProfiles
from .workflow_config import DEFAULT as DEFAULT_WORKFLOW
from .workflow_config import WorkflowConfig, read_workflow
from geak.auditor.evidence.layout import (
    CHECKPOINTS,
    DECISIONS,
    INPUT_ROLES,
    MANIFEST,
    RUN_ARGS,
    SUMMARY,
    WORKFLOW,
    input_path,
)

THREAD: Any = {"configurable": {"thread_id": "geak"}, "recursion_limit": 10_000}  # a RunnableConfig
DEFAULT_MODEL = asset_dir("models") / "tiny-arith"


class RunArgs(BaseModel):
    """Everything needed to rebuild a run's runtime: written once, read by --resume and replay."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    run_id: str
    engine: str = "vllm"
    launch: dict[str, Any] = Field(description="engine-neutral LaunchConfig of the baseline")
    workload: WorkloadSpec
    use_auditor: bool = True
    llm_mode: Literal["none", "live", "replay"] = "none"
    llm_model: str | None = None
    api_base: str | None = None
    api_key_env: str | None = Field(
        None, description="name of the environment variable holding the key; the key is never stored"
    )
    llm_replay_from: str | None = None
    llm_auditor: bool = True
    legs_from: str | None = Field(
        None, description="a recorded run to take legs from instead of an engine (replay, tests)"
    )
    parity_file: str | None = None
    accuracy_file: str | None = None
    policy: dict[str, Any] = Field(default_factory=dict)
    skills_root: str | None = Field(
        None, description="the root (skills/, prompts/) the LLM roles render from; None: the installed ones"
    )
    device_sets: list[str] = Field(
        default_factory=list,
        description="disjoint device sets independent legs run on at once "
        "(devices.split of --devices/--tp/--cores-per-leg); [] = launch.devices only",
    )
    scheduler: str = Field(
        "local", description="how a batch of legs is dispatched: local (threads) | ray (tasks on a Ray cluster)"
    )
    ray_address: str | None = Field(None, description="the Ray cluster to join (None: start or join a local one)")
    server_reuse: bool = Field(
        True,
        description="the baseline, its re-measures and reference legs may measure on the server "
        "the last leg of the same launch left up (declared in each leg's launch.json)",
    )
    what_if: bool = Field(
        False,
        description="a replay with a changed policy, workflow or skill: a leg the recording lacks "
        "ends its branch as not recorded instead of stopping the replay",
    )


class RunError(RuntimeError):
    pass


def _scheduler(args: RunArgs) -> Any:
    """The run's leg scheduler; a local Ray cluster is started declaring the run's device sets."""
    if args.scheduler != "ray":
        return get_scheduler(args.scheduler)
    return get_scheduler(
        "ray", address=args.ray_address, sets=args.device_sets or [str(args.launch.get("devices", "cpu"))]
    )


def load_workflow(
    workflow: Path, engine_defaults: dict[str, Any] | None = None, phases: dict[str, dict[str, Any]] | None = None
) -> tuple[str, WorkflowConfig]:
    """The run's copy of the workflow and its one parse: the file as written, or with command-line
    settings applied (engine_defaults keys; per-phase fields). ValueError names the file and field."""
    text = read_workflow(workflow)
    if not engine_defaults and not phases:
        return text, WorkflowConfig.parse(text, workflow)
    import yaml

    try:
        d = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{workflow}: not valid YAML: {e}") from None
    d.setdefault("engine_defaults", {}).update(engine_defaults or {})
    for ph in d.get("phases") or []:
        ph.update((phases or {}).get(ph.get("name"), {}))
    wf = WorkflowConfig.parse(d, f"{workflow} with the command line's settings")
    return yaml.safe_dump(d, sort_keys=False), wf


def prepare(
    run_dir: Path,
    args: RunArgs,
    workflow: Path = DEFAULT_WORKFLOW,
    text: str | None = None,
    wf: WorkflowConfig | None = None,
) -> None:
    """Create the run directory's self-description. Refuses a directory that already holds a run.
    ``text``/``wf``: the workflow as load_workflow() gave it (default: the file as written, parsed here)."""
    store = RunStore(run_dir)
    if store.path(RUN_ARGS).exists() or store.path(DECISIONS).exists():
        raise RunError(
            f"{run_dir} already holds a run: continue it with `geak run --resume {run_dir}`, or choose a new --run-dir"
        )
    if text is None or wf is None:
        text, wf = load_workflow(workflow)  # fail before anything is written
    ed = wf.engine_defaults
    if (why := wf.refuses_sets(len(args.device_sets) or 1)) is not None:
        raise RunError(why)
    store.write_text(WORKFLOW, text)
    store.write_json(RUN_ARGS, args.model_dump(mode="json"))
    from geak import __version__

    m = Manifest(
        run_id=args.run_id,
        geak_version=__version__,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        args=args.model_dump(mode="json"),
        model=args.launch.get("model"),
        engine=args.engine,
        workload=args.workload,
        aa_legs=ids.aa_legs(ed.aa_legs, ed.ab_design, ed.abba_pairs),
        aa_designs=[
            PairedAA(design=ed.ab_design, a_legs=a, b_legs=b)
            for a, b in ids.aa_designs(ed.aa_legs, ed.ab_design, ed.abba_pairs)
        ],
    )
    for role, src in (
        ("accuracy", args.accuracy_file),
        ("parity", args.parity_file),
        ("model_config", _model_config(args)),
    ):
        if src and not args.legs_from:
            m.inputs[role] = copy_input(store, role, Path(src))  # type: ignore[index]
    m_extra = m.model_dump(mode="json")
    m_extra.update(skills_record(args.skills_root))
    m_extra["workflow"] = {"name": wf.name, "sha256": _sha(store.path(WORKFLOW))}
    store.write_json(MANIFEST, m_extra)


def _model_config(args: RunArgs) -> str | None:
    """The served model's config.json when the model is a local directory (a hub name has none on
    disk before the engine fetches it): the run keeps a copy, so its harness and routing size ops
    by the run's own bytes and a replay elsewhere sizes them alike."""
    model = args.launch.get("model")
    cfg = Path(str(model)) / "config.json" if model else None
    return str(cfg) if cfg is not None and cfg.is_file() else None


def copy_input(store: RunStore, role: str, src: Path) -> InputFile:
    """The run's own copy of a question file: what every leg answers, and what the auditor
    reads the expected answers from (manifest.json names it with its sha256)."""
    try:
        data = src.read_bytes()
    except OSError as e:
        hint = "--model" if role == "model_config" else f"--{role}-file"
        raise RunError(f"{src}: cannot be read ({e.strerror or e}); check {hint}") from None
    rel = input_path(role)
    store.write_text(rel, data)
    return InputFile(path=rel, source=str(src), sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def copy_recorded_inputs(src: RunStore, out: RunStore) -> None:
    """A replay keeps the recording's manifest, so it keeps the input copies that manifest names
    (the auditor scores the replayed legs' answers against them). Read through the recording's
    store: confined to it, regular files only."""
    for role in INPUT_ROLES:
        rel = input_path(role)
        if src.exists(rel):
            out.write_text(rel, src.read_bytes(rel))


def input_file(run_dir: Path, args: RunArgs, role: str) -> Path | None:
    """The question file legs answer: the run's copy where prepare() made one (runs before it
    read the path given, as run_args.json records it)."""
    copy = Path(run_dir) / input_path(role)
    if copy.is_symlink():  # the run's copy is a regular file prepare() wrote; a link would read outside the run
        raise RunError(f"{copy}: a link, not the copy this run was prepared with; start a new run")
    given = getattr(args, f"{role}_file")
    return copy if copy.is_file() else Path(given) if given else None


def skills_record(root: str | Path | None) -> dict[str, Any]:
    """The manifest's record of the skills and prompts a run's roles render from."""
    from geak.agents.roles.skills import skill_hashes

    prompts_dir = Path(root) / "prompts" if root is not None else asset_dir("prompts")
    return {
        "skills": skill_hashes(root=root),
        "prompts": {p.name: _sha(p) for p in sorted(prompts_dir.glob("*.j2"))},
        **({"skills_root": str(root)} if root is not None else {}),
    }


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def load_args(run_dir: Path) -> RunArgs:
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir}: no such directory" if not Path(run_dir).exists() else f"{run_dir}: not a directory")
    store = RunStore(run_dir)
    a, probs = store.read_json(RUN_ARGS, RunArgs)
    if a is None:
        raise RunError(f"{run_dir}: {probs[0] if probs else 'no run_args.json'}; is this a directory `geak run` wrote?")
    return a


def runtime(
    run_dir: Path,
    args: RunArgs,
    *,
    legs: LegRunner | None = None,
    harness: Any = None,
    on_event: Callable[[RunEvent], None] = lambda e: None,
    llm_client: Any = None,
) -> RunContext:
    store = RunStore(run_dir)
    wf = WorkflowConfig.load(store.path(WORKFLOW))
    if legs is None:
        legs = (
            RecordedLegs(args.legs_from, not_recorded=args.what_if)
            if args.legs_from
            else LiveLegs(args.engine, scheduler=_scheduler(args), reuse=args.server_reuse)
        )
    profiles = RecordedProfiles(args.legs_from) if args.legs_from else LiveProfiles(args.engine)
    if harness is None:
        harness = RecordedHarness(args.legs_from) if args.legs_from else LiveHarness()
    llm = llm_client
    if llm is None and args.llm_mode != "none":
        from geak.agents.roles.llm import LLMClient

        if args.llm_mode == "live":
            llm = LLMClient(
                "live", model=args.llm_model, store=store, api_base=args.api_base, api_key_env=args.api_key_env
            )
        else:
            llm = LLMClient("replay", store=store, replay_from=args.llm_replay_from)
    return RunContext(
        store=store,
        wf=wf,
        legs=legs,
        engine=args.engine,
        workload=args.workload,
        use_auditor=args.use_auditor,
        policy=AuditPolicy.model_validate(args.policy) if args.policy else AuditPolicy(),
        llm=llm,
        llm_auditor=args.llm_auditor,
        llm_mode=args.llm_mode,
        profiles=profiles,
        harness=harness,
        skills_root=Path(args.skills_root) if args.skills_root else None,
        device_sets=list(args.device_sets),
        # replayed legs carry their recorded outputs; the prompt files need not exist here
        parity=load_prompts(p) if (p := input_file(run_dir, args, "parity")) and not args.legs_from else None,
        accuracy=load_questions(q) if (q := input_file(run_dir, args, "accuracy")) and not args.legs_from else None,
        on_event=on_event,
    )


def _saver(run_dir: Path) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(str(run_dir / CHECKPOINTS), check_same_thread=False)
    return SqliteSaver(conn), conn


def finished(run_dir: Path) -> RunSummary | None:
    """The run's summary when the run already completed, else None."""
    s, _ = RunStore(run_dir).read_json(SUMMARY, RunSummary)
    return s if s is not None and s.status == "complete" else None


def execute(
    run_dir: Path,
    *,
    resume: bool = False,
    legs: LegRunner | None = None,
    llm_client: Any = None,
    harness: Any = None,
    on_event: Callable[[RunEvent], None] = lambda e: None,
) -> RunSummary:
    """Run (or continue) the graph to its end. KeyboardInterrupt propagates after the summary says so.

    Resuming a run that completed changes nothing (not its summary, not its events) and
    returns its summary; a RunError before the graph starts leaves the run directory as it was."""
    run_dir = Path(run_dir)
    args = load_args(run_dir)
    if resume:
        done = finished(run_dir)
        if done is not None:
            return done
        if not (run_dir / CHECKPOINTS).is_file():
            raise RunError(
                f"{run_dir}: no checkpoint to resume from; start it again with `geak run --run-dir {run_dir}` after removing it"
            )
    rt = runtime(run_dir, args, legs=legs, harness=harness, on_event=on_event, llm_client=llm_client)
    app_graph = build_graph(rt)
    saver, conn = _saver(run_dir)
    try:
        app = app_graph.compile(checkpointer=saver)
        snap = app.get_state(THREAD)
        if resume:
            if not snap.values:
                raise RunError(
                    f"{run_dir}: no checkpoint to resume from; start it again with `geak run --run-dir {run_dir}` after removing it"
                )
            if not snap.next:
                rt.emit("resume", "resume", "nothing to resume: the workflow already finished")
                return _summary(rt)
            rt.emit("resume", "resume", f"resuming at {', '.join(snap.next)}")
            app.invoke(None, THREAD, durability="sync", context=rt)
        else:
            if snap.values:
                raise RunError(f"{run_dir} already has checkpoints: continue it with `geak run --resume {run_dir}`")
            init = initial_state(args.run_id, time.time(), args.launch)
            rt.emit(
                "start",
                "start",
                f"geak run {args.run_id}: {args.engine}, model {args.launch.get('model')}, "
                f"llm {args.llm_mode}, auditor {'on' if args.use_auditor else 'off'}",
            )
            app.invoke(init, THREAD, durability="sync", context=rt)
    except KeyboardInterrupt:
        _mark(rt, "interrupted", "interrupted (Ctrl-C): continue with geak run --resume")
        raise
    except Exception as e:
        _mark(rt, "failed", f"{type(e).__name__}: {e}")
        raise
    finally:
        conn.close()
        POOL.close()  # a server kept for a next leg of its launch: the run has none left
    return _summary(rt)


def _mark(rt: RunContext, status: str, why: str) -> None:
    s, _ = rt.store.read_json(SUMMARY, RunSummary)
    s = s or RunSummary(run_id=rt.store.root.name)
    s.status, s.error = status, why  # type: ignore[assignment]
    rt.store.write_json(SUMMARY, s)
    try:
        rt.emit("error", "run", why)
    except OSError:
        pass


def _summary(rt: RunContext) -> RunSummary:
    s, probs = rt.store.read_json(SUMMARY, RunSummary)
    if s is None:
        raise RunError(f"{rt.store.root}: no summary.json after the run ({probs[0] if probs else 'absent'})")
    return s


def launch_from(model: str | None, **knobs: Any) -> LaunchConfig:
    return LaunchConfig(model=str(model or DEFAULT_MODEL), **{k: v for k, v in knobs.items() if v is not None})
