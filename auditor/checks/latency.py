"""P7: a throughput headline hiding a latency regression (TTFT, TPOT, e2e at p50/p99).

From the pooled per-request arrays of the tool's raw files; for rows without them (most
imported formats), from the percentiles the tool itself printed in each row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import stats
from ..evidence.models import EvidencePointer, Finding
from .registry import GateContext, rule


# ---------------------------------------------------------------- P7

LATENCY_METRICS = ("ttft_ms", "tpot_ms", "e2e_ms")


@dataclass
class _Tally:
    """What P7 saw across the metrics: findings so far, comparisons made, and what it skipped or
    found traded. ``traded``: declared regressions that did happen, which the pass must name."""

    out: list[Finding] = field(default_factory=list)
    checked: int = 0
    from_aggregates: int = 0
    skipped: list[str] = field(default_factory=list)
    traded: list[str] = field(default_factory=list)


@rule("P7", ["patch", "bundle"], "hidden latency regression", "flag", "flag")
def p7_latency(ctx: GateContext) -> list[Finding]:
    t = _Tally()
    broken = [leg.leg_id for leg in ctx.reference + ctx.candidate if not leg.counted or leg.problems]
    if broken:
        # percentiles over a partial set of repetitions compare different request populations
        return ctx.unchecked("P7", f"leg(s) {broken} have missing or unreadable repetitions (see P1)")
    for metric in LATENCY_METRICS:
        ref = np.concatenate([leg.pooled(metric) for leg in ctx.reference] or [np.array([])])
        cand = np.concatenate([leg.pooled(metric) for leg in ctx.candidate] or [np.array([])])
        if not len(ref) or not len(cand):
            _judge_aggregates(ctx, metric, t)  # rows without per-request arrays: the tool's own percentiles
        else:
            _judge_pooled(ctx, metric, ref, cand, t)
    if not t.checked:
        return ctx.missing("P7", "no per-request latency arrays in the legs")
    if not t.out:
        t.out += _pass(ctx, t)
    return t.out


def _declared(ctx: GateContext, name: str, metric: str) -> bool:
    return name in ctx.decision.declared_regressions or metric in ctx.decision.declared_regressions


def _judge_aggregates(ctx: GateContext, metric: str, t: _Tally) -> None:
    tol = ctx.policy.latency_tolerance_pct
    for name, r, c in _aggregate_pairs(ctx, metric):
        t.checked += 1
        t.from_aggregates += 1
        worse = (c - r) / r * 100 if r else 0.0
        if worse > tol and _declared(ctx, name, metric):
            t.traded.append(f"{name} {worse:+.1f}% ({r:.2f} -> {c:.2f})")
        elif worse > tol:
            t.out += ctx.bad(
                "P7",
                f"{name} worsened {worse:+.1f}% ({r:.2f} -> {c:.2f}, the tool's own per-rep {name}, "
                "median over reps) behind a throughput headline; declare the trade-off or reject",
                recomputed={name: {"reference": r, "candidate": c, "worse_pct": worse, "source": "tool aggregates"}},
                evidence=[EvidencePointer(file=r_.file, field=name) for leg in ctx.candidate for r_ in leg.counted[:1]],
            )


def _judge_pooled(ctx: GateContext, metric: str, ref: np.ndarray, cand: np.ndarray, t: _Tally) -> None:
    tol = ctx.policy.latency_tolerance_pct
    for q in ctx.policy.latency_percentiles:
        tail = (100.0 - q) / 100.0 if q > 50 else q / 100.0
        if min(len(ref), len(cand)) * tail < ctx.policy.min_samples_per_tail_pct:
            t.skipped.append(f"p{q:g}_{metric} (n={min(len(ref), len(cand))})")
            continue
        r, c = stats.percentile(ref, q), stats.percentile(cand, q)
        if r is not None and r < ctx.policy.latency_degenerate_ms:
            # e.g. TPOT when a request's tokens arrive in one stream chunk: the client saw
            # no decode steps, so a relative change against ~0 measures chunking, not latency
            t.skipped.append(
                f"p{q:g}_{metric} (reference {r:.3f} ms < {ctx.policy.latency_degenerate_ms:g} ms: not a latency)"
            )
            continue
        t.checked += 1
        if r and c is not None:
            worse = (c - r) / r * 100
            name = f"p{q:g}_{metric}"
            if worse > tol and _declared(ctx, name, metric):
                t.traded.append(f"{name} {worse:+.1f}% ({r:.2f} -> {c:.2f})")
            elif worse > tol:
                t.out += ctx.bad(
                    "P7",
                    f"{name} worsened {worse:+.1f}% ({r:.2f} -> {c:.2f}) behind a throughput headline; "
                    "declare the trade-off or reject",
                    recomputed={name: {"reference": r, "candidate": c, "worse_pct": worse}},
                    evidence=[
                        EvidencePointer(file=leg.bench_file, field=f"requests.{metric}") for leg in ctx.candidate
                    ][:2],
                )


def _pass(ctx: GateContext, t: _Tally) -> list[Finding]:
    tol = ctx.policy.latency_tolerance_pct
    note = f"; too few requests to judge {', '.join(t.skipped)}" if t.skipped else ""
    src = f", {t.from_aggregates} of them from the tool's own per-rep percentiles" if t.from_aggregates else ""
    if t.traded:
        return ctx.ok(
            "P7",
            f"declared trade-off(s): {', '.join(t.traded)}; no undeclared latency percentile worse than "
            f"{tol:g}% ({t.checked} compared{src}){note}",
            recomputed={"declared_and_measured": t.traded},
        )
    return ctx.ok("P7", f"no latency percentile worse than {tol:g}% ({t.checked} compared{src}){note}")


_AGG_NAME = {"ttft_ms": "ttft", "tpot_ms": "tpot", "e2e_ms": "e2el"}


def _aggregate_pairs(ctx: GateContext, metric: str) -> list[tuple[str, float, float]]:
    """(name, reference, candidate) from the percentiles the tool printed in each row (median
    over the counted reps), for every policy percentile both sides carry in every rep."""
    out = []
    for q in ctx.policy.latency_percentiles:
        name = f"{'median' if q == 50 else f'p{q:g}'}_{_AGG_NAME[metric]}_ms"
        sides = []
        for legs in (ctx.reference, ctx.candidate):
            vals = [r.reported.get(name) for leg in legs for r in leg.counted]
            if not vals or not all(isinstance(v, (int, float)) and v > 0 for v in vals):
                break
            sides.append(stats.median([float(v) for v in vals]))  # type: ignore[arg-type]
        if (
            len(sides) == 2
            and sides[0] is not None
            and sides[1] is not None
            and sides[0] >= ctx.policy.latency_degenerate_ms
        ):
            out.append((name, float(sides[0]), float(sides[1])))
    return out
