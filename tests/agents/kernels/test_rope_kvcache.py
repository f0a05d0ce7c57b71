"""rope_kvcache (rotary fused with the paged KV-cache write, issue 36): the float64 reference, the
independent oracle and the served baseline agree on honest code and catch the mistakes a fused
scatter makes; the Triton template passes both under Triton's interpreter (no GPU here)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from geak.agents.kernels import baselines, specs
from geak.agents.kernels.baselines_rope_kvcache import served_rope_kvcache
from geak.agents.kernels.correctness import as_outputs, compare
from geak.agents.kernels.oracles import run_oracle
from geak.agents.kernels.templates.rope_kvcache import rope_kvcache_torch

OP = "rope_kvcache"


def _honest(*a):
    return rope_kvcache_torch(*a)


def _no_value(positions, q, k, v, cache, kc, vc, slots, hs):
    return rope_kvcache_torch(
        positions, q, k, v * 0 + vc.flatten(0, 1)[slots.clamp(min=0)].reshape(v.shape), cache, kc, vc, slots, hs
    )


def _unrotated_key(positions, q, k, v, cache, kc, vc, slots, hs):
    q_out, _, _ = rope_kvcache_torch(positions, q, k, v, cache, kc.clone(), vc.clone(), slots, hs)
    baselines.cache_write(k, v, kc, vc, slots)
    return q_out, kc, vc


def _padding_wraps(positions, q, k, v, cache, kc, vc, slots, hs):
    # a slot of -1 taken as an index: the cache's last slot is overwritten
    t, nkv = q.shape[0], kc.shape[2]
    q_out, _, _ = rope_kvcache_torch(positions, q, k, v, cache, kc.clone(), vc.clone(), slots, hs)
    _, k_rot = baselines.rotary(positions, q, k, cache, hs)
    kc.flatten(0, 1)[slots] = k_rot.reshape(t, nkv, hs)
    vc.flatten(0, 1)[slots] = v.reshape(t, nkv, hs)
    return q_out, kc, vc


def _clears_the_cache(positions, q, k, v, cache, kc, vc, slots, hs):
    kc.zero_()
    vc.zero_()
    return rope_kvcache_torch(positions, q, k, v, cache, kc, vc, slots, hs)


def _contiguous_block_stride(positions, q, k, v, cache, kc, vc, slots, hs):
    # reads the cache as if key and value were separate contiguous tensors: writes the wrong bytes
    flat_k = torch.empty_like(kc).contiguous()
    flat_k.copy_(kc)
    out = rope_kvcache_torch(positions, q, k, v, cache, flat_k, vc, slots, hs)
    return out[0], kc, vc


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_the_honest_template_passes_the_oracle(dtype):
    res = run_oracle(specs.spec_for(OP, "tiny-arith"), _honest, "cpu", dtype)
    assert res.cases >= 7 and res.failures == 0, res.failed_cases


def test_the_served_path_computes_the_same_op():
    # in fp32 only: vLLM's forward_native rounds cos*x in the model dtype, ~1.3e-3 off in bf16 at
    # |x|~1e4 (a timing baseline, never held to the oracle)
    res = run_oracle(specs.spec_for(OP, "tiny-arith"), served_rope_kvcache("cpu", "eager").fn, "cpu", "fp32")
    assert res.failures == 0, res.failed_cases


@pytest.mark.parametrize(
    "mutant", [_no_value, _unrotated_key, _padding_wraps, _clears_the_cache, _contiguous_block_stride]
)
def test_a_wrong_fused_scatter_fails_the_oracle_and_the_reference(mutant):
    spec = specs.spec_for(OP, "tiny-arith")
    res = run_oracle(spec, mutant, "cpu", "fp32")
    assert res.failures >= 1, mutant.__name__
    failed_ref = 0
    for i, shape in enumerate(spec.served_shapes):
        args = specs.make_inputs(spec, shape, "fp32", "cpu", i)
        before = specs.pristine(OP, args)
        cmp = compare(as_outputs(mutant(*args)), specs.reference(OP, before), torch.float32)
        failed_ref += not (cmp.get("rel_err") is not None and cmp["rel_err"] <= spec.tolerances["fp32"])
    # one-token shapes may miss a mutant that only shows with padding; the larger ones do not
    assert failed_ref >= 1 or mutant is _padding_wraps, mutant.__name__


def test_the_reference_is_taken_from_the_caches_before_the_call():
    spec = specs.spec_for(OP, "tiny-arith")
    args = specs.make_inputs(spec, spec.served_shapes[-1], "fp32", "cpu", 3)
    before = specs.pristine(OP, args)
    assert before[5].data_ptr() != args[5].data_ptr() and torch.equal(before[5], args[5])
    outs = as_outputs(_clears_the_cache(*args))
    # judged from what it was given, the cleared cache fails; from what it left behind, it would pass
    assert compare(outs, specs.reference(OP, before), torch.float32)["rel_err"] > 0.1
    assert compare(outs, specs.reference(OP, args), torch.float32)["rel_err"] < 1e-5


def test_the_served_baseline_names_what_a_compiled_server_runs():
    b = served_rope_kvcache("cpu", "compiled")
    assert b.kind == "compiled" and b.backend.startswith(baselines.COMPILED_PREFIX)
    assert "torch stands in" in b.note and "CPU server" in b.note
    g = served_rope_kvcache("cuda", "compiled")  # no vllm here: the note says the cache op is not the served one
    assert g.backend.startswith(baselines.COMPILED_PREFIX) and "reshape_and_cache_flash" in g.note
    assert specs.spec_for(OP, "llama-gpu").served_shapes[0] == [1, 32 * 128]


def test_the_triton_template_passes_under_the_interpreter():
    code = textwrap.dedent(
        """
        import torch
        from geak.agents.kernels import specs
        from geak.agents.kernels.correctness import as_outputs, compare
        from geak.agents.kernels.oracles import run_oracle
        from geak.agents.kernels.templates import rope_kvcache as mod
        from geak.agents.kernels.templates.rope_kvcache import rope_kvcache
        spec = specs.spec_for("rope_kvcache", "tiny-arith", tokens=[1, 7])
        res = run_oracle(spec, rope_kvcache, "cpu", "fp32")
        assert res.failures == 0, res.failed_cases
        # the 8B's heads (32 query, 8 KV, 128 wide): query heads split over 4 programs a token, and not
        big = specs.spec_for("rope_kvcache", "llama-gpu", tokens=[1, 7])
        for split in (1024, 0):
            mod.SPLIT_BELOW_TOKENS = split
            for s_ in (spec, big):
                for i, shape in enumerate(s_.served_shapes):
                    args = specs.make_inputs(s_, shape, "fp32", "cpu", i)
                    before = specs.pristine("rope_kvcache", args)
                    cmp = compare(as_outputs(rope_kvcache(*args)), specs.reference("rope_kvcache", before), torch.float32)
                    assert cmp["rel_err"] <= 1e-5, (split, shape, cmp)
        print("ok", res.cases)
        """
    )
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.startswith("ok"), p.stderr[-2000:]
