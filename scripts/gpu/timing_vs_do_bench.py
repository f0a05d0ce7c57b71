"""Why do the harness and triton.testing.do_bench disagree at small shapes? Each Triton template at
each served shape, timed several ways on the same inputs, in one process:

  harness      the harness's own clock (timing.CudaClock: flush, GPU lead sleep, events)
  no_lead      the same clock without the lead sleep (flush, events): do_bench's loop
  do_bench     triton.testing.do_bench(fn), median
  db_graph     do_bench on a CUDA graph that holds one call (replay costs the host a few us,
               whatever the Python dispatch of the call costs)
  h_graph      the harness clock on that graph
  kernel       CUPTI (torch.profiler) device time of the call's kernels after a flush, no events
  host         host time of one call (enqueue only), and of one do_bench loop iteration
  flush        device time of the 256 MiB flush that both clocks run before every rep

If the host-gap hypothesis holds, do_bench - harness ~ max(0, host_iter - flush) and
db_graph ~ harness. Prints a table; JSON to $OUT/timing_vs_do_bench.json.

    python scripts/gpu/timing_vs_do_bench.py [--ops ...] [--tokens 1,32,512,4096]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from _common import graph_of
from geak.agents.kernels import specs
from geak.agents.kernels.loading import load_candidate
from geak.agents.kernels.stats import median, rel_diff
from geak.agents.kernels.templates import TEMPLATES
from geak.agents.kernels.timing import CudaClock


def kernel_ms(fn, args, flush, reps=30) -> float:
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            flush()
            torch.cuda.synchronize()
            fn(*args)
            torch.cuda.synchronize()
    tot = 0.0
    for ev in prof.events():
        if str(getattr(ev, "device_type", "")).endswith("CUDA") and not any(
            k in ev.name.lower() for k in ("fill", "memset")
        ):
            tot += ev.time_range.elapsed_us()  # kernel events carry their device start/end
    return tot / reps / 1e3


def _try(f):
    try:
        return f()
    except Exception as e:  # the profiler's event API moves between torch versions
        print(f"kernel time unavailable: {type(e).__name__}: {e}", flush=True)
        return float("nan")


def host_ms(f, n=200) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    return median(ts) or 0.0


def main() -> int:
    import triton.testing

    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", default=",".join(specs.OPS))
    ap.add_argument("--tokens", default="1,32,512,4096")
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/geak_timing"))
    a = ap.parse_args()
    clock = CudaClock("cuda")
    flush_ev = clock.interleaved({"f": (clock.flush, ())}, 50)["f"]
    flush_ms = median(flush_ev) or 0.0
    rows = []
    for op in a.ops.split(","):
        spec = specs.spec_for(op, "llama-gpu")
        fn, _ = load_candidate(TEMPLATES[(op, "cuda")])
        for j, t in enumerate(int(x) for x in a.tokens.split(",")):
            shape = specs.served_shape(op, t, spec.params)
            args = specs.make_inputs(spec, shape, "bf16", "cuda", 4000 + j)
            for _ in range(5):
                fn(*args)
            torch.cuda.synchronize()
            g = graph_of(fn, args)
            call, gcall = (fn, args), (g.replay, ())
            clock.set_lead({"c": call, "g": gcall})
            led = clock.interleaved({"c": call, "g": gcall}, a.reps)
            lead = dict(clock.lead_ms)
            clock.lead_ms = {}
            nolead = clock.interleaved({"c": call}, a.reps)["c"]
            plain = partial(fn, *args)
            r = {
                "op": op,
                "shape": shape,
                "harness": median(led["c"]),
                "h_graph": median(led["g"]),
                "no_lead": median(nolead),
                "do_bench": float(triton.testing.do_bench(plain, warmup=25, rep=200, return_mode="median")),
                "db_graph": float(triton.testing.do_bench(g.replay, warmup=25, rep=200, return_mode="median")),
                "kernel": _try(partial(kernel_ms, fn, args, clock.flush)),
                "host": host_ms(plain),
                "lead_ms": lead,
                "flush": flush_ms,
            }
            cache = triton.runtime.driver.active.get_empty_cache_for_benchmark()
            evs = [torch.cuda.Event(enable_timing=True) for _ in range(2)]

            def db_iter(plain=plain, cache=cache, evs=evs):
                triton.runtime.driver.active.clear_cache(cache)
                evs[0].record()
                plain()
                evs[1].record()

            r["host_iter"] = host_ms(db_iter)
            r["diff_db"] = rel_diff(r["harness"], r["do_bench"])
            r["diff_db_graph"] = rel_diff(r["harness"], r["db_graph"])
            rows.append(r)
            print(json.dumps(r, default=str), flush=True)
            del g
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "timing_vs_do_bench.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"\nflush (256 MiB zero) {flush_ms:.4f} ms on the device")
    print(
        "op                 shape          harness  no_lead  do_bench db_graph  h_graph   kernel  host  host_iter  d(db)  d(db_graph)"
    )
    for r in rows:
        print(
            f"{r['op']:<18} {r['shape']!s:<14} {r['harness']:.4f}  {r['no_lead']:.4f}  {r['do_bench']:.4f}  {r['db_graph']:.4f}  "
            f"{r['h_graph']:.4f}  {r['kernel']:.4f} {r['host']:.4f} {r['host_iter']:.4f}  {100 * r['diff_db']:5.1f}%  {100 * r['diff_db_graph']:5.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
