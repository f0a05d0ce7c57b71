"""`geak run --plan`: every leg the workflow would launch, on which device set, with which engine
and client command, and which legs run at once. It starts nothing and writes nothing.

The plan is built from the same pieces the run uses (ids, scheduler.assign, the engine adapter's
argv, leg_server.server_command / leg_reps.client_command, the none-mode strategist), so it cannot describe a
different run than the one `geak run` would start. What only the run can decide (which candidates
the screen promotes, whether a gate asks for a re-measure, an LLM strategist's plan) is said as such.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geak.auditor.evidence.models import WorkloadSpec

from geak.agents.engines.base import LaunchConfig, get_engine
from geak.agents.engines.leg_reps import client_command
from geak.agents.engines.leg_server import server_command

from geak.agents.roles import policies
from geak.agents.runners.paired import abba_sequence, crossover_jobs
from geak.agents.runners.scheduler import assign
from .workflow import ids
from .workflow_config import EngineDefaults, Phase, WorkflowConfig
from geak.auditor.evidence.layout import RAW, leg_file


@dataclass
class PlannedLeg:
    leg_id: str
    role: str
    devices: str
    reps: int
    server_argv: list[str]
    server_env: dict[str, str]
    bench_argv: list[str]
    on_server_of: str | None = None  # server reuse: the leg whose server it measures on (kept up for it)
    own_server: bool = False  # a paired design's leg: starts its own server, keeps none


@dataclass
class Step:
    """Legs launched together (one batch: at once when they hold different device sets)."""

    node: str
    why: str
    legs: list[PlannedLeg] = field(default_factory=list)

    @property
    def concurrent(self) -> bool:
        return len({leg.devices for leg in self.legs}) > 1


def _leg(engine: str, leg_id: str, role: str, cfg: LaunchConfig, workload: WorkloadSpec, reps: int) -> PlannedLeg:
    ad = get_engine(engine)
    py = sys.executable
    bench = ad.bench_argv_multi(
        result_files=[f"rep_{i}.json" for i in range(reps + 1)],
        python=py,
        base_url="http://127.0.0.1:$PORT",
        model=cfg.model,
        workload=workload,
        result_dir=leg_file(leg_id, RAW),
    ) or ad.bench_argv(
        python=py,
        base_url="http://127.0.0.1:$PORT",
        model=cfg.model,
        workload=workload,
        result_dir=leg_file(leg_id, RAW),
        result_file="rep_0.json",
    )
    return PlannedLeg(
        leg_id,
        role,
        cfg.devices,
        reps,
        server_command(ad, cfg, "$PORT", py),
        ad.server_env(cfg),
        client_command(bench, cfg),
    )


def build(
    *,
    engine: str,
    launch: dict[str, Any],
    workload: WorkloadSpec,
    wf: WorkflowConfig,
    device_sets: list[str],
    llm_mode: str = "none",
    reuse: bool = True,
) -> list[Step]:
    base = LaunchConfig(**launch)
    sets = list(device_sets) or [base.devices]
    reps = wf.engine_defaults.reps
    steps = _aa_steps(engine, base, workload, wf.engine_defaults, sets)
    steps.append(
        Step(
            "baseline",
            "the baseline gate's leg on the first set (re-measured with more reps if the gate asks)",
            [_leg(engine, ids.baseline_leg(0), "baseline", base, workload, reps)],
        )
    )
    tune = _phase(wf, "config_tune")
    if tune is not None:
        steps += _tune_steps(engine, base, workload, wf.engine_defaults, sets, tune, llm_mode)
    for ph in ("profile", "kernel"):
        p = _phase(wf, ph)
        if p is not None and not p.passthrough:
            steps.append(Step(ph, f"{ph} phase on the first set: its legs depend on what the profile routes"))
    v = _phase(wf, "validate")
    if v is not None:
        steps.append(_validate_step(engine, base, workload, v, reps))
    return _reuse(steps, engine) if reuse else steps


def _phase(wf: WorkflowConfig, name: str) -> Phase | None:
    return next((p for p in wf.phases if p.name == name), None)


def _aa_steps(
    engine: str, base: LaunchConfig, workload: WorkloadSpec, ed: EngineDefaults, sets: list[str]
) -> list[Step]:
    """The A/A legs of the noise band: a paired design's periods, or independent legs spread over the sets."""
    n = ed.aa_legs
    if ed.ab_design != "blocks" and n > 0:
        steps: list[Step] = []
        for legs in ids.aa_designs(n, ed.ab_design, ed.abba_pairs):
            steps += _paired(
                "setup", "A/A", legs, (base, base), ("aa", "aa"), ed.ab_design, sets, engine, workload, ed.reps
            )
        return steps
    aa = Step("setup", f"{n} A/A legs: independent, one per device set at a time (the noise band)")
    for i, dev in zip(range(1, n + 1), assign(n, sets)):
        aa.legs.append(_leg(engine, ids.aa_leg(i), "aa", base.model_copy(update={"devices": dev}), workload, ed.reps))
    return [aa]


