"""The kernel track: a candidate for the routed op through the op harness (the harness gate,
never banked), then packaged as a plugin and measured e2e against a reference leg (the kernel
gate: measure -> submit -> audit -> bank | next)."""

from __future__ import annotations

import time
from typing import Any

from geak.auditor.evidence.models import Decision, OpBenchRecord
from geak.auditor.evidence.store import RunStore

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.questions import Prompt

from geak.agents.roles import policies
from ...events import GateOutcome
from geak.agents.runners.legs import NOT_RECORDED
from geak.agents.roles.answers import IntegrationClaim, KernelCandidate
from .. import ids
from ..context import RunContext
from ..gate import audit, bankable, find_decision, missed_note, patch_decision, record_missed, recorded_verdict, set_gate, submit
from ..prompting import measurements, producer, prompt_state
from ..state import RunState
from geak.auditor.evidence.layout import LAUNCH, OPBENCH, OP_ATTEMPTS, TOPK, leg_file, op_dir, op_file


def integrable_ops() -> frozenset[str]:
    """Ops the engine integration can plug into a server (agents/kernels/integrate.LAYERS)."""
    from geak.agents.kernels.integrate import LAYERS

    return frozenset(LAYERS)


def kernel(st: RunState, rt: RunContext) -> RunState:
    """A candidate for the routed op (the template library, or the kernel author with the
    harness gate's findings on a retry), run through the op harness in a subprocess. The
    isolated result is audited by the harness gate and never banked."""
    from geak.agents.kernels.specs import OPS
    from geak.agents.kernels.templates import TEMPLATES

    pt = dict(st.get("passthrough", {}))
    p = rt.phase("kernel")
    done: RunState = {"phases_done": list(dict.fromkeys(st.get("phases_done", []) + ["config_tune", "kernel"]))}
    dev = "cpu" if LaunchConfig(**st["base_config"]).device_set().kind == "cpu" else "cuda"
    routed = (st.get("routing") or {}).get("routed") or []
    ops = [op for op in routed if (op, dev) in TEMPLATES] if rt.llm is None else [op for op in routed if op in OPS]
    if p is None:
        return {"passthrough": pt, **done}
    if p.passthrough or rt.harness is None or not ops:
        why = "set to passthrough in the workflow" if p.passthrough else "no routed op" + (
            " has a template" if rt.llm is None else " has an op spec") if rt.harness else "no harness"
        pt["kernel"] = (f"kernel phase did nothing ({why}): no kernel decision made; the bundle holds config changes only")
        rt.emit("passthrough", "kernel", pt["kernel"])
        return {"passthrough": pt, **done}
    op = ops[0]
    gate = ids.harness_gate(op)
    n = st.get("attempts", {}).get(gate, 0)
    tokens = ((st.get("routing") or {}).get("served_tokens") or {}).get(op) or None
    kn: dict[str, Any] = dict(st.get("kernel") or {})
    if rt.llm is None:
        cand, name = TEMPLATES[(op, dev)], "template"
    else:
        got = _author(rt, st, op, dev, tokens, kn.get("tried", []))
        if got is None:
            pt["kernel"] = "kernel author's answer rejected: no candidate to measure; nothing kernel-side is banked"
            return {"passthrough": pt, **done, "kernel": {**kn, "op": op, "harness_ok": False}}  # type: ignore[typeddict-item]
        cand, name = got
    _archive_op(rt.store, op, in_run(rt, cand))
    mode = "eager" if st.get("incumbent", {}).get("enforce_eager", st["base_config"].get("enforce_eager")) else "compiled"
    status = rt.harness(rt.store, op=op, candidate=in_run(rt, cand), device=dev, profile=harness_profile(st), tokens=tokens,
                        serving_mode=mode)
    rt.emit("leg", "kernel", f"op harness {op} ({cand}): {status}, timed against what a {mode} server runs, served tokens "
            f"{tokens if tokens else 'from the model profile (the trace recorded none)'}")
    did = ids.decision_id(gate, n)
    submit(rt.store, Decision(decision_id=did, gate_id=gate, scope="harness",
                              producer="kernel_author" if rt.llm is not None else "op_benchmarker", op=op))
    rt.emit("submit", "kernel", f"{gate}: {'template' if rt.llm is None else 'candidate'} {cand}", gate_id=gate, decision_id=did)
    upd: RunState = {"passthrough": pt, "decision_id": did, "attempts": {**st.get("attempts", {}), gate: n + 1},
                     "kernel": {**kn, "op": op, "candidate": cand, "name": name, "device": dev, "harness_status": status},  # type: ignore[typeddict-item]
                     **done}
    if not rt.use_auditor:
        upd["gates"] = set_gate(st, GateOutcome(gate_id=gate, scope="harness", decision_id=did, attempts=n + 1,
                                                banked=False, note="isolated result: never banked without e2e legs"))
    return upd


