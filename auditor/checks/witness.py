"""W1: the engine's own counters as a second witness of every repetition.

The benchmark tool's file (raw/rep_<i>.json) and geak's copy of it can be forged together;
the engine's /metrics answers bracketing the rep (evidence/metrics.py) are a second account of
the same requests, written by another process in another format. They must agree: the
tokens and requests the engine counted in the window are the tool's totals, and the tool's
latencies can be no shorter than the engine's (the client times each request from before it
is sent to after its last byte; the engine from arrival to last token). A forger who scales a
rep's duration and latencies down, or inflates its token counts, must also rewrite the
engine's counters and histograms consistently, bucket by bucket.

One-sided on time: a client may see any amount more than its engine (a busy client core or
API server; measured 1.03x-31x on vLLM-on-CPU), so latencies inflated after the fact (a
handicapped reference) are not W1's to catch; B5 (contention) and B6 (drift) guard that side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evidence.loader import RepWitness
from ..evidence.models import EvidencePointer, Finding
from ..evidence.metrics import COUNTERS, quantile_bucket, went_down
from .registry import GateContext, rule

PER_LEG = 3  # failing reps spelled out per leg; the rest are counted

_CLIENT_TOTAL = {
    "requests": "completed",
    "prompt_tokens": "total_input_tokens",
    "generation_tokens": "total_output_tokens",
}


def _client_totals(w: RepWitness) -> tuple[dict[str, float], int]:
    """(the tool's totals per counter family, failed requests) from its own arrays, else its aggregates."""
    rd = w.rep
    if rd.has_arrays:
        a = rd.arrays
        ok = a["ok"]
        return (
            {
                "requests": float(ok.sum()),
                "prompt_tokens": float(np.nansum(np.where(ok, a["input_lens"], 0.0))),
                "generation_tokens": float(np.nansum(np.where(ok, a["output_lens"], 0.0))),
            },
            int(len(ok) - ok.sum()),
        )
    agg = rd.reported
    tot = {fam: float(agg[k]) for fam, k in _CLIENT_TOTAL.items() if isinstance(agg.get(k), (int, float))}
    return tot, int(agg.get("failed") or 0)


def _rep_problems(ctx: GateContext, w: RepWitness) -> list[tuple[str, str]]:
    """(message, metric) for each way the two witnesses of one rep disagree."""
    win = w.window
    assert win is not None
    rd, rr = w.rep, w.rep.raw
    out: list[tuple[str, str]] = [(p, "") for p in win.problems]
    client, failed = _client_totals(w)
    for fam in COUNTERS:
        if fam not in win.counters or fam not in client:
            continue
        eng, cli = win.counters[fam], client[fam]
        if failed == 0 and abs(eng - cli) > 0.5:
            out.append((f"{fam}: the engine counted {eng:g} in this rep's window, the tool's file says {cli:g}", fam))
        elif failed and eng + 0.5 < cli:
            out.append((f"{fam}: the engine counted {eng:g}, fewer than the {cli:g} the tool says succeeded", fam))
    below = ctx.policy.witness_below_rel
    if rd.has_arrays and failed == 0:
        ok = rd.arrays["ok"]
        for fam, key in (("ttft_s", "ttft_ms"), ("e2e_s", "e2e_ms")):
            vals = rd.arrays[key][ok] / 1000.0
            vals = vals[np.isfinite(vals)]
            if not len(vals):
                continue
            if fam in win.sums and win.counts.get(fam, 0) > 0:
                eng, cli = win.sums[fam], float(vals.sum())
                if cli < eng * (1 - below):
                    out.append(
                        (
                            f"{fam}: the tool's {len(vals)} requests sum to {cli:.4g} s, less than the engine's own "
                            f"{eng:.4g} s for the same window (a client never sees a request take less time than its engine)",
                            fam,
                        )
                    )
            rows = win.buckets.get(fam)
            for q in (0.5, 0.99):
                edges = quantile_bucket(rows or [], q)
                if edges is None:
                    continue
                cq = float(np.quantile(vals, q))
                lo, hi = edges
                if cq < lo * (1 - below):
                    out.append(
                        (
                            f"{fam} p{int(q * 100)}: the tool says {cq:.4g} s, the engine's histogram puts it in "
                            f"({lo:g}, {hi:g}] s",
                            fam,
                        )
                    )
        # at most C requests are in flight at once, so the rep lasted at least sum(e2e) / C
        conc = min(rr.max_concurrency or len(ok), len(ok)) if rr is not None else len(ok)
        dur = rr.duration_s if rr is not None else None
        if "e2e_s" in win.sums and dur is not None and conc > 0 and dur < win.sums["e2e_s"] / conc * (1 - below):
            out.append(
                (
                    f"duration: the tool says {dur:.4g} s, but the engine's own latencies of the window sum to "
                    f"{win.sums['e2e_s']:.4g} s over at most {conc} concurrent requests: at least "
                    f"{win.sums['e2e_s'] / conc:.4g} s",
                    "e2e_s",
                )
            )
    return out


def _across_reps(ctx: GateContext, leg: Any) -> list[Finding]:
    """A leg's reps ran on one server lifetime in order: each rep's closing /metrics answer is at
    or below the next rep's opening one, counter by counter (the engine's counters only grow)."""
    ws = [w for w in leg.witness if w.before is not None and w.after is not None]
    starts = [w.rep.raw.first_start_s if w.rep.raw is not None else None for w in ws]
    if all(s is not None for s in starts):
        ws = [w for _, w in sorted(zip(starts, ws), key=lambda t: (t[0], t[1].rep.rep.rep_index))]
    else:  # a rep the tool's times cannot place: the order the leg ran them in
        ws = sorted(ws, key=lambda w: w.rep.rep.rep_index)
    for a, b in zip(ws, ws[1:]):
        down = went_down(a.after, b.before)
        if down:
            return ctx.bad(
                "W1",
                f"leg {leg.leg_id}: the engine's counters went down between {a.files[1]} and {b.files[0]} "
                f"({'; '.join(down[:2])}): one server's answers only grow, so one of them is not the engine's",
                evidence=[EvidencePointer(file=a.files[1]), EvidencePointer(file=b.files[0])],
            )
    return []


@rule("W1", ["baseline", "patch", "bundle"], "the engine's counters contradict the tool's output", "fail", "eject")
def w1_engine_witness(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    checked = reps_total = 0
    for leg in ctx.all_legs:
        if not leg.witness:
            continue
        reps_total += len(leg.witness)
        missing = [w for w in leg.witness if w.missing]
        failing: list[tuple[RepWitness, list[tuple[str, str]]]] = []
        for w in leg.witness:
            if w.missing:
                continue
            if w.window is None:
                out += ctx.bad(
                    "W1",
                    f"leg {leg.leg_id}: {w.problem}: the engine's snapshot cannot serve as a witness",
                    evidence=[EvidencePointer(file=w.files[0]), EvidencePointer(file=w.files[1])],
                )
                continue
            checked += 1
            probs = _rep_problems(ctx, w)
            if probs:
                failing.append((w, probs))
        for w, probs in failing[:PER_LEG]:
            msg, metric = probs[0]
            more = f" (+{len(probs) - 1} more)" if len(probs) > 1 else ""
            out += ctx.bad(
                "W1",
                f"leg {leg.leg_id} {w.rep.file}: {msg}{more}; the engine's own counters "
                f"({w.files[0]} -> {w.files[1]}) do not back the tool's file",
                evidence=[
                    EvidencePointer(file=w.rep.file, record_id=w.rep.record_id),
                    EvidencePointer(file=w.files[1], field=metric or None),
                ],
            )
        if len(failing) > PER_LEG:
            out += ctx.bad(
                "W1", f"leg {leg.leg_id}: {len(failing) - PER_LEG} more rep(s) whose engine counters disagree"
            )
        out += _across_reps(ctx, leg)
        if missing:  # on imported evidence the registry makes this n/a: no other tool keeps them
            out += ctx.unchecked(
                "W1",
                f"leg {leg.leg_id}: {len(missing)} of {len(leg.witness)} rep(s) have no engine /metrics "
                f"snapshots ({missing[0].problem}); their numbers have one witness, the tool's file",
                evidence=[EvidencePointer(file=missing[0].files[0])],
            )
    if not reps_total:
        return out + ctx.na("W1", "no repetition with the tool's raw output to hold the engine's counters against")
    if checked and not any(f.outcome == "fail" for f in out):
        out += ctx.ok(
            "W1",
            f"{checked} rep(s): the engine's own counters agree with the tool's files (requests and tokens "
            f"exact, no latency below the engine's by more than {ctx.policy.witness_below_rel:g})",
        )
    return out
