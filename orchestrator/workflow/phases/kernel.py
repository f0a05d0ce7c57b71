"""The kernel track: a candidate for the routed op through the op harness (the harness gate,
never banked), then packaged as a plugin and measured e2e against a reference leg (the kernel
gate: measure -> submit -> audit -> bank | next). This module holds the harness gate; the e2e
gate's nodes live in phases/kernel_e2e.py and are re-exported here, where the graph finds them."""

from __future__ import annotations

from typing import Any

from geak.agents.engines.base import LaunchConfig
from geak.auditor.evidence.layout import OPBENCH, op_file
from geak.auditor.evidence.models import Decision, OpBenchRecord

from ...events import GateOutcome
from .. import ids
from ..context import RunContext
from ..gate import audit, bankable, set_gate, submit
from ..state import RunState
from .kernel_e2e import audit_kernel as audit_kernel
from .kernel_e2e import kernel_bank as kernel_bank
from .kernel_e2e import kernel_measure as kernel_measure
from .kernel_e2e import kernel_next as kernel_next
from .kernel_e2e import kernel_submit as kernel_submit
from .kernel_support import archive_op, author, harness_profile, in_run, losing_shapes


def integrable_ops() -> frozenset[str]:
    """Ops the engine integration can plug into a server (agents/kernels/integrate.LAYERS)."""
    from geak.agents.kernels.integrate import LAYERS

    return frozenset(LAYERS)


# a routed family -> the ops that can replace it, the one that fuses across a boundary first. On a
# GPU, rotary is taken with the KV-cache write that follows it (rope_kvcache: one kernel where the
# compiled server runs two, across a split point); on a CPU the fused op's plugin cannot write
# the CPU backend's cache layout, so rotary stays alone there.
FUSED_FIRST: dict[tuple[str, str], tuple[str, ...]] = {("rotary", "cuda"): ("rope_kvcache", "rotary")}


def ops_serving(family: str, device: str) -> tuple[str, ...]:
    return FUSED_FIRST.get((family, device), (family,))


def kernel(st: RunState, rt: RunContext) -> RunState:
    """A candidate for the routed op (the template library, or the kernel author with the
    harness gate's findings on a retry), run through the op harness in a subprocess. The
    isolated result is audited by the harness gate and never banked."""
    from geak.agents.kernels.specs import FAMILIES, OPS
    from geak.agents.kernels.templates import TEMPLATES

    pt = dict(st.get("passthrough", {}))
    p = rt.phase("kernel")
    done: RunState = {"phases_done": list(dict.fromkeys(st.get("phases_done", []) + ["config_tune", "kernel"]))}
    dev = "cpu" if LaunchConfig(**st["base_config"]).device_set().kind == "cpu" else "cuda"
    routed = [op for fam in (st.get("routing") or {}).get("routed") or [] for op in ops_serving(fam, dev)]
    ops = [op for op in routed if (op, dev) in TEMPLATES] if rt.llm is None else [op for op in routed if op in OPS]
    if p is None:
        return {"passthrough": pt, **done}
    if p.passthrough or rt.harness is None or not ops:
        why = _idle_reason(p.passthrough, rt) + (
            f" ({p.passthrough_why})" if p.passthrough and p.passthrough_why else ""
        )
        pt["kernel"] = (
            f"kernel phase did nothing ({why}): no kernel decision made; the bundle holds config changes only"
        )
        rt.emit("passthrough", "kernel", pt["kernel"])
        return {"passthrough": pt, **done}
    op = ops[0]
    gate = ids.harness_gate(op)
    n = st.get("attempts", {}).get(gate, 0)
    tokens = ((st.get("routing") or {}).get("served_tokens") or {}).get(FAMILIES.get(op, op)) or None
    kn: dict[str, Any] = dict(st.get("kernel") or {})
    if rt.llm is None:
        cand, name = TEMPLATES[(op, dev)], "template"
    else:
        got = author(rt, st, op, dev, tokens, kn.get("tried", []))
        if got is None:
            pt["kernel"] = "kernel author's answer rejected: no candidate to measure; nothing kernel-side is banked"
            return {"passthrough": pt, **done, "kernel": {**kn, "op": op, "harness_ok": False}}  # type: ignore[typeddict-item]
        cand, name = got
    archive_op(rt.store, op, in_run(rt, cand))
    mode = _serving_mode(st)
    status = rt.harness(
        rt.store,
        op=op,
        candidate=in_run(rt, cand),
        device=dev,
        profile=harness_profile(rt, st),
        tokens=tokens,
        serving_mode=mode,
    )
    rt.emit(
        "leg",
        "kernel",
        f"op harness {op} ({cand}): {status}, timed against what a {mode} server runs, served tokens "
        f"{tokens if tokens else 'from the model profile (the trace recorded none)'}",
    )
    did = ids.decision_id(gate, n)
    _submit_harness(rt, gate, did, op, cand)
    upd: RunState = {
        "passthrough": pt,
        "decision_id": did,
        "attempts": {**st.get("attempts", {}), gate: n + 1},
        "kernel": {**kn, "op": op, "candidate": cand, "name": name, "device": dev, "harness_status": status},  # type: ignore[typeddict-item]
        **done,
    }
    if not rt.use_auditor:
        upd["gates"] = set_gate(
            st,
            GateOutcome(
                gate_id=gate,
                scope="harness",
                decision_id=did,
                attempts=n + 1,
                banked=False,
                note="isolated result: never banked without e2e legs",
            ),
        )
    return upd


