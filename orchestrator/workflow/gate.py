"""The one gate mechanism every phase uses: submit a decision, audit it, route on the verdict,
bank or withhold, record the gate's outcome.

Routing semantics at a gate:
- PASS banks. An explicit FAIL never banks.
- FAIL, or a FLAG whose actions ask for work (remeasure, eject...), goes back to the producer
  with the findings while attempts remain; at the bound nothing is banked.
- A FLAG whose actions are only labels (flag, downgrade_headline, replace_headline_with_e2e)
  banks with the label: the claim stands, its headline is qualified in the report.
- No verdict (the auditor itself failed) fails open: banked, recorded as unaudited.
"""

from __future__ import annotations

from typing import Any, TypeVar

from geak.auditor.api import audit_gate, history_file
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict, Claim, Consequence, Decision, Finding
from geak.auditor.evidence.store import RunStore

from ..events import GateOutcome
from ..what_if import LLM_MARK
from geak.agents.roles.answers import AuditJudgment
from .context import RunContext
from .prompting import llm_answer, prompt_state
from .state import Feedback, GateRow, RunState
from geak.auditor.evidence.layout import DECISIONS, LEGS

LABEL_ACTIONS = {"pass", "flag", "downgrade_headline", "replace_headline_with_e2e"}
SEVERITY = {"PASS": 0, "FLAG": 1, "FAIL": 2}
R = TypeVar("R", bound=str)


# ---------------------------------------------------------------- submit


def find_decision(store: RunStore, decision_id: str | None) -> Decision | None:
    return next((d for _, d in RunEvidence(store).decisions if d.decision_id == decision_id), None)


def submit(store: RunStore, d: Decision) -> None:
    # resume safety: a node re-run after a crash must not submit the same decision twice
    if find_decision(store, d.decision_id) is None:
        store.append_jsonl(DECISIONS, d)


def as_claim(c: Any) -> Claim:
    return Claim(**c.model_dump(exclude_none=False))


def patch_decision(
    did: str, gate: str, producer: str, prop: Any, refs: list[str], cands: list[str], **extra: Any
) -> Decision:
    """A patch-scope decision from a producer's answer (ConfigProposal, IntegrationClaim): its
    claim and declarations as given, the legs it names or else the ones the graph measured."""
    return Decision(
        decision_id=did,
        gate_id=gate,
        scope="patch",
        producer=producer,
        claim=as_claim(prop.claim),
        reference_legs=prop.reference_legs or refs,
        candidate_legs=prop.candidate_legs or cands,
        declared_knobs=prop.declared_knobs,
        declared_levers=prop.declared_levers,
        consequences=[Consequence(**x.model_dump()) for x in prop.consequences],
        declared_regressions=prop.declared_regressions,
        **extra,
    )


# ---------------------------------------------------------------- audit


def audit(rt: RunContext, st: RunState, gate: str, scope: str) -> RunState:
    """The auditor node: the code floor, then (with an LLM) a judgment that may only escalate."""
    did = st["decision_id"]
    assert did is not None
    judge = (lambda v, d: llm_judgment(rt, st, v, d)) if rt.llm is not None and rt.llm_auditor else None
    v = audit_gate(
        rt.store, did, rt.policy, gate, judge=judge, sealed_head=getattr(rt.legs, "sealed", None), scope=scope
    )
    bad = [f for f in v.findings if f.outcome in ("fail", "flag", "unchecked")]
    rt.emit(
        "audit" if v.verdict is not None else "unaudited",
        f"audit_{scope}",
        f"{gate}: {v.verdict or 'UNAUDITED'}"
        + (f" ({', '.join(sorted({f.rule_id for f in bad}))})" if bad else "")
        + (f"; {v.unaudited_reason.splitlines()[0]}" if v.unaudited_reason else ""),
        gate_id=gate,
        decision_id=did,
        verdict=v.verdict,
        data={"actions": v.actions},
    )
    fb: Feedback = {
        "gate_id": gate,
        "verdict": v.verdict,
        "actions": list(v.actions),
        "unaudited_reason": v.unaudited_reason,
        "findings": [
            {
                "rule_id": f.rule_id,
                "scope": f.scope,
                "outcome": f.outcome,
                "action": f.action,
                "message": f.message,
                "evidence": [str(e) for e in f.evidence],
            }
            for f in bad
        ],
    }
    return {"feedback": fb}