def audit_harness(st: RunState, rt: RunContext) -> RunState:
    kn: dict[str, Any] = dict(st.get("kernel") or {})
    gate = ids.harness_gate(kn["op"])
    fb = audit(rt, st, gate, "harness")["feedback"] or {}
    ok = bankable(fb, rt.fail_open)
    gates = set_gate(st, GateOutcome(gate_id=gate, scope="harness", decision_id=st.get("decision_id"),
                                     attempts=st.get("attempts", {}).get(gate, 0), verdict=fb.get("verdict"), banked=False,
                                     unaudited_reason=fb.get("unaudited_reason"),
                                     note="isolated result: never banked; integration follows only a PASS (or a label-only FLAG)"))
    ob, _ = rt.store.read_json(op_file(kn['op'], OPBENCH), OpBenchRecord)
    if ob is not None and (lost := losing_shapes(ob)):
        rt.emit("withdraw", "audit_harness", f"{gate}: slower than the served baseline {ob.baseline_backend} at "
                + ", ".join(f"{sh} ({x:.2f}x)" for sh, x in lost) + ": no isolated win is claimed for it", gate_id=gate)
    if not ok:
        rt.emit("withhold", "audit_harness", f"{gate}: {fb.get('verdict')}: {kn.get('candidate')} is not integrated", gate_id=gate,
                verdict=fb.get("verdict"))
    elif kn["op"] not in integrable_ops():
        rt.emit("passthrough", "audit_harness", f"{kn['op']}: harness PASS but no engine integration for it "
                "(agents/kernels/integrate.LAYERS): measured in isolation only, nothing banked", gate_id=gate)
    tried = kn.get("tried", []) + [{"name": kn.get("name"), "candidate": kn.get("candidate"), "status": fb.get("verdict") or "UNAUDITED",
                                    "note": "; ".join(f"{f['rule_id']} {f['outcome']}: {f['message']}" for f in fb.get("findings", []))[:600]}]
    return {"gates": gates, "feedback": None if ok else fb,
            "kernel": {**kn, "harness_verdict": fb.get("verdict"), "harness_ok": ok, "tried": tried}}  # type: ignore[typeddict-item]


