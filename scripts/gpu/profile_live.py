"""Issue 36, step 1: profile the live vLLM GPU server under the workload, as the profile phase does
(agents/engines/profile.capture_profile: one server lifetime with vLLM's --profiler-config,
/start_profile, the workload, /stop_profile, the worker's trace kept verbatim), then read the
trace as the profiler role and the profile gate do: op time per family, the top kernels of each,
the served token counts, and the routing. Compiled and CUDA graphs on (no --enforce-eager).

    python3 scripts/gpu/profile_live.py RUN_DIR MODEL_DIR [--num-requests 64] [--max-num-seqs 64]

Prints the breakdown and writes RUN_DIR/profile/p1/ (trace.json.gz, launch.json, server.log) and
RUN_DIR/breakdown.json; $OUT gets breakdown.json and the trace when it is small enough to carry back.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.profile import capture_profile
from geak.agents.headroom import readings_for
from geak.agents.profiler import load_events, op_breakdown, served_tokens
from geak.agents.routing import route
from geak.auditor.evidence.layout import TRACE, profile_file
from geak.auditor.evidence.models import WorkloadSpec
from geak.auditor.evidence.store import RunStore


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("model")
    ap.add_argument("--num-requests", type=int, default=64)
    ap.add_argument("--max-num-seqs", type=int, default=64)
    a = ap.parse_args()
    run = Path(a.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    store = RunStore(run)
    cfg = LaunchConfig(
        model=a.model, load_format="dummy", max_num_seqs=a.max_num_seqs, max_model_len=2048, devices="cuda:0"
    )
    wl = WorkloadSpec(
        dataset="random", num_prompts=a.num_requests, input_len=512, output_len=64, max_concurrency=256, seed=0
    )
    t0 = time.monotonic()
    res = capture_profile(store, round_id="p1", engine="vllm", cfg=cfg, workload=wl, num_requests=a.num_requests)
    print(f"capture: {res.status} in {time.monotonic() - t0:.0f} s {getattr(res, 'failure_reason', '') or ''}")
    trace = store.path(profile_file("p1", TRACE))
    if not trace.exists():
        log = store.path("profile/p1/server.log")
        print(log.read_text()[-3000:] if log.exists() else "no server log")
        return 1
    print(f"trace: {trace.stat().st_size / 1e6:.1f} MB")
    events = load_events(trace)
    bd = op_breakdown(trace, events=events)
    print(f"source {bd.source}, op time {bd.total_us / 1e3:.1f} ms")
    for f in bd.families:
        top = sorted(f.ops.items(), key=lambda kv: -kv[1])[:4]
        print(f"  {f.family:<14} {100 * f.share:6.2f}%  calls {f.calls:>7}  tokens {served_tokens(f)}")
        for name, us in top:
            print(f"      {us / 1e3:9.2f} ms  {name[:110]}")
    reads, why = readings_for(events, Path(a.model) / "config.json")
    for x in reads:
        print("  " + x.line())
    r = route(bd, min_share=0.01, readings=reads)
    print(f"routing ({'by share x headroom' if reads else 'by share alone: ' + why}):", r.model_dump_json()[:1500])
    (run / "breakdown.json").write_text(bd.model_dump_json(indent=1))
    out = os.environ.get("OUT")
    if out:
        shutil.copy(run / "breakdown.json", out)
        if trace.stat().st_size < 15 * 2**20:
            shutil.copy(trace, Path(out) / "trace.json.gz")
        for name in ("launch.json", "server.log"):
            p = store.path(f"profile/p1/{name}")
            if p.exists():
                shutil.copy(p, Path(out) / f"profile_{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
