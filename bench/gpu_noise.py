"""The noise figures of one card (a GPU, or any) from the A/A legs of measured run directories.

    python bench/gpu_noise.py RUN_DIR [RUN_DIR ...] [--metric output_throughput] [--trials 200] [--seed 0] [--json OUT.json]

Every value is what the auditor derives from the raw bytes (RunEvidence), every band the auditor's own
(auditor/noise.py); nothing is written into a run dir. Each line starts with the card it was measured on
(RUN/device.txt, one nvidia-smi line our GPU scripts write; "card unknown (no device.txt)" without it).
  card       what each run dir says it ran on.
  within     one server lifetime: per A/A leg its counted reps (an A B B A short leg has one: no spread), spread % ((max-min)/median, the auditor's
             within-leg figure) and CV % (sample stdev / mean); the median and max over legs.
  between    server lifetimes: each A/A leg's median, the pairwise gaps |a-b|/min(a,b) between one run's
             leg medians (their max is the auditor's between-median gap), and the band the auditor derives
             (aa_band_pct) and gates with (effective_policy: never below the policy's declared band).
  A B B A    the paired band auditor/noise.paired_bands derives for a run's A B B A A/A design, beside its
             blocks band; or that no run measured one.
  estimate   the smallest config effect the blocks gate banks in >= 4 of 5 tries, from >= 6 measured A/A
             legs: each trial draws whole measured legs (no replacement), one as the reference, one as the
             candidate (its values x (1 + effect)), and the workflow's aa_legs others as the run's A/A legs;
             P3 judges them as bench/search_vs_sweep.py's p3_pass does. Legs are taken relative to their
             run's median A/A median, so runs of other configs pool; every size sees the same draws.
  estimate (A B B A)  the smallest effect an A B B A gate of min_pairs pairs banks 4 times in 5, its pairs drawn
             from the measured A/A pair deltas (bench/sim_paired.py's draw), its band from an A/A design drawn alike.
  live       each patch gate already audited (audits/<gate>.json): its delta re-derived from its legs'
             counted values, its verdict, beside the estimate.
Exit codes: 0 ok; 2 usage (no such dir, no A/A legs, bad flags), one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from geak.auditor import runpack, stats
from geak.auditor.api import audit_file, latest_per_gate
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict
from geak.auditor.evidence.store import RunStore
from geak.auditor.api import aa_band_pct, effective_policy, paired_bands
from geak.auditor.policy import AuditPolicy
from geak.orchestrator.workflow import ids

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from search_vs_sweep import UsageError, band_pct, load_workflow, p3_pass, write_json  # noqa: E402
import sim_paired  # noqa: E402

LADDER = (1, 2, 3, 4, 5, 7, 10, 15, 20, 30)  # effect sizes, percent
MIN_LEGS = 6  # a reference, a candidate and the band's legs, with others left over so the draws vary
BAR = 0.8  # banked 4 times in 5
NO_CARD = "card unknown (no device.txt)"


# ---------------------------------------------------------------- statistics (pure)


def cv_pct(xs: list[float]) -> float | None:
    """Sample stdev / mean, percent; None below 2 values (one value has no spread to speak of)."""
    m = float(np.mean(xs)) if len(xs) >= 2 else 0.0
    return float(np.std(xs, ddof=1)) / abs(m) * 100 if m else None


def leg_figures(vals: list[float]) -> dict:
    return {
        "values": list(vals),
        "median": stats.median(vals),
        "spread_pct": stats.spread_pct(vals),
        "cv_pct": cv_pct(vals),
    }


def pairwise_gaps_pct(meds: list[float]) -> list[float]:
    """|a - b| / min(a, b): the auditor's between-median gap, (max - min) / min, is the widest of these."""
    return [abs(a - b) / min(a, b) * 100 for a, b in combinations(meds, 2) if min(a, b) > 0]


def med_max(xs: list[float]) -> tuple[float | None, float | None]:
    return (stats.median(xs), max(xs)) if xs else (None, None)


def relative(runs: list[list[list[float]]]) -> list[list[float]]:
    """Every leg's values / its run's median A/A median: a run of another config or card keeps its noise, not its level."""
    out = []
    for legs in runs:
        base = stats.median([stats.median(v) for v in legs])
        out += [[x / base for x in v] for v in legs] if base else []
    return out


def bank_shares(
    legs: list[list[float]], effects: tuple[float, ...], trials: int, band_legs: int, seed: int, policy: AuditPolicy
) -> dict[float, float]:
    """Per effect size (percent), the share of trials P3 passes: whole legs drawn without replacement, the
    candidate scaled, the band from band_legs other legs as the auditor derives one, never below the policy's."""
    rng = np.random.default_rng(seed)
    draws = [rng.permutation(len(legs))[: 2 + band_legs] for _ in range(trials)]  # the same draws for every size
    out = {}
    for e in effects:
        ok = sum(
            p3_pass(legs[d[0]], [x * (1 + e / 100) for x in legs[d[1]]], band_pct([legs[i] for i in d[2:]]), policy)
            for d in draws
        )
        out[e] = ok / trials
    return out


