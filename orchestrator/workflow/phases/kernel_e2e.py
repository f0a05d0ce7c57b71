"""The kernel track's e2e gate (split from phases/kernel.py): the candidate packaged as a plugin
and measured against a reference leg, its integration claim submitted, then banked or withheld
(measure -> submit -> audit -> bank | next). phases/kernel.py re-exports these nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult
from geak.agents.engines.questions import Prompt
from geak.agents.roles import policies
from geak.agents.roles.answers import IntegrationClaim
from geak.agents.runners.legs import NOT_RECORDED
from geak.auditor.evidence.layout import LAUNCH, OPBENCH, TOPK, leg_file, op_file
from geak.auditor.evidence.models import KernelPlugin, LegLaunch, OpBenchRecord, TopKLogprobs

from ...events import GateOutcome
from .. import ids
from ..context import RunContext
from ..gate import audit, find_decision, missed_note, patch_decision, record_missed, recorded_verdict, set_gate, submit
from ..prompting import measurements, producer, prompt_state
from ..state import RunState
from .kernel_support import in_run, isolated_speedup, opbench_brief

if TYPE_CHECKING:
    from geak.agents.kernels.integrate import PluginBundle


def kernel_measure(st: RunState, rt: RunContext) -> RunState:
    """Package the candidate as a plugin, then a reference leg (recording the probe's top-k)
    and a candidate leg (probed against it before benchmarking; ejected = failed leg)."""
    from geak.agents.kernels.integrate import PROBE_PROMPTS, parity_probe_against, record_topk

    kn: dict[str, Any] = dict(st.get("kernel") or {})
    op = kn["op"]
    gate = ids.kernel_gate(op)
    k = st.get("measure_rounds", {}).get(gate, 0)
    inc = LaunchConfig(**st["incumbent"])
    b, plugin = _package(rt, op, kn["candidate"], inc)
    reps = rt.wf.engine_defaults.reps + 2 * k
    ref_id, cand_id = ids.kernel_legs(op, k)
    if rt.wf.engine_defaults.ab_design != "blocks" and k == 0:
        # the candidate's parity probe reads the reference leg's top-k before it benchmarks, so
        # the two cannot start together yet; the sequential band judges this gate, and says so
        rt.emit(
            "phase",
            "kernel_measure",
            f"{gate}: measured as blocks (reference leg, then candidate leg), not "
            f"{rt.wf.engine_defaults.ab_design}: the kernel track's e2e gate has no paired design yet",
            gate_id=gate,
        )
    # the probe needs prompts, any prompts: the run's parity set, else a few generic ones
    prompts = rt.parity or [Prompt(prompt_id=f"probe{i}", prompt=t) for i, t in enumerate(PROBE_PROMPTS)]
    r = rt.legs(
        rt.store,
        leg_id=ref_id,
        role="reference",
        cfg=inc,
        workload=rt.workload,
        reps=reps,
        parity=rt.parity,
        accuracy=rt.accuracy,
        topk=lambda url, model: record_topk(url, prompts, model=model),
    )
    _say_leg(rt, gate, ref_id, f"reference leg {ref_id}", r)
    rows = _reference_topk(rt, ref_id)

    def probe(url: str, model: str) -> Any:
        return parity_probe_against(rows, url, op=op, reference_leg=ref_id, model=model)

    c = rt.legs(
        rt.store,
        leg_id=cand_id,
        role="candidate",
        cfg=b.apply(inc),
        workload=rt.workload,
        reps=reps,
        parity=rt.parity,
        accuracy=rt.accuracy,
        probe=probe,
        plugin=plugin,
        engagement_markers=[b.marker, b.call_marker],
    )
    _say_leg(rt, gate, cand_id, f"candidate leg {cand_id} ({b.candidate}, {b.mode})", c)
    kn.update({"marker": b.call_marker, "mode": b.mode, "plugin_env": b.env, "sha256": b.candidate_sha256})
    missed = [x.leg_id for x in (r, c) if x.status == NOT_RECORDED]
    return {
        "kernel": kn,  # type: ignore[typeddict-item]
        "feedback": None,
        "measure_rounds": {**st.get("measure_rounds", {}), gate: k + 1},
        **record_missed(st, gate, missed),
    }


def _package(rt: RunContext, op: str, candidate: str, inc: LaunchConfig) -> tuple[PluginBundle, KernelPlugin]:
    """The candidate packaged as a plugin in the run directory, and the launch record's account of it."""
    from geak.agents.kernels.integrate import LAYERS, package_plugin

    mod, fn = in_run(rt, candidate).rsplit(":", 1)
    # the first calls are logged: P5's marker is a call, proof the candidate ran in the forward
    b = package_plugin(rt.store.root, op, mod, fn, eager=bool(inc.enforce_eager), call_log=3)
    plugin = KernelPlugin(
        op=op,
        layer=LAYERS[op],
        candidate=b.candidate,
        candidate_sha256=b.candidate_sha256,
        mode=b.mode,
        plugin_dir=str(b.root.relative_to(rt.store.root.resolve())),
    )
    return b, plugin


def _say_leg(rt: RunContext, gate: str, leg_id: str, what: str, res: LegResult) -> None:
    rt.emit(
        "leg",
        "kernel_measure",
        f"{what}: {res.status}" + (f" ({res.reason})" if res.reason else ""),
        leg_id=leg_id,
        gate_id=gate,
    )


def _reference_topk(rt: RunContext, ref_id: str) -> list[TopKLogprobs]:
    """The reference leg's top-k rows, the candidate's parity probe's yardstick (none: no rows)."""
    ref_rows, _ = (
        rt.store.read_jsonl(leg_file(ref_id, TOPK), TopKLogprobs)
        if rt.store.exists(leg_file(ref_id, TOPK))
        else ([], [])
    )
    return [x for _, x in ref_rows]


def kernel_submit(st: RunState, rt: RunContext) -> RunState:
    kn = st["kernel"]
    assert kn is not None
    op = kn["op"]
    gate = ids.kernel_gate(op)
    if (why := missed_note(st, gate)) is not None:
        rt.emit("withdraw", "kernel_submit", f"{gate}: {why}", gate_id=gate)
        return {"proposal": {"withdraw": True, "not_recorded": why}}
    refs, cands = ids.kernel_leg_sets(op, st.get("measure_rounds", {}).get(gate, 1))
    launches = [rt.store.read_json(leg_file(c, LAUNCH), LegLaunch)[0] for c in cands]
    ob, _ = rt.store.read_json(op_file(op, OPBENCH), OpBenchRecord)
    iso = isolated_speedup(ob)
    ic = _integration_claim(st, rt, gate, refs, cands, launches, ob, iso)
    n = st.get("attempts", {}).get(gate, 0)
    upd: RunState = {"proposal": ic.model_dump(mode="json")}
    if n > 0 and ic.withdraw:
        rt.emit(
            "withdraw", "kernel_submit", f"{gate}: withdrawn by the integrator after the gate's findings", gate_id=gate
        )
        return upd
    if ic.remeasure:
        rt.emit("submit", "kernel_submit", f"{gate}: the integrator asks for a re-measure", gate_id=gate)
        return upd
    did = ids.decision_id(gate, n)
    # the profile round that routed the op: its share bounds what the kernel can give e2e (P8)
    submit(
        rt.store,
        patch_decision(
            did,
            gate,
            "integrator",
            ic,
            refs,
            cands,
            accepted=not ic.withdraw,
            op=op,
            profile_round=(st.get("routing") or {}).get("round"),
            engagement_marker=ic.engagement_marker or kn["marker"],
        ),
    )
    dp = ic.claim.delta_pct
    rt.emit(
        "submit",
        "kernel_submit",
        f"{gate}: e2e {dp:+.2f}%" if dp is not None else f"{gate}: no e2e number (candidate leg failed)",
        gate_id=gate,
        decision_id=did,
        data={"accepted": not ic.withdraw, "isolated_speedup": iso},
    )
    return {
        "proposal": {**ic.model_dump(mode="json"), "submitted": True},
        "decision_id": did,
        "attempts": {**st.get("attempts", {}), gate: n + 1},
    }


def _integration_claim(
    st: RunState,
    rt: RunContext,
    gate: str,
    refs: list[str],
    cands: list[str],
    launches: list[LegLaunch | None],
    ob: OpBenchRecord | None,
    iso: float | None,
) -> IntegrationClaim:
    """The integrator's claim on the e2e legs: the built-in policy's, else the LLM's (a rejected
    answer withdraws)."""
    kn = st["kernel"]
    assert kn is not None
    op = kn["op"]
    ok = all(x is not None and x.status == "ok" for x in launches)
    fb = st.get("feedback")
    if rt.llm is None:
        return policies.integrator(
            policies.KernelUnderTest(gate, op, kn["candidate"], kn["marker"]),
            reference_legs=refs,
            candidate_legs=cands,
            candidate_ok=ok,
            isolated_speedup=iso,
            values=rt.values,
            feedback=fb,
            latencies=rt.latencies,
        )
    ps = prompt_state(
        rt,
        st,
        gate_id=gate,
        audit_feedback=fb,
        op=op,
        measurements=measurements(rt, refs, cands),
        op_spec={"location": kn.get("layer"), "engagement_marker": kn["marker"], "mode": kn.get("mode")},
        opbench=opbench_brief(ob, kn["candidate"]) if ob else None,
        candidate={
            "op": op,
            "candidate": kn["candidate"],
            "candidate_ok": ok,
            "failure": [x.failure_reason for x in launches if x is not None and x.status != "ok"],
        },
    )
    return producer(rt, "kernel_submit", "integrator", IntegrationClaim, ps) or IntegrationClaim(
        gate_id=gate, op=op, candidate=kn["candidate"], reference_legs=refs, candidate_legs=cands, withdraw=True
    )


def audit_kernel(st: RunState, rt: RunContext) -> RunState:
    return audit(rt, st, ids.kernel_gate((st.get("kernel") or {})["op"]), "patch")


def kernel_bank(st: RunState, rt: RunContext) -> RunState:
    kn = st["kernel"]
    assert kn is not None
    gate = ids.kernel_gate(kn["op"])
    fb = st.get("feedback") or {}
    d = find_decision(rt.store, st["decision_id"])
    assert d is not None
    rt.emit(
        "bank",
        "kernel_bank",
        f"{gate} banked ({kn['candidate']}, {kn.get('mode')})"
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
            note=f"kernel {kn['candidate']} ({kn.get('mode')}), e2e {d.claim.delta_pct}%",
        ),
    )
    inc = dict(st["incumbent"])
    inc["env"] = {**(inc.get("env") or {}), **kn.get("plugin_env", {})}
    return {
        "incumbent": inc,
        "incumbent_legs": d.candidate_legs,
        "banked": st.get("banked", []) + [d.decision_id],
        "gates": gates,
        "feedback": None,
        "proposal": None,
    }


