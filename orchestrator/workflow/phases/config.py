"""Config tuning: the strategist's plan, successive-halving screening, then one gate per promoted
candidate (measure -> submit -> audit -> bank | next), each changing one knob of the incumbent."""

from __future__ import annotations

from typing import Any

import math

from geak.auditor import stats

from geak.agents.engines.base import LaunchConfig

from geak.agents.roles import policies
from ...events import GateOutcome
from geak.agents.roles.answers import ConfigProposal, StrategyPlan, knob
from .. import ids
from ..context import RunContext
from geak.agents.runners.legs import NOT_RECORDED
from geak.agents.runners.paired import run_design
from geak.agents.runners.scheduler import LegJob, assign
from ..gate import audit, find_decision, missed_note, patch_decision, record_missed, recorded_verdict, set_gate, submit
from ..prompting import measurements, producer, prompt_state
from ..state import Candidate, RunState
from geak.auditor.evidence.layout import STRATEGY


def strategize(st: RunState, rt: RunContext) -> RunState:
    p = rt.phase("config_tune")
    if p is None:
        return {"candidates": [], "phases_done": st.get("phases_done", []) + ["strategize"]}
    if rt.llm is None:
        plan = policies.strategist(
            device=LaunchConfig(**st["base_config"]).devices,
            current_config=st["incumbent"],
            max_candidates=p.max_candidates or 4,
            concurrency=rt.workload.max_concurrency,
        )
    else:
        plan = producer(rt, "strategize", "strategist", StrategyPlan, prompt_state(rt, st)) or StrategyPlan(
            notes="the strategist's answer was rejected: no plan, no config candidates"
        )
    cands: list[Candidate] = []
    for it in plan.plan:
        if it.track != "config" or not it.knob:
            continue
        try:
            knob(it.knob)
        except ValueError as e:
            rt.emit("error", "strategize", f"plan item {it.id} dropped: {e}")
            continue
        for v in it.values:
            cands.append({"cid": ids.candidate_id(it.knob, v), "knob": it.knob, "value": v})
    cands = cands[: p.max_candidates or len(cands)]
    rt.store.write_json(STRATEGY, plan.model_dump(mode="json"))
    rt.emit(
        "phase", "strategize", f"plan: {len(cands)} config candidate(s): {', '.join(c['cid'] for c in cands) or 'none'}"
    )
    return {
        "strategy": plan.model_dump(mode="json"),
        "candidates": cands,
        "screened": {},
        "promoted": [],
        "phases_done": st.get("phases_done", []) + ["strategize"],
    }


