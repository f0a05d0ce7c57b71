"""The run report: what a run verified, what it only claims, and what is missing.

Built from the run directory's files alone (manifest, decisions, legs, audits, events,
summary); nothing is re-run and the auditor is never called. The auditor's verdict file is
the signature: a number becomes the headline only when the audit of the very decision it
belongs to PASSed, and even then it is re-derived from the raw repetitions, never copied
from the producer's claim.

One list of blocks is rendered twice (Markdown and self-contained HTML with inline SVG),
so the two files cannot tell different stories.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from geak.auditor import stats
from geak.auditor.audit import audit_stem as audit_file_stem
from geak.auditor.checks import RULES
from geak.auditor.evidence.loader import LegData, RunEvidence
from geak.auditor.evidence.models import (
    AuditVerdict,
    Decision,
    Finding,
    LegRole,
    Manifest,
)
from geak.auditor.evidence.store import Problem, RunStore
from geak.orchestrator.events import GateOutcome, RunEvent, RunSummary

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


def _problem_strs(problems: Sequence[Problem]) -> list[str]:
    return [str(p) for p in problems]


def _read_audits(store: RunStore) -> tuple[dict[str, AuditVerdict], list[str]]:
    audits: dict[str, AuditVerdict] = {}
    problems: list[str] = []
    d = store.root / "audits"
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        verdict, probs = store.read_json(f"audits/{p.name}", AuditVerdict)
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
    if store.exists("decisions.jsonl"):
        decisions = ev.decisions
        problems += _problem_strs(ev.decisions_and_problems[1])
    else:
        missing.append("decisions.jsonl: no decisions were recorded, so there is nothing to gate or headline")
    summary = None
    if store.exists("summary.json"):
        summary, probs = store.read_json("summary.json", RunSummary)
        problems += _problem_strs(probs)
    else:
        missing.append("summary.json: not written by `geak run` (imported run, or it stopped before its first node); "
                       "status, passthrough phases and banking are unknown")
    events: list[RunEvent] = []
    if store.exists("events.jsonl"):
        events, probs = store.read_jsonl("events.jsonl", RunEvent)
        events = [e for _, e in events]
        problems += _problem_strs(probs)
    else:
        missing.append("events.jsonl: no timeline was recorded")
    audits, probs = _read_audits(store)
    problems += probs
    if not audits:
        missing.append("audits/: no audit verdicts; every gate is not audited and no headline can be verified")
    return RunFiles(root=store.root, evidence=ev, manifest=ev.manifest, decisions=decisions, summary=summary,
                    events=events, audits=audits, problems=problems, missing=missing)


def latest_decisions(decisions: Sequence[tuple[int, Decision]]) -> dict[str, Decision]:
    """The latest decision per gate: a resubmitted gate is judged on what would be banked."""
    return {d.gate_id: d for _, d in decisions}


def current_audit(run: RunFiles, gate_id: str, decision_id: str | None) -> tuple[AuditVerdict | None, str]:
    """The audit of this gate's current decision, or None with the reason it cannot count."""
    audit = run.audits.get(audit_file_stem(gate_id))
    if audit is None:
        return None, "not audited"
    if decision_id and audit.decision_id and audit.decision_id != decision_id:
        # A verdict on an earlier attempt says nothing about the decision that would be banked.
        return None, f"not audited (audits/{audit_file_stem(gate_id)}.json is of {audit.decision_id}, the latest decision is {decision_id})"
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
    metric, hib = decision.claim.metric, decision.claim.higher_is_better
    ref = side_values(ev, decision.reference_legs, metric)
    cand = side_values(ev, decision.candidate_legs, metric)
    ref_med, cand_med = stats.median(ref), stats.median(cand)
    return Rederived(
        metric=metric, higher_is_better=hib,
        reference_legs=tuple(decision.reference_legs), candidate_legs=tuple(decision.candidate_legs),
        reference_values=tuple(ref), candidate_values=tuple(cand),
        reference_median=ref_med, candidate_median=cand_med,
        delta_pct=stats.delta_pct(ref_med, cand_med, hib),
        ci_pct=stats.bootstrap_delta_ci(ref, cand, higher_is_better=hib, n_boot=BOOTSTRAP_RESAMPLES,
                                        confidence=CI_CONFIDENCE, seed=BOOTSTRAP_SEED),
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
    for _, d in run.decisions:
        attempts[d.gate_id] = attempts.get(d.gate_id, 0) + 1
    outcomes: list[GateOutcome] = list(run.summary.gates) if run.summary else []
    seen = {g.gate_id for g in outcomes}
    rows: list[GateRow] = []
    for g in outcomes:
        d = latest.get(g.gate_id)
        rows.append(_gate_row(run, g.gate_id, g.scope, g.decision_id or (d.decision_id if d else None),
                              g.attempts, g.banked, g.unaudited_reason, g.note))
    for gate_id, d in latest.items():
        if gate_id not in seen:
            rows.append(_gate_row(run, gate_id, d.scope, d.decision_id, attempts[gate_id], None, None))
    return rows


WITHDRAWN_LABEL = "withdrawn (not submitted)"


def _gate_row(run: RunFiles, gate_id: str, scope: str, decision_id: str | None, attempts: int,
              banked: bool | None, summary_reason: str | None, note: str | None = None) -> GateRow:
    if attempts == 0 and decision_id is None:
        # The producer withdrew before submitting: there was nothing for the auditor to see.
        return GateRow(gate_id=gate_id, scope=scope, decision_id=None, attempts=0, audit=None,
                       verdict_label=WITHDRAWN_LABEL, banked=banked, unaudited_reason=summary_reason, note=note)
    audit, label = current_audit(run, gate_id, decision_id)
    reason = summary_reason or (first_line(audit.unaudited_reason) if audit else None)
    if audit is None and reason is None:
        reason = label
    return GateRow(gate_id=gate_id, scope=scope, decision_id=decision_id, attempts=attempts, audit=audit,
                   verdict_label=label, banked=banked, unaudited_reason=reason, note=note)


HeadlineState = Literal["verified", "flagged", "none", "no_change"]
BASELINE_GATE = "baseline"
BASELINE_METRIC = "output_throughput"


@dataclass(frozen=True)
class BaselineRef:
    """The baseline as the verified reference of a run that banked no change."""

    decision: Decision | None
    audit: AuditVerdict | None  # only an audit of this very decision
    label: str  # PASS | FLAG | FAIL | why it is not audited
    legs: tuple[str, ...] = ()
    values: tuple[float, ...] = ()
    median: float | None = None  # re-derived; None unless the audit is PASS or FLAG

    @property
    def unit(self) -> str:
        return metric_unit(BASELINE_METRIC)


@dataclass(frozen=True)
class Headline:
    state: HeadlineState
    why: str
    decision: Decision | None = None
    audit: AuditVerdict | None = None
    numbers: Rederived | None = None
    caveats: tuple[str, ...] = ()
    baseline: BaselineRef | None = None  # state "no_change" only
    tried: tuple[str, ...] = ()  # state "no_change": gates that ended without a bank, with their notes


def stacked_caveats(run: RunFiles, bundle: Decision) -> tuple[str, ...]:
    """Parts of the bundle, and run-level records, that did not PASS.

    The bundle gate judges the stacked result, not each part; a part that FAILed its own
    gate still ships inside the number, and the reader must see that next to it.
    """
    by_id = {d.decision_id: d for _, d in run.decisions}
    out: list[str] = []
    for decision_id in bundle.accepted_decisions:
        part = by_id.get(decision_id)
        if part is None:
            out.append(f"stacked decision {decision_id} is not in decisions.jsonl")
            continue
        _, label = current_audit(run, part.gate_id, decision_id)
        if label != "PASS":
            out.append(f"stacked decision {decision_id} (gate {part.gate_id}): {label}")
    run_audit = run.audits.get(audit_file_stem("run", run_level=True))
    if run_audit is not None and run_audit.verdict != "PASS":
        out.append(f"run-level records (manifest, decisions.jsonl): {run_audit.verdict or 'unaudited'}, "
                   f"see audits/{audit_file_stem('run', run_level=True)}.json")
    return tuple(out)


def bundle_decision(run: RunFiles) -> tuple[Decision | None, str]:
    wanted = run.summary.bundle_decision if run.summary else None
    if wanted:
        matches = [d for _, d in run.decisions if d.decision_id == wanted]
        if matches:
            return matches[-1], ""
        return None, f"summary.json names bundle decision {wanted}, but decisions.jsonl has no such record"
    bundles = [d for _, d in run.decisions if d.scope == "bundle"]
    if bundles:
        return bundles[-1], ""
    return None, "the run has no bundle decision (a final validation was not recorded)"


def nothing_banked(run: RunFiles) -> bool:
    """A complete run whose finalize skipped validation: no bundle, only baseline decisions banked."""
    s = run.summary
    return (s is not None and s.status == "complete" and s.bundle_decision is None
            and all(b.startswith("d-baseline") for b in s.banked_decisions))


def baseline_ref(run: RunFiles) -> BaselineRef:
    d = latest_decisions(run.decisions).get(BASELINE_GATE)
    if d is None:
        return BaselineRef(None, None, "not recorded (decisions.jsonl has no baseline decision)")
    audit, label = current_audit(run, BASELINE_GATE, d.decision_id)
    if audit is not None and audit.decision_id != d.decision_id:
        # Stricter than current_audit: an audit that does not name this decision cannot sign it.
        audit, label = None, (f"not audited (audits/{audit_file_stem(BASELINE_GATE)}.json names no decision, "
                              f"the latest baseline decision is {d.decision_id})")
    if audit is None or audit.verdict not in ("PASS", "FLAG"):
        return BaselineRef(d, audit, label, tuple(d.reference_legs))
    values = side_values(run.evidence, d.reference_legs, BASELINE_METRIC)
    return BaselineRef(d, audit, label, tuple(d.reference_legs), tuple(values), stats.median(values))


def tried_gates(gates: Sequence[GateRow]) -> tuple[str, ...]:
    """Gates the workflow ended without a bank (withdrawn or withheld), one line each."""
    out: list[str] = []
    for g in gates:
        if g.banked is not False or g.gate_id == BASELINE_GATE:
            continue
        what = (f"decision {g.decision_id}, {g.attempts} attempt(s), verdict {g.verdict_label}"
                if g.decision_id else "not submitted")
        out.append(f"{g.gate_id} ({what}): {g.note or 'not banked'}")
    return tuple(out)


def headline(run: RunFiles) -> Headline:
    decision, why = bundle_decision(run)
    if decision is None and nothing_banked(run):
        return Headline("no_change", "no change beat the baseline", baseline=baseline_ref(run),
                        tried=tried_gates(gate_rows(run)))
    if decision is None:
        return Headline("none", why)
    audit, label = current_audit(run, decision.gate_id, decision.decision_id)
    if audit is None or audit.verdict is None:
        return Headline("none", f"gate {decision.gate_id} ({decision.decision_id}) is {label}", decision, audit)
    if audit.verdict == "FAIL":
        return Headline("none", f"the auditor FAILed gate {decision.gate_id} ({decision.decision_id})", decision, audit)
    numbers = rederive(run.evidence, decision)
    if numbers.delta_pct is None:
        return Headline("none", f"gate {decision.gate_id} has a {audit.verdict} verdict, but its legs' raw "
                        "repetitions do not re-derive a delta here", decision, audit, numbers)
    state: HeadlineState = "verified" if audit.verdict == "PASS" else "flagged"
    return Headline(state, "", decision, audit, numbers, stacked_caveats(run, decision))


def non_pass(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.outcome != "pass"]


def rule_title(rule_id: str) -> str:
    r = RULES.get(rule_id)
    return r.title if r else "?"


# ==================================================================== formatting


def fmt_num(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:.{digits}f}"


def fmt_pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:+.2f}%"


