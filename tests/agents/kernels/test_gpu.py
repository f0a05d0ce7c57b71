"""GPU: Triton templates through the harness on CUDA, and the side-stream cheat caught (H4).
Skips cleanly without a CUDA device or without Triton (CI, this 2-core box)."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from kernel_helpers import CHEATS, audit, failing_rules

from geak.agents.kernels.harness import run_harness
from geak.agents.kernels.templates import TEMPLATES

pytestmark = pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("triton") is None,
                                reason="needs a CUDA device and Triton")

GPU_ARGS = ["--device", "cuda", "--profile", "llama-gpu", "--tokens", "1,32", "--min-timed-ms", "20"]


@pytest.mark.parametrize("op", ["rmsnorm", "fused_add_rmsnorm", "silu_and_mul", "rotary"])
def test_triton_template_passes_correctness_and_oracle(op, tmp_path):
    rec = run_harness(["--op", op, "--candidate", TEMPLATES[(op, "cuda")], "--out", str(tmp_path), *GPU_ARGS])
    assert rec.status == "ok", getattr(rec, "error", None)
    assert rec.correctness and all(c.passed for c in rec.correctness), [c.model_dump() for c in rec.correctness]
    assert rec.oracle.failures == 0, rec.oracle.failed_cases


def test_side_stream_cheat_is_caught_h4(tmp_path):
    rec = run_harness(["--op", "silu_and_mul", "--candidate", f"{CHEATS}/side_stream.py:silu_and_mul", "--out", str(tmp_path),
                       "--device", "cuda", "--profile", "llama-gpu", "--tokens", "4096", "--min-timed-ms", "20"])
    v = audit(tmp_path, "silu_and_mul")
    assert rec.anti_gaming.event_ms < 0.5 * rec.anti_gaming.wall_ms
    assert v.verdict == "FAIL" and "H4" in failing_rules(v)
