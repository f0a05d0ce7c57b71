"""Audit a run directory: one verdict per gate, from the raw evidence only.

Semantics (FAILURES.md, "Verdict"): any fail finding -> FAIL; else any flag (or, by
policy, any rule that could not be checked) -> FLAG; else PASS. An exception inside
the auditor yields ``verdict=None`` with the reason: the caller treats it as fail-open
and records the gate as *unaudited*, never as PASS.
"""

from __future__ import annotations

from typing import Any

import datetime as _dt
import hashlib
import re
import traceback
from pathlib import Path
from collections.abc import Callable

from . import __version__ as AUDITOR_VERSION
from .checks import GateContext, rules_for, sorted_rule_ids
from .checks.registry import RULES
from .evidence.ledger import Head
from .evidence.loader import RunEvidence
from .evidence.models import Action, AuditVerdict, Decision, EvidencePointer, Finding, VerdictName
from .evidence.store import Problem, RunStore
from .coverage import coverage
from .scopes import scope_of
from .noise import effective_policy
from .policy import AuditPolicy
from .evidence.layout import AUDITS, DECISIONS, MANIFEST


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
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class EvidenceError(Exception):
    """Raised by a rule that meets evidence it cannot take (a value out of any sane range, a
    shape no tool writes): a FAIL of that rule naming the file and field, not an auditor fault."""

    def __init__(self, message: str, evidence: EvidencePointer):
        super().__init__(message)
        self.evidence = evidence


def _run_rule(r: Any, ctx: GateContext) -> tuple[list[Finding], str | None]:
    """One rule's findings, or what stopped it (the exception, said): a rule's exception never
    stops the others."""
    try:
        return r.fn(ctx), None
    except EvidenceError as e:
        return [
            Finding(
                rule_id=r.rule_id,
                scope=ctx.scope,
                outcome="fail",
                action="eject",
                message=str(e),
                evidence=[e.evidence],
            )
        ], None
    except Exception as e:  # noqa: BLE001 - the auditor's own fault, attributed below
        return [], f"{type(e).__name__}: {str(e)[:300]}"


def audit_decision(
    run: RunEvidence, decision: Decision, line: int, policy: AuditPolicy, scope: str | None = None
) -> AuditVerdict:
    """Run every registered rule of the gate's scope (``scope``, else scopes.scope_of the
    decision's content; never the decision's own word). Never raises.

    A rule that faults does not stop the others. Its fault fails open (UNAUDITED) only where
    every other rule passed; beside a FLAG or FAIL the floor stands, and the faulted rule is an
    unchecked finding that asks for a re-measure, so a fault never banks what the floor would not."""
    sc = decision.scope
    try:
        sc, why = (scope, "the workflow names this gate's scope") if scope is not None else scope_of(run, decision)  # type: ignore[assignment]
        ctx = GateContext(run=run, decision=decision, decision_line=line, scope=sc, policy=policy)
        findings: list[Finding] = []
        if decision.scope != sc:
            findings.append(
                Finding(
                    rule_id="P1",
                    scope=sc,
                    outcome="fail",
                    action="eject",
                    message=f"the decision says scope {decision.scope!r}, but this is a {sc!r} gate ({why}): "
                    f"judged as {sc!r}; a decision cannot choose the rules that judge it",
                    evidence=[ctx.decision_field("scope")],
                )
            )
        faults: list[tuple[str, str]] = []  # (rule id, what stopped it)
        for r in sorted(rules_for(sc), key=lambda r: sorted_rule_ids(RULES).index(r.rule_id)):
            got, fault = _run_rule(r, ctx)
            findings += got
            faults += [(r.rule_id, fault)] if fault else []
        verdict: VerdictName | None = combine(findings, policy)
        reason = None
        if faults:
            reason = "auditor error in " + "; ".join(f"{rid}: {why}" for rid, why in faults)
            if verdict == "PASS":
                verdict = None
            else:
                findings += [
                    Finding(
                        rule_id=rid,
                        scope=sc,
                        outcome="unchecked",
                        action="remeasure",
                        message=f"the auditor faulted in this rule ({why}); the other rules' verdict stands "
                        "and nothing is banked on it",
                    )
                    for rid, why in faults
                ]
        v = AuditVerdict(
            gate_id=decision.gate_id,
            scope=sc,
            decision_id=decision.decision_id,
            verdict=verdict,
            findings=findings,
            actions=_actions(findings),
            unaudited_reason=reason,
            auditor_version=AUDITOR_VERSION,
            policy=policy.model_dump(),
            created_at=_now(),
        )
        cov = coverage([v])
        v.rules_checked, v.rules_without_evidence = cov.checked, cov.no_evidence
        return v
    except Exception as e:  # the auditor's own bug outside any rule: fail open, loudly
        return AuditVerdict(
            gate_id=decision.gate_id,
            scope=sc,
            decision_id=decision.decision_id,
            verdict=None,
            unaudited_reason=f"auditor error: {type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}",
            auditor_version=AUDITOR_VERSION,
            policy=policy.model_dump(),
            created_at=_now(),
        )


