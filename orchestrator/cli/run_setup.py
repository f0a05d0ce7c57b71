"""A new run directory from the command line (`geak run` and `geak baseline`): the options turned
into a request, every file they name read and checked, so a bad one exits 2 before anything starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import default_prompt_file, launch_config, load_policy, usage
from .run_options import RunDesign, RunDevices, RunLaunch, RunPlace, RunQuality, RunRoles, RunWorkload


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
    quality = {
        "parity_file": question_file(req.parity_file, wf.quality.parity_file, req.workflow, req.model, "parity.jsonl"),
        "accuracy_file": question_file(
            req.accuracy_file, wf.quality.accuracy_file, req.workflow, req.model, "probe.jsonl"
        ),
    }
    args = R.RunArgs(
        run_id=target.name,
        engine=req.engine,
        launch=cfg.model_dump(exclude={"schema_version"}, exclude_none=True),
        workload=WorkloadSpec(**w),
        use_auditor=wf.auditor.use if req.use_auditor is None else req.use_auditor,
        llm_mode=mode,
        llm_model=llm_model,
        api_base=req.api_base,
        api_key_env=req.api_key_env,
        llm_replay_from=replay_from,
        llm_auditor=req.llm_auditor,
        legs_from=str(req.legs_from) if req.legs_from else None,
        **quality,
        policy=load_policy(req.policy).model_dump() if req.policy else {},
        device_sets=list(req.device_sets),
        scheduler=req.scheduler,
        ray_address=req.ray_address,
        server_reuse=req.server_reuse,
    )
    try:
        R.prepare(target, args, req.workflow, text=text, wf=wf)
    except (R.RunError, ValueError) as e:
        usage(str(e))


def run_request(
    place: RunPlace,
    roles: RunRoles,
    design: RunDesign,
    workload: RunWorkload,
    launch: RunLaunch,
    quality: RunQuality,
    devs: RunDevices,
    sets: list[str],
) -> RunRequest:
    """The command line's groups as a new run's request (a bad --dataset exits 2)."""
    from geak.orchestrator.workflow_config import DEFAULT as DEFAULT_WF

    w_extra = dataset_options(workload.dataset)
    knobs = dict(
        max_num_seqs=launch.max_num_seqs,
        max_num_batched_tokens=launch.max_num_batched_tokens,
        load_format=launch.load_format,
        enforce_eager=launch.enforce_eager,
        devices=sets[0],
        tensor_parallel=devs.tp,
        dtype=launch.dtype,
        max_model_len=launch.max_model_len,
        memory_fraction=launch.memory_fraction,
    )
    w = dict(
        num_prompts=workload.num_prompts,
        input_len=workload.input_len,
        output_len=workload.output_len,
        max_concurrency=workload.concurrency,
        request_rate=workload.request_rate,
        **w_extra,
    )
    defaults = {
        k: v
        for k, v in (("reps", design.reps), ("aa_legs", design.aa_legs), ("ab_design", design.ab_design))
        if v is not None
    }
    return RunRequest(
        workflow=place.workflow or DEFAULT_WF,
        engine=place.engine,
        model=place.model,
        use_auditor=roles.use_auditor,
        llm=roles.llm,
        api_base=roles.api_base,
        api_key_env=roles.api_key_env,
        llm_auditor=roles.llm_auditor,
        legs_from=place.legs_from,
        policy=place.policy,
        launch=knobs,
        workload=w,
        engine_defaults=defaults or None,
        device_sets=list(sets) if len(sets) > 1 else [],
        scheduler=devs.scheduler,
        ray_address=devs.ray_address,
        server_reuse=devs.server_reuse,
        parity_file=quality.parity_file,
        accuracy_file=quality.accuracy_file,
    )


def question_file(
    given: Path | None, in_workflow: str | None, workflow: Path, model: str | None, default: str
) -> str | None:
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
