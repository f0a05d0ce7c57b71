"""Share x headroom routing (issue 36) on a real trace: geak's profile phase on an H100 serving the
Llama-3-8B shape under vLLM 0.26, compiled with CUDA graphs (tests/data/profile/trim_h100.py says
how it was cut). There the compiled rotary is an Inductor kernel named triton_poi_fused_3 and the
norms are fused_add_rms_norm kernels: by name alone both were "other", and share alone routed
SiLU-and-mul, whose served kernel already streams at the trace's best bandwidth."""

from __future__ import annotations

import json

import pytest

from geak.agents.headroom import readings, readings_for
from geak.agents.profiler import family_tokens, load_events, op_breakdown
from geak.agents.routing import route
from fixture_traces import LLAMA3_8B_CONFIG, trace_gz


PROFILE = "llama-gpu"  # a named model profile: these readings are only checked for being empty or flattened


@pytest.fixture(scope="module")
def h100(tmp_path_factory):
    d = tmp_path_factory.mktemp("h100")
    (d / "model").mkdir()
    (d / "model" / "config.json").write_text(json.dumps(LLAMA3_8B_CONFIG))
    return trace_gz("vllm026_h100_8b.trace", d / "trace.json.gz"), d / "model"


def test_the_compiled_rotary_and_norms_are_booked_to_their_families(h100):
    trace, _ = h100
    bd = op_breakdown(trace)
    rot = bd.family("rotary")
    assert rot is not None and rot.share > 0.01
    # booked by its launches' shapes, and the name says so
    assert set(rot.ops) == {
        "triton_poi_fused_3 [as rotary: by its launch shapes]",
        "triton_poi_fused_1 [as rotary: by its launch shapes]",
    }
    assert "triton_red_fused_fused_add_rms_norm_2" in bd.family("rmsnorm").ops
    assert bd.family("other").share < 0.005
    # decode steps replay CUDA graphs (no launch shapes): the engine's step sizes join the prefill's
    assert bd.step_tokens == [64, 513]
    assert family_tokens(bd, "rotary") == [64, 513]


def test_share_alone_routes_silu_and_share_x_headroom_routes_the_fused_rotary(h100):
    trace, model = h100
    bd = op_breakdown(trace)
    assert [r.family for r in route(bd, min_share=0.01).routed] == ["silu_and_mul"]
    reads, why = readings_for(load_events(trace), model / "config.json")
    assert why == ""
    by = {r.op: r for r in reads}
    # silu_and_mul's served kernel is the trace's ceiling: nothing left for a kernel to win
    assert by["silu_and_mul"].headroom == pytest.approx(1.0) and by["silu_and_mul"].gain == pytest.approx(0.0)
    # the fused op replaces the rotary and the cache write: more share, and the most headroom
    rkv = by["rope_kvcache"]
    assert rkv.share > by["rotary"].share and rkv.headroom > 2.0
    assert reads[0].op == "rope_kvcache"
    assert rkv.ceiling_GBps == max(r.achieved_GBps for r in reads if r.achieved_GBps)
    prop = route(bd, min_share=0.01, readings=reads)
    assert [r.family for r in prop.routed] == ["rotary"]
    assert "by share x headroom" in prop.note and "rope_kvcache" in prop.note
    silu = next(s for s in prop.skipped if s.family == "silu_and_mul")
    assert "headroom 1.00x" in silu.reason and "rotary would save more" in silu.reason


def test_no_headroom_anywhere_routes_nothing_and_says_why(h100):
    trace, _ = h100
    bd = op_breakdown(trace)
    flat = [r.model_copy(update={"headroom": 1.0, "gain": 0.0}) for r in readings(load_events(trace), PROFILE)]
    prop = route(bd, min_share=0.01, readings=flat)
    assert prop.routed == [] and "no editable op has headroom" in prop.note


def test_readings_need_the_models_config_and_a_device_trace(h100, tmp_path):
    trace, _ = h100
    for missing in (None, tmp_path / "config.json"):
        assert readings_for(load_events(trace), missing) == (
            [],
            "the run holds no copy of the model's config.json to size its ops (a hub model name)",
        )
    (tmp_path / "config.json").write_text("{}")
    got, why = readings_for(load_events(trace), tmp_path / "config.json")
    assert got == [] and "the model config has no 'num_attention_heads'" in why
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps({"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 0, "dur": 5}]}))
    assert readings(load_events(cpu), PROFILE) == []
