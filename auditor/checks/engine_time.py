"""What one call of an op costs inside the live engine, per step size, read from the run's own
profile trace: the yardstick an op harness's isolated times are held to (H12).

vLLM annotates each engine step on the GPU timeline (``execute_context_<n>(<tokens>)_generation_
<n>(<tokens>)``). Within the steps of T tokens, the op's kernels (its family's, plus what a fused
op replaces: op_classes.FUSED_ALSO) take some device time; divided by the calls of the op's own
family there (one per layer), that is one call's device time at T as the engine ran it: compiled,
CUDA-graph replays included, its inputs fresh from the GEMM before it.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from typing import Any

from .op_classes import DEVICE_CATS, FUSED_ALSO, device_name, launch_ops, op_family

# vLLM's step annotation: execute_context_<requests>(<tokens>)_generation_<requests>(<tokens>)
STEP = re.compile(r"^execute_context_\d+\((\d+)\)_generation_\d+\((\d+)\)")


def step_tokens_of(name: str) -> int | None:
    """The tokens of an engine step from its annotation's name (prefill plus decode), else None."""
    m = STEP.match(name)
    return int(m.group(1)) + int(m.group(2)) if m else None


def engine_call_ms(events: list[dict[str, Any]], op: str) -> dict[int, float]:
    """Step tokens -> device ms of one call of ``op``'s kernels in the engine ({} when the trace
    has no GPU-side step annotations or none of the op's kernels)."""
    xs = [e for e in events if e.get("ph") == "X" and isinstance(e.get("dur"), (int, float))]
    steps = []
    for e in xs:
        t = step_tokens_of(str(e.get("name", ""))) if str(e.get("cat", "")).lower() == "gpu_user_annotation" else None
        if t is not None and isinstance(e.get("ts"), (int, float)):
            steps.append((float(e["ts"]), float(e["ts"]) + float(e["dur"]), t))
    if not steps:
        return {}
    steps.sort()
    starts = [s[0] for s in steps]
    launches = launch_ops(xs)
    fam, also = op_family(op), FUSED_ALSO.get(op)
    us: dict[int, float] = defaultdict(float)
    calls: dict[int, int] = defaultdict(int)
    for k in xs:
        if str(k.get("cat", "")).lower() not in DEVICE_CATS or not isinstance(k.get("ts"), (int, float)):
            continue
        name = device_name(k, launches)
        f = op_family(name)
        if f != fam and not (also is not None and also.search(name)):
            continue
        i = bisect.bisect_right(starts, float(k["ts"])) - 1
        if i < 0 or float(k["ts"]) >= steps[i][1]:
            continue  # outside every step: warm-up, or between steps
        t = steps[i][2]
        us[t] += float(k["dur"])
        calls[t] += f == fam
    return {t: us[t] / calls[t] / 1e3 for t in sorted(us) if calls[t]}