def smallest_banked(shares: dict[float, float], bar: float = BAR) -> float | None:
    return min((e for e, s in shares.items() if s >= bar), default=None)


def pooled_delta(run: RunEvidence, ref: list[str], cand: list[str], metric: str) -> float | None:
    """The delta P3 weighs: the median of one side's counted values pooled over its legs against the other's."""
    med = lambda legs: stats.median([x for i in legs for x in run.leg(i).values(metric)[0]])  # noqa: E731
    return stats.delta_pct(med(ref), med(cand))


# ---------------------------------------------------------------- reading a run (read-only)


def host_card(run: RunEvidence) -> str | None:
    """The GPU names the leg runner's host fingerprints recorded (NVML, per A/A leg), if any."""
    names = sorted(
        {g.name for lj in run.launches.values() if lj.role == "aa" and lj.host for g in lj.host.gpus if g.name}
    )
    return ", ".join(names) or None


def read_card(d: Path, run: RunEvidence | None = None) -> tuple[str, str]:
    """(the line as written, the card's name alone for the line prefix): the legs' own host
    fingerprints first, else device.txt."""
    if run is not None and (name := host_card(run)):
        return f"{name} (the A/A legs' host fingerprints)", name
    try:
        line = (d / "device.txt").read_text().strip().splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        return NO_CARD, "card unknown"
    return line, line.split(",")[0].strip() or line


def aa_values(run: RunEvidence, metric: str) -> tuple[dict[str, list[float]], list[str]]:
    """(A/A leg -> counted values, legs left out and why): a leg that did not finish, or kept no value, has no
    figures. A leg of one counted value (an A B B A short leg) has a median but no within-leg spread."""
    got, left = {}, []
    for lid, lj in sorted(run.launches.items()):
        if lj.role != "aa":
            continue
        vals = run.leg(lid).values(metric)[0]
        if lj.status != "ok" or not vals:
            left.append(f"{lid} (status {lj.status}, {len(vals)} counted value(s))")
        else:
            got[lid] = vals
    return got, left


def abba_figures(run: RunEvidence, policy: AuditPolicy, metric: str) -> dict | None:
    """The paired band of the run's A B B A A/A design (the ids setup gives one, or manifest.json's), else None."""
    a, b = ids.aa_designs(2, "abba", 1)[0]
    present = set(run.leg_ids())
    declared = any(d.design == "abba" for d in (run.manifest.aa_designs if run.manifest else []))
    if not (declared or set(a + b) <= present):
        return None
    bands, unknown, detail = paired_bands(run, policy, metric, claimed=frozenset({"abba"}))
    # paired_bands is silent on a design it never found: no band, and no reason either
    why = unknown.get("abba") or (
        None if "abba" in bands else "the auditor finds no A B B A chain in the bytes, nor one declared"
    )
    return {
        "band_pct": bands.get("abba"),
        "unknown": why,
        "designs": {
            k: {x: v.get(x) for x in ("n_pairs", "band_pct", "median_pair_delta_pct")} for k, v in detail.items()
        },
        "_pair_deltas": [x for k in sorted(detail) if k.startswith("abba_") for x in detail[k]["pair_deltas_pct"]],
    }


def live_gates(run: RunEvidence, metric: str) -> list[dict]:
    out = []
    for gate, (_, d) in latest_per_gate(run.decisions).items():
        v = run.store.read_json(audit_file(gate), AuditVerdict)[0] if run.store.exists(audit_file(gate)) else None
        if v is None or v.scope != "patch":  # the auditor's scope for it, as its verdict records
            continue
        dec = next(
            (x for _, x in run.decisions if x.decision_id == v.decision_id), d
        )  # the decision the verdict judged
        out.append(
            {
                "gate": gate,
                "decision": dec.decision_id,
                "verdict": v.verdict or "UNAUDITED",
                "design": dec.design,
                "delta_pct": pooled_delta(run, dec.reference_legs, dec.candidate_legs, metric),
            }
        )
    return out


def read_run(d: Path, policy: AuditPolicy, metric: str) -> dict:
    run = RunEvidence(RunStore(d))
    card, short = read_card(d, run)
    legs, left = aa_values(run, metric)
    band, _, why = aa_band_pct(run, policy, metric)
    gate_policy, note = effective_policy(run, policy)
    meds = [stats.median(v) for v in legs.values()]
    return {
        "dir": str(d),
        "card": card,
        "short": short,
        "legs": {k: leg_figures(v) for k, v in legs.items()},
        "left_out": left,
        "gaps_pct": pairwise_gaps_pct(meds),
        "auditor_band_pct": band,
        "why_unknown": why,
        "gate_band_pct": None if gate_policy.noise_band_unknown else gate_policy.noise_band_pct,
        "gate_band_source": note.get("noise_band_source"),
        "abba": abba_figures(run, policy, metric),
        "live": live_gates(run, metric),
        "_values": [v for v in legs.values() if len(v) >= 2],
    }


