"""The report's sections after the headline (summary, gates, claims, verdicts, legs, timeline,
what-if) as blocks: each shows what the run directory holds, verified or not, and says which."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geak.auditor.api import audit_stem as audit_file_stem
from geak.auditor.evidence.layout import AUDITS
from geak.auditor.evidence.ledger import Head
from geak.auditor.evidence.models import Manifest
from geak.orchestrator.events import RunEvent

from .blocks import (
    Block,
    Bullets,
    Heading,
    Para,
    Table,
    Tone,
    fmt_bool,
    fmt_ci,
    fmt_finding,
    fmt_num,
    fmt_offset_s,
    fmt_pct,
    non_pass,
)
from .model import (
    CI_CONFIDENCE,
    DASH,
    DELTA_SCOPES,
    WITHDRAWN_LABEL,
    GateRow,
    LegRow,
    Rederived,
    RunFiles,
    first_line,
    latest_decisions,
)


def _workload_text(m: Manifest | None) -> str:
    w = m.workload if m else None
    if w is None:
        return DASH
    rate = "inf" if w.request_rate is None else f"{w.request_rate:g}"
    return (
        f"{w.dataset}, {w.num_prompts} prompts, in {w.input_len if w.input_len is not None else DASH} / "
        f"out {w.output_len if w.output_len is not None else DASH} tokens, rate {rate} req/s, "
        f"concurrency {w.max_concurrency if w.max_concurrency is not None else DASH}, seed "
        f"{w.seed if w.seed is not None else DASH}" + (", repeated sample" if w.repeated_sample else "")
    )


def _seal_text(run: RunFiles, s: Any) -> str:
    """The ledger's head on disk beside the one the run's process sealed (summary.json): two that
    differ say the ledger was rewritten after the run ended (docs/evidence-and-auditor.md, "The seal")."""
    head = run.evidence.ledger.head
    disk = str(head) if head else "no ledger.jsonl (unsealed)"
    said = getattr(s, "ledger_head", None) if s else None
    if said is None:
        return disk
    sealed = Head.from_label(said)
    if sealed is None:
        return disk + f"; summary.json's ledger_head {said[:80]!r} is no head"
    return disk + ("; the run sealed the same head" if sealed == head else f"; the run sealed {sealed}: NOT the same")


def summary_blocks(run: RunFiles) -> list[Block]:
    m, s = run.manifest, run.summary
    use_auditor = (
        f"{s.use_auditor}"
        if s
        else f"{m.args['use_auditor']} (manifest args)"
        if m and "use_auditor" in m.args
        else DASH
    )
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
        # the baseline gate signs a reference, not a change: it is in the Gates table, not here
        ("banked changes", ", ".join(s.banked_decisions) if s and s.banked_decisions else "none" if s else DASH),
    ]
    if m and m.imported_from:
        rows.append(("imported from", m.imported_from))
    rows.append(("sealed", _seal_text(run, s)))
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
            # the claim's metric is the producer's word: shown, bounded, whatever it is (P1 judges it)
            metric = d.claim.metric if len(str(d.claim.metric)) <= 60 else str(d.claim.metric)[:57] + "..."
            rows.append(
                (d.gate_id, d.decision_id, f"{what} {metric}" if what != "non-overlap" else what, claimed, derived)
            )
        rows.append((d.gate_id, d.decision_id, f"delta {CI_CONFIDENCE:.0%} CI", DASH, fmt_ci(n.ci_pct)))
    return [
        Heading("Claimed vs re-derived"),
        Para(
            "Claimed: the producer's numbers in decisions.jsonl. Re-derived: medians of per-rep values "
            "recomputed from the raw per-request arrays. Neither is a headline unless its gate PASSed.",
            "muted",
        ),
        Table(("gate", "decision", "quantity", "claimed", "re-derived"), tuple(rows)),
    ]


def _banked_text(banked: bool | None, have_summary: bool) -> str:
    if banked is None:
        return DASH + (" (not in summary.json)" if have_summary else " (no summary.json)")
    return "banked" if banked else "withheld"


def gate_blocks(rows: Sequence[GateRow], have_summary: bool) -> list[Block]:
    if not rows:
        return [Heading("Gates"), Para("No gates: no decisions and no summary.", "muted")]
    table = tuple(
        (
            g.gate_id,
            g.scope,
            g.decision_id or DASH,
            str(g.attempts),
            g.verdict_label,
            "withdrawn" if g.verdict_label == WITHDRAWN_LABEL else _banked_text(g.banked, have_summary),
            g.unaudited_reason or DASH,
            g.note or DASH,
        )
        for g in rows
    )
    return [
        Heading("Gates"),
        Table(
            ("gate", "scope", "decision", "attempts", "verdict", "banked / withheld", "unaudited reason", "note"), table
        ),
    ]


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
        out.append(
            Para(
                f"{AUDITS}/{stem}.json, decision {a.decision_id or DASH}, scope {a.scope or DASH}, "
                f"actions {', '.join(a.actions) or DASH}, auditor {a.auditor_version or DASH}",
                tone,
            )
        )
        bad = non_pass(a.findings)
        out.append(Bullets(tuple(fmt_finding(f) for f in bad)) if bad else Para("Every finding passed.", "muted"))
    return out


def leg_blocks(rows: Sequence[LegRow]) -> list[Block]:
    out: list[Block] = [Heading("Legs")]
    if not rows:
        return out + [Para("No legs on disk and none named by a decision.", "muted")]
    table = tuple(
        (
            r.leg_id,
            r.role or DASH,
            r.status + (f": {first_line(r.failure_reason)}" if r.failure_reason else ""),
            str(r.counted_reps),
            fmt_num(r.median_output_tok_s),
            r.output_tok_s_source,
            fmt_num(r.median_ttft_ms),
            fmt_num(r.median_tpot_ms, 2),
        )
        for r in rows
    )
    out.append(
        Table(
            (
                "leg",
                "role",
                "status",
                "counted reps",
                "median output tok/s",
                "tok/s from",
                "median TTFT ms",
                "median TPOT ms",
            ),
            table,
        )
    )
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
    table = tuple(
        (fmt_offset_s(dt), e.node, e.event, e.gate_id or e.leg_id or DASH, e.message, _event_verdict(e))
        for dt, e in rows
    )
    return out + [Table(("t", "node", "event", "gate / leg", "message", "verdict"), table)]


def what_if_blocks(run: RunFiles) -> list[Block]:
    """A what-if replay's decision diff: per gate, recorded vs replayed, and the rules that moved."""
    wi = run.what_if
    if wi is None:
        return []
    from ..what_if import diff_row

    rows = tuple(diff_row(g, DASH) for g in wi.gates)
    flipped = wi.flipped
    changed = ", ".join(f"{k} {v}" for k, v in wi.changed_inputs.items()) or "nothing"
    return [
        Heading("What-if: this replay against its recording", 2),
        Para(
            f"Replayed {wi.source} with {changed} changed. {len(flipped)} banked decision(s) flipped"
            + (f" ({', '.join(g.gate_id for g in flipped)})" if flipped else "")
            + "."
        ),
        Table(("gate", "recorded", "replayed", "rules changed", "note"), rows),
    ]
