"""Paired designs re-derived from the bytes (issue 18): which reps pair up, and what each pair says.

A decision that claims a paired design (Decision.design) names its reference and candidate
legs; nothing else it says is taken. From the benchmark tool's own per-request start times
(the host's monotonic clock, tied to wall time by each result's ``date``: evidence/pairing.py)
and the device set the engine's own bytes show (evidence/devices.py: the cores vLLM CPU's log
says it bound, ``local_rank=0, core ids=[1]``; the cards a GPU engine's server_info.json shows):

``crossover``  each reference leg ran at the same time as one candidate leg, on disjoint
               device sets; across the periods each side ran on every set (the sets swapped). Pairs
               are the reps of a period that ran at once; a pair that ran less evenly than
               ``pair_min_evenness`` (one half started late or was only partly covered) is dropped
               and counted.
``abba``       the legs ran one after another, never at once, on one set; taken in time order,
               each two consecutive legs are one reference and one candidate, and the pairs
               alternate which side went first (A B, B A, ...: a linear drift cancels).
               A pair is the two legs' medians.

What cannot be shown is ``unverifiable`` (P3 FLAGs it): a paired claim is worth its pairing.
Everything here is pure and total: odd bytes make a pairing unverifiable, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import stats
from .evidence.devices import DeviceSet, describe
from .evidence.loader import LegData
from .evidence.pairing import RepWindow, same_clock, simultaneous, window_of


@dataclass
class PairedResult:
    design: str
    deltas: list[float] = field(default_factory=list)  # per pair, % in the sign of "better"
    pairs: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    unverifiable: str | None = None

    def summary(self, alpha: float) -> dict[str, Any]:
        sr = stats.signed_rank(self.deltas)
        return {
            "design": self.design,
            "n_pairs": len(self.deltas),
            "n_dropped": len(self.dropped),
            "median_pair_delta_pct": stats.median(self.deltas),
            "signed_rank_p": sr[1] if sr else None,
            "bootstrap_ci_pct": stats.bootstrap_pairs_ci(self.deltas),
            "pair_deltas_pct": self.deltas,
            "alpha": alpha,
        }


def _reps(leg: LegData, metric: str) -> list[tuple[RepWindow, float]]:
    out = []
    for r in leg.counted:
        v, _ = r.value(metric)
        w = window_of(r.raw) if r.raw is not None else None
        if v is not None and w is not None:
            out.append((w, v))
    return out


def derive(
    design: str, ref: list[LegData], cand: list[LegData], metric: str, higher_is_better: bool, min_evenness: float
) -> PairedResult:
    if design == "crossover":
        return _crossover(ref, cand, metric, higher_is_better, min_evenness)
    if design == "abba":
        return _abba(ref, cand, metric, higher_is_better)
    return PairedResult(design, unverifiable=f"{design!r} is not a paired design (known: crossover, abba)")


def _no_cores(cores: dict[str, DeviceSet | None]) -> str | None:
    bad = [i for i, c in cores.items() if c is None]
    if bad:
        return (
            f"the engine's bytes of leg(s) {', '.join(bad)} name no device set (vLLM CPU's 'core ids=[...]' start-up line, or "
            "a GPU engine's server_info.json naming its cards: CUDA_VISIBLE_DEVICES, or a host of one card), so the device "
            "sets the design rests on cannot be shown"
        )
    return None


Period = tuple[LegData, LegData]  # a reference leg and the candidate leg that ran beside it
Reps = dict[str, list[tuple[RepWindow, float]]]  # leg id -> its counted reps' windows and values


def _periods(ref: list[LegData], cand: list[LegData], reps: Reps) -> tuple[list[Period], str | None]:
    """Each reference leg's period partner: the candidate leg its reps share the most time with;
    (periods, None), or why the legs do not pair into periods."""
    used: set[str] = set()
    periods: list[Period] = []
    for a in ref:
        best, best_s = None, 0.0
        for b in cand:
            if b.leg_id in used:
                continue
            s = sum(
                max(0.0, min(x.end, y.end) - max(x.start, y.start))
                for x, _ in reps[a.leg_id]
                for y, _ in reps[b.leg_id]
                if same_clock(x, y) is not False
            )
            if s > best_s:
                best, best_s = b, s
        if best is None:
            return [], f"reference leg {a.leg_id} ran at the same time as no candidate leg (the tool's request times)"
        used.add(best.leg_id)
        periods.append((a, best))
    if len(used) != len(cand):
        return [], f"candidate leg(s) {', '.join(sorted({c.leg_id for c in cand} - used))} ran beside no reference leg"
    return periods, None


def _not_swapped(periods: list[Period], cores: dict[str, DeviceSet | None]) -> str | None:
    """Why the periods' device sets do not make a crossover: shared by the two halves of one
    period, or never swapped between the sides."""
    for a, b in periods:
        shared = cores[a.leg_id] & cores[b.leg_id]  # type: ignore[operator]
        if shared:
            return (
                f"legs {a.leg_id} and {b.leg_id} ran at once on shared {describe(shared)}"
                " (the engines' own logs): each half slowed the other"
            )
    sets_a, sets_b = {cores[a.leg_id] for a, _ in periods}, {cores[b.leg_id] for _, b in periods}
    if len(sets_a) < 2 or sets_a != sets_b:

        def fmt(ss: Any) -> str:
            return ", ".join(describe(s) for s in ss)

        return (
            f"the sets never swapped (reference on {fmt(sets_a)}, candidate on {fmt(sets_b)}, by the engines' logs): "
            "a faster set lands on the delta"
        )
    return None


def _pair_period(out: PairedResult, a: LegData, b: LegData, reps: Reps, hib: bool, min_evenness: float) -> str | None:
    """Add one period's pairs (the reps that ran at once) to ``out``; why none can be shown, if so."""
    ra, rb = reps[a.leg_id], reps[b.leg_id]
    val = {id(w): v for w, v in ra + rb}
    p = simultaneous([w for w, _ in ra], [w for w, _ in rb], min_evenness)
    if p.unverifiable and not p.pairs:
        return f"legs {a.leg_id} and {b.leg_id}: {p.unverifiable}"
    for x, y, f in p.pairs:
        d = stats.delta_pct(val[id(x)], val[id(y)], hib)
        if d is None:
            out.dropped.append({"reference": x.file, "candidate": y.file, "why": "a reference value of zero"})
            continue
        out.deltas.append(d)
        out.pairs.append(
            {
                "reference": x.file,
                "candidate": y.file,
                "evenness": f,
                "reference_value": val[id(x)],
                "candidate_value": val[id(y)],
                "delta_pct": d,
            }
        )
    out.dropped += [{"reference": x.file, "candidate": y.file, "evenness": f, "why": why} for x, y, f, why in p.dropped]
    return None