def screen(st: RunState, rt: RunContext) -> RunState:
    """Successive halving, rung 0: every candidate one short leg; the better half goes to the gate."""
    p = rt.phase("config_tune")
    if p is None:  # a workflow without config tuning (the kernel track alone)
        return {"promoted": [], "screened": {}}
    done = dict(st.get("screened", {}))
    todo = [c for c in st.get("candidates", []) if c["cid"] not in done]
    if p.screen_reps is None:
        return {"promoted": [c["cid"] for c in st.get("candidates", [])], "screened": done}
    if todo:
        base = LaunchConfig(**st["base_config"]).devices
        sets = rt.sets(base)
        batch = todo[: len(sets)]  # one rung's legs are independent: as many at once as there are sets
        if rt.over_budget(st):
            for c in batch:
                done[c["cid"]] = {"leg_id": None, "median": None, "skipped": "wall-clock budget spent"}
        else:
            first = [c["cid"] for c in st.get("candidates", [])].index(batch[0]["cid"])
            jobs = [
                LegJob(
                    ids.screen_leg(c["cid"]),
                    "candidate",
                    LaunchConfig(**{**st["incumbent"], c["knob"]: c["value"], "devices": dev}),
                    {"workload": rt.workload, "reps": p.screen_reps},
                )
                for c, dev in zip(batch, assign(len(batch), sets, first))
            ]
            if len(batch) > 1:
                rt.emit(
                    "schedule",
                    "screen",
                    f"screening {len(batch)} candidates at once: "
                    + ", ".join(f"{c['cid']} on {j.cfg.devices}" for c, j in zip(batch, jobs)),
                )
            for c, job, res in zip(batch, jobs, rt.legs.batch(rt.store, jobs, node="screen")):
                med = stats.median(rt.values([job.leg_id])) if res.status == "ok" else None
                done[c["cid"]] = {"leg_id": job.leg_id, "median": med, "status": res.status, "reason": res.reason}
                rt.emit(
                    "screen",
                    "screen",
                    f"screen {c['cid']}: {res.status}"
                    + (f", median {med:.1f} tok/s" if med else "")
                    + (f" ({res.reason})" if res.reason else ""),
                    leg_id=job.leg_id,
                )
        if len(todo) > len(batch):
            return {"screened": done}
    # every candidate screened: this same step promotes (the router reads `promoted` next)
    ok = sorted(
        [cid for cid, s in done.items() if s.get("median") is not None], key=lambda cid: -(done[cid]["median"] or 0.0)
    )
    keep = ok[: math.ceil(len(ok) / 2)] if ok else []
    base_med = stats.median(rt.values(st.get("incumbent_legs", [])))
    rt.emit(
        "screen",
        "screen",
        f"rung 0 done: promoted {keep or 'nothing'} of {len(done)} (incumbent median {base_med:.1f} tok/s)"
        if base_med
        else f"rung 0 done: promoted {keep or 'nothing'}",
    )
    return {"promoted": keep, "screened": done}


def _candidate(st: RunState, cid: str | None) -> Candidate:
    return next(c for c in st["candidates"] if c["cid"] == cid)


def config_measure(st: RunState, rt: RunContext) -> RunState:
    promoted = list(st.get("promoted", []))
    cur = st.get("current")
    upd: RunState = {}
    if cur is None:
        cur = promoted.pop(0)
        upd = {"current": cur, "promoted": promoted, "feedback": None, "proposal": None}
    c = _candidate(st, cur)
    gate = ids.config_gate(cur)
    k = st.get("measure_rounds", {}).get(gate, 0)
    reps = rt.wf.engine_defaults.reps + 2 * k
    cand_cfg = LaunchConfig(**{**st["incumbent"], c["knob"]: c["value"]})
    missed: list[str] = []
    ed = rt.wf.engine_defaults
    if ed.ab_design != "blocks":
        missed = _measure_paired(st, rt, cur, k, cand_cfg, reps)
    elif k > 0:  # a re-measure: a fresh reference leg right before the fresh candidate leg
        ref_id = ids.config_ref_leg(cur, k)
        r = rt.legs(
            rt.store,
            leg_id=ref_id,
            role="reference",
            cfg=LaunchConfig(**st["incumbent"]),
            workload=rt.workload,
            reps=reps,
            parity=rt.parity,
            accuracy=rt.accuracy,
        )
        rt.emit("leg", "config_measure", f"reference leg {ref_id}: {r.status}", leg_id=ref_id, gate_id=gate)
        missed += [ref_id] if r.status == NOT_RECORDED else []
    if ed.ab_design == "blocks":
        leg_id = ids.config_leg(cur, k)
        r = rt.legs(
            rt.store,
            leg_id=leg_id,
            role="candidate",
            cfg=cand_cfg,
            workload=rt.workload,
            reps=reps,
            parity=rt.parity,
            accuracy=rt.accuracy,
        )
        rt.emit(
            "leg",
            "config_measure",
            f"candidate leg {leg_id} ({c['knob']}={c['value']!r}): {r.status}" + (f" ({r.reason})" if r.reason else ""),
            leg_id=leg_id,
            gate_id=gate,
        )
        missed += [leg_id] if r.status == NOT_RECORDED else []
    # the findings that asked for this measurement are answered by it
    return {
        **upd,
        "feedback": None,
        "measure_rounds": {**st.get("measure_rounds", {}), gate: k + 1},
        **record_missed(st, gate, missed),
    }


