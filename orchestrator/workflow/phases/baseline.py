"""Setup (the A/A legs) and the baseline gate: measure, audit, re-measure with more reps until
PASS or the bound; a baseline that FAILs at its bound halts the run (no trusted reference)."""

from __future__ import annotations

from typing import Any

from geak.auditor.evidence.models import Decision

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult

from ...manifest import pin_invariants
from ...events import GateOutcome
from geak.agents.runners.legs import NOT_RECORDED, LegReplayMiss
from geak.agents.runners.paired import run_design
from geak.agents.runners.scheduler import LegJob, assign
from .. import ids
from ..context import RunContext
from ..gate import audit, set_gate, submit
from ..state import RunState


def _needed(res: LegResult) -> None:
    """The A/A and baseline legs are what every later gate is judged against: a what-if replay
    whose recording lacks them has nothing to replay (a miss, not a branch outcome)."""
    if res.status == NOT_RECORDED:
        raise LegReplayMiss(res.reason or f"leg {res.leg_id} not recorded")


def setup(st: RunState, rt: RunContext) -> RunState:
    rt.emit(
        "phase",
        "setup",
        f"run {st['run_id']}: {rt.engine}, {len(rt.wf.phases)} phases, auditor {'on' if rt.use_auditor else 'off'}",
    )
    cfg = LaunchConfig(**st["base_config"])
    ed = rt.wf.engine_defaults
    n = ed.aa_legs
    kw = {"workload": rt.workload, "reps": ed.reps}
    if ed.ab_design != "blocks" and n > 0:
        _paired_aa(rt, cfg, kw)
        return {"phases_done": st.get("phases_done", []) + ["setup"]}
    # A/A legs are independent: on several device sets they run at once (separate server lifetimes
    # either way, so the band keeps launch-to-launch variance, and gains set-to-set variance)
    sets = assign(n, rt.sets(cfg.devices))
    jobs = [
        LegJob(ids.aa_leg(i), "aa", cfg.model_copy(update={"devices": dev}), dict(kw))
        for i, dev in zip(range(1, n + 1), sets)
    ]
    if len(set(sets)) > 1:
        rt.emit(
            "schedule",
            "setup",
            f"{n} A/A legs at once on {len(set(sets))} device sets ({', '.join(sorted(set(sets)))})",
        )
    for job, res in zip(jobs, rt.legs.batch(rt.store, jobs, node="setup")):
        _needed(res)
        rt.emit(
            "leg",
            "setup",
            f"A/A leg {job.leg_id}: {res.status}" + (f" ({res.reason})" if res.reason else ""),
            leg_id=job.leg_id,
        )
    return {"phases_done": st.get("phases_done", []) + ["setup"]}


def _paired_aa(rt: RunContext, cfg: LaunchConfig, kw: dict[str, Any]) -> None:
    """The A/A legs in the gates' paired design: the paired band is measured the way the gates measure."""
    ed = rt.wf.engine_defaults
    groups = ids.aa_designs(ed.aa_legs, ed.ab_design, ed.abba_pairs)
    sets = rt.sets(cfg.devices)
    how = (
        f"{len(groups)} crossover(s) of 4 legs on {sets[0]} | {sets[1]}, sets swapped between periods"
        if ed.ab_design == "crossover"
        else f"{ed.abba_pairs} A B B A pairs of short legs on {cfg.devices}"
    )
    rt.emit(
        "schedule",
        "setup",
        f"A/A legs in the {ed.ab_design} design (the gates' design, so the paired band is measured as they are): {how}",
    )
    for legs in groups:
        got = run_design(
            ed.ab_design, rt.store, rt.legs.batch, legs=legs, a=cfg, b=cfg, sets=sets, roles=("aa", "aa"), **kw
        )
        for leg_id, res in got.results.items():
            _needed(res)
            rt.emit(
                "leg",
                "setup",
                f"A/A leg {leg_id}: {res.status}" + (f" ({res.reason})" if res.reason else ""),
                leg_id=leg_id,
            )


def baseline(st: RunState, rt: RunContext) -> RunState:
    n = st.get("attempts", {}).get(ids.BASELINE_GATE, 0)
    leg_id = ids.baseline_leg(n)
    reps = rt.wf.engine_defaults.reps + 2 * n  # a re-measure adds reps: B1-B3 FLAG too few / too noisy reps
    cfg = LaunchConfig(**st["base_config"])
    res = rt.legs(
        rt.store,
        leg_id=leg_id,
        role="baseline",
        cfg=cfg,
        workload=rt.workload,
        reps=reps,
        parity=rt.parity,
        accuracy=rt.accuracy,
    )
    _needed(res)
    rt.emit(
        "leg",
        "baseline",
        f"baseline leg {leg_id}: {res.status}, {res.counted_reps} counted reps"
        + (f" ({res.reason})" if res.reason else ""),
        leg_id=leg_id,
    )
    if res.status == "ok":
        pin_invariants(rt.store, leg_id)
    did = ids.baseline_decision(n)
    submit(
        rt.store,
        Decision(
            decision_id=did, gate_id=ids.BASELINE_GATE, scope="baseline", producer="setup", reference_legs=[leg_id]
        ),
    )
    rt.emit("submit", "baseline", f"baseline submitted ({leg_id})", gate_id=ids.BASELINE_GATE, decision_id=did)
    return {
        "attempts": {**st.get("attempts", {}), ids.BASELINE_GATE: n + 1},
        "decision_id": did,
        "baseline_legs": [leg_id],
        "incumbent_legs": [leg_id],
    }


def audit_baseline(st: RunState, rt: RunContext) -> RunState:
    return audit(rt, st, ids.BASELINE_GATE, "baseline")


def baseline_done(st: RunState, rt: RunContext) -> RunState:
    """The baseline gate's outcome; at the bound a FAIL halts the run."""
    fb = st.get("feedback") or {}
    v = fb.get("verdict") if rt.use_auditor else None
    unaudited = v is None and bool(fb.get("unaudited_reason")) and rt.fail_open
    gates = set_gate(
        st,
        GateOutcome(
            gate_id=ids.BASELINE_GATE,
            scope="baseline",
            decision_id=st.get("decision_id"),
            attempts=st.get("attempts", {}).get(ids.BASELINE_GATE, 0),
            verdict=v,
            banked=(not rt.use_auditor) or v in ("PASS", "FLAG") or unaudited,
            unaudited_reason=fb.get("unaudited_reason"),
        ),
    )
    if rt.use_auditor and v == "FAIL":
        why = "the baseline gate FAILed at its bound: no trusted reference to gate wins on"
        rt.emit("withhold", "baseline_done", why, gate_id=ids.BASELINE_GATE, verdict="FAIL")
        return {"gates": gates, "halt": why}
    return {"gates": gates, "feedback": None, "phases_done": st.get("phases_done", []) + ["baseline"]}
