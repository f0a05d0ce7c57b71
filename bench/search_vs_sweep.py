"""geak's gated config search vs `vllm bench sweep serve` (every grid point one leg, serially).

    python bench/search_vs_sweep.py --simulate [--trials 50] [--seed 0] [--knobs 2,4,8] [--sets 1,2,4,8]
        [--max-candidates N|all] [--workflow workflows/default.yaml] [--runs runs/recorded] [--noise-scale 1] [--json OUT]
    python bench/search_vs_sweep.py --live [--live-knobs 2] [--out DIR] [--json OUT]   (real engine, ~20 min here)

--simulate  No engine. Both policies run on a seeded response surface over K knobs of 3-4 values (mostly
    +-3% effects, one or two real wins of +8..25%, some losses, a small pairwise interaction; its true best
    is known). Every leg is drawn from the recorded A/A legs (RUNS/*/legs/aa_*): a launch offset per leg
    (half a same-config launch-to-launch gap, sign random), a deviation per counted rep (rep / leg median
    - 1), and engine seconds = a measured leg overhead + a measured rep duration per rep, warm-up included.
    sweep: every grid point one leg of `reps`, serial (device sets do not help it), the best median wins;
      the pick goes to the patch gate against the grid's baseline leg, banded by `aa_legs` A/A legs that
      the audit pays for, not the sweep (sweep serve measures none).
    geak, as orchestrator/workflow/phases/config.py runs the built-in strategist's plan: `aa_legs` A/A legs
      in one batch (leg i on set (i-1) % N), a serial baseline leg, then ONE plan, each candidate one knob
      of the current config set to one value, capped at `max_candidates` (config_tune's; `all`: every
      knob's other values). Rung 0 screens every candidate with a `screen_reps` leg, N at a time (a batch
      lasts as long as its longest leg); the better ceil(n/2) by screen median go to the gate in that order,
      one at a time: a leg of `reps` against the incumbent's legs, banked if P3 passes (auditor/checks/patch.py,
      band as auditor/noise.py derives it from this run's A/A legs). A bank moves the incumbent: a later
      candidate changes one knob of the new one. Not modelled: re-measures on a FLAG, the wall-clock budget,
      failed legs, noise between device sets. Prints a line per (knobs, sets) case, then the goal checks.
--live      The same comparison on the real engine: vLLM's own `vllm bench sweep serve` over the grid of the
    strategist's first --live-knobs candidates, then `geak run --use-auditor` capped at them (bench/sweep_live.py).

Exit codes: 0 ok; 1 a live side failed (its log named); 2 usage (bad flags, fewer than 2 usable A/A legs,
no same-config A/A pair, --live without vLLM).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path

import numpy as np
import yaml

from geak.auditor import runpack, stats
from geak.auditor.policy import AuditPolicy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import sim_paired  # noqa: E402  (a sibling module of this script, not a package)
from sim_paired import PairNoise  # noqa: E402
from sim_report import case_line, goal_lines  # noqa: E402

SMALL, LOSS, WIN = 0.03, (-0.30, -0.05), (0.08, 0.25)  # the surface's effects: most within +-SMALL


class UsageError(Exception):
    """Bad input: main() exits 2."""


@dataclass(frozen=True)
class Noise:
    gaps: tuple[float, ...]  # |m1 - m2| / mean of two same-config A/A legs' medians
    deviations: tuple[float, ...]  # counted rep / its leg's median - 1
    overheads: tuple[float, ...]  # leg wall (launch.json) - its reps' duration_s
    rep_s: tuple[float, ...]  # every rep's duration_s, warm-up included
    base: float  # mean A/A median, tok/s: only sets the scale
    legs: int
    runs: int
    bandwidth: float  # Silverman's rule over the deviations: measure()'s smoothing
    scale: float = 1.0

    def header(self, runs_dir: Path) -> str:
        d = np.abs(self.deviations)
        return (
            f"noise model: {self.legs} A/A legs in {self.runs} runs under {runs_dir}: launch-to-launch gap "
            f"{', '.join(f'{g:.1%}' for g in self.gaps)} ({len(self.gaps)} same-config pair(s)); within-leg rep "
            f"deviation median |{np.median(d):.1%}|, max |{d.max():.1%}| ({len(d)} counted reps); leg overhead "
            f"{np.mean(self.overheads):.1f} s mean ({min(self.overheads):.1f}-{max(self.overheads):.1f}), "
            f"{np.mean(self.rep_s):.2f} s per rep; deviations smoothed by {self.bandwidth:.1%}"
            + (f"; deviations x{self.scale:g} (--noise-scale)" if self.scale != 1 else "")
        )


def read_leg(d: Path) -> dict | None:
    """One A/A leg's figures, or None when it did not finish or kept fewer than 2 counted reps."""
    try:
        lj = json.loads((d / "launch.json").read_text())
        rows = [json.loads(x) for x in (d / "bench_runs.jsonl").read_text().splitlines() if x.strip()]
    except (OSError, ValueError):
        return None
    vals = [float(r["reported"]["output_throughput"]) for r in rows if r.get("warmup") is False]
    if lj.get("role") != "aa" or lj.get("status") != "ok" or len(vals) < 2:
        return None
    med, rep_s = stats.median(vals), [float(r["duration_s"]) for r in rows]
    return {
        "median": med,
        "deviations": [v / med - 1 for v in vals],
        "rep_s": rep_s,
        "overhead": float(lj["ended_at"]) - float(lj["started_at"]) - sum(rep_s),
        # a launch-to-launch gap is only an A/A gap between legs of the identical config and workload
        "key": json.dumps([lj.get("launch_config"), lj.get("workload")], sort_keys=True),
    }