# ---------------------------------------------------------------- printing


def f1(x: float | None, sign: bool = False) -> str:
    return "n/a" if x is None else f"{x:+.1f}%" if sign else f"{x:.1f}%"


def report(runs: list[dict], est: dict, metric: str) -> list[str]:
    cards = sorted({r["short"] for r in runs})
    tag = f"[{' | '.join(cards)}]"
    out = []
    if len({r["card"] for r in runs}) == 1:
        out.append(f"{tag} card: {runs[0]['card']}")
    else:
        out += [f"[{r['short']}] card of {r['dir']}: {r['card']}" for r in runs]
    for r in runs:
        p, legs = f"[{r['short']}] {Path(r['dir']).name}:", r["legs"]
        for lid, g in legs.items():
            out.append(
                f"{p} within {lid}: {metric} {', '.join(f'{x:.1f}' for x in g['values'])}; "
                f"spread {f1(g['spread_pct'])}, CV {f1(g['cv_pct'])}"
            )
        sp, cv = (
            med_max([g["spread_pct"] for g in legs.values()]),
            med_max([g["cv_pct"] for g in legs.values() if g["cv_pct"] is not None]),
        )
        out.append(
            f"{p} within one server lifetime, over {len(legs)} A/A leg(s): spread median {f1(sp[0])} max {f1(sp[1])}; "
            f"CV median {f1(cv[0])} max {f1(cv[1])}"
            + (f"; left out: {', '.join(r['left_out'])}" if r["left_out"] else "")
        )
        gm = med_max(r["gaps_pct"])
        meds = ", ".join(f"{k} {g['median']:.1f}" for k, g in legs.items())
        out.append(
            f"{p} between server lifetimes: leg medians {meds}; "
            + (f"pairwise gaps median {f1(gm[0])} max {f1(gm[1])}" if r["gaps_pct"] else "no pair of legs: no gap")
        )
        out.append(
            f"{p} the auditor's band (aa_band_pct): {f1(r['auditor_band_pct'])}"
            + (f", why unknown: {r['why_unknown']}" if r["why_unknown"] else "")
            + f"; it gates with {f1(r['gate_band_pct'])} ({r['gate_band_source']})"
        )
        if r["abba"]:
            a = r["abba"]
            out.append(
                f"{p} A B B A: paired band {f1(a['band_pct'])}"
                + (f" (unknown: {a['unknown']})" if a["unknown"] else "")
                + f" beside the blocks band {f1(r['auditor_band_pct'])}"
                + "".join(f"; {k}: {v['n_pairs']} pairs, band {f1(v['band_pct'])}" for k, v in a["designs"].items())
            )
    if not any(r["abba"] for r in runs):
        out.append(f"{tag} A B B A: not measured in these runs")
    ab = est.get("abba")
    if ab is not None:
        out.append(f"{tag} estimate (A B B A): {ab['draw']}")
        out.append(
            f"{tag} estimate (A B B A): P3 pass share per effect size: "
            + ", ".join(f"{e:g}% {x:.2f}" for e, x in ab["shares"].items())
        )
        s = ab["smallest_banked_pct"]
        out.append(
            f"{tag} estimate (A B B A): smallest effect banked 4 times in 5: "
            + (f"{s:g}%" if s is not None else f"none up to {LADDER[-1]}%")
        )
    if est.get("shares") is None:
        out.append(f"{tag} estimate: needs {MIN_LEGS} A/A legs, these runs have {est['legs']}: skipped")
        verdict = f"no estimate (needs {MIN_LEGS} A/A legs, {est['legs']} here)"
    else:
        out.append(f"{tag} estimate: {est['draw']}")
        out.append(
            f"{tag} estimate: P3 pass share per effect size: "
            + ", ".join(f"{e:g}% {s:.2f}" for e, s in est["shares"].items())
        )
        s = est["smallest_banked_pct"]
        out.append(
            f"{tag} estimate: smallest effect banked 4 times in 5: "
            + (f"{s:g}%" if s is not None else f"none up to {LADDER[-1]}%")
        )
        verdict = (
            f"estimate says effects >= {s:g}% bank 4 in 5"
            if s is not None
            else f"estimate banks no size up to {LADDER[-1]}% 4 in 5"
        )
    gates = [(r, g) for r in runs for g in r["live"]]
    # a paired gate's P3 weighs its pairs, not this pooled delta: its design is said
    out += [
        f"[{r['short']}] checked once live, {Path(r['dir']).name} {g['gate']}"
        + ("" if g["design"] == "blocks" else f" ({g['design']})")
        + f": {f1(g['delta_pct'], True)}, {g['verdict']}; {verdict}"
        for r, g in gates
    ] or [f"{tag} checked once live: no audited patch gate in these runs"]
    return out


