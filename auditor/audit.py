"""Audit a run directory: one verdict per gate, from the raw evidence only.

Semantics (FAILURES.md, "Verdict"): any fail finding -> FAIL; else any flag (or, by
policy, any rule that could not be checked) -> FLAG; else PASS. An exception inside
the auditor yields ``verdict=None`` with the reason: the caller treats it as fail-open
and records the gate as *unaudited*, never as PASS.
"""

from __future__ import annotations

import datetime as _dt
import traceback
from pathlib import Path

from . import __version__ as AUDITOR_VERSION
from .checks import GateContext, rules_for, sorted_rule_ids
from .checks.registry import RULES
from .evidence.loader import RunEvidence
from .evidence.models import Action, AuditVerdict, Decision, EvidencePointer, Finding, VerdictName
from .evidence.store import RunStore
from .noise import effective_policy
from .policy import AuditPolicy



def combine(findings: list[Finding], policy: AuditPolicy) -> VerdictName:
    outcomes = {f.outcome for f in findings}
    if "fail" in outcomes:
        return "FAIL"
    if "flag" in outcomes or ("unchecked" in outcomes and policy.unchecked_is_flag):
        return "FLAG"
    return "PASS"


def _actions(findings: list[Finding]) -> list[Action]:
    seen: list[Action] = []
    for f in findings:
        if f.outcome in ("fail", "flag", "unchecked") and f.action not in seen:
            seen.append(f.action)
    return seen or ["pass"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def audit_decision(run: RunEvidence, decision: Decision, line: int, policy: AuditPolicy, scope: str | None = None) -> AuditVerdict:
    """Run every registered rule of the decision's scope. Never raises."""
    sc = scope or decision.scope
    try:
        ctx = GateContext(run=run, decision=decision, decision_line=line, scope=sc, policy=policy)  # type: ignore[arg-type]
        findings: list[Finding] = []
        for r in sorted(rules_for(sc), key=lambda r: sorted_rule_ids(RULES).index(r.rule_id)):
            findings += r.fn(ctx)
        return AuditVerdict(
            gate_id=decision.gate_id, scope=sc, decision_id=decision.decision_id,  # type: ignore[arg-type]
            verdict=combine(findings, policy), findings=findings, actions=_actions(findings),
            auditor_version=AUDITOR_VERSION, policy=policy.model_dump(), created_at=_now(),
        )
    except Exception as e:  # the auditor's own bug: fail open, loudly
        return AuditVerdict(
            gate_id=decision.gate_id, scope=sc, decision_id=decision.decision_id,  # type: ignore[arg-type]
            verdict=None, unaudited_reason=f"auditor error: {type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}",
            auditor_version=AUDITOR_VERSION, policy=policy.model_dump(), created_at=_now(),
        )


def run_level_verdict(run: RunEvidence) -> AuditVerdict | None:
    """Problems with the run's own records (manifest, decisions.jsonl) as a gate named 'run'."""
    probs = list(run.manifest_and_problems[1]) + list(run.decisions_and_problems[1])
    if not probs:
        return None
    findings = [
        Finding(rule_id="P1", scope="patch", outcome="fail", action="eject", message=str(p),
                evidence=[EvidencePointer(file=p.file, line=p.line, field=p.field)])
        for p in probs
    ]
    return AuditVerdict(gate_id="run", scope=None, verdict="FAIL", findings=findings, actions=["eject"],
                        auditor_version=AUDITOR_VERSION, created_at=_now())


def latest_per_gate(decisions: list[tuple[int, Decision]]) -> dict[str, tuple[int, Decision]]:
    """A gate may be resubmitted (fix-until-pass); the latest decision is what would be banked."""
    out: dict[str, tuple[int, Decision]] = {}
    for line, d in decisions:
        out[d.gate_id] = (line, d)
    return out


def audit_run(run_dir: str | Path, *, scope: str | None = None, gate: str | None = None,
              policy: AuditPolicy | None = None, write: bool = True) -> list[AuditVerdict]:
    """Audit every gate of a run (or the selected ones) and write audits/<gate_id>.json."""
    policy = policy or AuditPolicy()
    store = RunStore(run_dir)
    run = RunEvidence(store)
    policy, band_note = effective_policy(run, policy)
    verdicts: list[AuditVerdict] = []
    rl = run_level_verdict(run)
    if rl is not None and gate in (None, "run"):
        verdicts.append(rl)
    for gate_id, (line, d) in latest_per_gate(run.decisions).items():
        if gate is not None and gate_id != gate:
            continue
        if scope is not None and d.scope != scope:
            continue
        v = audit_decision(run, d, line, policy)
        v.policy.update(band_note)
        verdicts.append(v)
    if write:
        for v in verdicts:
            store.write_json(f"audits/{_safe(v.gate_id)}.json", v)
    return verdicts


def _safe(gate_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in gate_id)
