"""The paired design (issue 18) for bench/search_vs_sweep.py --simulate: pair noise read from the
recorded A/A crossovers, a gate's pairs drawn from it, and P3 as auditor/checks/paired_gate.py judges
a crossover.

A crossover of legs of `reps` counted reps gives 2 x reps pairs (period 1 the reference on set 0 and
the candidate on set 1 at once, period 2 swapped). Each pair delta is the true effect times one draw
of pair noise: a per-pair delta of a recorded A/A crossover, as the auditor itself derives the pairs
from the tool's request times and the engines' core lines (auditor/noise.paired_bands ->
auditor/paired.derive), its sign at random (an A/A's side labels are arbitrary), smoothed by
Silverman's bandwidth (a handful of measured values would otherwise repeat exactly). What the
crossover cancels (drift between legs, a faster set, launch-to-launch offsets) is in those recorded
pairs as far as two periods cancel it; what it does not cancel (two legs at once slow each other by
~20-25% on this VM's vCPUs: same on both sides, so not in the ratio) is not modelled, and neither is
a slower set shared unequally between periods.

The band is the paired A/A band P3 uses: the |median pair delta| of the run's A/A crossovers (each
drawn like a gate with no effect), the widest of them, never below the policy's declared band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geak.auditor.api import PairedResult, paired_band_pct, paired_bands, paired_clears
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

DESIGNS = ("blocks", "crossover")


@dataclass(frozen=True)
class PairNoise:
    deltas: tuple[float, ...]  # per-pair A/A deltas, percent, as the auditor derives them
    designs: int  # recorded A/A crossovers they came from
    runs: tuple[str, ...]
    bandwidth: float  # percent

    def header(self) -> str:
        d = np.abs(self.deltas)
        return (
            f"pair noise: {len(self.deltas)} A/A pairs of {self.designs} recorded crossover(s) ({', '.join(self.runs)}), "
            f"|pair delta| median {np.median(d):.1f}%, max {d.max():.1f}%, smoothed by {self.bandwidth:.1f}%"
        )


def load_pair_noise(runs_dir: Path, policy: AuditPolicy, design: str = "crossover") -> PairNoise | None:
    """Every A/A design of that kind (crossover, abba) the auditor finds from the bytes of the runs under
    runs_dir; None without one."""
    deltas: list[float] = []
    runs, designs = [], 0
    for d in sorted(p for p in runs_dir.iterdir() if (p / "legs").is_dir()):
        got, n = design_deltas(RunEvidence(RunStore(d)), policy, design)
        if got:
            deltas += got
            runs.append(d.name)
            designs += n
    return pair_noise(deltas, designs, runs)


def design_deltas(run: RunEvidence, policy: AuditPolicy, design: str) -> tuple[list[float], int]:
    """(per-pair A/A deltas of every A/A design of that kind in one run, how many designs)."""
    _, _, detail = paired_bands(run, policy, claimed=frozenset({design}))
    keys = [k for k in sorted(detail) if k.startswith(f"{design}_")]
    return [x for k in keys for x in detail[k]["pair_deltas_pct"]], len(keys)


def pair_noise(deltas: list[float], designs: int, runs: list[str]) -> PairNoise | None:
    """The draw distribution of measured A/A pair deltas: symmetric (an A/A's side labels are
    arbitrary), smoothed by Silverman's bandwidth; None below two deltas."""
    if len(deltas) < 2:
        return None
    a = np.asarray(deltas + [-x for x in deltas])  # the symmetric distribution the draws come from
    iqr = float(np.subtract(*np.percentile(a, [75, 25])))
    bw = 0.9 * min(float(a.std(ddof=1)), iqr / 1.34 if iqr > 0 else math.inf) * len(deltas) ** -0.2
    return PairNoise(tuple(float(x) for x in deltas), designs, tuple(runs), bw)


def pair_deltas(pn: PairNoise, rng: np.random.Generator, ratio: float, n: int) -> list[float]:
    """n pair deltas, percent, of a crossover whose candidate is truly `ratio` x the reference."""
    e = (rng.choice(pn.deltas, n) * rng.choice([-1.0, 1.0], n) + rng.normal(0.0, pn.bandwidth, n)) / 100
    return [float(x) for x in (ratio * (1 + np.clip(e, -0.99, None)) - 1) * 100]


def paired_band(pn: PairNoise, rng: np.random.Generator, crossovers: int, n_pairs: int, policy: AuditPolicy) -> float:
    """The paired A/A band of a run that measured `crossovers` A/A crossovers of n_pairs pairs each."""
    bands = [
        paired_band_pct(PairedResult("crossover", deltas=pair_deltas(pn, rng, 1.0, n_pairs))) or 0.0
        for _ in range(max(1, crossovers))
    ]
    return max(policy.noise_band_pct, *bands)  # as noise.paired_bands: the widest design, never below the policy


def p3_paired(deltas: list[float], band: float, policy: AuditPolicy) -> bool:
    """P3 (paired): enough pairs, median above the band, signed-rank p < alpha, bootstrap CI wholly above it."""
    if len(deltas) < policy.min_pairs:
        return False
    s = PairedResult("crossover", deltas=deltas).summary(policy.alpha)
    return paired_clears(s["median_pair_delta_pct"], s["signed_rank_p"], s["bootstrap_ci_pct"], band, policy.alpha)


def periods_wall(secs: list[float], sets: int) -> float:
    """Crossovers, four legs each (a_p1, b_p1, a_p2, b_p2): the two legs of a period at once on two sets,
    the periods one after another; on one set (no crossover possible) the legs' sum, as engine time."""
    if sets < 2:
        return float(sum(secs))
    return float(sum(max(secs[i : i + 2]) for i in range(0, len(secs), 2)))
