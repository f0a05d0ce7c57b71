"""A harness whose isolated times are not the engine's (H12, issue 36).

The run's profile round holds what the op's kernels took inside the live engine at each step size
(the trace's GPU-side step annotations); the harness record times the served baseline several
times slower at the same size, as the op harness did on an H100 at decode sizes (host launches and
a flushed L2 the engine's replayed CUDA graphs do not pay: docs/kernels.md). The trace here is a
small one of our own in torch-profiler's shape; tests/auditor/checks/test_harness_h12.py runs the
rule on the real H100 trace.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from geak.auditor.evidence.store import RunStore

from geak.auditor.evidence.models import Decision

from .plants import Plant, _opbench, plant

ROUND = "round_gpu"


def _engine_trace(store: RunStore) -> None:
    """Two 64-token decode steps, each with two norm calls of 2 us on the GPU timeline."""
    ev: list[dict[str, Any]] = []
    for step, t0 in enumerate((1000.0, 2000.0)):
        ev.append(
            {
                "ph": "X",
                "cat": "gpu_user_annotation",
                "name": "execute_context_0(0)_generation_64(64)",
                "ts": t0,
                "dur": 500.0,
                "pid": 0,
                "tid": 7,
            }
        )
        for i in range(2):
            ev.append(
                {
                    "ph": "X",
                    "cat": "kernel",
                    "name": "triton_red_fused_fused_add_rms_norm_2",
                    "ts": t0 + 10 + 100 * i,
                    "dur": 2.0,
                    "pid": 0,
                    "tid": 7,
                    "args": {"correlation": 10 * step + i},
                }
            )
        ev.append(
            {
                "ph": "X",
                "cat": "kernel",
                "name": "nvjet_sm90_tst_64x64_64x13_2x1_v_bz_TNT",
                "ts": t0 + 300,
                "dur": 40.0,
                "pid": 0,
                "tid": 7,
                "args": {},
            }
        )
    store.path(f"profile/{ROUND}").mkdir(parents=True, exist_ok=True)
    store.path(f"profile/{ROUND}/trace.json.gz").write_bytes(
        gzip.compress(json.dumps({"traceEvents": ev}).encode(), mtime=0)
    )
    # the profile gate of this round is honest: the norms routed at their share, the GEMM skipped
    claim = {
        "schema_version": 1,
        "kind": "routing",
        "trace_file": "trace.json.gz",
        "routed": [{"family": "rmsnorm", "claimed_share": 0.0909, "editable": True}],
        "skipped": [{"family": "gemm", "reason": "vendor GEMM (cuBLAS/CUTLASS): not in the template library"}],
        "breakdown": {"gemm": 0.9091, "rmsnorm": 0.0909},
    }
    store.write_json(f"profile/{ROUND}/routing.json", claim)


def _profile_round(ds: dict[str, Any]) -> None:
    """A second profile round, of the GPU server: the one whose trace holds the engine's steps."""
    ds["d-profile-gpu"] = Decision(
        decision_id="d-profile-gpu", gate_id="profile-gpu", scope="profile", producer="profiler", profile_round=ROUND
    )


def _slow_baseline(store: RunStore) -> None:
    _engine_trace(store)
    rows = [{"shape": [64, 128], "reps": 5, "baseline_times_ms": [0.0156] * 5, "candidate_times_ms": [0.0067] * 5}]
    _opbench(timing__per_shape=rows)(store)


plant(
    Plant(
        "h12_harness_not_the_engine",
        ("H12",),
        "the harness's served baseline times 7.8x the engine's own kernels at a 64-token step and its "
        "candidate is slower than them: the isolated 2.3x is not a speedup the engine sees",
        {"harness-rmsnorm": ("FLAG", ["H12"])},
        decisions_mod=_profile_round,
        after=_slow_baseline,
        source="issue 36 (docs/kernels.md, On an H100)",
    )
)
