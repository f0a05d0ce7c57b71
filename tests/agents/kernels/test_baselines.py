"""What the harness times a candidate against: what the engine serves (agents/kernels/baselines.py)."""

from __future__ import annotations

import pytest
import torch

from geak.agents.kernels import baselines, specs


def test_a_compiled_server_is_matched_by_the_compiled_formula_and_it_computes_the_same():
    b = baselines.served("silu_and_mul", "cpu", "compiled")
    assert (b.kind, b.backend) == ("compiled", "torch.compile(inductor):geak.agents.kernels.baselines:silu_and_mul")
    x = torch.randn(7, 256)
    assert torch.allclose(b.fn(x), baselines.silu_and_mul(x))


def test_an_eager_cpu_server_runs_forward_native_as_is():
    b = baselines.served("rmsnorm", "cpu", "eager")
    assert (b.kind, b.backend, b.note) == ("eager", "geak.agents.kernels.baselines:rmsnorm", "")


def test_an_eager_gpu_server_runs_vllms_own_op_and_a_stand_in_says_it_is_not_that():
    for op in specs.OPS:
        b = baselines.served(op, "cuda", "eager")
        if b.kind == "vllm_custom_op":
            assert b.backend == f"vllm._C:{op}"
        else:  # not importable, or an in-place vLLM op not wired as a baseline
            assert b.kind == "eager" and "not the served path" in b.note


def test_an_unknown_mode_names_the_known_ones():
    with pytest.raises(ValueError, match="compiled, eager"):
        baselines.served("rmsnorm", "cpu", "max-autotune")