def fmt_ci(ci: tuple[float, float] | None) -> str:
    if ci is None:
        return DASH
    return f"[{ci[0]:+.2f}%, {ci[1]:+.2f}%]"


def fmt_bool(x: bool | None) -> str:
    return DASH if x is None else ("yes" if x else "no")


def fmt_offset_s(x: float) -> str:
    return f"+{x:.1f} s" if x >= 0 else f"{x:.1f} s"


def fmt_finding(f: Finding) -> str:
    where = "; ".join(str(e) for e in f.evidence)
    action = f" → {f.action}" if f.action != "pass" else ""
    return f"{f.rule_id} {f.outcome}{action}: {f.message}" + (f" [{where}]" if where else "")


# ==================================================================== blocks


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


Tone = Literal["", "pass", "flag", "fail", "muted"]


@dataclass(frozen=True)
class Para:
    text: str
    tone: Tone = ""
    strong: bool = False


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    svg: str
    caption: str


Block = Heading | Para | Bullets | Table | Figure


def _failed_rules(a: AuditVerdict) -> tuple[str, ...]:
    # Rule ids and titles only: a failing message may quote the claimed number,
    # which must not read as a headline.
    return tuple(f"{f.rule_id} ({rule_title(f.rule_id)}) → {f.action}" for f in a.findings if f.outcome == "fail")


