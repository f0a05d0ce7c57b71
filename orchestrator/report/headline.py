"""The report's headline: a number only where the audit of its very decision PASSed; the
baseline as the verified reference of a run that banked nothing; every declared trade-off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from geak.auditor import stats
from geak.auditor.api import audit_stem as audit_file_stem
from geak.auditor.evidence.models import AuditVerdict, Decision

from .model import (
    GateRow,
    RunFiles,
    Rederived,
    current_audit,
    gate_rows,
    latest_decisions,
    metric_unit,
    rederive,
    side_values,
)


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
    trade_offs: tuple[str, ...] = ()  # latency the change costs: declared by the producer, measured by P7


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
        out.append(
            f"run-level records (manifest, decisions.jsonl): {run_audit.verdict or 'unaudited'}, "
            f"see audits/{audit_file_stem('run', run_level=True)}.json"
        )
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
    return (
        s is not None
        and s.status == "complete"
        and s.bundle_decision is None
        and all(b.startswith("d-baseline") for b in s.banked_decisions)
    )


def baseline_ref(run: RunFiles) -> BaselineRef:
    d = latest_decisions(run.decisions).get(BASELINE_GATE)
    if d is None:
        return BaselineRef(None, None, "not recorded (decisions.jsonl has no baseline decision)")
    audit, label = current_audit(run, BASELINE_GATE, d.decision_id)
    if audit is not None and audit.decision_id != d.decision_id:
        # Stricter than current_audit: an audit that does not name this decision cannot sign it.
        audit, label = (
            None,
            (
                f"not audited (audits/{audit_file_stem(BASELINE_GATE)}.json names no decision, "
                f"the latest baseline decision is {d.decision_id})"
            ),
        )
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
        what = (
            f"decision {g.decision_id}, {g.attempts} attempt(s), verdict {g.verdict_label}"
            if g.decision_id
            else "not submitted"
        )
        out.append(f"{g.gate_id} ({what}): {g.note or 'not banked'}")
    return tuple(out)


def last_banked_change(run: RunFiles) -> Decision | None:
    """The last change a patch gate banked in a run that has no final validation (a workflow without
    a validate phase): the headline then is that gate's own delta, said as such."""
    s = run.summary
    ids = [b for b in (s.banked_decisions if s else []) if not b.startswith("d-baseline")]
    by_id = {d.decision_id: d for _, d in run.decisions}
    return by_id.get(ids[-1]) if ids and ids[-1] in by_id and by_id[ids[-1]].scope == "patch" else None


def headline(run: RunFiles) -> Headline:
    decision, why = bundle_decision(run)
    caveats: tuple[str, ...] = ()
    if decision is None and nothing_banked(run):
        return Headline(
            "no_change", "no change beat the baseline", baseline=baseline_ref(run), tried=tried_gates(gate_rows(run))
        )
    if decision is None and (last := last_banked_change(run)) is not None:
        decision = last
        caveats = (
            f"no final validation: the workflow has no validate phase, so this is gate {last.gate_id}'s own delta "
            "against its reference; banked changes were not measured together",
        )
    if decision is None:
        return Headline("none", why)
    audit, label = current_audit(run, decision.gate_id, decision.decision_id)
    if audit is None or audit.verdict is None:
        return Headline("none", f"gate {decision.gate_id} ({decision.decision_id}) is {label}", decision, audit)
    if audit.verdict == "FAIL":
        return Headline("none", f"the auditor FAILed gate {decision.gate_id} ({decision.decision_id})", decision, audit)
    numbers = rederive(run.evidence, decision)
    if numbers.delta_pct is None:
        return Headline(
            "none",
            f"gate {decision.gate_id} has a {audit.verdict} verdict, but its legs' raw "
            "repetitions do not re-derive a delta here",
            decision,
            audit,
            numbers,
        )
    state: HeadlineState = "verified" if audit.verdict == "PASS" else "flagged"
    return Headline(
        state, "", decision, audit, numbers, caveats or stacked_caveats(run, decision), trade_offs=trade_offs(audit)
    )


def trade_offs(audit: AuditVerdict) -> tuple[str, ...]:
    """The latency percentiles the signing gate's P7 measured worse and the producer declared: a
    throughput headline is read beside what it costs. The auditor's own figures, never the claim."""
    out: list[str] = []
    for f in audit.findings:
        got = (
            f.recomputed.get("declared_and_measured") if f.rule_id == "P7" and isinstance(f.recomputed, dict) else None
        )
        if isinstance(got, list):
            out += [str(x) for x in got]
    return tuple(out)
