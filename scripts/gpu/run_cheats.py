"""The planted cheats (tests/data/kernels/cheats) through the op harness on the GPU; prints which
harness-gate rule(s) FAILed each. The side-stream cheats are the GPU ones (CUDA events on the
current stream miss their work); the others are device-agnostic torch code.

    python scripts/gpu/run_cheats.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import CHEATS, audit, failing, flagged, harness  # noqa: E402

# name -> (op, candidate, rule expected to catch it, extra harness args)
SMALL = ["--tokens", "32,4096", "--min-timed-ms", "30"]
RUNS = {
    "side_stream_silu": ("silu_and_mul", f"{CHEATS}/side_stream.py:silu_and_mul", "H4", SMALL),
    "side_stream_rmsnorm": ("rmsnorm", f"{CHEATS}/side_stream.py:rmsnorm", "H4", SMALL),
    "side_stream_rmsnorm_triton": ("rmsnorm", f"{CHEATS}/side_stream.py:rmsnorm_triton", "H4", SMALL),
    "side_stream_nowait": ("rmsnorm", f"{CHEATS}/side_stream.py:rmsnorm_nowait", "H4", SMALL),
    "cached_setup": ("rmsnorm", f"{CHEATS}/cached_setup.py:rmsnorm", "H6", SMALL),
    "constant": ("rmsnorm", f"{CHEATS}/constant.py:rmsnorm", "H5", SMALL),
    "alias_input": ("rmsnorm", f"{CHEATS}/alias_input.py:rmsnorm", "H7", SMALL),
    "lazy_result": ("rmsnorm", f"{CHEATS}/lazy_result.py:rmsnorm", "H7", SMALL),
    "same_bug": ("rmsnorm", f"{CHEATS}/same_bug.py:rmsnorm", "H8", SMALL),
    "crash": ("rmsnorm", f"{CHEATS}/crash.py:rmsnorm", "H2", SMALL),
    "hang": ("rmsnorm", f"{CHEATS}/hang.py:rmsnorm", "H2", [*SMALL, "--timeout-s", "25"]),
}


def _stale(rp: dict | None) -> str:
    if not rp:
        return "-"
    tr = rp.get("trials") or []
    return f"{sum(not t['ready'] for t in tr)}/{len(tr)}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/geak_cheats"))
    ap.add_argument("--only", default=None, help="comma-separated cheat names (default: all)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"device: {torch.cuda.get_device_name()}", flush=True)
    table = {}
    for name, (op, cand, expect, extra) in RUNS.items():
        if a.only and name not in a.only.split(","):
            continue
        run_dir = Path("/tmp/geak_gpu_cheats") / name
        rec = harness(op, cand, run_dir, *extra)
        v = audit(run_dir, op)
        ag = rec.anti_gaming
        table[name] = {
            "expected": expect,
            "verdict": v.verdict,
            "fail": failing(v),
            "flag": flagged(v),
            "status": getattr(rec, "status", "?"),
            "caught": v.verdict == "FAIL" and expect in failing(v),
            "event_ms": ag.event_ms,
            "wall_ms": ag.wall_ms,
            "ready_at_end_event": getattr(ag, "output_ready_at_end_event", None),
            "ready_probe": getattr(ag, "ready_probe", None),
            "messages": {f.rule_id: f.message for f in v.findings if f.outcome == "fail"},
        }
        print(
            f"{name:<20} {op:<13} expected {expect:<4} verdict {v.verdict}  failed {','.join(failing(v)) or '-'}  "
            f"{'CAUGHT' if table[name]['caught'] else 'MISSED'}  (event {ag.event_ms} ms / wall {ag.wall_ms} ms; ready at end event "
            f"{table[name]['ready_at_end_event']}, stale trials {_stale(table[name]['ready_probe'])})",
            flush=True,
        )
    (out / "run_cheats.json").write_text(json.dumps(table, indent=1, default=str))
    missed = [n for n, r in table.items() if not r["caught"]]
    print(f"\ncaught {len(table) - len(missed)}/{len(table)}; missed: {missed or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