def no_change_blocks(h: Headline) -> list[Block]:
    b = h.baseline
    assert b is not None
    out: list[Block] = [Para("No change beat the baseline: nothing to validate.", strong=True)]
    d = b.decision
    if d is None:
        out.append(Para(f"No verified reference: the baseline is {b.label}.", "fail"))
    elif b.label in ("PASS", "FLAG") and b.median is not None:
        assert b.audit is not None
        unit = f" {b.unit}" if b.unit else ""
        number = (f"baseline median {BASELINE_METRIC} {fmt_num(b.median)}{unit} ({len(b.values)} reps of "
                  f"{', '.join(b.legs)}; median of per-rep values re-derived from raw repetitions)")
        where = f"gate {d.gate_id}, decision {d.decision_id}, audits/{audit_file_stem(d.gate_id)}.json"
        if b.label == "PASS":
            out.append(Para(f"Verified reference: {number}, baseline signed by the auditor (PASS): {where}.", "pass"))
        else:
            out.append(Para(f"Reference {number}: not verified (FLAG): {where}.", "flag"))
            out.append(Bullets(tuple(fmt_finding(f) for f in non_pass(b.audit.findings))))
    elif b.label in ("PASS", "FLAG"):
        out.append(Para(f"No verified reference: gate {d.gate_id} ({d.decision_id}) has a {b.label} verdict, but its "
                        "legs' raw repetitions do not re-derive a median here.", "fail"))
    else:
        out.append(Para(f"No verified reference: gate {d.gate_id} ({d.decision_id}) is {b.label}.", "fail"))
        if b.audit is not None and b.audit.verdict == "FAIL":
            failed = _failed_rules(b.audit)
            if failed:
                out.append(Bullets(failed))
            out.append(Para("Messages and evidence are under Verdicts.", "muted"))
    if h.tried:
        out.append(Para("Tried, not banked:", "muted"))
        out.append(Bullets(h.tried))
    return out