def kernel_measure(st: RunState, rt: RunContext) -> RunState:
    """Package the candidate as a plugin, then a reference leg (recording the probe's top-k)
    and a candidate leg (probed against it before benchmarking; ejected = failed leg)."""
    from geak.agents.kernels.integrate import LAYERS, PROBE_PROMPTS, package_plugin, parity_probe_against, record_topk
    from geak.auditor.evidence.models import KernelPlugin, TopKLogprobs

    kn: dict[str, Any] = dict(st.get("kernel") or {})
    op = kn["op"]
    gate = ids.kernel_gate(op)
    k = st.get("measure_rounds", {}).get(gate, 0)
    mod, fn = in_run(rt, kn["candidate"]).rsplit(":", 1)
    inc = LaunchConfig(**st["incumbent"])
    # the first calls are logged: P5's marker is a call, proof the candidate ran in the forward
    b = package_plugin(rt.store.root, op, mod, fn, eager=bool(inc.enforce_eager), call_log=3)
    plugin = KernelPlugin(op=op, layer=LAYERS[op], candidate=b.candidate, candidate_sha256=b.candidate_sha256, mode=b.mode,
                          plugin_dir=str(b.root.relative_to(rt.store.root.resolve())))
    reps = rt.wf.engine_defaults.reps + 2 * k
    ref_id, cand_id = ids.kernel_legs(op, k)
    if rt.wf.engine_defaults.ab_design != "blocks" and k == 0:
        # the candidate's parity probe reads the reference leg's top-k before it benchmarks, so
        # the two cannot start together yet; the sequential band judges this gate, and says so
        rt.emit("phase", "kernel_measure", f"{gate}: measured as blocks (reference leg, then candidate leg), not "
                f"{rt.wf.engine_defaults.ab_design}: the kernel track's e2e gate has no paired design yet", gate_id=gate)
    # the probe needs prompts, any prompts: the run's parity set, else a few generic ones
    prompts = rt.parity or [Prompt(prompt_id=f"probe{i}", prompt=t) for i, t in enumerate(PROBE_PROMPTS)]
    r = rt.legs(rt.store, leg_id=ref_id, role="reference", cfg=inc, workload=rt.workload, reps=reps, parity=rt.parity,
                accuracy=rt.accuracy, topk=lambda url, model: record_topk(url, prompts, model=model))
    rt.emit("leg", "kernel_measure", f"reference leg {ref_id}: {r.status}" + (f" ({r.reason})" if r.reason else ""),
            leg_id=ref_id, gate_id=gate)
    ref_rows, _ = rt.store.read_jsonl(leg_file(ref_id, TOPK), TopKLogprobs) \
        if rt.store.exists(leg_file(ref_id, TOPK)) else ([], [])
    rows = [x for _, x in ref_rows]

    def probe(url: str, model: str) -> Any:
        return parity_probe_against(rows, url, op=op, reference_leg=ref_id, model=model)

    c = rt.legs(rt.store, leg_id=cand_id, role="candidate", cfg=b.apply(inc), workload=rt.workload, reps=reps, parity=rt.parity,
                accuracy=rt.accuracy, probe=probe, plugin=plugin, engagement_markers=[b.marker, b.call_marker])
    rt.emit("leg", "kernel_measure", f"candidate leg {cand_id} ({b.candidate}, {b.mode}): {c.status}" +
            (f" ({c.reason})" if c.reason else ""), leg_id=cand_id, gate_id=gate)
    kn.update({"marker": b.call_marker, "mode": b.mode, "plugin_env": b.env, "sha256": b.candidate_sha256})
    missed = [x.leg_id for x in (r, c) if x.status == NOT_RECORDED]
    return {"kernel": kn, "feedback": None, "measure_rounds": {**st.get("measure_rounds", {}), gate: k + 1},  # type: ignore[typeddict-item]
            **record_missed(st, gate, missed)}