def _tune_steps(
    engine: str,
    base: LaunchConfig,
    workload: WorkloadSpec,
    ed: EngineDefaults,
    sets: list[str],
    tune: Phase,
    llm_mode: str,
) -> list[Step]:
    """config_tune: an LLM's candidates are known only at run time; the none-mode strategist's are
    listed, screened first when the phase has a screening rung, then gated."""
    if llm_mode != "none":
        return [
            Step(
                "strategize",
                f"the LLM strategist decides the candidates at run time (up to "
                f"{tune.max_candidates or 'the budget'}): their legs are not known before it answers",
            )
        ]
    plan = policies.strategist(
        device=base.devices,
        current_config=base.knobs(),
        max_candidates=tune.max_candidates or 4,
        concurrency=workload.max_concurrency,
    )
    cands = [(it.knob, v) for it in plan.plan if it.track == "config" and it.knob for v in it.values]
    steps: list[Step] = []
    if tune.screen_reps is not None and cands:
        steps += _screen_steps(engine, base, workload, sets, cands, tune.screen_reps)
        promoted = math.ceil(len(cands) / 2)
        why = f"the better {promoted} of {len(cands)} screened (decided by the screen)"
    else:
        why = f"all {len(cands)} candidates (no screening rung)"
    return steps + _gate_steps(engine, base, workload, ed, sets, cands, why)


def _screen_steps(
    engine: str,
    base: LaunchConfig,
    workload: WorkloadSpec,
    sets: list[str],
    cands: list[tuple[str, Any]],
    screen_reps: int,
) -> list[Step]:
    """Rung 0: the candidates in batches of one per device set, each a short leg of its own."""
    steps: list[Step] = []
    for k in range(0, len(cands), len(sets)):
        chunk = cands[k : k + len(sets)]
        st = Step(
            "screen",
            f"rung 0, candidates {k + 1}-{k + len(chunk)} of {len(cands)}: independent, {screen_reps} rep(s) each",
        )
        for (kn, v), dev in zip(chunk, assign(len(chunk), sets, k)):
            cfg = base.model_copy(update={kn: v, "devices": dev})
            st.legs.append(
                _leg(engine, ids.screen_leg(ids.candidate_id(kn, v)), "candidate", cfg, workload, screen_reps)
            )
        steps.append(st)
    return steps


def _gate_steps(
    engine: str,
    base: LaunchConfig,
    workload: WorkloadSpec,
    ed: EngineDefaults,
    sets: list[str],
    cands: list[tuple[str, Any]],
    why: str,
) -> list[Step]:
    """Each candidate's config gate: a paired design against the baseline, or one leg on the first set."""
    if ed.ab_design != "blocks":
        steps: list[Step] = []
        for kn, v in cands:
            cid = ids.candidate_id(kn, v)
            steps += _paired(
                "config_measure",
                f"gate config-{cid} ({why}; a re-measure adds a round)",
                ids.config_paired_legs(cid, 0, ed.ab_design, ed.abba_pairs),
                (base, base.model_copy(update={kn: v})),
                ("reference", "candidate"),
                ed.ab_design,
                sets,
                engine,
                workload,
                ed.reps,
            )
        return steps
    gate = Step(
        "config_measure",
        f"one gate leg per promoted candidate, in order, on the first set: {why}; every "
        "candidate is listed, only the promoted run; each banked win changes the config the next one starts from",
    )
    for kn, v in cands:
        cfg = base.model_copy(update={kn: v})
        gate.legs.append(_leg(engine, ids.config_leg(ids.candidate_id(kn, v), 0), "candidate", cfg, workload, ed.reps))
    return [gate]


def _validate_step(engine: str, base: LaunchConfig, workload: WorkloadSpec, v: Phase, reps: int) -> Step:
    """The bundle's interleaved A B A B legs (and the caching audit's, on a repeated sample)."""
    val = Step(
        "validate",
        "the bundle's interleaved A B A B legs on the first set, in order (the final config is decided by "
        "the gates; shown here as the baseline's)",
    )
    for leg_id, role in ids.validation_plan(v.interleaved_pairs or 2, bool(v.caching_audit)):
        cfg = base.model_copy(update={"prefix_caching": False}) if role == "caching_audit" else base
        w = workload.model_copy(update={"repeated_sample": True}) if role == "caching_audit" else workload
        val.legs.append(_leg(engine, leg_id, role, cfg, w, reps))
    return val


