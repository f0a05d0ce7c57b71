"""What a role's LLM is shown and asked: the prompt state, the call under the run's budget, and
a producer's answer (or None when it was rejected)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geak.auditor import stats
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import Manifest
from geak.auditor.api import effective_policy

from .context import RunContext
from .state import RunState
from geak.auditor.evidence.layout import MANIFEST


class BudgetSpent(RuntimeError):
    pass


def llm_answer(rt: RunContext, role: str, schema: type, state: dict[str, Any]) -> Any:
    from geak.auditor.evidence.layout import LLM_CALLS
    from geak.agents.roles.skills import render

    p = rt.store.path(LLM_CALLS)
    used = sum(1 for _ in p.open()) if p.exists() else 0
    if used >= rt.wf.budgets.llm_calls:
        raise BudgetSpent(f"the workflow's LLM budget of {rt.wf.budgets.llm_calls} calls is spent ({used} recorded)")
    prompt = render(role, state, root=rt.skills_root)
    return rt.llm.complete(role, [{"role": "user", "content": prompt}], schema)


def producer(rt: RunContext, node: str, role: str, schema: type, state: dict[str, Any]) -> Any:
    """A producer's LLM answer, or None when it was rejected: invalid after the retries, the
    provider failing, or the budget spent. A replay miss is not a rejection: it propagates."""
    from geak.agents.roles.llm_calls import InvalidOutput, LLMCallFailed

    try:
        return llm_answer(rt, role, schema, state)
    except (InvalidOutput, LLMCallFailed, BudgetSpent) as e:
        rt.emit(
            "budget" if isinstance(e, BudgetSpent) else "error",
            node,
            f"{role}: answer rejected ({type(e).__name__}: {str(e).splitlines()[0]})",
        )
        return None


def measurements(rt: RunContext, ref: list[str], cand: list[str], audit: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per leg, its side named: a caching-audit leg is neither reference nor candidate."""
    run = RunEvidence(rt.store)
    out = []
    for side, legs in (("reference", ref), ("candidate", cand), ("audit", list(audit))):
        for leg in legs:
            ld = run.leg(leg)
            vals = [v for v in ld.values("output_throughput")[0] if v is not None]
            lat = {}
            for metric in ("ttft_ms", "tpot_ms"):
                a = ld.pooled(metric)
                for q in (50, 99):
                    p = stats.percentile(a, q)
                    lat[f"p{q}_{metric}"] = round(p, 3) if p is not None else None
            out.append(
                {
                    "side": side,
                    "leg_id": leg,
                    "role": ld.launch.role if ld.launch else None,
                    "status": ld.launch.status if ld.launch else "missing",
                    "output_throughput_per_rep": [round(x, 3) for x in vals],
                    "median": stats.median(vals),
                    "latency": lat,
                }
            )
    return out


def prompt_state(rt: RunContext, st: RunState, **kw: Any) -> dict[str, Any]:
    m, _ = rt.store.read_json(MANIFEST, Manifest)
    pol, _ = effective_policy(RunEvidence(rt.store), rt.policy)
    base_vals = rt.values(st.get("baseline_legs", []))
    s: dict[str, Any] = {
        "run_id": st.get("run_id"),
        "model": m.model if m else None,
        "engine": rt.engine,
        "workload": rt.workload.model_dump(mode="json"),
        "invariants": (m.invariants if m else {}) or {},
        "noise_band_pct": round(pol.noise_band_pct, 3),
        "gate_id": None,
        "scope": None,
        "baseline": {
            "gate_id": "baseline",
            "legs": st.get("baseline_legs", []),
            "claim": {"metric": "output_throughput", "reference_value": stats.median(base_vals)},
        },
        "current_config": st.get("incumbent", {}),
        "strategy": st.get("strategy"),
        "audit_feedback": None,
        "routing": None,
        "profile": None,
        "budget": {
            "max_legs": None,
            "max_llm_calls": rt.wf.budgets.llm_calls,
            "max_fix_attempts": max(p.max_attempts for p in rt.wf.phases),
            "wall_clock_s": rt.wf.budgets.wall_clock_s,
        },
        "accepted_decisions": st.get("banked", []),
        "decision": None,
        "deterministic_verdict": None,
        "deterministic_findings": [],
        "evidence_files": [],
        "measurements": [],
        "candidate": None,
    }
    s.update(kw)
    return s