def _idle_reason(passthrough: bool, rt: RunContext) -> str:
    """Why the kernel phase takes no op: the workflow says passthrough, there is no harness, or
    no routed op has a template (no LLM) or an op spec (the kernel author's)."""
    if passthrough:
        return "set to passthrough in the workflow"
    if not rt.harness:
        return "no harness"
    return "no routed op" + (" has a template" if rt.llm is None else " has an op spec")


def _serving_mode(st: RunState) -> str:
    """What the served path the candidate is timed against runs: eager when the incumbent (else
    the base config) enforces it, else compiled."""
    eager = st.get("incumbent", {}).get("enforce_eager", st["base_config"].get("enforce_eager"))
    return "eager" if eager else "compiled"


def _submit_harness(rt: RunContext, gate: str, did: str, op: str, cand: str) -> None:
    """The harness gate's decision on record: the isolated candidate, for the audit to read (H12
    finds the engine's own kernel times in the run's profile rounds itself)."""
    submit(
        rt.store,
        Decision(
            decision_id=did,
            gate_id=gate,
            scope="harness",
            producer="kernel_author" if rt.llm is not None else "op_benchmarker",
            op=op,
        ),
    )
    rt.emit(
        "submit",
        "kernel",
        f"{gate}: {'template' if rt.llm is None else 'candidate'} {cand}",
        gate_id=gate,
        decision_id=did,
    )


def audit_harness(st: RunState, rt: RunContext) -> RunState:
    kn: dict[str, Any] = dict(st.get("kernel") or {})
    gate = ids.harness_gate(kn["op"])
    fb = audit(rt, st, gate, "harness")["feedback"] or {}
    ok = bankable(fb, rt.fail_open)
    gates = set_gate(
        st,
        GateOutcome(
            gate_id=gate,
            scope="harness",
            decision_id=st.get("decision_id"),
            attempts=st.get("attempts", {}).get(gate, 0),
            verdict=fb.get("verdict"),
            banked=False,
            unaudited_reason=fb.get("unaudited_reason"),
            note="isolated result: never banked; integration follows only a PASS (or a label-only FLAG)",
        ),
    )
    ob, _ = rt.store.read_json(op_file(kn["op"], OPBENCH), OpBenchRecord)
    if ob is not None and (lost := losing_shapes(ob)):
        rt.emit(
            "withdraw",
            "audit_harness",
            f"{gate}: slower than the served baseline {ob.baseline_backend} at "
            + ", ".join(f"{sh} ({x:.2f}x)" for sh, x in lost)
            + ": no isolated win is claimed for it",
            gate_id=gate,
        )
    if not ok:
        rt.emit(
            "withhold",
            "audit_harness",
            f"{gate}: {fb.get('verdict')}: {kn.get('candidate')} is not integrated",
            gate_id=gate,
            verdict=fb.get("verdict"),
        )
    elif kn["op"] not in integrable_ops():
        rt.emit(
            "passthrough",
            "audit_harness",
            f"{kn['op']}: harness PASS but no engine integration for it "
            "(agents/kernels/integrate.LAYERS): measured in isolation only, nothing banked",
            gate_id=gate,
        )
    tried = kn.get("tried", []) + [
        {
            "name": kn.get("name"),
            "candidate": kn.get("candidate"),
            "status": fb.get("verdict") or "UNAUDITED",
            "note": "; ".join(f"{f['rule_id']} {f['outcome']}: {f['message']}" for f in fb.get("findings", []))[:600],
        }
    ]
    return {
        "gates": gates,
        "feedback": None if ok else fb,
        "kernel": {**kn, "harness_verdict": fb.get("verdict"), "harness_ok": ok, "tried": tried},  # type: ignore[typeddict-item]
    }
