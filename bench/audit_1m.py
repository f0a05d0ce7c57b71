"""Benchmark: audit a synthetic run holding N per-request records (default 1,000,000).

    python bench/audit_1m.py [--requests 1000000] [--reps 4] [--repeat 3]

Builds the clean synthetic run, replaces the baseline and config-candidate legs' raw
records with big ones (N requests in all, split over 2 legs x reps), then audits the
whole run in a fresh subprocess per repeat and prints wall time, records/s and the
subprocess's peak RSS. Goal (issue 3): under 3 s and under 1 GiB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from geak.agents.synthetic import BASE_TPUT, build_clean_run


def big_reps(path: Path, leg_id: str, n_per_rep: int, reps: int, tput: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(reps + 1):
        out_lens = np.full(n_per_rep, 16)
        ttft = np.round(rng.lognormal(np.log(50), 0.25, n_per_rep), 4)
        tpot = np.round(rng.lognormal(np.log(10), 0.15, n_per_rep), 4)
        e2e = np.round(ttft + tpot * 15, 4)
        dur = float(out_lens.sum() / (tput * (0.97 if i == 0 else 1.0)))
        rec = {
            "schema_version": 1, "kind": "bench_rep", "leg_id": leg_id, "rep_index": i, "warmup": i == 0, "tool": "vllm-bench-serve",
            "duration_s": dur, "reported": {"output_throughput": float(out_lens.sum() / dur)},
            "requests": {"ok": [True] * n_per_rep, "input_lens": [64] * n_per_rep, "output_lens": out_lens.tolist(),
                         "ttft_ms": ttft.tolist(), "e2e_ms": e2e.tolist(), "tpot_ms": tpot.tolist()},
        }
        lines.append(json.dumps(rec, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")


AUDIT = "import sys,time,resource;from geak.auditor.audit import audit_run;t=time.perf_counter();vs=audit_run(sys.argv[1],write=False);" \
        "dt=time.perf_counter()-t;print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ','.join(f'{v.gate_id}={v.verdict}' for v in vs))"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=4, help="counted reps per leg (plus one warm-up)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    legs = {"baseline": BASE_TPUT, "cfg_seqs512": BASE_TPUT * 1.08}
    per_rep = a.requests // (len(legs) * a.reps)
    with tempfile.TemporaryDirectory() as td:
        run = Path(td) / "run"
        build_clean_run(run)
        for k, (leg, tput) in enumerate(legs.items()):
            big_reps(run / "legs" / leg / "bench_runs.jsonl", leg, per_rep, a.reps, tput, seed=k)
        counted = per_rep * len(legs) * a.reps
        total = per_rep * len(legs) * (a.reps + 1)
        size_mb = sum(p.stat().st_size for p in run.rglob("bench_runs.jsonl")) / 1e6
        print(f"run: {counted:,} counted per-request records ({total:,} with warm-up), bench_runs.jsonl {size_mb:.0f} MB")
        walls, rss = [], []
        for _ in range(a.repeat):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", AUDIT, str(run)], capture_output=True, text=True, check=True).stdout.split()
            walls.append(float(out[0]))
            rss.append(int(out[1]) / 1024)
            verdicts = out[2]
        med = statistics.median(walls)
        print(f"audit_run wall: median {med:.2f} s over {a.repeat} (all: {', '.join(f'{w:.2f}' for w in walls)})")
        print(f"records/s: {total / med:,.0f}")
        print(f"peak RSS of the auditing process: {max(rss):.0f} MiB")
        print(f"verdicts: {verdicts}")
        cli = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "geak.orchestrator.cli", "audit", str(run), "--json"], capture_output=True)
            cli.append(time.perf_counter() - t)
        print(f"`geak audit RUN --json` end to end (start-up, audit, audits/ written): median {statistics.median(cli):.2f} s "
              f"(all: {', '.join(f'{w:.2f}' for w in cli)})")
        _ = resource


if __name__ == "__main__":
    main()