def unpack_recordings(runs_dir: Path) -> None:
    """The shipped recordings are archives (runs/recorded/NAME.tar.xz): unpacked beside them unless current."""
    try:
        for a in runpack.shipped(runs_dir):
            runpack.unpack(a)
    except runpack.PackError as e:
        raise UsageError(str(e)) from None


def load_noise(runs_dir: Path, scale: float = 1.0) -> Noise:
    unpack_recordings(runs_dir)
    found = sorted(runs_dir.glob("*/legs/aa_*"))
    legs = [(p, leg) for p in found if (leg := read_leg(p)) is not None]
    if len(legs) < 2:
        raise UsageError(
            f"fewer than 2 usable A/A legs under {runs_dir}/*/legs/aa_* ({len(legs)} of {len(found)} found)"
        )
    pairs = [(x["median"], y["median"]) for (_, x), (_, y) in combinations(legs, 2) if x["key"] == y["key"]]
    gaps = [abs(a - b) / ((a + b) / 2) for a, b in pairs]
    if not gaps:
        raise UsageError(
            f"no two A/A legs under {runs_dir} share a launch config and workload: no launch-to-launch gap"
        )
    d = np.asarray([x for _, lg in legs for x in lg["deviations"]])
    iqr = float(np.subtract(*np.percentile(d, [75, 25])))
    return Noise(
        gaps=tuple(gaps),
        deviations=tuple(float(x) for x in d),
        bandwidth=0.9 * min(float(d.std(ddof=1)), iqr / 1.34 if iqr > 0 else math.inf) * len(d) ** -0.2,
        overheads=tuple(lg["overhead"] for _, lg in legs),
        rep_s=tuple(x for _, lg in legs for x in lg["rep_s"]),
        base=float(np.mean([lg["median"] for _, lg in legs])),
        legs=len(legs),
        runs=len({p.parents[1] for p, _ in legs}),
        scale=scale,
    )