def headline_blocks(h: Headline) -> list[Block]:
    out: list[Block] = [Heading("Headline")]
    if h.state == "no_change":
        return out + no_change_blocks(h)
    d, a, n = h.decision, h.audit, h.numbers
    if h.state == "none":
        out.append(Para(f"No verified headline: {h.why}.", "fail", strong=True))
        if a is not None and a.verdict == "FAIL":
            failed = _failed_rules(a)
            if failed:
                out.append(Bullets(failed))
            out.append(Para("Messages and evidence are under Verdicts.", "muted"))
        return out
    assert d is not None and a is not None and n is not None
    unit = f" {n.unit}" if n.unit else ""
    numbers = (f"{n.metric} {fmt_pct(n.delta_pct)} (bootstrap {CI_CONFIDENCE:.0%} CI {fmt_ci(n.ci_pct)}, "
               f"seed {BOOTSTRAP_SEED}, {BOOTSTRAP_RESAMPLES} resamples): median of per-rep values, reference "
               f"{fmt_num(n.reference_median)}{unit} ({len(n.reference_values)} reps of {', '.join(n.reference_legs)}) "
               f"→ candidate {fmt_num(n.candidate_median)}{unit} ({len(n.candidate_values)} reps of "
               f"{', '.join(n.candidate_legs)}); re-derived from raw repetitions")
    where = f"gate {d.gate_id}, decision {d.decision_id}, audits/{audit_file_stem(d.gate_id)}.json"
    if h.state == "verified":
        out.append(Para(f"{numbers}. Signed by the auditor (PASS): {where}.", "pass", strong=True))
    else:
        out.append(Para(f"Not verified (FLAG): {numbers}. {where}.", "flag", strong=True))
        out.append(Bullets(tuple(fmt_finding(f) for f in non_pass(a.findings))))
    if h.caveats:
        out.append(Para("Caveat: the bundle gate judges the stacked result; these parts did not PASS their own gates:",
                        "flag"))
        out.append(Bullets(h.caveats))
    return out


def _workload_text(m: Manifest | None) -> str:
    w = m.workload if m else None
    if w is None:
        return DASH
    rate = "inf" if w.request_rate is None else f"{w.request_rate:g}"
    return (f"{w.dataset}, {w.num_prompts} prompts, in {w.input_len if w.input_len is not None else DASH} / "
            f"out {w.output_len if w.output_len is not None else DASH} tokens, rate {rate} req/s, "
            f"concurrency {w.max_concurrency if w.max_concurrency is not None else DASH}, seed "
            f"{w.seed if w.seed is not None else DASH}" + (", repeated sample" if w.repeated_sample else ""))


def summary_blocks(run: RunFiles) -> list[Block]:
    m, s = run.manifest, run.summary
    use_auditor = (f"{s.use_auditor}" if s else
                   f"{m.args['use_auditor']} (manifest args)" if m and "use_auditor" in m.args else DASH)
    rows = [
        ("run id", m.run_id if m else (s.run_id if s else run.root.name)),
        ("model", (m.model if m else None) or DASH),
        ("engine", (m.engine if m else None) or DASH),
        ("workload", _workload_text(m)),
        ("status", s.status if s else "unknown (no summary.json)"),
        ("use_auditor", use_auditor),
        ("llm mode", s.llm_mode if s else DASH),
        ("phases done", ", ".join(s.phases_done) if s and s.phases_done else DASH),
        ("bundle decision", (s.bundle_decision if s else None) or DASH),
        ("banked decisions", ", ".join(s.banked_decisions) if s and s.banked_decisions else DASH),
    ]
    if m and m.imported_from:
        rows.append(("imported from", m.imported_from))
    if s and s.error:
        rows.append(("error", s.error))
    out: list[Block] = [Heading("Summary"), Table(("field", "value"), tuple(rows))]
    if s and s.passthrough:
        out.append(Para("Passthrough phases (ran, did nothing):", "flag", strong=True))
        out.append(Bullets(tuple(f"{phase}: {why}" for phase, why in s.passthrough.items())))
    if s and s.final_config:
        out.append(Para("Final config: " + ", ".join(f"{k}={v}" for k, v in s.final_config.items())))
    return out


