"""vLLM 0.26 on an H100, as its own /server_info answered (tests/data/engines/vllm026_h100, geak's GPU
run of 2026-12-07; kept as .json.xz, a third of their size, since the tree travels to the GPU): what the
auditor reads from those bytes."""

import json
import lzma
from pathlib import Path

from geak.auditor.checks.config_diff import config_diff, derived_by
from geak.auditor.evidence.normalize import resolved_from_server_info

DATA = Path(__file__).resolve().parents[2] / "data" / "engines" / "vllm026_h100"


def _resolved(name):
    return resolved_from_server_info(json.loads(lzma.decompress((DATA / f"{name}.server_info.json.xz").read_bytes())))


def test_max_num_seqs_128_vs_256_differ_in_the_knob_and_what_vllm_derives_from_it_only():
    a, b = _resolved("max_num_seqs_128"), _resolved("max_num_seqs_256")
    # the KV capacity the engine profiled differs by 0.4% (the larger CUDA graphs take 0.18 GiB): a derived capacity
    assert a["cache_config.kv_cache_size_tokens"] != b["cache_config.kv_cache_size_tokens"]
    diff = config_diff(a, b)
    assert set(diff) == {
        "scheduler_config.max_num_seqs",
        "compilation_config.cudagraph_capture_sizes",
        "compilation_config.max_cudagraph_capture_size",
    }, diff
    assert all(derived_by(["max_num_seqs"], k) for k in diff if k != "scheduler_config.max_num_seqs")


def test_the_engine_says_its_weights_are_dummy_and_keeps_its_token_budget():
    a = _resolved("max_num_seqs_128")
    assert a["load_config.load_format"] == "dummy"
    # on this GPU max_num_batched_tokens is vLLM's 8192 whatever max_num_seqs is: a declared derived key may stay put (P5)
    assert (
        a["scheduler_config.max_num_batched_tokens"]
        == _resolved("max_num_seqs_256")["scheduler_config.max_num_batched_tokens"]
        == 8192
    )


def test_an_fp8_kv_cache_doubles_what_vllm_derives_from_the_cache_dtype_and_nothing_else():
    a, b = _resolved("max_num_seqs_256"), _resolved("kv_cache_dtype_fp8")
    diff = config_diff(a, b)
    assert diff.pop("cache_config.cache_dtype") == ("auto", "fp8")
    assert set(diff) == {
        "cache_config.num_gpu_blocks",
        "cache_config.kv_cache_size_tokens",
        "cache_config.kv_cache_max_concurrency",
    }, diff
    assert diff["cache_config.num_gpu_blocks"] == (28957, 57882)
    # the producer's declared knob (agents/roles/answers.py declared_for) derives them; nothing else does
    assert all(derived_by(["kv_cache_dtype", "cache_dtype"], k) == "kv_cache_dtype" for k in diff)
    assert not any(derived_by(["max_num_seqs"], k) for k in diff)


def test_a_plugin_that_splits_at_its_op_differs_in_splitting_ops_derived_from_the_plugin_only():
    # the rope_kvcache plugin appends its op to vLLM's splitting ops (issue 36): the candidate's
    # answer is the reference's with one more splitting op, which the declared plugin covers
    a = _resolved("max_num_seqs_128")
    b = dict(a)
    ops = list(a["compilation_config.splitting_ops"])
    b["compilation_config.splitting_ops"] = ops + ["geak::rope_kvcache_0123abcd"]
    diff = config_diff(a, b)
    assert set(diff) == {"compilation_config.splitting_ops"}, diff
    assert derived_by(["VLLM_PLUGINS", "PYTHONPATH"], "compilation_config.splitting_ops") == "VLLM_PLUGINS"
    assert derived_by(["max_num_seqs"], "compilation_config.splitting_ops") is None
