"""What the report reads from a run directory, and what it re-derives: the run's files, gate and
leg rows, the headline (a number only where the audit of its very decision PASSed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import numpy as np
from geak.auditor import stats
from geak.auditor.api import audit_stem as audit_file_stem, latest_per_gate
from geak.auditor.evidence.loader import LegData, RunEvidence
from geak.auditor.evidence.models import AuditVerdict, Decision, LegRole, Manifest, judged_metric
from geak.auditor.evidence.store import Problem, RunStore
from geak.orchestrator.events import GateOutcome, RunEvent, RunSummary
from geak.auditor.evidence.layout import AUDITS, DECISIONS, EVENTS, SUMMARY


DASH = "—"
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 2000
CI_CONFIDENCE = 0.95
ROLE_ORDER: tuple[str, ...] = get_args(LegRole)
DELTA_SCOPES = ("patch", "bundle")


# ==================================================================== reading the run


@dataclass
class RunFiles:
    """Everything the report reads, with what could not be read as plain strings."""

    root: Path
    evidence: RunEvidence
    manifest: Manifest | None
    decisions: list[tuple[int, Decision]]
    summary: RunSummary | None
    events: list[RunEvent]
    audits: dict[str, AuditVerdict]  # by file stem, as the auditor names them
    problems: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    what_if: Any = None  # orchestrator.what_if.WhatIf of a what-if replay (what_if.json), else None


def _problem_strs(problems: Sequence[Problem]) -> list[str]:
    return [str(p) for p in problems]


def _read_audits(store: RunStore) -> tuple[dict[str, AuditVerdict], list[str]]:
    audits: dict[str, AuditVerdict] = {}
    problems: list[str] = []
    d = store.root / AUDITS
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        verdict, probs = store.read_json(f"{AUDITS}/{p.name}", AuditVerdict)
        problems += _problem_strs(probs)
        if verdict is not None:
            audits[p.stem] = verdict
    return audits, problems


def load_run(run_dir: str | os.PathLike[str]) -> RunFiles:
    store = RunStore(run_dir)
    ev = RunEvidence(store)
    problems = _problem_strs(ev.manifest_and_problems[1])
    missing: list[str] = []
    decisions: list[tuple[int, Decision]] = []
    if store.exists(DECISIONS):
        decisions = ev.decisions
        problems += _problem_strs(ev.decisions_and_problems[1])
    else:
        missing.append("decisions.jsonl: no decisions were recorded, so there is nothing to gate or headline")
    summary = None
    if store.exists(SUMMARY):
        summary, probs = store.read_json(SUMMARY, RunSummary)
        problems += _problem_strs(probs)
    else:
        missing.append(
            "summary.json: not written by `geak run` (imported run, or it stopped before its first node); "
            "status, passthrough phases and banking are unknown"
        )
    events: list[RunEvent] = []
    if store.exists(EVENTS):
        ev_rows, ev_probs = store.read_jsonl(EVENTS, RunEvent)
        events = [e for _, e in ev_rows]
        problems += _problem_strs(ev_probs)
    else:
        missing.append("events.jsonl: no timeline was recorded")
    audits, audit_probs = _read_audits(store)
    problems += audit_probs
    if not audits:
        missing.append(f"{AUDITS}/: no audit verdicts; every gate is not audited and no headline can be verified")
    what_if = None
    if store.exists("what_if.json"):
        from ..what_if import WhatIf

        what_if, probs = store.read_json("what_if.json", WhatIf)
        problems += _problem_strs(probs)
    return RunFiles(
        root=store.root,
        evidence=ev,
        manifest=ev.manifest,
        decisions=decisions,
        summary=summary,
        events=events,
        audits=audits,
        problems=problems,
        missing=missing,
        what_if=what_if,
    )


def latest_decisions(decisions: Sequence[tuple[int, Decision]]) -> dict[str, Decision]:
    """The latest decision per gate, by the auditor's own rule (audit.latest_per_gate): a
    resubmitted gate is judged on what would be banked."""
    return {g: d for g, (_, d) in latest_per_gate(list(decisions)).items()}


def current_audit(run: RunFiles, gate_id: str, decision_id: str | None) -> tuple[AuditVerdict | None, str]:
    """The audit of this gate's current decision, or None with the reason it cannot count."""
    audit = run.audits.get(audit_file_stem(gate_id))
    if audit is None:
        return None, "not audited"
    if decision_id and audit.decision_id and audit.decision_id != decision_id:
        # A verdict on an earlier attempt says nothing about the decision that would be banked.
        return (
            None,
            f"not audited (audits/{audit_file_stem(gate_id)}.json is of {audit.decision_id}, the latest decision is {decision_id})",
        )
    if audit.verdict is None:
        return audit, f"unaudited: {first_line(audit.unaudited_reason) or 'the auditor gave no verdict'}"
    return audit, audit.verdict


