"""SGLang adapter against SGLang's documented formats (no SGLang wheel runs here).

Formats, from sgl-project/sglang:
- flags: python/sglang/srt/server_args.py;
- GET /get_server_info: python/sglang/srt/entrypoints/http_server.py (flat ServerArgs fields +
  scheduler info + internal_states + version; {"prefill": [...], "decode": [...]} behind a PD
  load balancer);
- bench_serving --output-file --output-details: python/sglang/bench_serving.py, one JSON line per
  run; per-request ttfts/itls in seconds, aggregate total throughput named total_throughput.
"""

import json
from pathlib import Path

import pytest

from geak.agents.engines.base import LaunchConfig, get_engine
from geak.auditor.evidence.models import WorkloadSpec

DATA = Path(__file__).resolve().parents[2] / "data" / "engines"


@pytest.fixture
def sg():
    return get_engine("sglang")


def test_launch_command_maps_every_knob(sg):
    cfg = LaunchConfig(
        model="Qwen/Qwen3-8B",
        dtype="bfloat16",
        memory_fraction=0.85,
        max_num_seqs=256,
        max_num_batched_tokens=8192,
        prefix_caching=False,
        tensor_parallel=2,
        speculative={"algorithm": "NEXTN", "num_steps": 4},
        max_model_len=8192,
        load_format="dummy",
        enforce_eager=True,
        seed=0,
        extra_args=["--attention-backend", "triton"],
    )
    a = sg.server_argv(cfg, 30000, "python")
    s = " ".join(a)
    assert a[:3] == ["python", "-m", "sglang.launch_server"]
    for frag in [
        "--model-path Qwen/Qwen3-8B",
        "--port 30000",
        "--mem-fraction-static 0.85",
        "--max-running-requests 256",
        "--chunked-prefill-size 8192",
        "--disable-radix-cache",
        "--tp-size 2",
        "--speculative-algorithm NEXTN",
        "--speculative-num-steps 4",
        "--context-length 8192",
        "--load-format dummy",
        "--disable-cuda-graph",
        "--random-seed 0",
        "--attention-backend triton",
        "--dtype bfloat16",
    ]:
        assert frag in s, frag


def test_metrics_are_on_and_the_radix_cache_has_a_flush_route(sg):
    assert "--enable-metrics" in sg.server_argv(LaunchConfig(model="m"), 1, "python")
    assert sg.cache_reset_path == "/flush_cache"


def test_chunked_prefill_off_is_minus_one(sg):
    a = sg.server_argv(LaunchConfig(model="m", chunked_prefill=False), 1, "python")
    assert a[a.index("--chunked-prefill-size") + 1] == "-1"


def test_server_info_flat_dict_drops_runtime_state(sg):
    info = json.loads((DATA / "sglang_get_server_info.json").read_text())
    rc = sg.resolved_config(info)
    assert rc["mem_fraction_static"] == 0.85 and rc["max_total_num_tokens"] == 1156449
    assert "internal_states" not in rc and "status" not in rc
    # the engine build is configuration: a version change between legs is a confound P4 must see
    assert rc["version"] == "0.5.4"


def test_server_info_behind_pd_balancer_uses_decode(sg):
    info = json.loads((DATA / "sglang_get_server_info.json").read_text())
    rc = sg.resolved_config({"prefill": [{**info, "mem_fraction_static": 0.7}], "decode": [info]})
    assert rc["mem_fraction_static"] == 0.85


def test_server_info_garbage_is_a_clear_error(sg):
    with pytest.raises(ValueError, match="expected a JSON object"):
        sg.resolved_config(["not", "a", "dict"])


def test_bench_command(sg):
    w = WorkloadSpec(dataset="random", num_prompts=200, input_len=1024, output_len=128, max_concurrency=32, seed=7)
    a = sg.bench_argv(
        python="python",
        base_url="http://127.0.0.1:30000",
        model="m",
        workload=w,
        result_dir="/r",
        result_file="o.jsonl",
    )
    s = " ".join(a)
    assert a[:2] == ["python", "-c"] and "S.cli_main()" in a[2]  # the one-process client shim
    for frag in [
        "--backend sglang",
        "--output-file /r/o.jsonl",
        "--flush-cache",
        "--warmup-requests 32",
        "--output-details",
        "--random-input-len 1024",
        "--random-output-len 128",
        "--max-concurrency 32",
        "--num-prompts 200",
        "--seed 7",
        "--random-range-ratio 1.0",
    ]:
        assert frag in s, frag


def test_bench_output_row_normalizes_to_ms_arrays(sg):
    row = json.loads((DATA / "sglang_bench_serving_row.jsonl").read_text().splitlines()[0])
    rep = sg.normalize_bench(row, leg_id="a", rep_index=0, warmup=False, raw_file="raw/rep_0.jsonl")
    assert rep.tool == "sglang-bench-serving" and rep.duration_s == row["duration"]
    assert rep.requests.ttft_ms[0] == pytest.approx(row["ttfts"][0] * 1000)
    assert rep.reported["total_token_throughput"] == row["total_throughput"]
    assert sum(rep.requests.output_lens) / rep.duration_s == pytest.approx(row["output_throughput"], rel=1e-6)


def test_chunked_prefill_off_wins_over_a_chunk_size(sg):
    a = sg.server_argv(LaunchConfig(model="m", chunked_prefill=False, max_num_batched_tokens=8192), 1, "python")
    assert a.count("--chunked-prefill-size") == 1 and a[a.index("--chunked-prefill-size") + 1] == "-1"