def missing_blocks(run: RunFiles) -> list[Block]:
    items = tuple(run.missing + run.problems)
    if not items:
        return []
    return [Heading("Missing or unreadable"), Bullets(items)]


def claimed_blocks(run: RunFiles, rederived: dict[str, Rederived]) -> list[Block]:
    latest = [d for d in latest_decisions(run.decisions).values() if d.scope in DELTA_SCOPES]
    if not latest:
        return []
    rows = []
    for d in latest:
        n, c = rederived[d.gate_id], d.claim
        for what, claimed, derived in (
            ("reference", fmt_num(c.reference_value, 3), fmt_num(n.reference_median, 3)),
            ("candidate", fmt_num(c.candidate_value, 3), fmt_num(n.candidate_median, 3)),
            ("delta", fmt_pct(c.delta_pct), fmt_pct(n.delta_pct)),
            ("non-overlap", fmt_bool(c.non_overlap), fmt_bool(n.non_overlap)),
        ):
            rows.append((d.gate_id, d.decision_id, f"{what} {d.claim.metric}" if what != "non-overlap" else what,
                         claimed, derived))
        rows.append((d.gate_id, d.decision_id, f"delta {CI_CONFIDENCE:.0%} CI", DASH, fmt_ci(n.ci_pct)))
    return [
        Heading("Claimed vs re-derived"),
        Para("Claimed: the producer's numbers in decisions.jsonl. Re-derived: medians of per-rep values "
             "recomputed from the raw per-request arrays. Neither is a headline unless its gate PASSed.", "muted"),
        Table(("gate", "decision", "quantity", "claimed", "re-derived"), tuple(rows)),
    ]


def _banked_text(banked: bool | None, have_summary: bool) -> str:
    if banked is None:
        return DASH + (" (not in summary.json)" if have_summary else " (no summary.json)")
    return "banked" if banked else "withheld"


def gate_blocks(rows: Sequence[GateRow], have_summary: bool) -> list[Block]:
    if not rows:
        return [Heading("Gates"), Para("No gates: no decisions and no summary.", "muted")]
    table = tuple((g.gate_id, g.scope, g.decision_id or DASH, str(g.attempts), g.verdict_label,
                   "withdrawn" if g.verdict_label == WITHDRAWN_LABEL else _banked_text(g.banked, have_summary),
                   g.unaudited_reason or DASH, g.note or DASH) for g in rows)
    return [Heading("Gates"),
            Table(("gate", "scope", "decision", "attempts", "verdict", "banked / withheld", "unaudited reason", "note"),
                  table)]


def verdict_blocks(run: RunFiles, gates: Sequence[GateRow]) -> list[Block]:
    out: list[Block] = [Heading("Verdicts")]
    if not run.audits:
        return out + [Para("No audit verdicts on disk: not audited.", "muted")]
    gate_order = [audit_file_stem(g.gate_id) for g in gates]
    # Gate order first; audits of no listed gate (the run-level "run" gate) go last.
    stems = sorted(run.audits, key=lambda s: (gate_order.index(s) if s in gate_order else len(gate_order), s))
    for stem in stems:
        a = run.audits[stem]
        tone: Tone = {"PASS": "pass", "FLAG": "flag", "FAIL": "fail"}.get(a.verdict or "", "muted")  # type: ignore[assignment]
        label = a.verdict or f"unaudited ({first_line(a.unaudited_reason) or 'no reason given'})"
        out.append(Heading(f"{a.gate_id}: {label}", 3))
        out.append(Para(f"audits/{stem}.json, decision {a.decision_id or DASH}, scope {a.scope or DASH}, "
                        f"actions {', '.join(a.actions) or DASH}, auditor {a.auditor_version or DASH}", tone))
        bad = non_pass(a.findings)
        out.append(Bullets(tuple(fmt_finding(f) for f in bad)) if bad else Para("Every finding passed.", "muted"))
    return out


def leg_blocks(rows: Sequence[LegRow]) -> list[Block]:
    out: list[Block] = [Heading("Legs")]
    if not rows:
        return out + [Para("No legs on disk and none named by a decision.", "muted")]
    table = tuple((
        r.leg_id, r.role or DASH, r.status + (f": {first_line(r.failure_reason)}" if r.failure_reason else ""),
        str(r.counted_reps), fmt_num(r.median_output_tok_s), r.output_tok_s_source,
        fmt_num(r.median_ttft_ms), fmt_num(r.median_tpot_ms, 2),
    ) for r in rows)
    out.append(Table(("leg", "role", "status", "counted reps", "median output tok/s", "tok/s from",
                      "median TTFT ms", "median TPOT ms"), table))
    problems = tuple(p for r in rows for p in r.problems)
    if problems:
        out.append(Para("Problems reading legs:", "fail", strong=True))
        out.append(Bullets(problems))
    return out


