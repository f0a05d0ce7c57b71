"""The figures of bench/ab_noise.py, from the run directories its ``measure`` wrote.

Every verdict here is the real auditor's (audit_run on a run directory). An A/A comparison
is gated in a scratch copy of the run holding only the two sides and the A/A legs of the
*other* comparisons (a band measured on the very legs it judges would never let them pass),
and only P3's outcome (band, non-overlap or the paired test) is counted: the rest of the gate
(an A/A pair declares no knob: P5) would withhold it for reasons that are not noise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from geak.auditor import stats
from geak.auditor.api import audit_run
from geak.auditor.evidence.ledger import check_leg, read_ledger, seal
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import Decision, Manifest, PairedAA
from geak.auditor.evidence.store import RunStore
from geak.auditor.api import sequences, span_of
from geak.auditor.api import aa_band_pct, paired_bands
from geak.auditor.api import derive_pairs as derive, paired_band_pct as band_pct
from geak.auditor.policy import AuditPolicy


def _p3(verdict) -> Any:
    return next((f for f in verdict.findings if f.rule_id == "P3"), None)


def _scratch(
    src: Path,
    dst: Path,
    legs: list[str],
    manifest: Manifest,
    decision: Decision | None,
    sides: tuple[list[str], list[str]] = ([], []),
) -> list:
    """Audit a copy holding ``legs`` (the decision's verdicts; none without a decision). The gated
    A/A legs (``sides``) are presented as a producer presents a change, as reference and candidate
    legs, so that the auditor, which finds A/A designs from the bytes, does not take the comparison
    under test for part of its own band."""
    if dst.exists():
        shutil.rmtree(dst)
    source = RunStore(src)
    view = read_ledger(source)
    for lid in legs:
        # what was measured, as it was sealed: a copy re-sealed unchecked would launder an edit
        probs = view.problems + check_leg(source, view, lid) if view.present else []
        if probs:
            raise SystemExit(f"{src}/legs/{lid} does not hold what was sealed when it was measured: {probs[0]}")
        shutil.copytree(src / "legs" / lid, dst / "legs" / lid)
    for role, ids in zip(("reference", "candidate"), sides):
        for lid in ids:
            f = dst / "legs" / lid / "launch.json"
            f.write_text(json.dumps({**json.loads(f.read_text()), "role": role}))
    st = RunStore(dst)
    if view.present:
        for lid in legs:  # the copy as presented (roles above), sealed as the bench's own record
            seal(st, lid)
    st.write_json("manifest.json", manifest)
    if decision is None:  # a copy to derive from, not to gate
        return []
    st.append_jsonl("decisions.jsonl", decision)
    return audit_run(dst, write=False)


def _aa_decision(gate: str, a: list[str], b: list[str], design: str) -> Decision:
    return Decision(
        decision_id=f"d-{gate}",
        gate_id=gate,
        scope="patch",
        producer="bench",
        reference_legs=a,
        candidate_legs=b,
        design=design,
    )  # type: ignore[arg-type]


def _chains(run: RunEvidence) -> dict[int, list[str]]:
    aa = sorted(i for i in run.leg_ids() if i.startswith("aa_"))
    return {
        s: sorted((i for i in aa if i.startswith(f"aa_s{s}_")), key=lambda x: int(x.rsplit("_", 1)[1])) for s in (0, 1)
    }


def _seq(out: Path, lines: list[str]) -> dict[str, Any]:
    run = RunEvidence(RunStore(out / "seq"))
    aa = sorted(i for i in run.leg_ids() if i.startswith("aa_"))
    chains = _chains(run)
    meds = {i: stats.median(run.leg(i).values("output_throughput")[0]) for i in aa}
    gaps = []
    for ch in chains.values():
        for x, y in zip(ch, ch[1:]):
            gaps.append(abs(stats.delta_pct(meds[x], meds[y]) or 0.0))
    band, detail, why = aa_band_pct(run)
    lines.append(
        f"sequential A/A: {len(aa)} legs, {len(gaps)} consecutive pairs; |gap| median {stats.median(gaps):.1f}% "
        f"max {max(gaps):.1f}%; the run's band {band:.1f}% (within-leg spread max "
        f"{max(detail['within_spread_pct'].values()):.1f}%, between-median gap {detail['between_gap_pct']:.1f}%)"
    )
    banked = 0
    n = 0
    for s, ch in chains.items():
        other = chains[1 - s]
        for x, y in zip(ch, ch[1:]):
            v = _scratch(
                out / "seq",
                out / "report" / f"seq_{x}_{y}",
                [x, y] + other,
                Manifest(run_id="s", aa_legs=other),
                _aa_decision(f"aa-{x}-{y}", [x], [y], "blocks"),
                ([x], [y]),
            )
            f = _p3(v[-1])
            n += 1
            banked += f is not None and f.outcome == "pass"
    lines.append(f"sequential A/A gated as a change (band from the other chain): P3 banks {banked} of {n}")
    return {"band_pct": band, "pair_gaps_pct": gaps, "aa_banked": banked, "aa_gates": n}


def _paired(out: Path, lines: list[str]) -> dict[str, Any]:
    run = RunEvidence(RunStore(out / "paired"))
    designs = run.manifest.aa_designs if run.manifest else []
    pol = AuditPolicy()
    per = []
    for k, d in enumerate(designs):
        res = derive(
            d.design,
            [run.leg(i) for i in d.a_legs],
            [run.leg(i) for i in d.b_legs],
            "output_throughput",
            True,
            pol.pair_min_evenness,
        )
        s = res.summary(pol.alpha)
        per.append({"design": k + 1, "band_pct": band_pct(res), "unverifiable": res.unverifiable, **s})
        lines.append(
            f"paired A/A crossover {k + 1}: {s['n_pairs']} pairs ({s['n_dropped']} dropped), pair deltas "
            f"{', '.join(f'{x:+.1f}' for x in res.deltas)}%; median {s['median_pair_delta_pct'] or 0:+.2f}%, "
            f"p={s['signed_rank_p']}, CI {s['bootstrap_ci_pct']}, band (|median|) {band_pct(res) or float('nan'):.2f}%"
            + (f" UNVERIFIABLE: {res.unverifiable}" if res.unverifiable else "")
        )
    banked, n = 0, 0
    if len(designs) >= 2:
        for k, d in enumerate(designs):
            others = [x for j, x in enumerate(designs) if j != k]
            legs = d.a_legs + d.b_legs + [i for o in others for i in o.a_legs + o.b_legs]
            m = Manifest(
                run_id="p",
                aa_legs=[i for o in others for i in o.a_legs + o.b_legs],
                aa_designs=[PairedAA(design=o.design, a_legs=o.a_legs, b_legs=o.b_legs) for o in others],
            )
            v = _scratch(
                out / "paired",
                out / "report" / f"paired_aa{k + 1}",
                legs,
                m,
                _aa_decision(f"aa-x{k + 1}", d.a_legs, d.b_legs, "crossover"),
                (d.a_legs, d.b_legs),
            )
            f = _p3(v[-1])
            n += 1
            banked += f is not None and f.outcome == "pass"
        lines.append(
            f"paired A/A gated as a change (band from the other crossover(s)): P3 banks {banked} of {n} "
            f"({sum(p['n_pairs'] for p in per)} A/A pairs in all)"
        )
    return {"crossovers": per, "aa_banked": banked, "aa_gates": n}


def _abba(out: Path, lines: list[str]) -> dict[str, Any]:
    """Each sequential A/A chain read alone as an A B B A A/A design (one set's legs in time
    order; the other set ran its chain at once, the same load as every leg here): its band as the
    auditor derives it from the bytes, and each chain gated as an A B B A change against the
    other chain's band."""
    run = RunEvidence(RunStore(out / "seq"))
    pol = AuditPolicy()
    chains = _chains(run)
    per: dict[str, Any] = {}
    for s, ch in chains.items():
        dst = out / "report" / f"abba_chain{s}"
        _scratch(out / "seq", dst, ch, Manifest(run_id="abba"), None)
        bands, unknown, detail = paired_bands(RunEvidence(RunStore(dst)), pol, claimed=frozenset({"abba"}))
        d = next(iter(detail.values()), {})
        per[f"set{s}"] = {
            "band_pct": d.get("band_pct"),
            "unknown": unknown.get("abba"),
            **{k: d.get(k) for k in ("n_pairs", "median_pair_delta_pct", "signed_rank_p", "bootstrap_ci_pct")},
        }
        lines.append(
            f"A B B A A/A, chain of set {s} alone ({len(ch)} legs): {d.get('n_pairs')} pairs, median pair delta "
            f"{d.get('median_pair_delta_pct') or 0:+.2f}%, p={d.get('signed_rank_p')}, CI {d.get('bootstrap_ci_pct')}; "
            f"the auditor's band {d.get('band_pct') or float('nan'):.2f}%"
            + (f" UNKNOWN: {unknown['abba']}" if "abba" in unknown else "")
        )
    banked, n = 0, 0
    for s, ch in chains.items():
        spans = [x for i in ch if (x := span_of(run.leg(i))) is not None]
        found, _ = sequences(spans, set(), max(1, len(spans) // 2))
        if not found:
            continue
        a, b = found[0]
        other = chains[1 - s]
        v = _scratch(
            out / "seq",
            out / "report" / f"abba_gate{s}",
            ch + other,
            Manifest(run_id="abba", aa_legs=other),
            _aa_decision(f"aa-abba{s}", a, b, "abba"),
            (a, b),
        )
        f = _p3(v[-1])
        n += 1
        banked += f is not None and f.outcome == "pass"
        per[f"set{s}"]["gated"] = f.message if f else None
    lines.append(f"A B B A A/A gated as a change (band from the other set's chain): P3 banks {banked} of {n}")
    return {"chains": per, "aa_banked": banked, "aa_gates": n}


def _effects(out: Path, name: str, lines: list[str]) -> list[dict[str, Any]]:
    got = []
    run = RunEvidence(RunStore(out / name))
    decisions = {d.gate_id: d for _, d in run.decisions}
    for v in audit_run(out / name, write=False):
        if v.scope is None:
            continue
        f = _p3(v)
        bad = [f"{x.rule_id}:{x.outcome}" for x in v.findings if x.outcome in ("fail", "flag")]
        lines.append(
            f"{name} effect gate {v.gate_id}: {v.verdict}; P3 {f.outcome if f else '-'}: {f.message if f else ''}"
            + (f" | not pass: {', '.join(bad)}" if bad else "")
        )
        d = decisions[v.gate_id]
        got.append(
            {
                "gate": v.gate_id,
                "verdict": v.verdict,
                "p3": f.outcome if f else None,
                "p3_message": f.message if f else None,
                "not_pass": bad,
                "recomputed": f.recomputed if f else None,
                "delta_pct": _delta(run, d.reference_legs, d.candidate_legs),
            }
        )
    return got


LADDER_TRIALS, LADDER_PASSES = 5, 4  # the bar: banked with PASS in at least 4 of 5 trials


def _size(gate: str) -> tuple[int, int]:
    """(reference, candidate) max_num_seqs of an effect gate ``eff<ref>_<cand>_t<k>[_s<set>]``."""
    ref, cand = gate.removeprefix("eff").split("_")[:2]
    return int(ref), int(cand)


def ladder(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per design and effect size: trials, PASSes and the median measured delta; and per design
    the smallest size (by that median delta) banked in at least 4 of 5 trials. A size with
    fewer than 5 finished trials cannot qualify; one with more needs the same share (4/5)."""
    sizes: dict[str, dict[tuple[int, int], dict[str, Any]]] = {}
    for r in rows:
        cell = sizes.setdefault(r["design"], {}).setdefault(_size(r["gate"]), {"trials": 0, "passes": 0, "deltas": []})
        cell["trials"] += 1
        cell["passes"] += r["verdict"] == "PASS"
        if r.get("delta_pct") is not None:
            cell["deltas"].append(r["delta_pct"])
    out: dict[str, Any] = {}
    for design, cells in sizes.items():
        table = [
            {
                "seqs": f"{a}:{b}",
                "trials": c["trials"],
                "passes": c["passes"],
                "median_delta_pct": stats.median(c["deltas"]) if c["deltas"] else None,
                "banked": c["trials"] >= LADDER_TRIALS and c["passes"] * LADDER_TRIALS >= LADDER_PASSES * c["trials"],
            }
            for (a, b), c in sorted(cells.items(), reverse=True)
        ]
        banked = [t for t in table if t["banked"] and t["median_delta_pct"] is not None]
        out[design] = {
            "sizes": table,
            "smallest_banked": min(banked, key=lambda t: t["median_delta_pct"])["seqs"] if banked else None,
        }
    return out


def _delta(run: RunEvidence, ref: list[str], cand: list[str]) -> float | None:
    """The pooled median delta of output throughput, the same figure for both designs."""

    def med(legs: list[str]) -> float | None:
        return stats.median([x for i in legs for x in run.leg(i).values("output_throughput")[0]])

    return stats.delta_pct(med(ref), med(cand))


def _ladder_lines(res: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    rows = []
    for key, design in (("seq_effect", "sequential"), ("paired_effect", "paired")):
        for g in res[key]:
            rows.append({"design": design, "gate": g["gate"], "verdict": g["verdict"], "delta_pct": g["delta_pct"]})
    lad = ladder(rows)
    for design, d in lad.items():
        cells = "; ".join(
            f"{t['seqs']}: {t['passes']}/{t['trials']} PASS (median delta {t['median_delta_pct']:+.1f}%)"
            if t["median_delta_pct"] is not None
            else f"{t['seqs']}: {t['passes']}/{t['trials']} PASS"
            for t in d["sizes"]
        )
        lines.append(
            f"ladder, {design}: {cells}; smallest effect banked in >= {LADDER_PASSES} of {LADDER_TRIALS} trials: "
            f"{d['smallest_banked'] or 'none of the sizes measured'}"
        )
    return lad


def _medians(run_dir: Path, prefix: str) -> list[float]:
    if not run_dir.exists():
        return []
    run = RunEvidence(RunStore(run_dir))
    return [
        m
        for i in run.leg_ids()
        if i.startswith(prefix) and (m := stats.median(run.leg(i).values("output_throughput")[0]))
    ]


def _cost(out: Path, lines: list[str]) -> dict[str, Any]:
    """What sharing the two cores costs: a leg alone on core 0 (core 1 idle) against legs of the
    same config run two at once (the sequential design's chains, the paired A/A crossovers)."""
    solo, seq, par = _medians(out / "solo", "solo_"), _medians(out / "seq", "aa_"), _medians(out / "paired", "aa")
    if not solo:
        lines.append("cost of two at once: not measured (run `python bench/ab_noise.py solo` first)")
        return {}
    s, q, p = stats.median(solo), stats.median(seq), stats.median(par)
    lines.append(
        f"cost of two at once: a leg alone on core 0 {s:.0f} tok/s (median of {len(solo)}); two at once "
        f"{q:.0f} tok/s in the sequential chains ({(q / s - 1) * 100:+.1f}%), {p:.0f} tok/s in the paired A/A legs "
        f"({(p / s - 1) * 100:+.1f}%)"
    )
    return {"solo_tps": s, "seq_two_at_once_tps": q, "paired_tps": p}


def report(out: Path) -> int:
    lines: list[str] = []
    meta = json.loads((out / "measured.json").read_text())
    wall = f"{meta['wall_s']:.0f} s" if meta.get("wall_s") is not None else "the measure did not finish"
    lines.append(
        f"measured: max_num_seqs {meta['seqs'][0]} -> {meta['seqs'][1]}, {meta['reps']} reps per leg, "
        f"{meta['workload']['num_prompts']} prompts per rep, sets {meta['sets']}, {wall}"
        + "".join(
            f"; then {e['seqs'][0]} -> {e['seqs'][1]} ({', '.join(e.get('designs', ['seq', 'paired']))})"
            for e in meta.get("effect_only", [])
        )
    )
    res = {"seq": _seq(out, lines), "paired": _paired(out, lines), "abba": _abba(out, lines)}
    res["cost"] = _cost(out, lines)
    res["seq_effect"] = _effects(out, "seq", lines)
    res["paired_effect"] = _effects(out, "paired", lines)
    res["ladder"] = _ladder_lines(res, lines)
    (out / "report.json").write_text(json.dumps(res, indent=1, default=str))
    print("\n".join(lines))
    return 0