# ==================================================================== derived numbers


def first_line(text: str | None) -> str | None:
    if not text:
        return None
    return text.strip().splitlines()[0] if text.strip() else None


def metric_unit(metric: str) -> str:
    if metric.endswith("token_throughput") or metric == "output_throughput":
        return "tok/s"
    if metric == "request_throughput":
        return "req/s"
    if metric.endswith("_ms"):
        return "ms"
    return ""


@dataclass(frozen=True)
class Rederived:
    """A decision's comparison recomputed from the per-rep values of its legs."""

    metric: str
    higher_is_better: bool
    reference_legs: tuple[str, ...]
    candidate_legs: tuple[str, ...]
    reference_values: tuple[float, ...]
    candidate_values: tuple[float, ...]
    reference_median: float | None
    candidate_median: float | None
    delta_pct: float | None
    ci_pct: tuple[float, float] | None
    non_overlap: bool | None

    @property
    def unit(self) -> str:
        return metric_unit(self.metric)


def side_values(ev: RunEvidence, leg_ids: Sequence[str], metric: str) -> list[float]:
    vals: list[float] = []
    for leg_id in leg_ids:
        vals += ev.leg(leg_id).values(metric)[0]
    return vals


def rederive(ev: RunEvidence, decision: Decision) -> Rederived:
    # the report re-derives as the auditor does: a metric outside the vocabulary is the default
    # (P1 FAILs the claim), in the metric's own direction, never the producer's
    metric, hib = judged_metric(decision.claim.metric)
    ref = side_values(ev, decision.reference_legs, metric)
    cand = side_values(ev, decision.candidate_legs, metric)
    ref_med, cand_med = stats.median(ref), stats.median(cand)
    return Rederived(
        metric=metric,
        higher_is_better=hib,
        reference_legs=tuple(decision.reference_legs),
        candidate_legs=tuple(decision.candidate_legs),
        reference_values=tuple(ref),
        candidate_values=tuple(cand),
        reference_median=ref_med,
        candidate_median=cand_med,
        delta_pct=stats.delta_pct(ref_med, cand_med, hib),
        ci_pct=stats.bootstrap_delta_ci(
            ref, cand, higher_is_better=hib, n_boot=BOOTSTRAP_RESAMPLES, confidence=CI_CONFIDENCE, seed=BOOTSTRAP_SEED
        ),
        non_overlap=stats.non_overlap(ref, cand, hib),
    )


@dataclass(frozen=True)
class LegRow:
    leg_id: str
    role: str | None
    status: str
    failure_reason: str | None
    counted_reps: int
    rep_output_tok_s: tuple[float, ...]
    output_tok_s_source: str
    median_output_tok_s: float | None
    ttft_ms: np.ndarray
    median_ttft_ms: float | None
    median_tpot_ms: float | None
    problems: tuple[str, ...]