def timeline_rows(events: Sequence[RunEvent]) -> list[tuple[float, RunEvent]]:
    if not events:
        return []
    t0 = events[0].t
    return [(e.t - t0, e) for e in events]


def _event_verdict(e: RunEvent) -> str:
    if e.verdict:
        return e.verdict
    return "unaudited" if e.event == "unaudited" else DASH


def timeline_blocks(rows: Sequence[tuple[float, RunEvent]]) -> list[Block]:
    out: list[Block] = [Heading("Timeline")]
    if not rows:
        return out + [Para("No events recorded.", "muted")]
    table = tuple((fmt_offset_s(dt), e.node, e.event, e.gate_id or e.leg_id or DASH, e.message, _event_verdict(e))
                  for dt, e in rows)
    return out + [Table(("t", "node", "event", "gate / leg", "message", "verdict"), table)]


# ==================================================================== SVG plots

LABEL_W = 200
PLOT_W = 520
RIGHT_PAD = 24
ROW_H = 24
TOP_PAD = 30
AXIS_H = 40
WIDTH = LABEL_W + PLOT_W + RIGHT_PAD
VERDICT_COLOURS = {"PASS": "#2e7d32", "FLAG": "#b26a00", "FAIL": "#c62828"}
NEUTRAL = "#607d8b"
ROLE_COLOURS = dict(zip(ROLE_ORDER, ("#1565c0", "#6a1b9a", "#00838f", "#2e7d32", "#ef6c00", "#8d6e63", "#546e7a")))


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return [lo]
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(k * mag for k in (1, 2, 2.5, 5, 10) if k * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    n = math.floor((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(max(n, 0))]


@dataclass(frozen=True)
class Axis:
    lo: float
    hi: float

    def x(self, v: float) -> float:
        return LABEL_W + (v - self.lo) / (self.hi - self.lo) * PLOT_W


def axis_for(values: Sequence[float], include_zero: bool = False) -> Axis:
    vals = [v for v in values if math.isfinite(v)] + ([0.0] if include_zero else [])
    if not vals:
        return Axis(0.0, 1.0)
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.06 or max(abs(lo) * 0.05, 1.0)
    return Axis(lo - pad, hi + pad)


def row_y(i: int) -> float:
    return TOP_PAD + i * ROW_H + ROW_H / 2


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _text(x: float, y: float, s: str, anchor: str = "start", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}>{_esc(s)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1.0, dash: str = "") -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            f'stroke-width="{width}"{d}/>')


def _rect(x: float, y: float, w: float, h: float, fill: str, opacity: float = 1.0, tip: str = "") -> str:
    t = f"<title>{_esc(tip)}</title>" if tip else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{h:.1f}" fill="{fill}" '
            f'fill-opacity="{opacity}">{t}</rect>')


def _circle(x: float, y: float, r: float, fill: str, tip: str) -> str:
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}"><title>{_esc(tip)}</title></circle>'


def row_chart(title: str, x_label: str, labels: Sequence[str], axis: Axis, marks: Sequence[str]) -> str:
    """Rows of marks against one shared horizontal axis, with gridlines and row labels."""
    height = TOP_PAD + len(labels) * ROW_H + AXIS_H
    bottom = TOP_PAD + len(labels) * ROW_H
    svg_open = (f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
                f'aria-label="{_esc(title)}" class="plot">')
    parts = [svg_open, _text(WIDTH / 2, 18, title, "middle", "ttl")]
    for i, label in enumerate(labels):
        if i % 2:
            parts.append(_rect(LABEL_W, row_y(i) - ROW_H / 2, PLOT_W, ROW_H, "#f3f5f7"))
        parts.append(_text(LABEL_W - 8, row_y(i) + 4, label, "end"))
    for t in nice_ticks(axis.lo, axis.hi):
        x = axis.x(t)
        parts.append(_line(x, TOP_PAD, x, bottom, "#dde1e5"))
        parts.append(_text(x, bottom + 14, f"{t:g}", "middle", "tick"))
    parts.append(_line(LABEL_W, bottom, LABEL_W + PLOT_W, bottom, "#90a4ae"))
    parts.append(_text(LABEL_W + PLOT_W / 2, bottom + 32, x_label, "middle", "tick"))
    parts += marks
    parts.append("</svg>")
    return "".join(parts)


def _box_marks(i: int, axis: Axis, q: Sequence[float], colour: str, tip: str) -> list[str]:
    """Box from q[1] to q[3], whiskers to q[0] and q[4], median bar at q[2]."""
    y, h = row_y(i), ROW_H * 0.55
    p5, p25, p50, p75, p95 = (axis.x(v) for v in q)
    return [
        _line(p5, y, p95, y, colour),
        _line(p5, y - h / 3, p5, y + h / 3, colour),
        _line(p95, y - h / 3, p95, y + h / 3, colour),
        _rect(p25, y - h / 2, p75 - p25, h, colour, 0.25, tip),
        _line(p50, y - h / 2, p50, y + h / 2, colour, 2.0),
    ]