def measure(noise: Noise, rng: np.random.Generator, true: np.ndarray, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """n legs of the given true throughputs: (counted values (n, reps), engine seconds (n,))."""
    n = len(true := np.asarray(true, dtype=float))
    offset = rng.choice(noise.gaps, n) * rng.choice([-0.5, 0.5], n) * noise.scale
    # smoothed bootstrap: with a few distinct measured values, thousands of sweep legs would tie on
    # the luckiest noise and the grid's true values would break the tie, flattering the sweep
    dev = (rng.choice(noise.deviations, (n, reps)) + rng.normal(0.0, noise.bandwidth, (n, reps))) * noise.scale
    secs = rng.choice(noise.overheads, n) + rng.choice(noise.rep_s, (n, reps + 1)).sum(axis=1)
    return true[:, None] * np.clip((1 + offset)[:, None] * (1 + dev), 0.0, None), secs  # a leg serves >= 0 tok/s


def band_pct(aa: list[list[float]]) -> float:
    """auditor/noise.py's band over these A/A legs' values (stats.aa_band, the one statement of it)."""
    return stats.aa_band([stats.spread_pct(v) or 0.0 for v in aa], [stats.median(v) or 0.0 for v in aa])


def p3_pass(ref: list[float], cand: list[float], aa_band: float, policy: AuditPolicy) -> bool:
    """P3 as auditor/checks/patch.py decides it (stats.blocks_decision); the measured band only ever widens the policy's."""
    return stats.blocks_decision(
        ref, cand, max(policy.noise_band_pct, aa_band), min_reps_for_test=policy.min_reps_for_test, alpha=policy.alpha
    ).passed


def batched_wall(secs: list[float], sets: int) -> float:
    """A rung: screen dispatches todo[:N] and waits for the batch, so each batch lasts its longest leg."""
    return float(sum(max(secs[i : i + sets]) for i in range(0, len(secs), sets)))


def queued_wall(secs: list[float], sets: int) -> float:
    """One batch (the A/A legs): leg i on set i % N, each set's legs in order, the sets at once."""
    return float(max((sum(secs[i::sets]) for i in range(min(sets, len(secs)))), default=0.0))


WALLS = {
    "queue": queued_wall,
    "rung": batched_wall,
    "periods": sim_paired.periods_wall,
    "serial": lambda secs, _: float(sum(secs)),
}


@dataclass(frozen=True)
class Surface:
    sizes: tuple[int, ...]
    effects: tuple[np.ndarray, ...]  # log factor per value; value 0 is the current config
    inter: dict[tuple[int, int], np.ndarray]  # log factor per pair of values
    base: float

    def grid(self) -> np.ndarray:
        shape = lambda *ks: [n if d in ks else 1 for d, n in enumerate(self.sizes)]  # noqa: E731  broadcast along knobs ks
        g = sum(e.reshape(shape(i)) for i, e in enumerate(self.effects)) + sum(
            m.reshape(shape(*ij)) for ij, m in self.inter.items()
        )
        return self.base * np.exp(g)  # the effects alone span every axis

    def true(self, cfg: tuple[int, ...]) -> float:
        s = sum(e[v] for e, v in zip(self.effects, cfg)) + sum(m[cfg[i], cfg[j]] for (i, j), m in self.inter.items())
        return float(self.base * math.exp(s))


def make_surface(rng: np.random.Generator, k: int, base: float) -> Surface:
    sizes = tuple(int(x) for x in rng.integers(3, 5, k))
    effects = [np.concatenate([[0.0], np.log1p(rng.uniform(-SMALL, SMALL, s - 1))]) for s in sizes]
    for i in range(k):  # some losses: a knob value that hurts (the strategist's negative controls)
        if rng.random() < 0.4:
            effects[i][rng.integers(1, sizes[i])] = math.log1p(rng.uniform(*LOSS))
    for i in rng.choice(k, int(rng.integers(1, 3)), replace=False):  # the one or two real wins
        effects[i][rng.integers(1, sizes[i])] = math.log1p(rng.uniform(*WIN))
    moved = [np.arange(s) > 0 for s in sizes]  # a knob left at its current value interacts with nothing
    inter = {
        (i, j): rng.normal(0.0, 0.004, (sizes[i], sizes[j])) * np.outer(moved[i], moved[j])
        for i, j in combinations(range(k), 2)
    }
    return Surface(sizes, tuple(effects), inter, base)


@dataclass(frozen=True)
class Workflow:
    name: str
    reps: int
    screen_reps: int | None
    aa_legs: int
    max_candidates: int | None  # None: every knob's other values
    design: str = "blocks"  # engine_defaults.ab_design: how the A/A legs and every gate are measured


def load_workflow(path: Path) -> Workflow:
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"cannot read workflow {path}: {e}") from e
    ed, tune = (
        d.get("engine_defaults") or {},
        next((p for p in d.get("phases") or [] if p.get("name") == "config_tune"), {}),
    )
    # defaults as orchestrator/workflow_config.py declares them; strategize gives the strategist `max_candidates or 4`
    design = str(ed.get("ab_design", "blocks"))
    if design not in sim_paired.DESIGNS:
        raise UsageError(
            f"{path}: engine_defaults.ab_design {design!r} is not simulated (known: {', '.join(sim_paired.DESIGNS)})"
        )
    return Workflow(
        str(d.get("name", path.stem)),
        int(ed.get("reps", 3)),
        tune.get("screen_reps"),
        int(ed.get("aa_legs", 2)),
        int(tune.get("max_candidates") or 4),
        design,
    )