def _crossover(ref: list[LegData], cand: list[LegData], metric: str, hib: bool, min_evenness: float) -> PairedResult:
    out = PairedResult("crossover")
    if len(ref) < 2 or len(cand) < 2:
        out.unverifiable = f"a crossover has two periods: {len(ref)} reference and {len(cand)} candidate leg(s)"
        return out
    cores = {lg.leg_id: lg.devices for lg in ref + cand}  # each log parsed once
    if (why := _no_cores(cores)) is not None:
        out.unverifiable = why
        return out
    reps = {lg.leg_id: _reps(lg, metric) for lg in ref + cand}
    empty = [i for i, r in reps.items() if not r]
    if empty:
        out.unverifiable = (
            f"leg(s) {', '.join(empty)} have no counted rep with per-request start times (vLLM --save-detailed)"
        )
        return out
    periods, why = _periods(ref, cand, reps)
    if why is None:
        why = _not_swapped(periods, cores)
    if why is not None:
        out.unverifiable = why
        return out
    for a, b in periods:
        if (why := _pair_period(out, a, b, reps, hib, min_evenness)) is not None:
            out.unverifiable = why
            return out
    return out


def _abba(ref: list[LegData], cand: list[LegData], metric: str, hib: bool) -> PairedResult:
    out = PairedResult("abba")
    if not ref or not cand:
        out.unverifiable = "a side has no leg"
        return out
    cores = {lg.leg_id: lg.devices for lg in ref + cand}
    if (why := _no_cores(cores)) is not None:
        out.unverifiable = why
        return out
    sets = set(cores.values())
    if len(sets) > 1:
        out.unverifiable = f"the legs ran on different device sets ({', '.join(describe(s) for s in sets if s is not None)}, by the engines' own bytes)"
        return out
    spans = []
    for lg, side in [(x, "a") for x in ref] + [(x, "b") for x in cand]:
        r = _reps(lg, metric)
        if not r:
            out.unverifiable = f"leg {lg.leg_id} has no counted rep with per-request start times (vLLM --save-detailed)"
            return out
        ws = [w for w, _ in r]
        spans.append(
            (min(w.start for w in ws), max(w.end for w in ws), side, lg, stats.median([v for _, v in r]), ws[0])
        )
    spans.sort(key=lambda s: s[0])
    for x, y in zip(spans, spans[1:]):
        if same_clock(x[5], y[5]) is False:
            out.unverifiable = (
                f"legs {x[3].leg_id} and {y[3].leg_id} were timed on different clocks: their order cannot be shown"
            )
            return out
        if y[0] < x[1]:
            out.unverifiable = f"legs {x[3].leg_id} and {y[3].leg_id} ran at the same time: not an A B B A sequence"
            return out
    first = {"ab": 0, "ba": 0}
    for k in range(0, len(spans) - 1, 2):
        x, y = spans[k], spans[k + 1]
        if x[2] == y[2]:
            out.unverifiable = (
                f"legs {x[3].leg_id} and {y[3].leg_id} follow each other on the same side: not an A B B A sequence"
            )
            return out
        first[x[2] + y[2]] += 1
        a, b = (x, y) if x[2] == "a" else (y, x)
        d = stats.delta_pct(a[4], b[4], hib)
        if d is None:
            out.dropped.append({"reference": a[3].leg_id, "candidate": b[3].leg_id, "why": "a reference value of zero"})
            continue
        out.deltas.append(d)
        out.pairs.append(
            {
                "reference": a[3].leg_id,
                "candidate": b[3].leg_id,
                "order": x[2] + y[2],
                "reference_value": a[4],
                "candidate_value": b[4],
                "delta_pct": d,
            }
        )
    if len(spans) % 2:
        out.dropped.append({"leg": spans[-1][3].leg_id, "why": "the last leg has no partner"})
    if abs(first["ab"] - first["ba"]) > 1:
        out.unverifiable = (
            f"not counterbalanced: {first['ab']} pair(s) ran the reference first and {first['ba']} the candidate "
            "first, so a drift lands on the delta"
        )
    return out