def abba_estimate(deltas: list[float], trials: int, seed: int, policy: AuditPolicy) -> dict | None:
    """The smallest effect an A B B A gate of min_pairs pairs banks 4 times in 5: each trial draws the gate's
    pair deltas from the measured A/A pair deltas (sim_paired: sign at random, smoothed) times (1 + effect), and
    the band from an A/A design drawn the same way; P3 as the paired gate judges. None without 2 pair deltas."""
    pn = sim_paired.pair_noise(deltas, 1, [])
    if pn is None:
        return None
    n = policy.min_pairs
    shares = {}
    for e in LADDER:
        rng = np.random.default_rng(seed)  # the same draws for every size
        shares[e] = (
            sum(
                sim_paired.p3_paired(
                    sim_paired.pair_deltas(pn, rng, 1 + e / 100, n),
                    sim_paired.paired_band(pn, rng, 1, n, policy),
                    policy,
                )
                for _ in range(trials)
            )
            / trials
        )
    d = np.abs(deltas)
    draw = (
        f"{trials} trials, seed {seed}: each gate {n} pairs drawn from the {len(deltas)} measured A/A pair deltas (|delta| median "
        f"{np.median(d):.1f}% max {d.max():.1f}%; sign at random, smoothed by {pn.bandwidth:.1f}%) x (1 + effect), its band from "
        f"an A/A design of {n} pairs drawn the same way; P3 as the paired gate"
    )
    return {"pairs": len(deltas), "draw": draw, "shares": shares, "smallest_banked_pct": smallest_banked(shares)}


def estimate(runs: list[dict], trials: int, seed: int, policy: AuditPolicy) -> dict:
    n = sum(len(r["_values"]) for r in runs)
    if n < MIN_LEGS:
        return {"legs": n, "shares": None}
    k = min(load_workflow(REPO / "workflows" / "default.yaml").aa_legs, n - 2)
    shares = bank_shares(relative([r["_values"] for r in runs]), LADDER, trials, k, seed, policy)
    draw = (
        f"{trials} trials over {n} A/A legs, seed {seed}: each draws whole measured legs, a reference, a candidate x (1 + effect) "
        f"and {k} more for the band (workflows/default.yaml's aa_legs), relative to their run's median; P3 as p3_pass"
    )
    return {"legs": n, "band_legs": k, "draw": draw, "shares": shares, "smallest_banked_pct": smallest_banked(shares)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    ap.add_argument("--metric", default="output_throughput")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too (atomically)")
    a = ap.parse_args(argv)
    policy = AuditPolicy()
    try:
        if a.trials < 1:
            raise UsageError("--trials must be >= 1")
        dirs = []
        for d in a.runs:
            try:
                d = runpack.resolve_run(d)  # a shipped recording: unpacked beside its archive, as geak audit does
            except runpack.PackError as e:
                raise UsageError(str(e)) from None
            if not (d / "legs").is_dir():
                raise UsageError(f"{d} is not a run directory (no such directory, or no legs/ in it)")
            dirs.append(d)
        runs = [read_run(d, policy, a.metric) for d in dirs]
        if not any(r["legs"] for r in runs):
            raise UsageError(
                f'no usable A/A legs (launch.json role "aa", status ok, a counted {a.metric}) in '
                + ", ".join(map(str, dirs))
            )
        est = estimate(runs, a.trials, a.seed, policy)
        est["abba"] = abba_estimate(
            [x for r in runs if r["abba"] for x in r["abba"]["_pair_deltas"]], a.trials, a.seed, policy
        )
    except UsageError as e:
        print(f"gpu_noise: {e}", file=sys.stderr)
        return 2
    print("\n".join(report(runs, est, a.metric)))
    if a.json:
        shares = {str(k): v for k, v in (est["shares"] or {}).items()} or None  # JSON keys are strings
        if est.get("abba"):
            est["abba"] = {**est["abba"], "shares": {str(k): v for k, v in est["abba"]["shares"].items()}}
        try:
            public = [
                {
                    k: ({x: y for x, y in v.items() if not x.startswith("_")} if k == "abba" and v else v)
                    for k, v in r.items()
                    if not k.startswith("_")
                }
                for r in runs
            ]
            write_json(a.json, {"metric": a.metric, "runs": public, "estimate": {**est, "shares": shares}})
        except OSError as e:
            print(f"gpu_noise: cannot write {a.json}: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