@dataclass
class GeakRun:
    config: tuple[int, ...]
    band: float  # the band P3 judged with: this run's A/A band, never below the policy's
    plan: list[tuple[int, int]]  # (knob, value) per candidate, in plan order
    screen: dict[tuple[int, int], float]  # rung 0's median per candidate
    decisions: list[tuple[int, int, bool]]  # (knob, value, banked) per gate, in promotion order
    false_banks: int  # banks no better, in truth, than the incumbent they replaced
    steps: list[tuple[str, list[float]]]  # (how its legs are dispatched: a WALLS key, their engine seconds)
    sets: int

    def wall(self, sets: int = 0) -> float:
        """Seconds on `sets` device sets (0: the run's); wall(1) is the engine time, wall(sys.maxsize) what batching can do."""
        return float(sum(WALLS[kind](secs, sets or self.sets) for kind, secs in self.steps))


def run_geak(
    surface: Surface,
    noise: Noise,
    wf: Workflow,
    policy: AuditPolicy,
    rng: np.random.Generator,
    sets: int,
    pairs: PairNoise | None = None,
) -> GeakRun:
    """The draws happen in the same order whatever `sets` is: only the wall time may differ. With
    wf.design "crossover" the A/A legs are crossovers of four legs (aa_legs rounded up, as setup does)
    and every gate is one crossover against a fresh reference leg, judged on its pairs (bench/sim_paired.py)."""
    put = lambda cfg, i, x: cfg[:i] + (x,) + cfg[i + 1 :]  # noqa: E731  one knob of cfg set to x
    inc, paired = (0,) * len(surface.sizes), wf.design == "crossover"
    if paired and pairs is None:
        raise UsageError("a crossover needs pair noise from a recorded A/A crossover")
    n_aa = 4 * math.ceil(wf.aa_legs / 4) if paired else wf.aa_legs
    aa_vals, aa_s = measure(noise, rng, np.full(n_aa, surface.true(inc)), wf.reps)
    if paired:
        band = sim_paired.paired_band(pairs, rng, n_aa // 4, 2 * wf.reps, policy)
    else:
        band = max(policy.noise_band_pct, band_pct([list(v) for v in aa_vals]))
    v, s = measure(noise, rng, np.array([surface.true(inc)]), wf.reps)
    inc_vals, steps = list(v[0]), [("periods" if paired else "queue", list(aa_s)), ("serial", list(s))]
    # policies.strategist's plan: knob by knob, the current value (0) dropped, capped on candidates, not knobs; its fixed
    # order is as uninformed as CONFIG_PLANS is about a new engine, for the surface puts its wins on random knobs
    cands = promoted = [(i, x) for i, n in enumerate(surface.sizes) for x in range(1, n)][: wf.max_candidates]
    screen = {}
    if wf.screen_reps:  # every candidate screened on the config the plan was made for: nothing is banked yet
        sv, ss = measure(noise, rng, np.array([surface.true(put(inc, i, x)) for i, x in cands]), wf.screen_reps)
        steps.append(("rung", list(ss)))
        screen = {c: float(stats.median(list(r))) for c, r in zip(cands, sv)}
        promoted = sorted(cands, key=lambda c: -screen[c])[
            : math.ceil(len(cands) / 2)
        ]  # ties in plan order, as screen()
    decisions, false_banks = [], 0
    for i, x in promoted:
        c = put(inc, i, x)
        if paired:  # a_p1, b_p1, a_p2, b_p2: the reference measured afresh beside the candidate
            _, gs = measure(noise, rng, np.array([surface.true(inc), surface.true(c)] * 2), wf.reps)
            ok = sim_paired.p3_paired(
                sim_paired.pair_deltas(pairs, rng, surface.true(c) / surface.true(inc), 2 * wf.reps), band, policy
            )
            steps.append(("periods", list(gs)))
            gv = None  # the pairs carried the verdict: a later gate measures its own reference
        else:
            gv, gs = measure(noise, rng, np.array([surface.true(c)]), wf.reps)
            steps.append(("serial", list(gs)))
            ok = p3_pass(inc_vals, list(gv[0]), band, policy)
        decisions.append((i, x, ok))
        if ok:  # config_bank: the candidate's legs become the incumbent's
            false_banks += surface.true(c) <= surface.true(inc)
            inc, inc_vals = c, inc_vals if gv is None else list(gv[0])
    return GeakRun(inc, band, cands, screen, decisions, false_banks, steps, sets)


def run_sweep(surface: Surface, noise: Noise, wf: Workflow, policy: AuditPolicy, rng: np.random.Generator) -> dict:
    flat = surface.grid().ravel()
    vals, secs = measure(noise, rng, flat, wf.reps)
    pick = int(np.argmax(np.median(vals, axis=1)))
    aa_vals, _ = measure(noise, rng, np.full(wf.aa_legs, flat[0]), wf.reps)  # the audit's legs, not the sweep's
    banked = pick != 0 and p3_pass(list(vals[0]), list(vals[pick]), band_pct([list(v) for v in aa_vals]), policy)
    return {
        "configs": len(flat),
        "engine_s": float(secs.sum()),
        "pick_true": float(flat[pick]),
        "best_true": float(flat.max()),
        "banked": bool(banked),
    }


def ge(a: float, b: float) -> bool:
    return a >= b * (1 - 1e-9)  # the grid and Surface.true sum the same logs in another order


def trial_row(surface: Surface, sw: dict, g: GeakRun) -> tuple[dict, dict]:
    """(medians, means) over trials: a bool's mean is a share of trials."""
    tr, engine, banks = surface.true(g.config), g.wall(1), sum(ok for *_, ok in g.decisions)
    short = (1 - tr / sw["pick_true"]) * 100  # % below the sweep's pick, in truth
    return (
        {
            "geak_engine_s": engine,
            "sweep_engine_s": sw["engine_s"],
            "sweep_configs": sw["configs"],
            "planned": len(g.plan),
            "singles": sum(s - 1 for s in surface.sizes),
            "gates": len(g.decisions),
            "engine_ratio": engine / sw["engine_s"],
            "wall_ratio": g.wall() / engine,
            "wall_inf_ratio": g.wall(sys.maxsize) / engine,
            "geak_band_pct": g.band,
            "serial_share": sum(sum(s) for kind, s in g.steps if kind == "serial") / engine,
            "periods_share": sum(sum(s) for kind, s in g.steps if kind == "periods") / engine,
            "shortfall_pct": short,
        },
        {
            "geak_banks": banks,
            "geak_banked": banks > 0,
            "geak_false_banks": g.false_banks,
            "reach_sweep": ge(tr, sw["pick_true"]),
            # what a gated search can promise: not the pick, but no further below it than the band P3 judged with
            "within_band": short <= g.band,
            "reach_best": ge(tr, sw["best_true"]),
            "sweep_best": ge(sw["pick_true"], sw["best_true"]),
            "sweep_banked": sw["banked"],
        },
    )


def simulate(
    noise: Noise,
    wf: Workflow,
    policy: AuditPolicy,
    knobs: list[int],
    sets: list[int],
    trials: int,
    seed: int,
    pairs: PairNoise | None = None,
) -> list[dict]:
    cases = []
    for k in knobs:
        rows: dict[int, list[tuple[dict, dict]]] = {n: [] for n in sets}
        for t in range(trials):
            # one stream each for the surface, the sweep and geak: neither policy's draws move the other's
            s_surface, s_sweep, s_geak = np.random.SeedSequence([seed, k, t]).spawn(3)
            surface = make_surface(np.random.default_rng(s_surface), k, noise.base)
            sw = run_sweep(surface, noise, wf, policy, np.random.default_rng(s_sweep))
            for n in sets:  # a fresh generator from the same seed for every N: the same draws
                rows[n].append(
                    trial_row(
                        surface, sw, run_geak(surface, noise, wf, policy, np.random.default_rng(s_geak), n, pairs)
                    )
                )
        for n in sets:
            agg = {
                key: float(f([r[j][key] for r in rows[n]]))
                for j, f in enumerate((np.median, np.mean))
                for key in rows[n][0][j]
            }
            cases.append(
                {
                    "knobs": k,
                    "sets": n,
                    "trials": trials,
                    "max_candidates": wf.max_candidates,
                    "aa_legs": wf.aa_legs,
                    "design": wf.design,
                    "screen_reps": wf.screen_reps,
                }
                | agg
            )
    return cases


def write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")  # the umask's mode, not mkstemp's 0600: others may read results
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def int_list(s: str) -> list[int]:
    xs = [x.strip() for x in s.split(",") if x.strip()]
    if not xs or not all(x.isdigit() and int(x) >= 1 for x in xs):
        raise argparse.ArgumentTypeError(f"need a comma-separated list of positive integers: {s!r}")
    return [int(x) for x in xs]


def cap_arg(s: str) -> int | None:
    if s != "all" and not (s.isdigit() and int(s) >= 1):
        raise argparse.ArgumentTypeError(f"need a positive integer or 'all': {s!r}")
    return None if s == "all" else int(s)  # None: no cap, as Workflow.max_candidates reads it


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--simulate", action="store_true", help="both policies on a simulated surface, noise from recorded A/A legs"
    )
    mode.add_argument("--live", action="store_true", help="against the real engine (bench/sweep_live.py)")
    ap.add_argument("--live-knobs", type=int, default=2, help="--live: knobs in the grid (2 -> 4 points)")
    ap.add_argument(
        "--out", type=Path, default=None, help="--live: where both sides write (default runs/sweep-live-<time>)"
    )
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workflow", type=Path, default=REPO / "workflows" / "default.yaml")
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "recorded")
    ap.add_argument("--knobs", type=int_list, default=[2, 4, 8])
    ap.add_argument("--sets", type=int_list, default=[1, 2, 4, 8])
    ap.add_argument(
        "--max-candidates", type=cap_arg, default=False, help="cap on the plan (default: the workflow's; all = no cap)"
    )
    ap.add_argument(
        "--design",
        choices=sim_paired.DESIGNS,
        default=None,
        help="how A/A legs and gates are measured (default: the workflow's engine_defaults.ab_design)",
    )
    ap.add_argument(
        "--noise-scale", type=float, default=1.0, help="what-if multiplier on the measured deviations (1 = as measured)"
    )
    ap.add_argument("--json", type=Path, default=None, help="write the results here too (atomically)")
    a = ap.parse_args(argv)
    try:
        if a.live:
            import sweep_live

            return sweep_live.cli(a)
        if a.trials < 1 or a.noise_scale < 0:
            raise UsageError("--trials must be >= 1 and --noise-scale >= 0")
        noise, wf, policy = load_noise(a.runs, a.noise_scale), load_workflow(a.workflow), AuditPolicy()
        wf = wf if a.design is None else replace(wf, design=a.design)
        pairs = sim_paired.load_pair_noise(a.runs, policy) if wf.design == "crossover" else None
        if wf.design == "crossover" and pairs is None:
            raise UsageError(f"design crossover: no A/A crossover the auditor can derive pairs from under {a.runs}")
    except UsageError as e:
        print(f"search_vs_sweep: {e}", file=sys.stderr)
        return 2
    wf = wf if a.max_candidates is False else replace(wf, max_candidates=a.max_candidates)
    print(noise.header(a.runs) + (f"\n{pairs.header()}" if pairs else ""))
    print(
        f"workflow {wf.name} ({a.workflow}): reps {wf.reps} (+1 warm-up), screen_reps {wf.screen_reps}, aa_legs {wf.aa_legs}, "
        f"max_candidates {wf.max_candidates or 'all'}, design {wf.design}; {a.trials} trials, seed {a.seed}"
    )
    if wf.design == "crossover" and 1 in a.sets:
        print(
            "design crossover: a crossover needs two device sets (geak run refuses one), so sets=1 is the engine time, "
            "the same legs one after another"
        )
    cases = simulate(noise, wf, policy, a.knobs, a.sets, a.trials, a.seed, pairs)
    goals = goal_lines(cases, small=SMALL, win=WIN)
    print("\n".join([case_line(c) for c in cases] + goals))
    if a.json:
        keep = ("gaps", "deviations", "overheads", "rep_s", "legs", "runs", "scale")
        write_json(
            a.json,
            {
                "noise": {k: getattr(noise, k) for k in keep},
                "workflow": vars(wf),
                "pair_noise": vars(pairs) if pairs else None,
                "trials": a.trials,
                "seed": a.seed,
                "cases": cases,
                "goals": goals,
            },
        )
    return 0


if __name__ == "__main__":
    from geak.orchestrator.signals import unwind_on_signals

    unwind_on_signals()  # a kill stops --live's sweep and geak run as Ctrl-C does, not orphaned
    sys.exit(main())
