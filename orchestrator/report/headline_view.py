"""The report's headline section, and the same headline as one terminal line: kept apart from the
other sections because it alone says a number is verified, so its wording is held to the auditor's
verdict (headline.py decides; this module only words it)."""

from __future__ import annotations

from geak.auditor.api import audit_stem as audit_file_stem
from geak.auditor.evidence.models import AuditVerdict

from .blocks import Block, Bullets, Heading, Para, fmt_ci, fmt_finding, fmt_num, fmt_pct, non_pass, rule_title
from .headline import BASELINE_METRIC, Headline
from .model import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CI_CONFIDENCE


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
        number = (
            f"baseline median {BASELINE_METRIC} {fmt_num(b.median)}{unit} ({len(b.values)} reps of "
            f"{', '.join(b.legs)}; median of per-rep values re-derived from raw repetitions)"
        )
        where = f"gate {d.gate_id}, decision {d.decision_id}, audits/{audit_file_stem(d.gate_id)}.json"
        if b.label == "PASS":
            out.append(Para(f"Verified reference: {number}, baseline signed by the auditor (PASS): {where}.", "pass"))
        else:
            out.append(Para(f"Reference {number}: not verified (FLAG): {where}.", "flag"))
            out.append(Bullets(tuple(fmt_finding(f) for f in non_pass(b.audit.findings))))
    elif b.label in ("PASS", "FLAG"):
        out.append(
            Para(
                f"No verified reference: gate {d.gate_id} ({d.decision_id}) has a {b.label} verdict, but its "
                "legs' raw repetitions do not re-derive a median here.",
                "fail",
            )
        )
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


def headline_text(h: Headline) -> str:
    """The headline in one line for a terminal: the number, the gate that signed it, its verdict."""
    if h.state == "no_change":
        b = h.baseline
        assert b is not None
        if b.decision is not None and b.label in ("PASS", "FLAG") and b.median is not None:
            unit = f" {b.unit}" if b.unit else ""
            return (
                f"no change beat the baseline; the baseline {BASELINE_METRIC} {fmt_num(b.median)}{unit} is "
                f"{'signed' if b.label == 'PASS' else 'not verified'}: {b.label} at gate {b.decision.gate_id}"
            )
        return f"no change beat the baseline, and no verified reference: the baseline is {b.label}"
    if h.state == "none":
        return f"no verified headline: {h.why}"
    d, a, n = h.decision, h.audit, h.numbers
    assert d is not None and a is not None and n is not None
    unit = f" {n.unit}" if n.unit else ""
    number = f"{n.metric} {fmt_pct(n.delta_pct)} ({fmt_num(n.reference_median)} -> {fmt_num(n.candidate_median)}{unit})"
    costs = f"; costs {', '.join(t.split(' (')[0] for t in h.trade_offs)} (declared)" if h.trade_offs else ""
    return f"{number}, {'signed' if h.state == 'verified' else 'not verified'}: {a.verdict} at gate {d.gate_id} ({d.decision_id}){costs}"


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
    numbers = (
        f"{n.metric} {fmt_pct(n.delta_pct)} (bootstrap {CI_CONFIDENCE:.0%} CI {fmt_ci(n.ci_pct)}, "
        f"seed {BOOTSTRAP_SEED}, {BOOTSTRAP_RESAMPLES} resamples): median of per-rep values, reference "
        f"{fmt_num(n.reference_median)}{unit} ({len(n.reference_values)} reps of {', '.join(n.reference_legs)}) "
        f"→ candidate {fmt_num(n.candidate_median)}{unit} ({len(n.candidate_values)} reps of "
        f"{', '.join(n.candidate_legs)}); re-derived from raw repetitions"
    )
    where = f"gate {d.gate_id}, decision {d.decision_id}, audits/{audit_file_stem(d.gate_id)}.json"
    if h.state == "verified":
        out.append(Para(f"{numbers}. Signed by the auditor (PASS): {where}.", "pass", strong=True))
    else:
        out.append(Para(f"Not verified (FLAG): {numbers}. {where}.", "flag", strong=True))
        out.append(Bullets(tuple(fmt_finding(f) for f in non_pass(a.findings))))
    if h.trade_offs:
        out.append(Para("Trade-offs (declared by the producer, measured by the auditor's P7):", "flag"))
        out.append(Bullets(h.trade_offs))
    if h.caveats:
        out.append(
            Para(
                "Caveat: the bundle gate judges the stacked result; these parts did not PASS their own gates:"
                if h.decision is not None and h.decision.scope == "bundle"
                else "Caveat:",
                "flag",
            )
        )
        out.append(Bullets(h.caveats))
    return out