def recorded_verdict(rt: RunContext, gate: str, decision_id: str) -> str | None:
    v, _ = rt.store.read_json(history_file(gate, decision_id), AuditVerdict)
    return v.verdict if v is not None else None


def llm_judgment(rt: RunContext, st: RunState, v: AuditVerdict, d: Decision) -> AuditVerdict:
    ps = prompt_state(
        rt,
        st,
        gate_id=v.gate_id,
        scope=v.scope,
        decision=d.model_dump(mode="json"),
        deterministic_verdict=v.verdict,
        deterministic_findings=[f.model_dump(mode="json") for f in v.findings if f.outcome != "n/a"],
        evidence_files=sorted(
            str(p.relative_to(rt.store.root)) for p in rt.store.root.rglob("*") if p.is_file() and LEGS in p.parts
        )[:200],
    )
    try:
        j = llm_answer(rt, "patch_auditor", AuditJudgment, ps)
    except Exception as e:  # the judgment may only escalate: when it fails, the code floor's verdict stands, said
        reason = f"LLM auditor failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; the deterministic verdict stands"
        return v.model_copy(update={"unaudited_reason": reason})
    if SEVERITY[j.verdict] <= SEVERITY[v.verdict or "PASS"]:
        return v  # the judgment may escalate, never downgrade the floor
    extra = [
        Finding(
            rule_id=f.rule_id,
            scope=v.scope or "patch",
            outcome=f.outcome,
            action=f.action,
            message=f"{LLM_MARK} {f.message}",
        )
        for f in j.findings
        if f.outcome != "pass"
    ]
    actions = list(dict.fromkeys(list(v.actions) + [f.action for f in extra]))
    return v.model_copy(
        update={
            "verdict": j.verdict,
            "findings": v.findings + extra,
            "actions": [a for a in actions if a != "pass"] or ["pass"],
        }
    )


# ---------------------------------------------------------------- a what-if branch the recording cannot follow


def record_missed(st: RunState, gate: str, legs: list[str]) -> RunState:
    """The legs a gate's branch asked for that a what-if replay's recording lacks (none: no update)."""
    if not legs:
        return {}
    nr = st.get("not_recorded", {})
    return {"not_recorded": {**nr, gate: list(dict.fromkeys(nr.get(gate, []) + legs))}}


def missed_note(st: RunState, gate: str) -> str | None:
    """The note that ends such a branch, or None when the gate's legs were all recorded."""
    legs = st.get("not_recorded", {}).get(gate)
    return f"not recorded: leg(s) {', '.join(legs)} were never measured" if legs else None


# ---------------------------------------------------------------- route (pure)


def bankable(fb: Feedback | dict[str, Any] | None, fail_open: bool = True) -> bool:
    """``fail_open``: the workflow's auditor.fail_open_on_error; off, a gate the auditor could not
    judge is withheld instead of banked (an explicit FAIL is never banked either way)."""
    fb = fb or {}
    v = fb.get("verdict")
    if v == "PASS":
        return True
    if v is None:
        return fail_open and bool(fb.get("unaudited_reason"))  # the auditor failed
    if v == "FLAG":
        return set(fb.get("actions") or []) <= LABEL_ACTIONS
    return False


def route_gate(st: RunState, gate: str, max_attempts: int, bank: R, retry: R, give_up: R, fail_open: bool = True) -> R:
    if bankable(st.get("feedback"), fail_open):
        return bank
    if st.get("attempts", {}).get(gate, 0) < max_attempts:
        return retry
    return give_up


# ---------------------------------------------------------------- record


def set_gate(st: RunState, g: GateOutcome) -> list[GateRow]:
    """The run's gate outcomes with this gate's replaced (one row per gate, latest wins)."""
    gates = [x for x in st.get("gates", []) if x["gate_id"] != g.gate_id]
    row = GateRow(
        gate_id=g.gate_id,
        scope=g.scope,
        decision_id=g.decision_id,
        attempts=g.attempts,
        verdict=g.verdict,
        banked=g.banked,
        unaudited_reason=g.unaudited_reason,
        note=g.note,
    )
    return gates + [row]
