"""A/A noise on vLLM-on-CPU: the same config measured as two legs, under several methods.

    python bench/aa_noise.py [--methods default,bound,long] [--reps 5] [--out /tmp/aa]

For each method, two legs (A1, A2) of the identical config run back to back; each leg
has one flagged warm-up and N counted repetitions. Printed per method: the output tok/s
of every counted rep, the spread within each leg ((max-min)/median) and the gap between
the two legs' medians. The auditor's noise band should come from these figures
(`--policy` with noise_band_pct), not from a guess. Run it on a quiet machine: anything
else competing for the cores is part of what it measures.

Methods (all through the leg runner: one benchmark-client process for all reps, with
--num-warmups right before each timed run):
  default      200 prompts per rep, no pinning (the issue's reference setup)
  long         1000 prompts per rep: longer reps average out scheduler hiccups
  bound        long + pinning: engine threads on the last core (VLLM_CPU_OMP_THREADS_BIND),
               benchmark client on the others (taskset) -- the leg runner's default on CPU
  eager        long + --enforce-eager: no torch.compile (rules out recompilation stalls)
  eager_bound  eager + pinning
  hot_bound    same as bound (name kept for the figures recorded in docs/noise.md)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from geak.orchestrator.progress import Reporter
from geak.agents.engines.base import LaunchConfig, get_engine
from geak.agents.engines.leg import LegSpec, run_leg
from geak.auditor import stats
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import WorkloadSpec
from geak.auditor.evidence.store import RunStore

MODEL = Path(__file__).resolve().parents[1] / "models" / "tiny-arith"


METHODS = ("default", "long", "bound", "eager", "eager_bound", "hot_bound")


def method(name: str):
    """(prompts per rep, enforce_eager, cpu_pin). Rows measured before the leg runner switched to one
    client process with in-client warm-up used one client process per rep (see docs)."""
    table = {
        "default": (200, None, False),
        "long": (1000, None, False),
        "bound": (1000, None, True),
        "eager": (1000, True, False),
        "eager_bound": (1000, True, True),
        "hot_bound": (1000, None, True),
    }
    if name not in table:
        raise SystemExit(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return table[name]


PROGRESS = Console(stderr=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="default,long,bound")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("/tmp/geak-aa"))
    ap.add_argument("--load-format", default="dummy", help="dummy (the issue's setup) or auto (trained weights)")
    a = ap.parse_args()
    if a.out.exists():
        shutil.rmtree(a.out)
    rows = []
    for m in a.methods.split(","):
        prompts, eager, pin = method(m)
        ad = get_engine("vllm")
        store = RunStore(a.out / m)
        w = WorkloadSpec(dataset="random", num_prompts=prompts, input_len=32, output_len=16, max_concurrency=32, seed=0)
        cfg = LaunchConfig(
            model=str(MODEL),
            load_format=None if a.load_format == "auto" else a.load_format,
            enforce_eager=eager,
            cpu_pin=pin,
        )
        meds, per_leg = [], []
        for leg_id in ("A1", "A2"):
            t = time.time()
            with Reporter(store, PROGRESS):  # reps and requests done of total while the leg runs (stderr)
                res = run_leg(store, ad, LegSpec(leg_id, "aa", cfg, w, reps=a.reps))
            if res.status != "ok":
                print(f"{m}/{leg_id} failed: {res.reason}", file=sys.stderr)
                break
            vals, _ = RunEvidence(store).leg(leg_id).values("output_throughput")
            per_leg.append(vals)
            meds.append(stats.median(vals))
            print(f"{m}/{leg_id} ({time.time() - t:.0f} s): " + ", ".join(f"{v:.0f}" for v in vals), flush=True)
        if len(meds) == 2:
            within = [stats.spread_pct(v) for v in per_leg]
            between = abs(meds[1] - meds[0]) / meds[0] * 100
            pooled = stats.spread_pct(per_leg[0] + per_leg[1])
            rows.append((m, prompts, meds, within, between, pooled))
    print()
    print(
        f"{'method':8} {'prompts':>7} {'median A1':>10} {'median A2':>10} {'within A1':>10} {'within A2':>10} {'between':>8} {'pooled':>7}"
    )
    for m, p, meds, within, between, pooled in rows:
        print(
            f"{m:8} {p:7d} {meds[0]:10.1f} {meds[1]:10.1f} {within[0]:9.2f}% {within[1]:9.2f}% {between:7.2f}% {pooled:6.2f}%"
        )


if __name__ == "__main__":
    from geak.orchestrator.signals import unwind_on_signals

    unwind_on_signals()  # a kill tears the legs' servers down, as Ctrl-C does
    main()