def quantiles(xs: Sequence[float], qs: Sequence[float]) -> list[float] | None:
    out = [stats.percentile(xs, q) for q in qs]
    return None if any(v is None for v in out) else [float(v) for v in out if v is not None]


def _leg_label(r: LegRow) -> str:
    return f"{r.leg_id} · {r.role or '?'}"


def throughput_plot(rows: Sequence[LegRow]) -> str:
    axis = axis_for([v for r in rows for v in r.rep_output_tok_s])
    marks: list[str] = []
    for i, r in enumerate(rows):
        colour = ROLE_COLOURS.get(r.role or "", NEUTRAL)
        q = quantiles(r.rep_output_tok_s, (0, 25, 50, 75, 100))
        if q is None:
            marks.append(_text(LABEL_W + 6, row_y(i) + 4, "no counted reps", cls="tick"))
            continue
        marks += _box_marks(i, axis, q, colour, f"{r.leg_id}: median {fmt_num(q[2])} tok/s over {r.counted_reps} reps")
        for j, v in enumerate(r.rep_output_tok_s):
            jitter_px = ((j % 5) - 2) * 2.0  # deterministic, so equal reps stay visible
            marks.append(_circle(axis.x(v), row_y(i) + jitter_px, 2.6, colour, f"{r.leg_id} rep {j}: {v:.1f} tok/s"))
    return row_chart("Output throughput per counted rep, by leg (grouped by role)", "output tok/s",
                     [_leg_label(r) for r in rows], axis, marks)


def ttft_plot(rows: Sequence[LegRow]) -> str:
    qs = {r.leg_id: quantiles(r.ttft_ms, (5, 25, 50, 75, 95)) for r in rows}
    axis = axis_for([v for q in qs.values() if q for v in (q[0], q[4])])
    marks: list[str] = []
    for i, r in enumerate(rows):
        q = qs[r.leg_id]
        if q is None:
            marks.append(_text(LABEL_W + 6, row_y(i) + 4, "no per-request TTFT", cls="tick"))
            continue
        tip = f"{r.leg_id}: p5 {q[0]:.1f}, p25 {q[1]:.1f}, median {q[2]:.1f}, p75 {q[3]:.1f}, p95 {q[4]:.1f} ms"
        marks += _box_marks(i, axis, q, ROLE_COLOURS.get(r.role or "", NEUTRAL), tip)
    return row_chart("TTFT per request, counted reps pooled (box p25-p75, whiskers p5-p95)", "TTFT ms",
                     [_leg_label(r) for r in rows], axis, marks)


def delta_plot(items: Sequence[tuple[Decision, Rederived, str]]) -> str:
    """items: (decision, re-derived numbers, verdict label) per patch/bundle gate."""
    vals = [v for _, n, _ in items for v in ((n.delta_pct,) + (n.ci_pct or ())) if v is not None]
    axis = axis_for(vals, include_zero=True)
    marks: list[str] = []
    for i, (d, n, label) in enumerate(items):
        colour = VERDICT_COLOURS.get(label, NEUTRAL)
        y = row_y(i)
        if n.delta_pct is None:
            marks.append(_text(LABEL_W + 6, y + 4, "not re-derivable", cls="tick"))
            continue
        x0, x1 = sorted((axis.x(0.0), axis.x(n.delta_pct)))
        tip = f"{d.gate_id}: {fmt_pct(n.delta_pct)}, {CI_CONFIDENCE:.0%} CI {fmt_ci(n.ci_pct)}, verdict {label}"
        marks.append(_rect(x0, y - ROW_H * 0.3, x1 - x0, ROW_H * 0.6, colour, 0.7, tip))
        if n.ci_pct:
            lo, hi = axis.x(n.ci_pct[0]), axis.x(n.ci_pct[1])
            marks += [_line(lo, y, hi, y, "#263238", 1.5), _line(lo, y - 5, lo, y + 5, "#263238", 1.5),
                      _line(hi, y - 5, hi, y + 5, "#263238", 1.5)]
    zero = axis.x(0.0)
    marks.append(_line(zero, TOP_PAD - 4, zero, TOP_PAD + len(items) * ROW_H, "#263238", 1.2, "4 3"))
    return row_chart(f"Re-derived delta per patch/bundle gate, with bootstrap {CI_CONFIDENCE:.0%} CI",
                     "delta % (positive = better)", [f"{d.gate_id} ({label})" for d, _, label in items], axis, marks)


def _event_colour(e: RunEvent) -> str:
    if e.verdict in VERDICT_COLOURS:
        return VERDICT_COLOURS[e.verdict]
    return {"error": "#c62828", "bank": "#2e7d32", "withhold": "#b26a00", "withdraw": "#b26a00",
            "unaudited": "#b26a00", "passthrough": "#8d6e63"}.get(e.event, NEUTRAL)


