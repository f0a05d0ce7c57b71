"""The oracles can fail: planted spec violations each fail a named boundary case."""

from __future__ import annotations

import torch

from geak.agents.kernels import specs
from geak.agents.kernels.oracles import run_oracle
from geak.agents.kernels.templates import cpu


def _failed(op, fn):
    res = run_oracle(specs.spec_for(op, "tiny-arith"), fn, "cpu", "fp32")
    return {f["case"] for f in res.failed_cases}


def test_eps_outside_the_sqrt_fails_the_eps_dominated_case():
    def bad(x, w, eps):
        return (x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w).to(x.dtype)

    assert any("eps-dominated" in c for c in _failed("rmsnorm", bad))


def test_rotary_indexed_by_token_not_position_fails_offset_positions():
    def bad(positions, q, k, cache, hs):
        return cpu.rotary(torch.arange(q.shape[0]), q, k, cache, hs)

    failed = _failed("rotary", bad)
    assert any("not the token index" in c for c in failed) and any("P-1" in c for c in failed)


def test_silu_with_swapped_halves_fails():
    def bad(x):
        d = x.shape[-1] // 2
        return cpu.silu_and_mul(torch.cat([x[..., d:], x[..., :d]], -1))

    assert _failed("silu_and_mul", bad)


def test_fused_add_writing_the_residual_in_place_fails():
    def inplace(x, r, w, eps):
        r.add_(x)
        return cpu.rmsnorm(r, w, eps), r

    res = run_oracle(specs.spec_for("fused_add_rmsnorm", "tiny-arith"), inplace, "cpu", "fp32")
    assert res.failures and all("input was modified" in f["why"] for f in res.failed_cases)