def derive_gate(ctx: Any) -> PairedResult:
    """The pairing of a gate's decision, derived once per audit (P3 and P4 both ask)."""
    d = ctx.decision
    key = ("paired", d.decision_id, ctx.decision_line)
    if key not in ctx.run.memo:
        ctx.run.memo[key] = derive(
            d.design, ctx.reference, ctx.candidate, ctx.metric, ctx.higher_is_better, ctx.policy.pair_min_evenness
        )
    got: PairedResult = ctx.run.memo[key]
    return got


def clears(med: float | None, p: float | None, ci: tuple[float, float] | None, band: float, alpha: float) -> bool:
    """P3's per-pair test: median pair delta above the band, signed-rank p below alpha, and the
    bootstrap CI of the median wholly above the band (checks/paired_gate.py; the what-if bench too)."""
    return med is not None and p is not None and ci is not None and p < alpha and ci[0] > band and med > band


def band_pct(result: PairedResult) -> float | None:
    """The paired A/A band of one A/A design: how far its median pair delta is from zero when
    nothing changed (the analogue of the sequential band's between-leg gap). The sampling noise
    of a gate's own pairs is its CI's to carry, not the band's: counting it twice would ask a
    real change to clear two CIs."""
    m = stats.median(result.deltas)
    return None if m is None else abs(m)