def timeline_plot(rows: Sequence[tuple[float, RunEvent]]) -> str:
    nodes: list[str] = []
    for _, e in rows:
        if e.node not in nodes:
            nodes.append(e.node)
    axis = axis_for([dt for dt, _ in rows])
    marks = [_circle(axis.x(dt), row_y(nodes.index(e.node)), 4, _event_colour(e),
                     f"{fmt_offset_s(dt)} {e.node} {e.event}: {e.message}" + (f" [{e.verdict}]" if e.verdict else ""))
             for dt, e in rows]
    return row_chart("Timeline: events by node (colour: verdict / bank / withhold)", "seconds since the first event",
                     nodes, axis, marks)


def figure_blocks(legs: Sequence[LegRow], deltas: Sequence[tuple[Decision, Rederived, str]],
                  timeline: Sequence[tuple[float, RunEvent]]) -> list[Block]:
    out: list[Block] = [Heading("Plots")]
    if legs:
        out.append(Figure(throughput_plot(legs), "per-leg output throughput per counted rep"))
        out.append(Figure(ttft_plot(legs), "per-leg TTFT distribution"))
    if deltas:
        out.append(Figure(delta_plot(deltas), "re-derived delta per patch/bundle decision"))
    if timeline:
        out.append(Figure(timeline_plot(timeline), "timeline"))
    return out if len(out) > 1 else []


# ==================================================================== rendering


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append(f"**{b.text}**" if b.strong else (f"_{b.text}_" if b.tone == "muted" else b.text))
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {i}" for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(map(_md_cell, b.headers)) + " |", "|" + "---|" * len(b.headers)]
            lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            out.append(f"_Plot: {b.caption} (inline SVG in report.html)._")
    return "\n\n".join(out) + "\n"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:2em auto;max-width:1100px;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d9dee3;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #d9dee3;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}tr:nth-child(even) td{background:#fafbfc}
p.pass{background:#e8f5e9;border-left:4px solid #2e7d32;padding:.5em .8em}
p.flag{background:#fff4e0;border-left:4px solid #b26a00;padding:.5em .8em}
p.fail{background:#fdecea;border-left:4px solid #c62828;padding:.5em .8em}
p.muted{color:#607d8b}
figure{margin:1em 0}figcaption{color:#607d8b;font-size:12px}
svg.plot text{font-size:11px;fill:#263238}svg.plot text.tick{fill:#607d8b}svg.plot text.ttl{font-weight:600;font-size:12px}
"""


def _html_block(b: Block) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{_esc(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        cls = f' class="{b.tone}"' if b.tone else ""
        body = f"<strong>{_esc(b.text)}</strong>" if b.strong else _esc(b.text)
        return f"<p{cls}>{body}</p>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        head = "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in b.headers) + "</tr>"
        body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in b.rows)
        return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"
    return f"<figure>{b.svg}<figcaption>{_esc(b.caption)}</figcaption></figure>"


def to_html(title: str, blocks: Sequence[Block]) -> str:
    body = "\n".join(_html_block(b) for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


# ==================================================================== API


def report_blocks(run: RunFiles) -> tuple[str, list[Block]]:
    run_id = run.manifest.run_id if run.manifest else (run.summary.run_id if run.summary else run.root.name)
    title = f"geak report: {run_id}"
    legs = leg_rows(run)
    gates = gate_rows(run)
    latest = latest_decisions(run.decisions)
    rederived = {g: rederive(run.evidence, d) for g, d in latest.items() if d.scope in DELTA_SCOPES}
    labels = {g.gate_id: g.verdict_label for g in gates}
    deltas = [(latest[g], n, labels.get(g, "not audited")) for g, n in rederived.items()]
    timeline = timeline_rows(run.events)
    blocks: list[Block] = [Heading(title, 1)]
    blocks += headline_blocks(headline(run))
    blocks += summary_blocks(run)
    blocks += missing_blocks(run)
    blocks += gate_blocks(gates, run.summary is not None)
    blocks += claimed_blocks(run, rederived)
    blocks += verdict_blocks(run, gates)
    blocks += leg_blocks(legs)
    blocks += timeline_blocks(timeline)
    blocks += figure_blocks(legs, deltas, timeline)
    return title, blocks


def build_report(run_dir: str | Path) -> tuple[str, str]:
    """(Markdown, HTML) of a run directory. Reads files only; renders whatever is there."""
    title, blocks = report_blocks(load_run(run_dir))
    return to_markdown(blocks), to_html(title, blocks)


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Write RUN/report.md and RUN/report.html, each atomically (tmp + fsync + rename)."""
    md, page = build_report(run_dir)
    store = RunStore(run_dir)
    return store.write_text("report.md", md), store.write_text("report.html", page)


__all__ = ["Headline", "RunFiles", "build_report", "headline", "load_run", "write_report"]
