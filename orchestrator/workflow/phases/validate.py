"""Finalize and validate: the bundle of banked changes measured against the baseline in
interleaved A B A B legs (plus the caching audit leg), submitted to the bundle gate."""

from __future__ import annotations

from typing import Any

from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import Decision

from geak.agents.engines.base import LaunchConfig

from geak.agents.roles import policies
from ...events import GateOutcome
from geak.agents.runners.legs import NOT_RECORDED
from geak.agents.roles.answers import BundleClaim
from .. import ids
from ..context import RunContext
from ..gate import as_claim, audit, bankable, missed_note, record_missed, set_gate, submit
from ..prompting import measurements, producer, prompt_state
from ..state import RunState


def finalize(st: RunState, rt: RunContext) -> RunState:
    p = rt.phase("validate")
    banked = [b for b in st.get("banked", []) if not ids.is_baseline_decision(b)]
    write_bundle(rt, st)
    if not banked or p is None:
        why = (
            "no change was banked: the bundle is the baseline configuration, nothing to validate"
            if not banked
            else "no validate phase"
        )
        rt.emit("phase", "finalize", why)
        return {"val_legs": [], "phases_done": st.get("phases_done", []) + ["finalize"]}
    plan = ids.validation_plan(p.interleaved_pairs or 2, bool(p.caching_audit))
    rt.emit("phase", "finalize", f"bundle of {len(banked)} decision(s); validation plan {' '.join(x[0] for x in plan)}")
    return {"val_legs": plan, "val_done": [], "phases_done": st.get("phases_done", []) + ["finalize"]}


def validate_leg(st: RunState, rt: RunContext) -> RunState:
    done = list(st.get("val_done", []))
    todo = [x for x in st.get("val_legs", []) if x[0] not in done]
    leg_id, role = todo[0]
    base, final = LaunchConfig(**st["base_config"]), LaunchConfig(**st["incumbent"])
    cfg = base if role == "validation_base" else final
    if role == "caching_audit":
        # TEST04 asks whether answers are cached: with prefix caching on, one repeated prompt
        # reuses its KV blocks and runs faster for that reason alone (F2 would be confounded)
        cfg = final.model_copy(update={"prefix_caching": False})
    w = rt.workload.model_copy(update={"repeated_sample": True}) if role == "caching_audit" else rt.workload
    probe = role != "caching_audit"
    res = rt.legs(
        rt.store,
        leg_id=leg_id,
        role=role,
        cfg=cfg,
        workload=w,
        reps=rt.wf.engine_defaults.reps,
        parity=rt.parity if probe else None,
        accuracy=rt.accuracy if probe else None,
    )
    rt.emit(
        "leg",
        "validate",
        f"validation leg {leg_id} ({role}): {res.status}" + (f" ({res.reason})" if res.reason else ""),
        leg_id=leg_id,
    )
    return {
        "val_done": done + [leg_id],
        **record_missed(st, ids.BUNDLE_GATE, [leg_id] if res.status == NOT_RECORDED else []),
    }


def bundle_submit(st: RunState, rt: RunContext) -> RunState:
    gate = ids.BUNDLE_GATE
    if (why := missed_note(st, gate)) is not None:
        rt.emit("withdraw", "bundle_submit", f"bundle: {why}", gate_id=gate)
        return {"proposal": {"rejected": True, "not_recorded": why}, "decision_id": None}
    refs = [x[0] for x in st["val_legs"] if x[1] == "validation_base"]
    cands = [x[0] for x in st["val_legs"] if x[1] == "validation_final"]
    audits = [x[0] for x in st["val_legs"] if x[1] == "caching_audit"]
    order = "".join("A" if x[1] == "validation_base" else "B" for x in st["val_legs"] if x[1] != "caching_audit")
    ds = {d.decision_id: d for _, d in RunEvidence(rt.store).decisions}
    accepted = _accepted(st, ds)
    fb = st.get("feedback")
    if rt.llm is None:
        bc = policies.finalizer(
            accepted=accepted,
            reference_legs=refs,
            candidate_legs=cands,
            audit_legs=audits,
            order=order,
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
            accepted_decisions=[a["decision_id"] for a in accepted],
            measurements=measurements(rt, refs, cands, audits),
        )
        bc = producer(rt, "bundle_submit", "finalizer", BundleClaim, ps)
        if bc is None:  # rejected: no claim to audit, so nothing is headlined
            return {"proposal": {"rejected": True}, "decision_id": None}
    n = st.get("attempts", {}).get(gate, 0)
    if bc.remeasure:
        k = len(refs) + 1
        rt.emit("submit", "bundle_submit", f"bundle: re-measure requested, adding pair {k}", gate_id=gate)
        return {
            "val_legs": [x for x in st["val_legs"] if x[1] != "caching_audit"]
            + ids.validation_pair(k)
            + [x for x in st["val_legs"] if x[1] == "caching_audit"],
            "proposal": bc.model_dump(mode="json"),
            "attempts": {**st.get("attempts", {}), gate: n + 1},
        }
    did = ids.bundle_decision(n)
    kn = sorted({k for d in accepted for k in ds[str(d["decision_id"])].declared_knobs})
    d = Decision(
        decision_id=did,
        gate_id=gate,
        scope="bundle",
        producer="finalizer",
        claim=as_claim(bc.claim),
        reference_legs=bc.reference_legs or refs,
        candidate_legs=bc.candidate_legs or cands,
        audit_legs=bc.audit_legs or audits,
        declared_knobs=kn,
        accepted_decisions=bc.accepted_decisions,
        prefix_cache_flushed=bc.prefix_cache_flushed,
        declared_regressions=bc.declared_regressions,
    )
    submit(rt.store, d)
    rt.emit(
        "submit",
        "bundle_submit",
        f"bundle: claims {bc.claim.delta_pct:+.2f}% over the baseline ({order})"
        if bc.claim.delta_pct is not None
        else "bundle submitted",
        gate_id=gate,
        decision_id=did,
    )
    return {
        "decision_id": did,
        "attempts": {**st.get("attempts", {}), gate: n + 1},
        "proposal": bc.model_dump(mode="json"),
    }