def _measure_paired(st: RunState, rt: RunContext, cur: str, k: int, cand_cfg: LaunchConfig, reps: int) -> list[str]:
    """A paired gate round: a fresh reference beside the candidate (a crossover on the first two
    sets, or A B B A short legs on the first), every leg its own server. Returns the legs a
    what-if replay could not serve."""
    ed = rt.wf.engine_defaults
    gate = ids.config_gate(cur)
    legs = ids.config_paired_legs(cur, k, ed.ab_design, ed.abba_pairs)
    ref_cfg = LaunchConfig(**st["incumbent"])
    kw: dict[str, Any] = {"workload": rt.workload, "reps": reps, "parity": rt.parity, "accuracy": rt.accuracy}
    got = run_design(
        ed.ab_design, rt.store, rt.legs.batch, legs=legs, a=ref_cfg, b=cand_cfg, sets=rt.sets(ref_cfg.devices), **kw
    )
    for leg_id, r in got.results.items():
        rt.emit(
            "leg",
            "config_measure",
            f"{ed.ab_design} {'reference' if leg_id in got.a_legs else 'candidate'} leg {leg_id}: "
            f"{r.status}" + (f" ({r.reason})" if r.reason else ""),
            leg_id=leg_id,
            gate_id=gate,
        )
    return [i for i, r in got.results.items() if r.status == NOT_RECORDED]


def config_submit(st: RunState, rt: RunContext) -> RunState:
    cur = st["current"]
    assert cur is not None
    c = _candidate(st, cur)
    gate = ids.config_gate(cur)
    if (why := missed_note(st, gate)) is not None:
        rt.emit("withdraw", "config_submit", f"{gate}: {why}", gate_id=gate)
        return {"proposal": {"withdraw": True, "not_recorded": why}}
    ed = rt.wf.engine_defaults
    ref_legs, cand_legs = ids.config_legs_of(
        cur, st.get("measure_rounds", {}).get(gate, 1), st["incumbent_legs"], ed.ab_design, ed.abba_pairs
    )
    fb = st.get("feedback")
    if rt.llm is None:
        prop = policies.config_tuner(
            gate_id=gate,
            knob_name=c["knob"],
            candidate_config={c["knob"]: c["value"]},
            reference_legs=ref_legs,
            candidate_legs=cand_legs,
            values=rt.values,
            feedback=fb,
            latencies=rt.latencies,
        )
    else:
        ps = prompt_state(
            rt,
            st,
            gate_id=gate,
            audit_feedback=fb,
            current_config=st["incumbent"],
            measurements=measurements(rt, ref_legs, cand_legs),
            candidate={"knob": c["knob"], "value": c["value"]},
        )
        prop = producer(rt, "config_submit", "config_tuner", ConfigProposal, ps) or ConfigProposal(
            gate_id=gate, knob=c["knob"], candidate_config={c["knob"]: c["value"]}, withdraw=True
        )
    n = st.get("attempts", {}).get(gate, 0)
    upd: RunState = {"proposal": prop.model_dump(mode="json")}
    if prop.withdraw:
        rt.emit(
            "withdraw",
            "config_submit",
            f"{gate}: withdrawn by the config tuner (claim {prop.claim.delta_pct}%)",
            gate_id=gate,
        )
        return upd
    if prop.remeasure:
        rt.emit("submit", "config_submit", f"{gate}: the config tuner asks for a re-measure", gate_id=gate)
        return upd
    did = ids.decision_id(gate, n)
    submit(rt.store, patch_decision(did, gate, "config_tuner", prop, ref_legs, cand_legs, design=ed.ab_design))
    rt.emit(
        "submit",
        "config_submit",
        f"{gate}: claims {prop.claim.delta_pct:+.2f}% ({c['knob']}={c['value']!r})"
        if prop.claim.delta_pct is not None
        else f"{gate}: submitted",
        gate_id=gate,
        decision_id=did,
    )
    return {**upd, "decision_id": did, "attempts": {**st.get("attempts", {}), gate: n + 1}}