def _finite_median(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return stats.median(a) if len(a) else None


def leg_row(leg: LegData) -> LegRow:
    vals, sources = leg.values("output_throughput")
    # The loader recomputes from per-request arrays; a rep without them falls back to the
    # tool's own aggregate, which the reader must be able to tell apart.
    source = "raw" if sources <= {"requests"} else ", ".join(sorted(s if s != "requests" else "raw" for s in sources))
    launch = leg.launch
    ttft = leg.pooled("ttft_ms")
    return LegRow(
        leg_id=leg.leg_id,
        role=launch.role if launch else None,
        status=launch.status if launch else "missing",
        failure_reason=launch.failure_reason if launch else None,
        counted_reps=len(leg.counted),
        rep_output_tok_s=tuple(vals),
        output_tok_s_source=source if vals else DASH,
        median_output_tok_s=stats.median(vals),
        ttft_ms=ttft,
        median_ttft_ms=_finite_median(ttft),
        median_tpot_ms=_finite_median(leg.pooled("tpot_ms")),
        problems=tuple(_problem_strs(leg.problems + leg.outputs_problems)),
    )


def referenced_leg_ids(run: RunFiles) -> list[str]:
    """Legs on disk plus legs a decision names: a named leg that is absent must show up."""
    ids = list(run.evidence.leg_ids())
    for _, d in run.decisions:
        for leg_id in (*d.reference_legs, *d.candidate_legs, *d.audit_legs):
            if leg_id not in ids:
                ids.append(leg_id)
    return ids


def _role_rank(role: str | None) -> int:
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def leg_rows(run: RunFiles) -> list[LegRow]:
    rows = [leg_row(run.evidence.leg(i)) for i in referenced_leg_ids(run)]
    return sorted(rows, key=lambda r: (_role_rank(r.role), r.leg_id))


# ==================================================================== gates and headline


@dataclass(frozen=True)
class GateRow:
    gate_id: str
    scope: str
    decision_id: str | None
    attempts: int
    audit: AuditVerdict | None
    verdict_label: str
    banked: bool | None  # None: no summary.json says
    unaudited_reason: str | None
    note: str | None = None  # the workflow's word on how the gate ended (summary.json)


def gate_rows(run: RunFiles) -> list[GateRow]:
    latest = latest_decisions(run.decisions)
    attempts: dict[str, int] = {}
    for _, dec in run.decisions:
        attempts[dec.gate_id] = attempts.get(dec.gate_id, 0) + 1
    outcomes: list[GateOutcome] = list(run.summary.gates) if run.summary else []
    seen = {g.gate_id for g in outcomes}
    rows: list[GateRow] = []
    for g in outcomes:
        d = latest.get(g.gate_id)
        rows.append(
            _gate_row(
                run,
                g.gate_id,
                g.scope,
                g.decision_id or (d.decision_id if d else None),
                g.attempts,
                g.banked,
                g.unaudited_reason,
                g.note,
            )
        )
    for gate_id, d in latest.items():
        if gate_id not in seen:
            rows.append(_gate_row(run, gate_id, d.scope, d.decision_id, attempts[gate_id], None, None))
    return rows


WITHDRAWN_LABEL = "withdrawn (not submitted)"


def _gate_row(
    run: RunFiles,
    gate_id: str,
    scope: str,
    decision_id: str | None,
    attempts: int,
    banked: bool | None,
    summary_reason: str | None,
    note: str | None = None,
) -> GateRow:
    if attempts == 0 and decision_id is None:
        # The producer withdrew before submitting: there was nothing for the auditor to see.
        return GateRow(
            gate_id=gate_id,
            scope=scope,
            decision_id=None,
            attempts=0,
            audit=None,
            verdict_label=WITHDRAWN_LABEL,
            banked=banked,
            unaudited_reason=summary_reason,
            note=note,
        )
    audit, label = current_audit(run, gate_id, decision_id)
    reason = summary_reason or (first_line(audit.unaudited_reason) if audit else None)
    if audit is None and reason is None:
        reason = label
    return GateRow(
        gate_id=gate_id,
        scope=scope,
        decision_id=decision_id,
        attempts=attempts,
        audit=audit,
        verdict_label=label,
        banked=banked,
        unaudited_reason=reason,
        note=note,
    )