def kernel_submit(st: RunState, rt: RunContext) -> RunState:
    from geak.auditor.evidence.models import LegLaunch

    kn = st["kernel"]
    assert kn is not None
    op = kn["op"]
    gate = ids.kernel_gate(op)
    if (why := missed_note(st, gate)) is not None:
        rt.emit("withdraw", "kernel_submit", f"{gate}: {why}", gate_id=gate)
        return {"proposal": {"withdraw": True, "not_recorded": why}}
    refs, cands = ids.kernel_leg_sets(op, st.get("measure_rounds", {}).get(gate, 1))
    launches = [rt.store.read_json(leg_file(c, LAUNCH), LegLaunch)[0] for c in cands]
    ok = all(x is not None and x.status == "ok" for x in launches)
    ob, _ = rt.store.read_json(op_file(op, OPBENCH), OpBenchRecord)
    iso = isolated_speedup(ob)
    fb = st.get("feedback")
    if rt.llm is None:
        ic = policies.integrator(policies.KernelUnderTest(gate, op, kn["candidate"], kn["marker"]), reference_legs=refs,
                                 candidate_legs=cands, candidate_ok=ok, isolated_speedup=iso, values=rt.values, feedback=fb,
                                 latencies=rt.latencies)
    else:
        ps = prompt_state(rt, st, gate_id=gate, audit_feedback=fb, op=op, measurements=measurements(rt, refs, cands),
                          op_spec={"location": kn.get("layer"), "engagement_marker": kn["marker"], "mode": kn.get("mode")},
                          opbench=_opbench_brief(ob, kn["candidate"]) if ob else None,
                          candidate={"op": op, "candidate": kn["candidate"], "candidate_ok": ok,
                                     "failure": [x.failure_reason for x in launches if x is not None and x.status != "ok"]})
        ic = producer(rt, "kernel_submit", "integrator", IntegrationClaim, ps) or \
            IntegrationClaim(gate_id=gate, op=op, candidate=kn["candidate"], reference_legs=refs, candidate_legs=cands, withdraw=True)
    n = st.get("attempts", {}).get(gate, 0)
    upd: RunState = {"proposal": ic.model_dump(mode="json")}
    if n > 0 and ic.withdraw:
        rt.emit("withdraw", "kernel_submit", f"{gate}: withdrawn by the integrator after the gate's findings", gate_id=gate)
        return upd
    if ic.remeasure:
        rt.emit("submit", "kernel_submit", f"{gate}: the integrator asks for a re-measure", gate_id=gate)
        return upd
    did = ids.decision_id(gate, n)
    # the profile round that routed the op: its share bounds what the kernel can give e2e (P8)
    submit(rt.store, patch_decision(did, gate, "integrator", ic, refs, cands, accepted=not ic.withdraw, op=op,
                                    profile_round=(st.get("routing") or {}).get("round"),
                                    engagement_marker=ic.engagement_marker or kn["marker"]))
    dp = ic.claim.delta_pct
    rt.emit("submit", "kernel_submit", f"{gate}: e2e {dp:+.2f}%" if dp is not None else f"{gate}: no e2e number (candidate leg failed)",
            gate_id=gate, decision_id=did, data={"accepted": not ic.withdraw, "isolated_speedup": iso})
    return {"proposal": {**ic.model_dump(mode="json"), "submitted": True}, "decision_id": did,
            "attempts": {**st.get("attempts", {}), gate: n + 1}}


def audit_kernel(st: RunState, rt: RunContext) -> RunState:
    return audit(rt, st, ids.kernel_gate((st.get("kernel") or {})["op"]), "patch")


def kernel_bank(st: RunState, rt: RunContext) -> RunState:
    kn = st["kernel"]
    assert kn is not None
    gate = ids.kernel_gate(kn["op"])
    fb = st.get("feedback") or {}
    d = find_decision(rt.store, st["decision_id"])
    assert d is not None
    rt.emit("bank", "kernel_bank", f"{gate} banked ({kn['candidate']}, {kn.get('mode')})" +
            ("" if not rt.use_auditor else f", verdict {fb.get('verdict') or 'UNAUDITED'}"), gate_id=gate, decision_id=d.decision_id,
            verdict=fb.get("verdict"))
    gates = set_gate(st, GateOutcome(gate_id=gate, scope="patch", decision_id=d.decision_id, attempts=st.get("attempts", {}).get(gate, 0),
                                     verdict=fb.get("verdict") if rt.use_auditor else None, banked=True,
                                     unaudited_reason=fb.get("unaudited_reason"),
                                     note=f"kernel {kn['candidate']} ({kn.get('mode')}), e2e {d.claim.delta_pct}%"))
    inc = dict(st["incumbent"])
    inc["env"] = {**(inc.get("env") or {}), **kn.get("plugin_env", {})}
    return {"incumbent": inc, "incumbent_legs": d.candidate_legs, "banked": st.get("banked", []) + [d.decision_id], "gates": gates,
            "feedback": None, "proposal": None}


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
        note = f"rejected by the integrator (e2e {dp:+.2f}%)" if dp is not None else "rejected by the integrator: the candidate leg failed"
    elif prop.get("remeasure"):
        note = "re-measure bound reached"
    else:
        note = f"withheld: {fb.get('verdict')} ({', '.join(fb.get('actions') or [])})"
    did = st.get("decision_id") if st.get("attempts", {}).get(gate) else None
    # withdrawn after a re-measure: the feedback is gone, the audit of the decision is not
    verdict = fb.get("verdict") or (recorded_verdict(rt, gate, did) if rt.use_auditor and did else None)
    if rt.use_auditor and verdict:
        note += f"; auditor {verdict}"
    rt.emit("withhold", "kernel_next", f"{gate}: {note}", gate_id=gate, decision_id=st.get("decision_id"), verdict=verdict)
    gates = set_gate(st, GateOutcome(gate_id=gate, scope="patch", decision_id=did,
                                     attempts=st.get("attempts", {}).get(gate, 0), verdict=verdict if rt.use_auditor else None,
                                     banked=False, unaudited_reason=fb.get("unaudited_reason"), note=note))
    return {"gates": gates, "feedback": None, "proposal": None}


