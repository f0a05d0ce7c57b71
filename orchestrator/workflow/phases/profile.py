"""The profile phase: one profiler round on the incumbent, the routing claim submitted to the
profile gate (audited against the raw trace); a pass-through when the workflow says so."""

from __future__ import annotations

from typing import Any

from geak.auditor.evidence.models import Decision

from geak.agents.engines.base import LaunchConfig

from ...events import GateOutcome
from .. import ids
from ..context import RunContext
from ..gate import audit, bankable, set_gate, submit
from ..state import RunState
from .kernel_support import model_config_copy
from geak.auditor.evidence.layout import ROUTING, TRACE, profile_file


def profile(st: RunState, rt: RunContext) -> RunState:
    p = rt.phase("profile")
    pt = dict(st.get("passthrough", {}))
    done: RunState = {"phases_done": st.get("phases_done", []) + ["profile"]}
    if p is not None and (p.passthrough or rt.profiles is None):
        why = f" ({p.passthrough_why})" if p.passthrough and p.passthrough_why else ""
        pt["profile"] = (
            f"profile phase set to passthrough in the workflow{why}: no profiler trace captured, so nothing is "
            "routed to the kernel track"
        )
        rt.emit("passthrough", "profile", pt["profile"])
    if p is None or p.passthrough or rt.profiles is None:
        return {**done, "passthrough": pt}
    upd = profile_round(rt, st)
    if not rt.use_auditor and upd.get("decision_id"):
        done["gates"] = set_gate(
            st,
            GateOutcome(
                gate_id=ids.PROFILE_GATE,
                scope="profile",
                decision_id=upd["decision_id"],
                attempts=1,
                banked=True,
                note=upd["routing"].get("note"),
            ),
        )
    return {**done, "passthrough": pt, **upd}  # type: ignore[typeddict-item]


def audit_profile(st: RunState, rt: RunContext) -> RunState:
    fb = audit(rt, st, ids.PROFILE_GATE, "profile")["feedback"] or {}
    gates = set_gate(
        st,
        GateOutcome(
            gate_id=ids.PROFILE_GATE,
            scope="profile",
            decision_id=st.get("decision_id"),
            attempts=1,
            verdict=fb.get("verdict"),
            banked=bankable(fb, rt.fail_open),
            unaudited_reason=fb.get("unaudited_reason"),
            note=(st.get("routing") or {}).get("note"),
        ),
    )
    return {"feedback": None, "gates": gates}


def profile_round(rt: RunContext, st: RunState) -> dict[str, Any]:
    """One profile round on the incumbent: capture, re-aggregate, route (none policy), submit.
    The profiler's routing claim is what the profile gate audits against the raw trace."""
    from geak.agents.headroom import readings_for
    from geak.agents.profiler import family_tokens, load_events, op_breakdown
    from geak.agents.routing import route

    rid = ids.PROFILE_ROUND
    ph = rt.phase("profile")
    n = ph.profile_requests if ph is not None else None
    status, reason = rt.profiles(
        rt.store, round_id=rid, cfg=LaunchConfig(**st["incumbent"]), workload=rt.workload, num_requests=n
    )
    if status != "ok":
        rt.emit("error", "profile", f"profile round {rid} failed: {reason}")
        return {"routing": {"note": f"capture failed: {reason}"}}
    trace = rt.store.path(profile_file(rid, TRACE))
    events = load_events(trace)
    bd = op_breakdown(trace, events=events)
    reads, why_not = readings_for(events, model_config_copy(rt))
    if ph is not None and ph.min_share:
        prop = route(bd, readings=reads, min_share=ph.min_share)
    else:
        prop = route(bd, readings=reads)
    rt.store.write_json(profile_file(rid, ROUTING), prop.claim(TRACE))
    top = ", ".join(f"{f.family} {f.share:.0%}" for f in bd.families[:4])
    alone = f" (by share alone: {why_not})" if why_not and prop.routed else ""
    rt.emit("phase", "profile", f"profile {rid}: {top}; {prop.note}{alone}")
    did = ids.PROFILE_DECISION
    submit(
        rt.store,
        Decision(decision_id=did, gate_id=ids.PROFILE_GATE, scope="profile", producer="profiler", profile_round=rid),
    )
    rt.emit(
        "submit",
        "profile",
        f"{ids.PROFILE_GATE}: routes {[r.family for r in prop.routed] or 'nothing'}",
        gate_id=ids.PROFILE_GATE,
        decision_id=did,
    )
    routing = {
        "round": rid,
        "note": prop.note,
        "routed": [r.family for r in prop.routed],
        "breakdown": prop.breakdown,
        "served_tokens": {r.family: family_tokens(bd, r.family) for r in prop.routed},
    }
    return {"routing": routing, "decision_id": did}