def run_level_verdict(run: RunEvidence) -> AuditVerdict | None:
    """Problems with the run's own records (manifest, decisions.jsonl) as a gate named 'run'."""
    probs = list(run.manifest_and_problems[1]) + list(run.decisions_and_problems[1])
    m = run.manifest
    if m is not None and m.imported_from and run.geak_run_marks:
        probs.append(
            Problem(
                MANIFEST,
                f"says the run was imported from {m.imported_from!r}, but the directory holds "
                f"what geak run writes ({', '.join(run.geak_run_marks[:3])}): the evidence contract applies in full",
                None,
                "imported_from",
            )
        )
    if not probs:
        return None
    findings = [
        Finding(
            rule_id="P1",
            scope="patch",
            outcome="fail",
            action="eject",
            message=str(p),
            evidence=[EvidencePointer(file=p.file, line=p.line, field=p.field)],
        )
        for p in probs
    ]
    return AuditVerdict(
        gate_id=RUN_LEVEL_GATE,
        scope=None,
        verdict="FAIL",
        findings=findings,
        actions=["eject"],
        auditor_version=AUDITOR_VERSION,
        created_at=_now(),
    )


def latest_per_gate(decisions: list[tuple[int, Decision]]) -> dict[str, tuple[int, Decision]]:
    """A gate may be resubmitted (fix-until-pass); the latest decision is what would be banked."""
    out: dict[str, tuple[int, Decision]] = {}
    for line, d in decisions:
        out[d.gate_id] = (line, d)
    return out


def audit_run(
    run_dir: str | Path,
    *,
    scope: str | None = None,
    gate: str | None = None,
    policy: AuditPolicy | None = None,
    write: bool = True,
) -> list[AuditVerdict]:
    """Audit every gate of a run (or the selected ones) and write audits/<gate>.json."""
    policy = policy or AuditPolicy()
    store = RunStore(run_dir)
    run = RunEvidence(store)
    policy, band_note = effective_policy(run, policy)
    verdicts: list[AuditVerdict] = []
    rl = run_level_verdict(run)
    if rl is not None:
        # a run that FAILs as a whole FAILs whatever gate or scope is asked for
        verdicts.append(rl)
    for gate_id, (line, d) in latest_per_gate(run.decisions).items():
        if gate is not None and gate_id != gate:
            continue
        if scope is not None and scope_of(run, d)[0] != scope:
            continue
        v = audit_decision(run, d, line, policy)
        v.policy.update(band_note)
        verdicts.append(v)
    if write:
        for v in verdicts:
            store.write_json(audit_file(v.gate_id, run_level=v.scope is None), v)
    return verdicts


def audit_gate(
    store: RunStore,
    decision_id: str,
    policy: AuditPolicy,
    gate_id: str,
    judge: Callable[[AuditVerdict, Decision], AuditVerdict] | None = None,
    sealed_head: Head | None = None,
    scope: str | None = None,
) -> AuditVerdict:
    """Audit one decision as a gate of a live run and write its verdict: the one path every
    accept gate (geak run, geak baseline) takes. ``judge`` (an LLM's judgment) may only
    escalate a verdict the code floor reached. ``sealed_head``: the ledger's head as the
    orchestrator sealed it, from its memory (W2 holds the ledger on disk to it). ``scope``: the
    gate's scope as the workflow names it; the decision's own word for it never picks the rules.
    Never raises for what a run holds."""
    run = RunEvidence(store, sealed_head=sealed_head)
    found = [(ln, d) for ln, d in run.decisions if d.decision_id == decision_id]
    if not found:
        # the producer's record of its own claim is gone or unreadable: that is evidence
        # failing (FAIL, withheld), not the auditor failing (which would fail open and bank)
        why = f"decision {decision_id!r} is not a readable line of decisions.jsonl: there is no claim to bank"
        v = AuditVerdict(
            gate_id=gate_id,
            scope=None,
            decision_id=decision_id,
            verdict="FAIL",
            actions=["eject"],
            findings=[
                Finding(
                    rule_id="P1",
                    scope="patch",
                    outcome="fail",
                    action="eject",
                    message=why,
                    evidence=[EvidencePointer(file=DECISIONS)],
                )
            ],
            auditor_version=AUDITOR_VERSION,
            policy=policy.model_dump(),
            created_at=_now(),
        )
        store.write_json(audit_file(gate_id), v)
        return v
    line, d = found[-1]
    pol, note = effective_policy(run, policy)
    v = audit_decision(run, d, line, pol, scope=scope)
    v.policy.update(note)
    if judge is not None and v.verdict is not None:
        v = judge(v, d)
    store.write_json(audit_file(d.gate_id), v)
    if v.verdict is not None:
        store.write_json(history_file(d.gate_id, d.decision_id), v)
    return v


# ---------------------------------------------------------------- audits/ file names

RUN_LEVEL_GATE = "run"
_RUN_LEVEL_STEM = "_run"  # clean stems never start with "_", so no gate can take this one
_CLEAN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def audit_stem(gate_id: str, *, run_level: bool = False) -> str:
    """The one name of a gate's verdict file, distinct for distinct gate ids.

    A lowercase id of [a-z0-9._-] is its own name; any other id (a slash, a capital a
    case-insensitive disk would fold, a leading dot, a 200-character id) is sanitized and
    suffixed with a hash of the id itself, so "cfg/x" and "cfg_x" never share a file."""
    if run_level:
        return _RUN_LEVEL_STEM
    if _CLEAN.fullmatch(gate_id) and ".." not in gate_id:
        return gate_id
    safe = (
        "".join(c if c.isalnum() and c.isascii() or c in "-_." else "_" for c in gate_id.lower())[:60].lstrip("._")
        or "gate"
    )
    return f"{safe}~{hashlib.sha256(gate_id.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def audit_file(gate_id: str, *, run_level: bool = False) -> str:
    return f"{AUDITS}/{audit_stem(gate_id, run_level=run_level)}.json"


def history_file(gate_id: str, decision_id: str) -> str:
    return f"{AUDITS}/history/{audit_stem(gate_id)}--{audit_stem(decision_id)}.json"
