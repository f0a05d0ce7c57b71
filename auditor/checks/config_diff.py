"""Pure helpers: diff two legs' resolved configs and classify a knob's lever class."""

from __future__ import annotations

import re
from typing import Any

# Keys that differ between any two server lifetimes without changing what is measured.
IGNORED_KEY = re.compile(
    r"(^|[._])(port|host|pid|uuid|api_key|log_file|log_dir|timestamp|start_time|"
    r"served_model_name|instance_id|nccl_port|dist_init_addr|profiler_dir|seed_run|"
    # a random shared-memory name per server lifetime (vLLM CPU: VLLM_OBJECT_STORAGE_SHM_BUFFER_NAME)
    r"shm_buffer_name)$",
    re.IGNORECASE,
)
# Per-launch automatic values (FAILURES.md "per-launch auto values"): SGLang draws random_seed
# per launch when it is not set (ServerArgs.__post_init__); its tokenizer and served name
# default to the model path. Two launches of one config differ in them by construction.
AUTO_KEY = re.compile(r"(^|[._])(random_seed|tokenizer_path)$")
# Capacities the engine derives by profiling memory at start-up: equal configs give values a
# few pages apart (SGLang max_total_num_tokens 2,300,000 vs 2,300,028). Compared with a relative
# tolerance; a real change (another memory fraction: 947,041 vs 1,156,449) stays a difference.
# vLLM 0.26 on an H100 reports its KV capacity in the resolved config too (kv_cache_size_tokens
# 465,184 vs 463,312 and kv_cache_max_concurrency 227.1 vs 226.2 for max_num_seqs 128 vs 256, whose
# CUDA graphs take another 0.18 GiB; seen 2026-12-07).
DERIVED_KEY = re.compile(r"(^|[._])(max_total_num_tokens|token_capacity|num_gpu_blocks|num_cpu_blocks|max_req_input_len|"
                         r"kv_cache_size_tokens|kv_cache_max_concurrency)$")
DERIVED_REL = 0.01
# What an engine derives from a knob when the derived key is not set itself (issue 32): a declared
# max_num_seqs moves these too, so a difference in them is the knob's, not a second, undeclared
# one. Only the resolved config is excused: a derived key the engine's own log shows among its
# non-default args was set explicitly, and P4 still names it. Seen on vLLM-on-CPU 0.32
# (max_num_seqs 4 -> max_num_batched_tokens 256, compile ranges, encoder cache) and in vLLM's
# VllmConfig.__post_init__ (cudagraph capture sizes capped at max_num_seqs; eager mode clears
# the compilation config). vLLM only: an excuse needs the log's non-default args to show the key
# was not set (launch._not_set), and SGLang's log prints every argument, set or not.
_KV_CAPACITY = ("num_gpu_blocks", "kv_cache_size_tokens", "kv_cache_max_concurrency", "max_total_num_tokens")
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "max_num_seqs": ("max_num_batched_tokens", "compile_ranges_endpoints", "encoder_cache_size",
                     "max_num_encoder_input_tokens", "cudagraph_capture_sizes", "max_cudagraph_capture_size", "max_capture_size"),
    "max_num_batched_tokens": ("compile_ranges_endpoints", "encoder_cache_size", "max_num_encoder_input_tokens",
                               "long_prefill_token_threshold"),
    "enforce_eager": ("compilation_config", "enable_jit_warmup", "cudagraph_mode", "cudagraph_capture_sizes",
                      "max_cudagraph_capture_size", "max_capture_size"),
    "enable_chunked_prefill": ("chunked_prefill_enabled", "long_prefill_token_threshold"),
    # the KV pool is the memory left after weights and graphs, in blocks of the cache dtype's
    # bytes: fp8 halves a token's bytes, so vLLM 0.26 on an H100 doubled every capacity
    # (num_gpu_blocks 28,957 -> 57,882, kv_cache_size_tokens 463,312 -> 926,112; 2026-12-07)
    "kv_cache_dtype": _KV_CAPACITY,
    "gpu_memory_utilization": _KV_CAPACITY,
    "mem_fraction_static": _KV_CAPACITY,
    "max_model_len": ("kv_cache_max_concurrency",),  # capacity in tokens over tokens per request
}


def derived_by(declared: list[str], key: str) -> str | None:
    """The declared knob the engine derives ``key`` from, or None."""
    for dk in declared:
        for base, keys in DERIVED_FROM.items():
            if key_matches(dk, base) or key_matches(base, dk):
                if any(key_matches(d, key) for d in keys):
                    return dk
    return None


IGNORED_ENV = re.compile(r"^(VLLM_PORT|PORT|HOSTNAME|PWD|OLDPWD|SHLVL|_|TERM|VLLM_SERVER_DEV_MODE)$")
# which device set a server holds: in a crossover the two halves differ here by design (the
# swap cancels it, and P3 verifies the swap from the engines' own logs); anywhere else it is a confound
DEVICE_BINDING = re.compile(r"(^|\.)(VLLM_CPU_OMP_THREADS_BIND|CUDA_VISIBLE_DEVICES|HIP_VISIBLE_DEVICES|ROCR_VISIBLE_DEVICES)$")

# Lever classes (FAILURES.md P6). Orthogonal levers change what is served or how much
# hardware serves it; they are never a kernel win.
ORTHOGONAL = re.compile(
    r"(specul|spec_decode|num_speculative_tokens|draft|gpu_memory_utilization|mem_fraction|"
    r"memory_fraction|quantiz|kv_cache_dtype|(^|\.)cache_dtype$|tensor_parallel|tp_size|pipeline_parallel|pp_size|"
    r"data_parallel|dp_size|max_model_len|context_length|(^|\.)dtype$|enable_prefix_caching|"
    r"prefix_cach|radix_cache)",
    re.IGNORECASE,
)
# PYTHONPATH: a different import path changes which code computes the same thing (how a
# packaged kernel plugin reaches the server), never what is served
KERNEL = re.compile(
    r"(custom_ops|plugin|attention_backend|attn_backend|kernel|triton|overlay|use_cuda_graph|"
    r"moe_backend|sampling_backend|VLLM_PLUGINS|PYTHONPATH)",
    re.IGNORECASE,
)


def lever_class(key: str) -> str:
    if ORTHOGONAL.search(key):
        return "orthogonal"
    if KERNEL.search(key):
        return "kernel"
    return "config"


def _norm(v: Any) -> Any:
    # "0.85" vs 0.85 and 1 vs 1.0 are the same setting written two ways.
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v.strip()
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def config_diff(a: dict[str, Any], b: dict[str, Any], ignore: re.Pattern[str] = IGNORED_KEY) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ (absent on one side counts), minus the ignore list."""
    out: dict[str, tuple[Any, Any]] = {}
    for k in sorted(set(a) | set(b)):
        if ignore.search(k) or AUTO_KEY.search(k):
            continue
        va, vb = a.get(k, "<absent>"), b.get(k, "<absent>")
        if _norm(va) != _norm(vb) and not _within_derived(k, va, vb):
            out[k] = (va, vb)
    return out


def _within_derived(k: str, a: Any, b: Any) -> bool:
    if not DERIVED_KEY.search(k) or isinstance(a, bool) or isinstance(b, bool):
        return False
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    return abs(a - b) <= DERIVED_REL * max(abs(a), abs(b))


def key_matches(declared: str, key: str) -> bool:
    """A declared knob covers the key itself and anything nested under it, on dotted keys."""
    return key == declared or key.startswith(declared + ".") or key.endswith("." + declared)


def same_value(a: Any, b: Any) -> bool:
    return _norm(a) == _norm(b)