def _paired(
    node: str,
    what: str,
    legs: tuple[list[str], list[str]],
    cfgs: tuple[LaunchConfig, LaunchConfig],
    roles: tuple[str, str],
    design: str,
    sets: list[str],
    engine: str,
    workload: WorkloadSpec,
    reps: int,
) -> list[Step]:
    """A paired design's legs as the run launches them (agents/runners/paired.py): a crossover's
    periods, each two legs at once on swapped sets, meeting per rep; or A B B A short legs."""
    out = []
    if design == "crossover":
        for p, jobs in enumerate(
            crossover_jobs(legs, cfgs[0], cfgs[1], (sets[0], sets[1]), roles, {}, Path("pairs")), start=1
        ):
            st = Step(
                node,
                f"{what} crossover period {p}: both legs at once, every rep started together, each its own "
                "server" + (" (the sets swapped)" if p > 1 else ""),
            )
            st.legs = [_own(_leg(engine, j.leg_id, j.role, j.cfg, workload, reps)) for j in jobs]
            out.append(st)
        return out
    st = Step(node, f"{what} A B B A: short legs one after another on {cfgs[0].devices}, each its own server")
    st.legs = [_own(_leg(engine, leg_id, roles[i], cfgs[i], workload, reps)) for leg_id, i in abba_sequence(legs)]
    return [st]


def _own(leg: PlannedLeg) -> PlannedLeg:
    leg.own_server = True
    return leg


def _reuse(steps: list[Step], engine: str) -> list[Step]:
    """Mark the legs that measure on the server the last leg on their set kept up (LiveLegs'
    rule: a keeping role, then a reusing role of the very same argv and env)."""
    from geak.agents.runners.legs import KEEP_ROLES, REUSE_ROLES

    last: dict[str, tuple[PlannedLeg, str]] = {}  # set -> (leg, owner)
    reusable = get_engine(engine).cache_reset_path is not None
    for st in steps:
        if st.node in ("config_measure", "profile", "kernel"):  # only the run knows which of these legs run
            last.clear()
        for leg in st.legs:
            if leg.own_server:
                last.pop(leg.devices, None)  # its server stops with it
                continue
            prev = last.get(leg.devices)
            same = prev is not None and (prev[0].server_argv, prev[0].server_env) == (leg.server_argv, leg.server_env)
            if reusable and same and leg.role in REUSE_ROLES and prev[0].role in KEEP_ROLES:  # type: ignore[index]
                leg.on_server_of = prev[1]  # type: ignore[index]
            owner = leg.on_server_of or leg.leg_id
            if leg.role in KEEP_ROLES and reusable:
                last[leg.devices] = (leg, owner)
            else:
                last.pop(leg.devices, None)
    return steps


def _short(argv: list[str]) -> list[str]:
    """An inline ``python -c`` program (the vLLM client shim) shown by name, not as its source."""
    return [
        ("<geak's shim around vllm.benchmarks.serve>" if i > 0 and argv[i - 1] == "-c" and len(a) > 80 else a)
        for i, a in enumerate(argv)
    ]


def render(steps: list[Step], sets: list[str], full: bool = True) -> str:
    import shlex

    out = [f"device sets: {', '.join(sets)} ({len(sets)} leg(s) at once at most)"]
    for s in steps:
        legs = len(s.legs)
        head = f"\n[{s.node}] {s.why}"
        if legs:
            head += f" -- {legs} leg(s)" + (
                ", AT ONCE on " + " | ".join(sorted({leg.devices for leg in s.legs})) if s.concurrent else ""
            )
        out.append(head)
        for leg in s.legs:
            out.append(
                f"  {leg.leg_id} ({leg.role}) on {leg.devices}, {leg.reps} counted rep(s) + 1 warm-up"
                + (
                    f", on the server {leg.on_server_of} kept up (its prefix cache reset first; no start-up)"
                    if leg.on_server_of
                    else ""
                )
            )
            if full:
                env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(leg.server_env.items()) if k != "PYTHONPATH")
                out.append(f"    engine: {env} {shlex.join(leg.server_argv)}")
                out.append(f"    bench:  {shlex.join(_short(leg.bench_argv))}")
    return "\n".join(out)