# ---------------------------------------------------------------- helpers

def harness_profile(st: RunState) -> str:
    """The served-shape profile of agents/kernels/specs.py for this model (shipped model, else GPU llama)."""
    return "tiny-arith" if "tiny-arith" in str(st["base_config"].get("model", "")) else "llama-gpu"


def losing_shapes(ob: Any) -> list[tuple[list[int], float]]:
    """The timed shapes where the candidate's median is slower than the served baseline's."""
    per = getattr(ob.timing, "per_shape", None) if ob is not None and ob.timing is not None else None
    return [(ps["shape"], ps["speedup"]) for ps in per or [] if isinstance(ps.get("speedup"), (int, float)) and ps["speedup"] < 1.0]


def isolated_speedup(ob: Any) -> float | None:
    """The harness's speedup as the auditor derives it (H9), rounded: context only, never a
    headline. A loss is reported as measured; a pooled "win" over shapes where the candidate
    loses to the served path at some of them is not claimed (None)."""
    from geak.auditor.api import op_speedup

    k = op_speedup(ob) if ob is not None else None
    if k is None or (k >= 1.0 and losing_shapes(ob)):
        return None
    return round(k, 3)


def _author(rt: RunContext, st: RunState, op: str, dev: str, tokens: list[int] | None, tried: list[Any]) -> tuple[str, str] | None:
    """Ask the kernel author for a candidate; write its source into the run directory. None: rejected."""
    from geak.agents.kernels.specs import spec_for

    spec = spec_for(op, harness_profile(st), tokens=tokens)
    ps = prompt_state(rt, st, op=op, op_spec={**spec.model_dump(mode="json"), "device": dev}, candidates=tried)
    kc = producer(rt, "kernel", "kernel_author", KernelCandidate, ps)
    if kc is None:
        return None
    n = len(tried)
    rel = f"kernels/{op}/{kc.name}_a{n}.py"  # one file per attempt: an earlier candidate is never overwritten
    rt.store.write_text(rel, kc.source if kc.source.endswith("\n") else kc.source + "\n")
    rt.emit("submit", "kernel", f"kernel author: {kc.name} ({kc.language}) -> {rel}" +
            (f"; expected {kc.expected_speedup.value}x ({kc.expected_speedup.basis})" if kc.expected_speedup else ""))
    # run-relative in state, prompts and records: a replay elsewhere must render the same prompts
    return f"{rel}:{kc.entry_point}", kc.name


def _opbench_brief(ob: Any, candidate: str) -> dict[str, Any]:
    """What an LLM needs of a harness record: not its thousands of raw times."""
    d = ob.model_dump(mode="json", include={"op", "baseline_backend", "candidate_backend", "served_shapes", "timed_shapes",
                                            "correctness", "oracle", "status"})
    return {**d, "candidate": candidate, "isolated_speedup": isolated_speedup(ob)}


def in_run(rt: RunContext, candidate: str) -> str:
    """A run-relative candidate file (``kernels/<op>/x.py:fn``) as the path a subprocess can load;
    a module name (a template) as it is."""
    path, _, fn = candidate.rpartition(":")
    return f"{rt.store.path(path)}:{fn}" if path.endswith(".py") and not path.startswith("/") else candidate


def _archive_op(store: RunStore, op: str, candidate: str) -> None:
    """Move an earlier candidate's harness record aside (ops/_attempts/) so the next one is measured;
    the record of the same candidate (a resumed node) stays where it is."""
    import shutil

    from geak.agents.runners.op_runners import recorded_candidate

    if not store.path(op_file(op, OPBENCH)).exists():
        return
    if recorded_candidate(store.path(op_dir(op))) != candidate:
        dest = store.path(f"{OP_ATTEMPTS}/{op}-{int(time.time() * 1000)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(store.path(op_dir(op))), str(dest))
