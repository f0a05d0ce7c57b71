"""H4 probes in-process, without the harness around them: for each honest Triton template and each
side-stream cheat, at a few shapes, the event/wall escape probe and the readiness probe
(probes.ready_probe: is the output complete when the timed stream reaches its end?), with every
trial's raw observations. An honest template must come out ready in every trial; a cheat must
not. JSON to $OUT/ready_probe_check.json.

    python scripts/gpu/ready_probe_check.py [--trials 8] [--tokens 32,4096]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CHEATS
from geak.agents.kernels import probes, specs
from geak.agents.kernels.loading import load_candidate
from geak.agents.kernels.templates import TEMPLATES
from geak.agents.kernels.timing import CudaClock

CANDIDATES = {
    **{f"template {op}": (op, TEMPLATES[(op, "cuda")], True) for op in specs.OPS},
    "side stream silu (eager)": ("silu_and_mul", f"{CHEATS}/side_stream.py:silu_and_mul", False),
    "side stream rmsnorm (eager)": ("rmsnorm", f"{CHEATS}/side_stream.py:rmsnorm", False),
    "side stream rmsnorm (triton)": ("rmsnorm", f"{CHEATS}/side_stream.py:rmsnorm_triton", False),
    "side stream rmsnorm (triton, no wait)": ("rmsnorm", f"{CHEATS}/side_stream.py:rmsnorm_nowait", False),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--tokens", default="1,32,4096")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/geak_ready"))
    a = ap.parse_args()
    clock = CudaClock("cuda")
    rows = []
    for name, (op, cand, honest) in CANDIDATES.items():
        spec = specs.spec_for(op, "llama-gpu")
        fn, setup = load_candidate(cand)
        for t in (int(x) for x in a.tokens.split(",")):
            shape = specs.served_shape(op, t, spec.params)
            args = specs.make_inputs(spec, shape, "bf16", "cuda", 1)
            for _ in range(3):
                fn(*args)
            clock.sync()
            esc = probes.escape_probe(clock, fn, args, 50, 5.0)
            rp = probes.ready_probe(
                clock,
                fn,
                setup,
                [specs.make_inputs(spec, shape, "bf16", "cuda", 100 + i) for i in range(a.trials)],
                5.0,
            )
            tr = rp["ready_probe"]["trials"]
            early = rp["output_complete_before_timed_call"]
            caught = rp["output_ready_at_end_event"] is False or early is True
            r = {
                "candidate": name,
                "honest": honest,
                "shape": shape,
                "event_ms": esc["event_ms"],
                "wall_ms": esc["wall_ms"],
                "ratio": esc["event_ms"] / esc["wall_ms"],
                "ready": rp["output_ready_at_end_event"],
                "complete_before_call": early,
                "stale_trials_lead": sum(not x["ready"] for x in tr if x["lead_ms"]),
                "stale_trials_nolead": sum(not x["ready"] for x in tr if not x["lead_ms"]),
                "correct_verdict": caught != honest,
                "trials": tr,
            }
            rows.append(r)
            print(
                f"{name:<40} {shape!s:<14} ratio {r['ratio']:.2f}  ready {r['ready']}  early {early} ({sum(bool(x['complete_before_call']) for x in tr)})  stale lead {r['stale_trials_lead']}/"
                f"{sum(1 for x in tr if x['lead_ms'])} nolead {r['stale_trials_nolead']}/{sum(1 for x in tr if not x['lead_ms'])}  "
                f"under_lead {[x['enqueued_under_lead'] for x in tr if x['lead_ms']]}  "
                f"stale bytes {[round(x['stale_byte_fraction'], 3) for x in tr]}  {'OK' if r['correct_verdict'] else 'WRONG'}",
                flush=True,
            )
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "ready_probe_check.json").write_text(json.dumps(rows, indent=1))
    wrong = [(r["candidate"], r["shape"]) for r in rows if not r["correct_verdict"]]
    print(f"\nwrong verdicts: {wrong or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