def audit_config(st: RunState, rt: RunContext) -> RunState:
    return audit(rt, st, ids.config_gate(str(st["current"])), "patch")


def _budget(st: RunState, rt: RunContext, promoted: list[str]) -> RunState:
    """Whether the wall-clock budget is spent before the next candidate (said once, here)."""
    spent = bool(promoted) and rt.over_budget(st)
    if spent:
        rt.emit(
            "budget",
            "config",
            f"wall-clock budget of {rt.wf.budgets.wall_clock_s:.0f} s spent: "
            f"{len(promoted)} candidate(s) not taken to the gate",
        )
    return {"budget_spent": spent}


def config_bank(st: RunState, rt: RunContext) -> RunState:
    cur = st["current"]
    gate = ids.config_gate(str(cur))
    c = _candidate(st, cur)
    d = find_decision(rt.store, st["decision_id"])
    assert d is not None
    fb = st.get("feedback") or {}
    rt.emit(
        "bank",
        "config_bank",
        f"{gate} banked ({c['knob']}={c['value']!r})"
        + ("" if not rt.use_auditor else f", verdict {fb.get('verdict') or 'UNAUDITED'}"),
        gate_id=gate,
        decision_id=d.decision_id,
        verdict=fb.get("verdict"),
    )
    gates = set_gate(
        st,
        GateOutcome(
            gate_id=gate,
            scope="patch",
            decision_id=d.decision_id,
            attempts=st.get("attempts", {}).get(gate, 0),
            verdict=fb.get("verdict") if rt.use_auditor else None,
            banked=True,
            unaudited_reason=fb.get("unaudited_reason"),
        ),
    )
    return {
        "incumbent": {**st["incumbent"], c["knob"]: c["value"]},
        "incumbent_legs": d.candidate_legs,
        "banked": st.get("banked", []) + [d.decision_id],
        "gates": gates,
        "current": None,
        "feedback": None,
        "proposal": None,
        **_budget(st, rt, st.get("promoted", [])),
    }


def config_next(st: RunState, rt: RunContext) -> RunState:
    """The current candidate ends without a bank: withdrawn, or withheld at the gate's bound."""
    gate = ids.config_gate(str(st["current"]))
    fb = st.get("feedback") or {}
    prop = st.get("proposal") or {}
    note = (
        prop["not_recorded"]
        if prop.get("not_recorded")
        else "withdrawn by the producer"
        if prop.get("withdraw")
        else "re-measure bound reached"
        if prop.get("remeasure")
        else f"withheld: {fb.get('verdict')} at the bound of {rt.bounds.get('config_tune')} attempt(s)"
    )
    did = st.get("decision_id") if st.get("attempts", {}).get(gate) else None
    # a branch ended after its last audit (a re-measure never recorded): that audit's verdict stands
    verdict = fb.get("verdict") or (recorded_verdict(rt, gate, did) if rt.use_auditor and did else None)
    if not prop.get("withdraw") and fb.get("verdict"):
        rt.emit(
            "withhold",
            "config_next",
            f"{gate}: {note}",
            gate_id=gate,
            decision_id=st.get("decision_id"),
            verdict=fb.get("verdict"),
        )
    gates = set_gate(
        st,
        GateOutcome(
            gate_id=gate,
            scope="patch",
            decision_id=did,
            attempts=st.get("attempts", {}).get(gate, 0),
            verdict=verdict,
            banked=False,
            note=note,
        ),
    )
    return {
        "gates": gates,
        "current": None,
        "feedback": None,
        "proposal": None,
        **_budget(st, rt, st.get("promoted", [])),
    }
