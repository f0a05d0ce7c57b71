"""SGLang's dialect, from its documented formats (sgl-project/sglang; no SGLang has run here):
`python -m sglang.bench_serving --output-file F --output-details` rows (its total throughput is
`total_throughput`, its median latency `median_e2e_latency_ms`), GET /get_server_info (a flat dict
of ServerArgs and scheduler info; behind a PD load balancer {"decode": [...]}), its Prometheus
names, its flush line and its config keys."""

from __future__ import annotations

from . import Dialect, register

_KV_CAPACITY = ("num_gpu_blocks", "kv_cache_size_tokens", "kv_cache_max_concurrency", "max_total_num_tokens")

SGLANG = register(
    Dialect(
        name="sglang",
        bench_tool="sglang-bench-serving",
        result_only_keys=("server_info", "total_output_tokens_retokenized", "total_throughput", "accept_length"),
        reported_aliases={"total_throughput": "total_token_throughput", "median_e2e_latency_ms": "median_e2el_ms"},
        metrics={
            "prompt_tokens": "sglang:prompt_tokens_total",
            "generation_tokens": "sglang:generation_tokens_total",
            "requests": "sglang:num_requests_total",
            "ttft_s": "sglang:time_to_first_token_seconds",
            "e2e_s": "sglang:e2e_request_latency_seconds",
        },
        reset_lines=(r"Cache flushed successfully",),
        ignored_keys=("nccl_port", "dist_init_addr"),
        # drawn per launch when unset (ServerArgs.__post_init__); its tokenizer defaults to the model path
        auto_keys=("random_seed", "tokenizer_path"),
        # profiled at start-up: equal configs give values a few pages apart (2,300,000 vs 2,300,028)
        derived_keys=("max_total_num_tokens", "token_capacity", "max_req_input_len"),
        derived_from={"mem_fraction_static": _KV_CAPACITY},
        orthogonal_keys=("mem_fraction", "tp_size", "pp_size", "dp_size", "context_length", "radix_cache"),
        kernel_keys=("attn_backend", "moe_backend", "sampling_backend"),
        # ServerArgs as /get_server_info answers them (flat)
        invariant_keys=("dtype", "context_length", "mem_fraction_static", "kv_cache_dtype", "tp_size"),
    )
)