def kernel_next(st: RunState, rt: RunContext) -> RunState:
    kn = st["kernel"]
    assert kn is not None
    gate = ids.kernel_gate(kn["op"])
    fb = st.get("feedback") or {}
    prop = st.get("proposal") or {}
    d = find_decision(rt.store, st.get("decision_id"))
    dp = d.claim.delta_pct if d is not None and d.gate_id == gate else None
    if prop.get("not_recorded"):
        note = prop["not_recorded"]
    elif prop.get("withdraw"):
        note = (
            f"rejected by the integrator (e2e {dp:+.2f}%)"
            if dp is not None
            else "rejected by the integrator: the candidate leg failed"
        )
    elif prop.get("remeasure"):
        note = "re-measure bound reached"
    else:
        note = f"withheld: {fb.get('verdict')} ({', '.join(fb.get('actions') or [])})"
    did = st.get("decision_id") if st.get("attempts", {}).get(gate) else None
    # withdrawn after a re-measure: the feedback is gone, the audit of the decision is not
    verdict = fb.get("verdict") or (recorded_verdict(rt, gate, did) if rt.use_auditor and did else None)
    if rt.use_auditor and verdict:
        note += f"; auditor {verdict}"
    rt.emit(
        "withhold", "kernel_next", f"{gate}: {note}", gate_id=gate, decision_id=st.get("decision_id"), verdict=verdict
    )
    gates = set_gate(
        st,
        GateOutcome(
            gate_id=gate,
            scope="patch",
            decision_id=did,
            attempts=st.get("attempts", {}).get(gate, 0),
            verdict=verdict if rt.use_auditor else None,
            banked=False,
            unaudited_reason=fb.get("unaudited_reason"),
            note=note,
        ),
    )
    return {"gates": gates, "feedback": None, "proposal": None}