def _accepted(st: RunState, ds: dict[str, Decision]) -> list[dict[str, Any]]:
    """The banked patch decisions the bundle carries, as the finalizer is told of them."""
    return [
        {
            "decision_id": b,
            "reference_legs": ds[b].reference_legs,
            "candidate_legs": ds[b].candidate_legs,
            "lever_class": ds[b].claim.lever_class,
        }
        for b in st.get("banked", [])
        if b in ds and ds[b].scope == "patch"
    ]


def audit_bundle(st: RunState, rt: RunContext) -> RunState:
    return audit(rt, st, ids.BUNDLE_GATE, "bundle")


def bundle_done(st: RunState, rt: RunContext) -> RunState:
    fb = st.get("feedback") or {}
    v = fb.get("verdict") if rt.use_auditor else None
    did = st.get("decision_id") if ids.is_bundle_decision(st.get("decision_id")) else None
    banked = did is not None and ((not rt.use_auditor) or bankable(fb, rt.fail_open))
    rt.emit(
        "bank" if banked else "withhold",
        "bundle",
        f"bundle {'banked' if banked else 'withheld'}" + (f": verdict {v or 'UNAUDITED'}" if rt.use_auditor else ""),
        gate_id=ids.BUNDLE_GATE,
        decision_id=did,
        verdict=v,
    )
    gates = set_gate(
        st,
        GateOutcome(
            gate_id=ids.BUNDLE_GATE,
            scope="bundle",
            decision_id=did,
            attempts=st.get("attempts", {}).get(ids.BUNDLE_GATE, 0),
            verdict=v,
            banked=banked,
            unaudited_reason=fb.get("unaudited_reason"),
            note=(st.get("proposal") or {}).get("not_recorded"),
        ),
    )
    return {
        "gates": gates,
        "banked": st.get("banked", []) + ([did] if banked and did else []),
        "phases_done": st.get("phases_done", []) + ["validate"],
    }


def done(st: RunState, rt: RunContext) -> RunState:
    rt.emit("end", "done", "workflow finished" + (f": {st['halt']}" if st.get("halt") else ""))
    return {}


def write_bundle(rt: RunContext, st: RunState) -> None:
    """bundle/: the launch config of the baseline and of the bundle, and a launch script for each."""
    import json
    import shlex
    import sys

    from geak.agents.engines.base import get_engine

    ad = get_engine(rt.engine)
    for name, cfg in (("baseline", st["base_config"]), ("bundle", st["incumbent"])):
        lc = LaunchConfig(**cfg)
        rt.store.write_text(f"bundle/{name}.json", json.dumps(lc.knobs(), indent=2, sort_keys=True) + "\n")
        argv = ad.server_argv(lc, 8000, sys.executable)
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(ad.server_env(lc).items()))
        rt.store.write_text(
            f"bundle/{'launch' if name == 'bundle' else 'launch_baseline'}.sh",
            "#!/bin/sh\n# written by geak: the "
            + name
            + " configuration; banked decisions: "
            + (", ".join(st.get("banked", [])) or "none")
            + "\nexec env "
            + env
            + " "
            + shlex.join(argv)
            + ' "$@"\n',
        )
