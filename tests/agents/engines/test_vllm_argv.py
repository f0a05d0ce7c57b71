"""vLLM adapter command building and config parsing, without a server."""

import json

from geak.agents.engines.base import LaunchConfig, flag_args, get_engine
from geak.auditor.evidence.models import WorkloadSpec


def test_flag_args_skips_unset_and_handles_switches():
    assert flag_args(("--a", None), ("--b", 0), ("--c", True), ("--d", False), ("--e", "x")) == [
        "--b",
        "0",
        "--c",
        "--e",
        "x",
    ]


def test_server_argv_maps_every_knob():
    cfg = LaunchConfig(
        model="m",
        dtype="bfloat16",
        memory_fraction=0.85,
        max_num_seqs=256,
        max_num_batched_tokens=8192,
        chunked_prefill=False,
        prefix_caching=True,
        tensor_parallel=2,
        speculative={"method": "ngram", "num_speculative_tokens": 4},
        max_model_len=4096,
        load_format="dummy",
        enforce_eager=True,
        seed=0,
        extra_args=["--foo"],
    )
    s = " ".join(get_engine("vllm").server_argv(cfg, 8000, "python"))
    for frag in [
        "-m vllm.entrypoints.openai.api_server --model m --host 127.0.0.1 --port 8000",
        "--dtype bfloat16",
        "--gpu-memory-utilization 0.85",
        "--max-num-seqs 256",
        "--max-num-batched-tokens 8192",
        "--no-enable-chunked-prefill",
        "--enable-prefix-caching",
        "--tensor-parallel-size 2",
        '--speculative-config {"method": "ngram", "num_speculative_tokens": 4}',
        "--max-model-len 4096",
        "--load-format dummy",
        "--enforce-eager",
        "--seed 0",
        "--foo",
    ]:
        assert frag in s, frag


def test_defaults_add_no_knob_flags():
    a = get_engine("vllm").server_argv(LaunchConfig(model="m", seed=None), 1, "python")
    assert a[-2:] == ["--port", "1"]


def test_bench_argv_warms_up_in_client():
    w = WorkloadSpec(dataset="random", num_prompts=10, input_len=32, output_len=16, max_concurrency=8, seed=3)
    a = get_engine("vllm").bench_argv(
        python="py", base_url="u", model="m", workload=w, result_dir="/r", result_file="f.json"
    )
    s = " ".join(a)
    assert "--save-detailed" in s and "--max-concurrency 8" in s and "--num-warmups 8" in s and "--seed 3" in s


def test_resolved_config_flattens_json_form():
    rc = get_engine("vllm").resolved_config(
        {"vllm_config": {"scheduler_config": {"max_num_seqs": 128}}, "vllm_env": {"VLLM_X": "1"}}
    )
    assert rc == {"scheduler_config.max_num_seqs": 128, "vllm_env.VLLM_X": "1"}
    assert json.dumps(rc)
